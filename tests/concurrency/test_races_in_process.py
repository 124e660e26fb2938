"""The same rules through the app's test client, on SQLite (one writer at a time, taken up front with
BEGIN IMMEDIATE) and on PostgreSQL: threads released together, idempotency claims, the refresh grace.
"""
import hashlib
import itertools
import json
import threading
from datetime import timedelta

import sqlalchemy as sa

from mobile_api import idempotency
from models import IdempotentResponse, OutboxMessage, Task, db, utcnow

N = 4


def _doc(demo) -> int:
    from models import Document
    return db.session.scalar(sa.select(Document.id).where(Document.reg_number.like("МЦР-1/%")))


def _together(app, n: int, call) -> list:
    """call(client) from n threads, each with its own app context, session and connection."""
    barrier, answers = threading.Barrier(n), []

    def run() -> None:
        with app.app_context():
            client = app.test_client()
            barrier.wait()
            resp = call(client)
            answers.append((resp.status_code, resp.get_json(), dict(resp.headers)))

    threads = [threading.Thread(target=run) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(answers) == n
    return answers


def _task(login, demo) -> tuple[int, object]:
    """An open task of employee1; returns its id and employee1's Api."""
    resp = login("exec1").post(f"/documents/{_doc(demo)}/resolutions", json={
        "text": "Исполнить", "executors": [str(demo["employee1"].id)], "issue": True})
    assert resp.status_code == 201, resp.get_json()
    return db.session.scalar(sa.select(Task.id).where(Task.resolution_id == int(resp.get_json()["id"]))), \
        login("employee1")


def test_taps_at_once_issue_once_and_complete_once(app, login, demo):
    exec1 = login("exec1")
    draft = exec1.post(f"/documents/{_doc(demo)}/resolutions", json={
        "text": "Подготовить ответ", "executors": [str(demo["employee1"].id), str(demo["employee2"].id)]}).get_json()

    issued = _together(app, N, lambda c: c.post(f"/api/v1/resolutions/{draft['id']}/issue", json={},
                                                headers=exec1.headers))

    assert sorted(code for code, _, _ in issued) == [200] + [409] * (N - 1)
    assert all(body["state"] == "issued" and body["status"] == 409 for code, body, _ in issued if code == 409)
    db.session.expire_all()
    tasks = db.session.scalars(sa.select(Task).where(Task.resolution_id == int(draft["id"]))).all()
    assert len(tasks) == 2
    employee1 = login("employee1")
    task = next(t for t in tasks if t.executor_id == demo["employee1"].id)

    completed = _together(app, N, lambda c: c.post(f"/api/v1/tasks/{task.id}/complete", json={"report": "Готово"},
                                                   headers=employee1.headers))

    assert sorted(code for code, _, _ in completed) == [200] + [409] * (N - 1)
    assert all(body["state"] == "done" for code, body, _ in completed if code == 409)
    told = db.session.scalars(sa.select(OutboxMessage).where(OutboxMessage.event == "task_completed")).all()
    assert [m.payload["task_id"] for m in told] == [str(task.id)]


def test_one_idempotency_key_at_once_runs_once_and_every_twin_replays_it(app, login, demo):
    task_id, employee1 = _task(login, demo)
    headers = {**employee1.headers, "Idempotency-Key": "done-once"}

    answers = _together(app, N, lambda c: c.post(f"/api/v1/tasks/{task_id}/complete", json={"report": "Готово"},
                                                 headers=headers))

    assert {code for code, _, _ in answers} == {200}
    assert len({json.dumps(body, sort_keys=True) for _, body, _ in answers}) == 1
    assert sum("Idempotent-Replayed" not in h for _, _, h in answers) == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage).where(
        OutboxMessage.event == "task_completed")) == 1


def _claim(user_id: int, key: str, path: str, body: bytes, age: timedelta) -> None:
    """A key claimed by a request still running (or, if old, by one that died mid-request)."""
    fingerprint = hashlib.sha256(f"POST {path}\n".encode() + body).hexdigest()
    db.session.add(IdempotentResponse(user_id=user_id, key=key, request_hash=fingerprint, claim="a" * 32,
                                      created_at=utcnow() - age))
    db.session.commit()


def test_a_key_still_running_answers_in_progress_and_a_dead_ones_claim_is_taken_over(app, login, demo):
    task_id, employee1 = _task(login, demo)
    path, body = f"/api/v1/tasks/{task_id}/complete", json.dumps({"report": "Готово"}).encode()
    _claim(demo["employee1"].id, "k", path, body, timedelta(seconds=1))
    app.config["IDEMPOTENCY_WAIT_S"] = 0.3

    def post():
        return employee1.client.post(path, data=body, content_type="application/json",
                                     headers={**employee1.headers, "Idempotency-Key": "k"})

    # On PostgreSQL a running request holds its key's lock in its transaction: here another connection.
    postgres = db.engine.dialect.name == "postgresql"
    running = db.engine.connect()
    if postgres:
        running.execute(sa.select(sa.func.pg_advisory_xact_lock(idempotency.lock_id(demo["employee1"].id, "k"))))
    busy = post()
    assert busy.status_code == 409 and busy.get_json()["code"] == "idempotency_in_progress"
    assert busy.headers["Retry-After"] == "1"
    assert db.session.get(Task, task_id).status == "open"  # the twin did nothing

    # The first request dies: on PostgreSQL its transaction ends with it (a killed worker's connection
    # closes) and the retry takes over at once; on SQLite the claim must be old enough to be abandoned.
    running.close()
    if not postgres:
        db.session.execute(sa.update(IdempotentResponse).values(created_at=utcnow() - timedelta(minutes=3)))
        db.session.commit()
    taken_over, replayed = post(), post()
    assert taken_over.status_code == replayed.status_code == 200
    assert replayed.get_json() == taken_over.get_json() and replayed.headers["Idempotent-Replayed"] == "true"
    db.session.expire_all()
    assert db.session.get(Task, task_id).status == "done"


