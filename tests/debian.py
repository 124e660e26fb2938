"""Debian packages that tests and benchmarks install on a fresh machine when missing."""
import os
import subprocess

# Test processes run side by side (pytest-xdist) and may each install a package: apt-get waits for
# the other's dpkg and lists locks instead of failing at once with exit status 100.
APT = ["apt-get", "-q", "-o", "DPkg::Lock::Timeout=600"]


def apt_install(*packages: str) -> None:
    """Install packages from Debian's archive; the package lists are refreshed only if the first try fails."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    if subprocess.run([*sudo, *APT, "install", "-y", *packages], env=env, capture_output=True).returncode:
        subprocess.run([*sudo, *APT, "update"], env=env, capture_output=True)
        done = subprocess.run([*sudo, *APT, "install", "-y", *packages], env=env, capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(f"apt-get could not install {' '.join(packages)}:\n{done.stderr[-2000:]}")
