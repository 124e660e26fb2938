"""Fixtures for approvals and signatures: a simulated tablet, a fresh document of clerk1, and signing helpers."""
import io
import json

import pytest
import sqlalchemy as sa

from models import Unit, db
from tests.support.tablet import Tablet


class Signer:
    """A signed-in user with an enrolled tablet."""

    def __init__(self, api, tablet: Tablet, key: dict) -> None:
        self.api, self.tablet, self.key = api, tablet, key

    def session(self, subject_type: str, subject_id: str, **extra):
        return self.api.post("/signing-sessions", json={"subject": {"type": subject_type, "id": subject_id},
                                                        "key_id": self.key["id"], **extra})

    def sign_session(self, session: dict):
        return self.api.post(f"/signing-sessions/{session['id']}/signature",
                             json={"signature": self.tablet.sign_b64(session["data_to_sign"])})

    def signed(self, subject_type: str, subject_id: str, **extra) -> str:
        """Open a session, sign on the tablet, post the signature; returns the session id."""
        resp = self.session(subject_type, subject_id, **extra)
        assert resp.status_code == 201, resp.get_json()
        session = resp.get_json()
        resp = self.sign_session(session)
        assert resp.status_code == 200, resp.get_json()
        return session["id"]

    def approve(self, approval_id: str, decision: str = "approve", comment: str | None = None):
        session_id = self.signed("approval", approval_id, decision=decision, comment=comment)
        return self.api.post(f"/approvals/{approval_id}/decision",
                             json={"decision": decision, "comment": comment, "signing_session_id": session_id})


@pytest.fixture
def enrol(login):
    """enrol("exec1") -> Signer: a fresh tablet whose CSR the server turned into a certificate."""

    def _enrol(username: str) -> Signer:
        api, tablet = login(username), Tablet()
        resp = api.post("/keys", json={"csr": tablet.csr_pem()})
        assert resp.status_code == 201, resp.get_json()
        return Signer(api, tablet, resp.get_json())

    return _enrol


@pytest.fixture
def users(demo) -> dict[str, str]:
    """Demo user ids as the API spells them."""
    return {name: str(user.id) for name, user in demo.items()}


@pytest.fixture
def document(login, demo) -> str:
    """A fresh document registered by clerk1 (its owner) for the minister's office; returns its id."""
    office = db.session.scalar(sa.select(Unit.id).where(Unit.short_name == "Аппарат"))
    meta = {"title": "О согласовании регламента электронного документооборота", "correspondent": "ГКУ «ЦИТ»",
            "addressees": [str(office)]}
    upload = (io.BytesIO("Регламент, версия 1".encode()), "Регламент.txt")
    resp = login("clerk1").post("/documents", data={"metadata": json.dumps(meta, ensure_ascii=False), "file": upload},
                                content_type="multipart/form-data")
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()["id"]


@pytest.fixture
def route(login, document):
    """route(stages...) -> the Approval answered to clerk1's PUT of the route."""

    def _route(*stages: tuple[str, list[str]]) -> dict:
        body = {"stages": [{"mode": mode, "approvers": approvers} for mode, approvers in stages]}
        resp = login("clerk1").put(f"/documents/{document}/approval-route", json=body)
        assert resp.status_code == 200, resp.get_json()
        return resp.get_json()

    return _route
