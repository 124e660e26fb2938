"""A simulated tablet for the approval tests (a module, so tests can import it)."""
import base64

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec


class Tablet:
    """A device as the app is: it keeps its P-256 key and only ever shows a CSR and signatures."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())

    def csr_pem(self) -> str:
        request = x509.CertificateSigningRequestBuilder().subject_name(
            x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "tablet")]))
        return request.sign(self.key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()

    def sign(self, data_to_sign_b64: str) -> str:
        """ECDSA-SHA256 over the server's data_to_sign, DER, base64: what Android Keystore would return."""
        signature = self.key.sign(base64.b64decode(data_to_sign_b64), ec.ECDSA(hashes.SHA256()))
        return base64.b64encode(signature).decode()
