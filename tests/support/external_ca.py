"""An external certificate authority played by the openssl command line (P-256, or GOST R 34.10-2012 through
Debian's GOST engine), and a plain HTTP server on 127.0.0.1 serving its CRL as a distribution point would."""
import functools
import http.server
import subprocess
import tempfile
import threading
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.support.live import free_port

SIGNER_EXTENSIONS = """basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, nonRepudiation
extendedKeyUsage = emailProtection
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
crlDistributionPoints = URI:{crl_url}
"""


def run(*args: str, data: bytes | None = None) -> bytes:
    done = subprocess.run(["openssl", *args], input=data, capture_output=True, timeout=60)
    assert done.returncode == 0, f"openssl {' '.join(args)}: {done.stderr.decode()}"
    return done.stdout


class ExternalCA:
    """A root CA kept in a folder by openssl: `issue` certifies a device's CSR, `revoke` and `publish` keep its
    CRL (served at `crl_url` once `serve` runs)."""

    def __init__(self, name: str, gost: bool = False, crl_days: int = 7) -> None:
        self.gost, self.folder = gost, Path(tempfile.mkdtemp(prefix="external-ca-"))
        self.engine = ["-engine", "gost"] if gost else []
        self.key, self.certificate_path = self.folder / "ca.key", self.folder / "ca.pem"
        if gost:
            run("genpkey", *self.engine, "-algorithm", "gost2012_256", "-pkeyopt", "paramset:A", "-out", str(self.key))
        else:
            run("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(self.key))
        run("req", *self.engine, "-x509", "-new", "-key", str(self.key), "-subj", f"/CN={name}/O={name}",
            "-days", "3650", "-out", str(self.certificate_path),
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            "-addext", "subjectKeyIdentifier=hash")
        (self.folder / "index.txt").write_text("")
        (self.folder / "crlnumber").write_text("01\n")
        (self.folder / "ca.cnf").write_text(f"""[ca]
default_ca = external
[external]
database = {self.folder}/index.txt
crlnumber = {self.folder}/crlnumber
default_md = default
default_crl_days = {crl_days}
""")
        self.port = free_port()
        self.crl_url = f"http://127.0.0.1:{self.port}/ca.crl"
        self.serial = 1000
        self._server: http.server.ThreadingHTTPServer | None = None
        self.publish()

    @property
    def certificate(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.certificate_path.read_bytes())

    def issue(self, csr_pem: str, extensions: str = SIGNER_EXTENSIONS) -> str:
        """The PEM certificate of the CSR's key, for a person's signatures, naming the CRL's URL."""
        self.serial += 1
        (self.folder / "request.pem").write_text(csr_pem)
        (self.folder / "signer.ext").write_text(extensions.format(crl_url=self.crl_url))
        out = self.folder / f"{self.serial}.pem"
        run("x509", *self.engine, "-req", "-in", str(self.folder / "request.pem"), "-CA", str(self.certificate_path),
            "-CAkey", str(self.key), "-set_serial", str(self.serial), "-days", "365",
            "-extfile", str(self.folder / "signer.ext"), "-out", str(out))
        return out.read_text()

    def revoke(self, certificate_pem: str) -> None:
        (self.folder / "revoked.pem").write_text(certificate_pem)
        run("ca", *self.engine, "-config", str(self.folder / "ca.cnf"), "-revoke", str(self.folder / "revoked.pem"),
            "-keyfile", str(self.key), "-cert", str(self.certificate_path))
        self.publish()

    def publish(self) -> None:
        """Issue a new CRL (DER) where the server serves it."""
        pem = run("ca", *self.engine, "-config", str(self.folder / "ca.cnf"), "-gencrl", "-keyfile", str(self.key),
                  "-cert", str(self.certificate_path))
        (self.folder / "ca.crl").write_bytes(run("crl", "-outform", "DER", data=pem))

    def serve(self) -> None:
        handler = functools.partial(_Quiet, directory=str(self.folder))
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def pem(self) -> str:
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode()


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args) -> None:  # noqa: A002 - the base class's name
        pass
