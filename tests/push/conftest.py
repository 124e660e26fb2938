"""Fixtures: a throwaway service account, the real FCM sender aimed at a fake FCM, the dispatcher."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from push.dispatcher import Dispatcher, Settings
from push.fcm import FcmSender
from tests.fakes.fcm_server import FakeFcm, generate_key, write_service_account


@pytest.fixture(scope="session")
def service_key() -> rsa.RSAPrivateKey:
    """One RSA key per run: generating it is the slow part."""
    return generate_key()


@pytest.fixture
def fake_fcm(service_key: rsa.RSAPrivateKey, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeFcm]:
    """A fake FCM that accepts only assertions signed by the service account's key."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")  # a developer's proxy must not see loopback calls
    with FakeFcm(service_key.public_key()) as fake:
        yield fake


@pytest.fixture
def credentials_path(tmp_path: Path, service_key: rsa.RSAPrivateKey, fake_fcm: FakeFcm) -> Path:
    """A service-account JSON whose token_uri is the fake's."""
    return write_service_account(tmp_path / "service-account.json", service_key, fake_fcm.token_uri)


@pytest.fixture
def sender(credentials_path: Path, fake_fcm: FakeFcm) -> Iterator[FcmSender]:
    """The production sender, pointed at the fake through FCM_ENDPOINT's seam."""
    with FcmSender.from_credentials(str(credentials_path), endpoint=fake_fcm.url, timeout=5) as s:
        yield s


@pytest.fixture
def dispatcher(app, sender: FcmSender) -> Dispatcher:
    """The production dispatcher on the test database, sending through the real SDK to the fake."""
    return Dispatcher(sender, Settings(lease=timedelta(seconds=30)), name="test-dispatcher")