def test_a_refused_action_releases_its_key_for_the_retry(login, demo):
    from domain import access
    from domain import resolutions as rules
    exec1 = login("exec1")
    # A draft without executors, as a dictation leaves it: issuing it is refused until someone is named.
    doc = access.get_document(demo["exec1"], _doc(demo))
    draft = {"id": rules.create(demo["exec1"], doc, "Исполнить", [], None).id}
    db.session.commit()
    key = {"Idempotency-Key": "issue-1"}
    assert exec1.post(f"/resolutions/{draft['id']}/issue", json={}, headers=key).status_code == 422
    edit = exec1.patch(f"/resolutions/{draft['id']}", json={"executors": [str(demo["employee1"].id)]})
    assert edit.status_code == 200
    issued = exec1.post(f"/resolutions/{draft['id']}/issue", json={}, headers=key)
    assert issued.status_code == 200 and issued.get_json()["status"] == "issued"
    assert exec1.post(f"/resolutions/{draft['id']}/issue", json={}, headers=key).get_json() == issued.get_json()


def test_a_refresh_retried_in_the_grace_period_gets_the_same_pair_and_a_late_replay_closes_the_session(app, client,
                                                                                                        demo):
    from tests.conftest import DEMO_PASSWORD
    first = client.post("/api/v1/auth/login", json={"username": "exec1", "password": DEMO_PASSWORD}).get_json()

    answers = _together(app, N, lambda c: c.post("/api/v1/auth/refresh",
                                                 json={"refresh_token": first["refresh_token"]}))

    assert {code for code, _, _ in answers} == {200}
    assert len({(b["access_token"], b["refresh_token"]) for _, b, _ in answers}) == 1
    pair = answers[0][1]
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {pair['access_token']}"}).status_code == 200

    app.config["REFRESH_GRACE_S"] = 0  # as if the grace period had passed
    late = client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert late.status_code == 401 and late.get_json()["code"] == "token_reused"
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {pair['access_token']}"}).status_code == 401


def test_simultaneous_decisions_on_one_report_and_one_extension_take_effect_once(app, login, demo):
    """On both databases: accepts and returns of one report released together, and approvals and
    rejections of one extension request: one of each takes effect, the others answer 409 with its state."""
    exec1 = login("exec1")
    resp = exec1.post(f"/documents/{_doc(demo)}/resolutions", json={
        "text": "Исполнить", "executors": [str(demo["employee1"].id), str(demo["employee2"].id)],
        "deadline": "2200-01-01", "issue": True})
    assert resp.status_code == 201, resp.get_json()
    mine, theirs = (db.session.scalar(sa.select(Task.id).where(
        Task.resolution_id == int(resp.get_json()["id"]), Task.executor_id == demo[name].id))
        for name in ("employee1", "employee2"))
    employee1, employee2 = login("employee1"), login("employee2")
    assert employee1.post(f"/api/v1/tasks/{mine}/report", json={"text": "Готово"}).status_code == 200

    turn = itertools.count()  # half the threads accept, half return
    decided = _together(app, N, lambda c: c.post(
        f"/api/v1/tasks/{mine}/{'accept' if next(turn) % 2 else 'return'}",
        json={"comment": "Доработать"}, headers=exec1.headers))

    assert sorted(code for code, _, _ in decided) == [200] + [409] * (N - 1), decided
    [winner] = [body for code, body, _ in decided if code == 200]
    assert {body["state"] for code, body, _ in decided if code == 409} == {winner["status"]}

    asked = employee2.post(f"/api/v1/tasks/{theirs}/extension-requests",
                           json={"deadline": "2200-02-01", "reason": "Не успеваю"}).get_json()
    answers = _together(app, N, lambda c: c.post(
        f"/api/v1/extension-requests/{asked['id']}/decision",
        json={"decision": "approve" if next(turn) % 2 else "reject"}, headers=exec1.headers))

    assert sorted(code for code, _, _ in answers) == [200] + [409] * (N - 1), answers
    [winner] = [body for code, body, _ in answers if code == 200]
    assert {body["state"] for code, body, _ in answers if code == 409} == {winner["status"]}
    db.session.expire_all()
    deadline = db.session.get(Task, theirs).deadline.strftime("%Y-%m-%d")
    assert deadline == ("2200-02-01" if winner["status"] == "approved" else "2200-01-01")
