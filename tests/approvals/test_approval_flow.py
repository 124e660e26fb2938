"""Approval routes: stages in order, who is due, parallel completion, reject and new rounds, inbox and push."""
import io
from datetime import timedelta

import sqlalchemy as sa

from models import OutboxMessage, db, utcnow
from models.signing import SigningKey


def _requested(user_id: str, document: str) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage).where(
        OutboxMessage.user_id == int(user_id), OutboxMessage.document_id == int(document),
        OutboxMessage.event == "approval_requested"))


def _inbox_kinds(api, document: str) -> set[str]:
    return {i["kind"] for i in api.get("/inbox?limit=100").get_json()["items"] if i["document_id"] == document}


def test_a_tablet_enrols_signs_and_approves(enrol, route, document, users, login):
    exec1 = enrol("exec1")
    approval = route(("sequential", [users["exec1"]]))
    assert approval["due"] == [users["exec1"]] and approval["status"] == "in_progress"
    assert "approval" in _inbox_kinds(exec1.api, document)
    detail = exec1.api.get(f"/documents/{document}").get_json()
    assert {"approve", "sign"} <= set(detail["actions"]) and detail["approval"]["id"] == approval["id"]
    assert approval["id"] in [a["id"] for a in exec1.api.get("/approvals").get_json()["items"]]

    resp = exec1.approve(approval["id"])

    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert body["status"] == "approved" and body["due"] == []
    decided = body["stages"][0]["approvers"][0]
    assert decided["decision"] == "approve" and decided["signature_id"]
    assert approval["id"] not in [a["id"] for a in exec1.api.get("/approvals").get_json()["items"]]
    assert "approval" not in _inbox_kinds(exec1.api, document)
    report = exec1.api.get(f"/documents/{document}/signatures").get_json()["items"]
    assert [(r["valid"], r["reason"], r["signer"]["id"]) for r in report] == [(True, "ok", users["exec1"])]


def test_stages_run_in_order_sequential_one_by_one_parallel_together(route, users, login, document):
    approval = route(("sequential", [users["exec1"], users["employee1"]]),
                     ("parallel", [users["minister"], users["employee2"]]))
    aid = approval["id"]
    assert approval["due"] == [users["exec1"]] and _requested(users["employee1"], document) == 0
    assert login("employee1").post(f"/approvals/{aid}/decision", json={"decision": "approve"}).status_code == 409

    steps = [("exec1", [users["employee1"]]), ("employee1", sorted([users["minister"], users["employee2"]])),
             ("minister", [users["employee2"]]), ("employee2", [])]
    for who, due_after in steps:
        resp = login(who).post(f"/approvals/{aid}/decision", json={"decision": "approve", "comment": "Согласовано"})
        assert resp.status_code == 200, resp.get_json()
        assert resp.get_json()["due"] == due_after
        # The opened document shows the round exactly as the decision's answer does (read without the ORM).
        assert login("clerk1").get(f"/documents/{document}").get_json()["approval"] == resp.get_json()
    assert resp.get_json()["status"] == "approved"
    assert [s["status"] for s in resp.get_json()["stages"]] == ["done", "done"]
    for who in ("exec1", "employee1", "minister", "employee2"):
        assert _requested(users[who], document) == 1
    assert "info" in _inbox_kinds(login("clerk1"), document)


def test_a_reject_needs_a_comment_and_returns_the_document_for_a_new_round(route, users, login, document):
    approval = route(("parallel", [users["exec1"], users["employee1"]]))
    exec1 = login("exec1")
    resp = exec1.post(f"/approvals/{approval['id']}/decision", json={"decision": "reject"})
    assert resp.status_code == 422 and resp.get_json()["code"] == "comment_required"
    resp = exec1.post(f"/approvals/{approval['id']}/decision", json={"decision": "reject", "comment": "  "})
    assert resp.status_code == 422

    resp = exec1.post(f"/approvals/{approval['id']}/decision", json={"decision": "reject", "comment": "Нет сметы"})

    assert resp.status_code == 200 and resp.get_json()["status"] == "rejected"
    assert "approval" not in _inbox_kinds(login("employee1"), document)  # the other approver is released
    clerk = login("clerk1")
    assert "approval" in _inbox_kinds(clerk, document)
    late = login("employee1").post(f"/approvals/{approval['id']}/decision", json={"decision": "approve"})
    assert late.status_code == 409 and late.get_json()["code"] == "approval_closed"

    again = clerk.put(f"/documents/{document}/approval-route",
                      json={"stages": [{"mode": "sequential", "approvers": [users["exec1"]]}]})
    assert again.status_code == 200 and again.get_json()["round"] == 2
    assert "approval" not in _inbox_kinds(clerk, document)
    assert clerk.get(f"/documents/{document}").get_json()["approval"]["round"] == 2


def test_only_the_owner_routes_and_only_between_rounds(route, users, login, document):
    body = {"stages": [{"mode": "sequential", "approvers": [users["exec1"]]}]}
    assert login("exec1").put(f"/documents/{document}/approval-route", json=body).status_code == 403
    assert login("exec2").put(f"/documents/{document}/approval-route", json=body).status_code == 404
    foreign = {"stages": [{"mode": "sequential", "approvers": [users["exec2"]]}]}
    resp = login("clerk1").put(f"/documents/{document}/approval-route", json=foreign)
    assert resp.status_code == 422 and resp.get_json()["code"] == "validation_failed"
    twice = {"stages": [{"mode": "parallel", "approvers": [users["exec1"], users["exec1"]]}]}
    assert login("clerk1").put(f"/documents/{document}/approval-route", json=twice).status_code == 422
    bad_mode = {"stages": [{"mode": "random", "approvers": [users["exec1"]]}]}
    assert login("clerk1").put(f"/documents/{document}/approval-route", json=bad_mode).status_code == 422
    route(("sequential", [users["exec1"]]))
    resp = login("clerk1").put(f"/documents/{document}/approval-route", json=body)
    assert resp.status_code == 409 and resp.get_json()["code"] == "approval_in_progress"


