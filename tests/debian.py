"""Debian packages that tests and benchmarks install on a fresh machine when missing."""
import os
import subprocess
import time

# Test processes run side by side (pytest-xdist) and may each install a package at once: apt-get
# waits for the other's dpkg lock instead of failing at once with exit status 100.
APT = ["apt-get", "-q", "-o", "DPkg::Lock::Timeout=600"]


def apt_install(*packages: str) -> None:
    """Install packages from Debian's archive, refreshing the package lists when an install fails."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    for attempt in range(3):
        done = subprocess.run([*sudo, *APT, "install", "-y", *packages], env=env, capture_output=True, text=True)
        if done.returncode == 0:
            return
        # Stale lists, or the lists' lock held by another update: refresh and try again.
        time.sleep(attempt * 5)
        subprocess.run([*sudo, *APT, "update"], env=env, capture_output=True)
    raise RuntimeError(f"apt-get could not install {' '.join(packages)}:\n{done.stderr[-2000:]}")
