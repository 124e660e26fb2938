"""A simulated tablet, as the app is on the device."""
import base64

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec


class Tablet:
    """A device that keeps its P-256 key (`key`) and only ever shows a CSR and signatures."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())

    def csr_pem(self) -> str:
        """A PKCS#10 request signed by the device key, PEM (the subject is the server's business)."""
        request = x509.CertificateSigningRequestBuilder().subject_name(
            x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "tablet")]))
        return request.sign(self.key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()

    def sign(self, data_to_sign: bytes) -> bytes:
        """ECDSA-SHA256 over the server's data_to_sign, DER encoded, as Android Keystore returns it."""
        return self.key.sign(data_to_sign, ec.ECDSA(hashes.SHA256()))

    def sign_b64(self, data_to_sign_b64: str) -> str:
        """`sign` as the API carries it: base64 in, base64 out."""
        return base64.b64encode(self.sign(base64.b64decode(data_to_sign_b64))).decode()
