"""A simulated tablet and an enrolled signer, shared by the signing tests (a module, so tests can import it)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from signing import cms
from signing.ca import CertificateAuthority

NOW = datetime.now(timezone.utc).replace(microsecond=0)


class Tablet:
    """A device as the app would be: it keeps its P-256 key and only ever shows a CSR and signatures."""

    def __init__(self) -> None:
        self._key = ec.generate_private_key(ec.SECP256R1())

    def csr_pem(self) -> bytes:
        """A PKCS#10 request signed by the device key (the subject is the server's business)."""
        request = x509.CertificateSigningRequestBuilder().subject_name(
            x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "tablet")])
        )
        return request.sign(self._key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)

    def sign(self, data_to_sign: bytes) -> bytes:
        """ECDSA-SHA256 over the server's data_to_sign, DER encoded, as Android Keystore returns it."""
        return self._key.sign(data_to_sign, ec.ECDSA(hashes.SHA256()))


@dataclass
class Signer:
    """An enrolled user: their tablet, its certificate and the CA that issued it."""

    user_id: str
    tablet: Tablet
    certificate: x509.Certificate
    ca: CertificateAuthority

    def sign(self, content: bytes, at: datetime = NOW, chain: Sequence[x509.Certificate] | None = None) -> bytes:
        """The whole round trip: the server prepares, the tablet signs, the server assembles."""
        data_to_sign = cms.signed_attributes(content, self.certificate, at)
        signature = self.tablet.sign(data_to_sign)
        chain = [self.ca.certificate] if chain is None else chain
        return cms.assemble(data_to_sign, signature, self.certificate, chain)