def test_nobody_outside_the_document_sees_its_approval_or_signatures(route, users, login, document, enrol):
    exec1 = enrol("exec1")
    approval = route(("sequential", [users["exec1"]]))
    assert exec1.approve(approval["id"]).status_code == 200
    outsider = login("exec2")
    for path in (f"/documents/{document}", f"/documents/{document}/signatures", f"/documents/{document}/evidence"):
        resp = outsider.get(path)
        assert resp.status_code == 404 and resp.get_json()["code"] == "not_found", path
    assert outsider.post(f"/approvals/{approval['id']}/decision", json={"decision": "approve"}).status_code == 404
    assert outsider.get("/approvals").get_json()["items"] == []


def test_someone_elses_approval_is_not_found(route, users, login):
    approval = route(("sequential", [users["exec1"]]))
    resp = login("employee1").post(f"/approvals/{approval['id']}/decision", json={"decision": "approve"})
    assert resp.status_code == 404
    assert login("exec1").post("/approvals/999999/decision", json={"decision": "approve"}).status_code == 404


def test_a_key_asks_for_signatures_until_its_certificate_expires(route, users, enrol, document):
    """The check compares the certificate's end with the clock (a parameter of a plain statement, written
    as each database stores times): a minute before the end the approver must sign, a minute after not."""
    exec1 = enrol("exec1")
    approval = route(("sequential", [users["exec1"]]))

    def ends_in(delta: timedelta) -> set[str]:
        db.session.execute(sa.update(SigningKey).where(SigningKey.user_id == int(users["exec1"]))
                           .values(not_after=utcnow() + delta))
        db.session.commit()
        return set(exec1.api.get(f"/documents/{document}").get_json()["actions"])

    assert "sign" in ends_in(timedelta(minutes=1))
    assert "sign" not in ends_in(timedelta(minutes=-1))
    assert {"approve"} <= ends_in(timedelta(minutes=-1))
    resp = exec1.api.post(f"/approvals/{approval['id']}/decision", json={"decision": "approve"})
    assert resp.status_code == 200, resp.get_json()


def test_a_user_with_a_key_must_sign(route, users, enrol):
    exec1 = enrol("exec1")
    approval = route(("sequential", [users["exec1"]]))
    resp = exec1.api.post(f"/approvals/{approval['id']}/decision", json={"decision": "approve"})
    assert resp.status_code == 422 and resp.get_json()["code"] == "signature_required"
    # The signed decision must be the one decided: a signed approve cannot back a reject.
    session_id = exec1.signed("approval", approval["id"], decision="approve")
    resp = exec1.api.post(f"/approvals/{approval['id']}/decision",
                          json={"decision": "reject", "comment": "Нет", "signing_session_id": session_id})
    assert resp.status_code == 409 and resp.get_json()["code"] == "signature_mismatch"
    resp = exec1.api.post(f"/approvals/{approval['id']}/decision",
                          json={"decision": "approve", "signing_session_id": session_id})
    assert resp.status_code == 200


def test_a_new_attachment_version_cancels_the_rounds_decisions(route, users, login, document, enrol):
    exec1 = enrol("exec1")
    approval = route(("parallel", [users["exec1"], users["employee1"]]))
    employee1 = login("employee1")
    assert employee1.post(f"/approvals/{approval['id']}/decision", json={"decision": "approve"}).status_code == 200
    stale_session = exec1.signed("approval", approval["id"], decision="approve")  # signed before the change
    assert employee1.get("/approvals").get_json()["items"] == []

    clerk = login("clerk1")
    assert exec1.api.post(f"/documents/{document}/attachments", data={"file": (io.BytesIO(b"x"), "a.txt")},
                          content_type="multipart/form-data").status_code == 403
    resp = clerk.post(f"/documents/{document}/attachments",
                      data={"file": (io.BytesIO("Регламент, версия 2".encode()), "Регламент.txt")},
                      content_type="multipart/form-data")
    assert resp.status_code == 201, resp.get_json()

    now = clerk.get(f"/documents/{document}").get_json()
    assert len(now["attachments"]) == 2
    assert now["approval"]["due"] == sorted([users["exec1"], users["employee1"]])
    assert [d["cancelled"] for d in now["approval"]["decisions"]] == [True]
    assert [a["id"] for a in employee1.get("/approvals").get_json()["items"]] == [approval["id"]]
    assert "approval" in _inbox_kinds(employee1, document)
    resp = exec1.api.post(f"/approvals/{approval['id']}/decision",
                          json={"decision": "approve", "signing_session_id": stale_session})
    assert resp.status_code == 409 and resp.get_json()["code"] == "stale_version"
    resp = exec1.approve(approval["id"])
    assert resp.status_code == 200
    assert clerk.get(f"/documents/{document}").get_json()["approval"] == resp.get_json()  # cancelled ones too
    # Both signatures stay on record and valid: each covers the version it was made on.
    report = clerk.get(f"/documents/{document}/signatures").get_json()["items"]
    assert len(report) == 2 and all(r["valid"] for r in report)
    assert len({r["version_hash"] for r in report}) == 2


def test_demo_exec1_has_a_real_approval_waiting(login):
    items = login("exec1").get("/approvals").get_json()["items"]
    assert len(items) == 1 and items[0]["stages"][0]["status"] == "current"
    assert [s["mode"] for s in items[0]["stages"]] == ["sequential", "sequential"]
