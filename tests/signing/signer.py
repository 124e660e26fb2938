"""An enrolled signer, shared by the signing tests: a simulated tablet, its certificate and its CA."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from cryptography import x509

from signing import cms
from signing.ca import CertificateAuthority
from tests.support.tablet import Tablet

NOW = datetime.now(timezone.utc).replace(microsecond=0)


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
