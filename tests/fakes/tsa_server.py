"""A real RFC 3161 time-stamp authority on 127.0.0.1: `openssl ts -reply` behind a small HTTP front.

`TsaPki` makes, once per test session, a test CA and a TSA certificate it issued (extended key usage
timeStamping, critical), plus a rogue TSA under a CA nobody trusts. `FakeTsa` answers each POSTed
TimeStampReq with OpenSSL's own reply; its `mode` makes it misbehave the ways a TSA or a network can:
down (HTTP 503), slow (answers after `delay` seconds), a token over another imprint or nonce, a token
signed by the untrusted TSA, or a TSA that knows no Streebog (refuses it with badAlg).
"""

from __future__ import annotations

import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from asn1crypto import tsp
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

MODES = ("ok", "down", "slow", "wrong_imprint", "wrong_nonce", "untrusted", "no_gost")

# Loads Debian's GOST engine so `openssl ts -reply` knows the Streebog digests (md_gost12_256).
_GOST_CONF = """openssl_conf = openssl_def
[openssl_def]
engines = engine_section
[engine_section]
gost = gost_section
[gost_section]
engine_id = gost
default_algorithms = ALL
"""

_TS_CONF = """[tsa]
default_tsa = tsa_config
[tsa_config]
serial = {folder}/serial
crypto_device = builtin
signer_digest = sha256
default_policy = 1.2.643.100.999.1
other_policies = 1.2.643.100.999.2
digests = {digests}
accuracy = secs:1
ordering = no
tsa_name = no
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"""


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Test TSA service"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _ca(common_name: str, now: datetime) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(_name(common_name)).issuer_name(_name(common_name))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    return key, cert


def _tsa(common_name: str, ca_key, ca_cert: x509.Certificate, now: datetime, *, time_stamping: bool = True):
    key = ec.generate_private_key(ec.SECP256R1())
    purposes = [ExtendedKeyUsageOID.TIME_STAMPING if time_stamping else ExtendedKeyUsageOID.CODE_SIGNING]
    cert = (x509.CertificateBuilder().subject_name(_name(common_name)).issuer_name(ca_cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(True, True, False, False, False, False, False, False, False), critical=True)
            .add_extension(x509.ExtendedKeyUsage(purposes), critical=True)
            .sign(ca_key, hashes.SHA256()))
    return key, cert


def _pem(*certificates: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certificates)


def _key_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


@dataclass(frozen=True)
class Signer:
    """A TSA's key and certificate files, as `openssl ts -reply` reads them."""

    certificate: x509.Certificate
    cert_path: Path
    key_path: Path
    chain_path: Path


class TsaPki:
    """The test TSA's CA (the trust anchor tests configure as TSA_CA_FILE), the TSA, and a rogue TSA."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = Path(folder or tempfile.mkdtemp(prefix="tsa-pki-"))
        now = datetime.now(timezone.utc)
        ca_key, self.ca = _ca("Test TSA root", now)
        rogue_ca_key, self.rogue_ca = _ca("Test TSA root", now)  # the same name, another key
        self.ca_file = self.folder / "tsa-ca.pem"
        self.ca_file.write_bytes(_pem(self.ca))
        self.tsa = self._signer("tsa", *_tsa("Test TSA", ca_key, self.ca, now), self.ca)
        self.rogue = self._signer("rogue", *_tsa("Test TSA", rogue_ca_key, self.rogue_ca, now), self.rogue_ca)
        (self.folder / "serial").write_text("01\n")
        for name, digests in (("ts.cnf", "sha256, sha384, sha512, md_gost12_256, md_gost12_512"),
                              ("ts-sha.cnf", "sha256, sha384, sha512")):
            (self.folder / name).write_text(_TS_CONF.format(folder=self.folder, digests=digests))
        (self.folder / "gost.cnf").write_text(_GOST_CONF)

    def _signer(self, name: str, key, certificate: x509.Certificate, ca: x509.Certificate) -> Signer:
        paths = [self.folder / f"{name}{suffix}" for suffix in (".pem", ".key", "-chain.pem")]
        paths[0].write_bytes(_pem(certificate))
        paths[1].write_bytes(_key_pem(key))
        paths[2].write_bytes(_pem(ca))
        return Signer(certificate, *paths)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class FakeTsa:
    """`openssl ts -reply` over HTTP on 127.0.0.1, as a context manager; `mode` says how it behaves.

    `stop()` closes the port (connection refused: the TSA is down); `start()` opens the same port again."""

    def __init__(self, pki: TsaPki, mode: str = "ok", delay: float = 3.0) -> None:
        self.pki, self.mode, self.delay = pki, mode, delay
        self.queries: list[tsp.TimeStampReq] = []
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/tsa"

    def start(self) -> FakeTsa:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, answer = fake.answer(body)
                self.send_response(status)
                self.send_header("Content-Type", "application/timestamp-reply")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args) -> None:
                pass

        self._server = _Server(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeTsa:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def answer(self, body: bytes) -> tuple[int, bytes]:
        """The HTTP status and body for one TimeStampReq."""
        mode = self.mode
        query = tsp.TimeStampReq.load(body)
        with self._lock:
            self.queries.append(query)
        if mode == "down":
            return 503, b""
        if mode == "slow":
            time.sleep(self.delay)
        if mode == "wrong_imprint":
            digest = bytearray(query["message_imprint"]["hashed_message"].native)
            digest[0] ^= 0xFF
            query = tsp.TimeStampReq({**query.native, "message_imprint": {
                "hash_algorithm": {"algorithm": query["message_imprint"]["hash_algorithm"]["algorithm"].native},
                "hashed_message": bytes(digest)}})
        if mode == "wrong_nonce":
            query = tsp.TimeStampReq({**query.native, "nonce": query["nonce"].native + 1})
        signer = self.pki.rogue if mode == "untrusted" else self.pki.tsa
        config = self.pki.folder / ("ts-sha.cnf" if mode == "no_gost" else "ts.cnf")
        return 200, self.reply(query.dump(), signer, config)

    def reply(self, query_der: bytes, signer: Signer, config: Path) -> bytes:
        with tempfile.NamedTemporaryFile(dir=self.pki.folder, suffix=".tsq") as query_file:
            query_file.write(query_der)
            query_file.flush()
            with self._lock:  # openssl ts -reply increments the serial file: one at a time
                done = subprocess.run(
                    ["openssl", "ts", "-reply", "-config", str(config), "-queryfile", query_file.name,
                     "-signer", str(signer.cert_path), "-inkey", str(signer.key_path), "-chain",
                     str(signer.chain_path)], capture_output=True,
                    env={"OPENSSL_CONF": str(self.pki.folder / "gost.cnf"), "PATH": "/usr/bin:/bin"})
        assert done.returncode == 0, done.stderr.decode()
        return done.stdout
