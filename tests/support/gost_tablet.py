"""A tablet with a GOST R 34.10-2012 key, played by OpenSSL's GOST engine (Debian's libengine-gost-openssl)."""
import base64
import subprocess
import tempfile
from pathlib import Path

from tests.debian import apt_install

# OpenSSL's names of the standard parameter sets, per key size.
PARAMETER_SETS = {256: ["A", "B", "C", "XA", "XB", "TCA"], 512: ["A", "B", "C"]}


def openssl(*args: str, data: bytes | None = None) -> subprocess.CompletedProcess:
    """openssl with the GOST engine loaded."""
    return subprocess.run(["openssl", *args[:1], "-engine", "gost", *args[1:]], input=data, capture_output=True)


def gost_engine() -> None:
    """Install the GOST engine for OpenSSL when this machine lacks it."""
    if openssl("engine").returncode != 0:
        apt_install("libengine-gost-openssl")
    assert openssl("engine").returncode == 0, "OpenSSL's GOST engine cannot be loaded"


class GostTablet:
    """A device whose GOST key never leaves OpenSSL: it only ever shows a CSR and signatures."""

    def __init__(self, bits: int = 256, parameter_set: str = "A") -> None:
        self.bits, self.parameter_set = bits, parameter_set
        self.folder = Path(tempfile.mkdtemp(prefix="gost-tablet-"))
        self.key = self.folder / "key.pem"
        made = openssl("genpkey", "-algorithm", f"gost2012_{bits}", "-pkeyopt", f"paramset:{parameter_set}",
                       "-out", str(self.key))
        assert made.returncode == 0, made.stderr.decode()

    def csr_pem(self) -> str:
        """The PKCS#10 request `openssl req` makes, signed with the key (GOST R 34.11-2012 hash)."""
        made = openssl("req", "-new", "-key", str(self.key), "-subj", "/CN=tablet")
        assert made.returncode == 0, made.stderr.decode()
        return made.stdout.decode()

    def sign(self, digest: bytes) -> bytes:
        """`openssl pkeyutl -sign` over the Streebog hash the server sent: s then r."""
        made = openssl("pkeyutl", "-sign", "-inkey", str(self.key), data=digest)
        assert made.returncode == 0, made.stderr.decode()
        return made.stdout

    def sign_b64(self, data_to_sign_b64: str) -> str:
        """`sign` as the API carries it: base64 in, base64 out."""
        return base64.b64encode(self.sign(base64.b64decode(data_to_sign_b64))).decode()
