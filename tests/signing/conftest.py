"""Fixtures for the signing tests: organization CAs and enrolment of simulated tablets."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from signing.ca import CertificateAuthority, create_ca
from signing.csr import issue_certificate, load_csr
from tests.signing.signer import NOW, Signer
from tests.support.tablet import Tablet

Enrol = Callable[..., Signer]


@pytest.fixture(scope="session")
def ca() -> CertificateAuthority:
    """Our organization's CA."""
    return create_ca("Министерство цифрового развития", now=NOW - timedelta(days=365 * 5))


@pytest.fixture(scope="session")
def other_ca() -> CertificateAuthority:
    """Another organization's CA, which we do not trust."""
    return create_ca("Other Agency", now=NOW - timedelta(days=365 * 5))


@pytest.fixture
def enrol(ca: CertificateAuthority) -> Enrol:
    """Enrol a fresh tablet for a user through a real CSR; keyword arguments go to issue_certificate."""

    def enrol(user_id: str = "u-1001", user_name: str = "Анна Смирнова", *, by: CertificateAuthority = ca,
              **issue) -> Signer:
        tablet = Tablet()
        # Issued at the tests' fixed NOW, not the wall clock: a long session must not push the
        # signing time (NOW) outside the certificate's validity.
        issue.setdefault("now", NOW)
        certificate = issue_certificate(by, load_csr(tablet.csr_pem()), user_id=user_id, user_name=user_name, **issue)
        return Signer(user_id, tablet, certificate, by)

    return enrol
