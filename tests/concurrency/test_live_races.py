"""Never twice, on a live gunicorn (2 processes x 8 threads) over PostgreSQL: requests released together
by a barrier. Of simultaneous state changes exactly one takes effect and the others answer 409 with the
state it left; requests sharing an Idempotency-Key run once and all get its answer.
"""
import contextlib
import re
import threading
import time
import uuid

import pytest
import requests
import sqlalchemy as sa

from domain import resolutions as rules
from models import (
    Document,
    IdempotentResponse,
    InboxItem,
    Job,
    OutboxMessage,
    Resolution,
    ResolutionRevision,
    Task,
    User,
    VoiceNote,
    db,
)
from models.signing import ApprovalDecision, Signature
from tests.support.live import together
from tests.support.tablet import Tablet

from .conftest import REFRESH_GRACE_S

pytestmark = pytest.mark.slow  # a real gunicorn and a database of its own
N = 8


def _draft(server, token: str, executors: list[str], text: str = "Подготовить ответ") -> dict:
    resp = server.call("POST", f"/documents/{server.letter()}/resolutions", token,
                       json={"text": text, "executors": executors})
    assert resp.status_code == 201, resp.text
    return resp.json()


def _one_winner(answers, state: str) -> None:
    """Exactly one 200; every other answer a 409 problem naming the state the winner left."""
    codes = sorted(a.status_code for a in answers)
    assert codes == [200] + [409] * (len(answers) - 1), [(a.status_code, a.text) for a in answers]
    for lost in (a for a in answers if a.status_code == 409):
        body = lost.json()
        assert lost.headers["Content-Type"] == "application/problem+json"
        assert body["status"] == 409 and body["state"] == state, body


def _outbox(server, event: str, **ids) -> list[OutboxMessage]:
    with server.app.app_context():
        rows = db.session.scalars(sa.select(OutboxMessage).where(OutboxMessage.event == event)).all()
        return [m for m in rows if all(m.payload.get(k) == str(v) for k, v in ids.items())]


def test_a_resolution_issued_by_many_taps_at_once_makes_one_set_of_tasks(server):
    exec1 = server.login("exec1")["access_token"]
    executors = server.ids("employee1", "employee2", "assistant1", "clerk1", "minister")
    res = _draft(server, exec1, executors)

    answers = together([lambda: server.call("POST", f"/resolutions/{res['id']}/issue", exec1, json={})] * N)

    _one_winner(answers, "issued")
    with server.app.app_context():
        tasks = db.session.scalars(sa.select(Task).where(Task.resolution_id == int(res["id"]))).all()
        assert sorted(str(t.executor_id) for t in tasks) == sorted(executors)
    assert len(_outbox(server, "task_assigned", resolution_id=res["id"])) == len(executors)


def test_resolutions_issued_at_once_on_one_document_to_the_same_executors_in_any_order_all_succeed(server):
    """Two executives resolve one letter at the same moment to the same people, named in another
    order: each issue puts the document into both executors' inboxes, and neither may wait for the
    other's line while holding the one the other waits for (a deadlock answered 503 to one of them)."""
    doc = server.letter()
    tokens = [server.login(name)["access_token"] for name in ("exec1", "minister")]
    pair = server.ids("employee1", "employee2")

    def issue(i: int):
        return server.call("POST", f"/documents/{doc}/resolutions", tokens[i % 2],
                           json={"text": f"Рассмотреть {i}", "executors": pair[::1 if i % 2 else -1], "issue": True})

    for _ in range(5):
        answers = together([lambda i=i: issue(i) for i in range(N)])
        assert [a.status_code for a in answers] == [201] * N, [a.text for a in answers if a.status_code != 201]
    with server.app.app_context():
        lines = db.session.scalar(sa.select(sa.func.count()).select_from(InboxItem).where(
            InboxItem.document_id == int(doc), InboxItem.kind == "task", InboxItem.removed.is_(False)))
    assert lines == 2  # one task line each, whoever delivered it last


def test_simultaneous_completions_of_one_task_complete_it_once(server):
    employee1_id, = server.ids("employee1")
    exec1, employee1 = server.login("exec1")["access_token"], server.login("employee1")["access_token"]
    resp = server.call("POST", f"/documents/{server.letter()}/resolutions", exec1,
                       json={"text": "Исполнить", "executors": [employee1_id], "issue": True})
    assert resp.status_code == 201, resp.text
    with server.app.app_context():
        task_id = db.session.scalar(sa.select(Task.id).where(Task.resolution_id == int(resp.json()["id"])))

    answers = together([lambda i=i: server.call("POST", f"/tasks/{task_id}/complete", employee1,
                                                json={"report": f"Исполнено {i}"}) for i in range(10)])

    _one_winner(answers, "done")
    winner = next(a for a in answers if a.status_code == 200).json()
    with server.app.app_context():
        assert db.session.get(Task, task_id).report == winner["report"]
    assert len(_outbox(server, "task_completed", task_id=task_id)) == 1


def test_simultaneous_reviewed_hands_the_draft_back_once(server):
    with server.app.app_context():
        exec1 = db.session.scalar(sa.select(User).where(User.username == "exec1"))
        doc = db.session.scalar(sa.select(Document).order_by(Document.id).limit(1))
        res = rules.create(exec1, doc, "Транскрипт диктовки", [], None, status="awaiting_review")
        db.session.commit()
        res_id = res.id
    assistant = server.login("assistant1")["access_token"]

    answers = together([lambda: server.call("POST", f"/resolutions/{res_id}/reviewed", assistant)] * N)

    _one_winner(answers, "reviewed")
    assert len(_outbox(server, "draft_reviewed", resolution_id=res_id)) == 1


def test_an_issue_racing_edits_issues_exactly_the_text_its_tasks_carry(server):
    exec1, assistant = server.login("exec1")["access_token"], server.login("assistant1")["access_token"]
    executors = server.ids("employee1", "employee2")
    for k in (0, 2, 4):  # the issue among the edits at different places, for different interleavings
        res = _draft(server, exec1, executors, text="Первоначальный текст")
        edits = [lambda i=i: server.call("PATCH", f"/resolutions/{res['id']}", assistant,
                                         json={"text": f"Правка {k}.{i}"}) for i in range(N - 1)]
        issue = lambda: server.call("POST", f"/resolutions/{res['id']}/issue", exec1, json={})  # noqa: E731

        answers = together(edits[:k] + [issue] + edits[k:])

        issued, edited = answers[k], answers[:k] + answers[k + 1:]
        assert issued.status_code == 200, issued.text
        landed = [a for a in edited if a.status_code == 200]
        for late in (a for a in edited if a.status_code != 200):
            assert late.status_code == 409 and late.json()["state"] == "issued", late.text
        with server.app.app_context():
            row = db.session.get(Resolution, int(res["id"]))
            tasks = db.session.scalars(sa.select(Task).where(Task.resolution_id == row.id)).all()
            revisions = db.session.scalars(sa.select(ResolutionRevision).where(
                ResolutionRevision.resolution_id == row.id).order_by(ResolutionRevision.id)).all()
        # Every edit that answered 200 is a revision before the issue; none came after it.
        assert len(revisions) == len(landed)
        issued_text = revisions[-1].changes["text"][1] if revisions else "Первоначальный текст"
        assert row.status == "issued" and row.text == issued_text == issued.json()["text"]
        assert [t.text for t in tasks] == [issued_text] * 2


def _route(server, doc: str, *stages: tuple[str, list[str]]) -> dict:
    body = {"stages": [{"mode": mode, "approvers": approvers} for mode, approvers in stages]}
    resp = server.call("PUT", f"/documents/{doc}/approval-route", server.login("clerk1")["access_token"], json=body)
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_simultaneous_decisions_of_one_approver_count_once(server):
    exec1_id, minister_id = server.ids("exec1", "minister")
    approval = _route(server, server.letter(), ("sequential", [exec1_id]), ("sequential", [minister_id]))
    exec1 = server.login("exec1")["access_token"]

    answers = together([lambda: server.call("POST", f"/approvals/{approval['id']}/decision", exec1,
                                            json={"decision": "approve"})] * N)

    _one_winner(answers, "in_progress")
    assert {a.json()["code"] for a in answers if a.status_code == 409} == {"not_due"}
    with server.app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(ApprovalDecision).where(
            ApprovalDecision.approval_id == int(approval["id"]))) == 1
    assert len(_outbox(server, "approval_requested", approval_id=approval["id"])) == 2  # exec1, then the minister


def test_one_signature_posted_many_times_at_once_is_kept_once(server):
    exec1_id, = server.ids("exec1")
    approval = _route(server, server.letter(), ("sequential", [exec1_id]))
    exec1, tablet = server.login("exec1")["access_token"], Tablet()
    key = server.call("POST", "/keys", exec1, json={"csr": tablet.csr_pem()}).json()
    session = server.call("POST", "/signing-sessions", exec1, json={
        "subject": {"type": "approval", "id": approval["id"]}, "key_id": key["id"], "decision": "approve"}).json()
    signature = tablet.sign_b64(session["data_to_sign"])

    answers = together([lambda: server.call("POST", f"/signing-sessions/{session['id']}/signature", exec1,
                                            json={"signature": signature})] * N)

    _one_winner(answers, "used")
    with server.app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Signature).where(
            Signature.session_id == int(session["id"]))) == 1
    decided = server.call("POST", f"/approvals/{approval['id']}/decision", exec1,
                          json={"decision": "approve", "signing_session_id": session["id"]})
    assert decided.status_code == 200 and decided.json()["status"] == "approved", decided.text


def test_simultaneous_retries_of_a_failed_dictation_queue_it_once(server):
    with server.app.app_context():
        exec1 = db.session.scalar(sa.select(User).where(User.username == "exec1"))
        doc = db.session.scalar(sa.select(Document).order_by(Document.id).limit(1))
        note = VoiceNote(document_id=doc.id, author_id=exec1.id, sha256="0" * 64, mime="audio/ogg", size=1,
                         language="ko", status="failed", error="the recording could not be decoded")
        db.session.add(note)
        db.session.flush()
        res = rules.create(exec1, doc, "", [], None, status="failed")
        res.voice_note_id = note.id
        db.session.commit()
        res_id = res.id
    token = server.login("exec1")["access_token"]

    answers = together([lambda: server.call("POST", f"/resolutions/{res_id}/retry", token)] * N)

    _one_winner(answers, "transcribing")
    with server.app.app_context():
        jobs = [j for j in db.session.scalars(sa.select(Job)) if j.payload.get("resolution_id") == res_id]
        assert len(jobs) == 1


def test_requests_sharing_an_idempotency_key_run_once_and_all_get_its_answer(server):
    employee1_id, = server.ids("employee1")
    exec1, employee1 = server.login("exec1")["access_token"], server.login("employee1")["access_token"]
    doc = server.letter()
    key = {"Idempotency-Key": f"create-{uuid.uuid4()}"}
    body = {"text": "Исполнить", "executors": [employee1_id], "issue": True}

    created = together([lambda: server.call("POST", f"/documents/{doc}/resolutions", exec1, json=body,
                                             headers=key)] * N)

    assert {a.status_code for a in created} == {201} and len({a.text for a in created}) == 1
    assert sum("Idempotent-Replayed" not in a.headers for a in created) == 1
    with server.app.app_context():
        tasks = db.session.scalars(sa.select(Task).where(Task.document_id == int(doc))).all()
    assert len(tasks) == 1

    key = {"Idempotency-Key": f"complete-{uuid.uuid4()}"}
    completed = together([lambda: server.call("POST", f"/tasks/{tasks[0].id}/complete", employee1,
                                               json={"report": "Исполнено"}, headers=key)] * N)

    assert {a.status_code for a in completed} == {200} and len({a.text for a in completed}) == 1
    assert sum("Idempotent-Replayed" not in a.headers for a in completed) == 1
    assert len(_outbox(server, "task_completed", task_id=tasks[0].id)) == 1


def test_a_refresh_retried_within_the_grace_period_gets_the_same_pair_and_later_closes_the_session(server):
    first = server.login("employee2")

    answers = together([lambda: server.call("POST", "/auth/refresh", json={
        "refresh_token": first["refresh_token"]})] * N)

    assert {a.status_code for a in answers} == {200}, [a.text for a in answers]
    pairs = {(a.json()["access_token"], a.json()["refresh_token"]) for a in answers}
    assert len(pairs) == 1
    (access, refresh), = pairs
    assert refresh != first["refresh_token"]
    assert server.call("GET", "/me", access).status_code == 200

    time.sleep(REFRESH_GRACE_S + 1.1)  # the rotation time is kept to the second
    replay = server.call("POST", "/auth/refresh", json={"refresh_token": first["refresh_token"]})

    assert replay.status_code == 401 and replay.json()["code"] == "token_reused"
    assert server.call("GET", "/me", access).status_code == 401
    assert server.call("POST", "/auth/refresh", json={"refresh_token": refresh}).status_code == 401


def test_a_keyed_request_whose_worker_is_killed_is_run_by_its_retry_at_once(server):
    """kill -9 of the worker running a keyed request: its transaction, and the key's lock, end with its
    connection, so the retry with the same key runs the action (once), not a 409 until the claim ages."""
    exec1, employee1 = server.login("exec1")["access_token"], server.login("employee1")["access_token"]
    res = _draft(server, exec1, server.ids("employee1"))
    assert server.call("POST", f"/resolutions/{res['id']}/issue", exec1, json={}).status_code == 200
    key, key_text = f"killed-{uuid.uuid4()}", None
    with server.app.app_context():
        task_id = db.session.scalar(sa.select(Task.id).where(Task.resolution_id == int(res["id"])))
        holder = db.engine.connect()  # holds the task, so the keyed request waits inside its transaction
        holder.execute(sa.select(Task.id).where(Task.id == task_id).with_for_update())

        def complete():
            return server.call("POST", f"/tasks/{task_id}/complete", employee1, json={"report": "Исполнено"},
                               headers={"Idempotency-Key": key})

        answered = []  # the first request's answer, should it come back before its worker is killed

        def first_request():
            with contextlib.suppress(requests.RequestException):
                answered.append(complete().text)

        first = threading.Thread(target=first_request)
        first.start()
        deadline = time.monotonic() + 30
        while key_text is None and time.monotonic() < deadline:
            key_text = db.session.scalar(sa.select(IdempotentResponse.key).where(IdempotentResponse.key == key))
            db.session.rollback()
            time.sleep(0.05)
        assert key_text == key and not answered, answered  # claimed, and now waiting on the task
        server.kill_workers()
        holder.rollback()
        holder.close()
        first.join(60)

    retried = complete()
    assert retried.status_code == 200, retried.text
    assert "Idempotent-Replayed" not in retried.headers
    assert retried.json()["status"] == "done"
    assert len(_outbox(server, "task_completed", task_id=task_id)) == 1


def _console(server, username: str) -> requests.Session:
    """A browser's session of the review console, signed in."""
    browser = requests.Session()
    form = browser.get(f"{server.url}/console/login", timeout=30).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    signed_in = browser.post(f"{server.url}/console/login", timeout=30, allow_redirects=False,
                             data={"username": username, "password": server.password, "csrf_token": token})
    assert signed_in.status_code == 302, signed_in.text
    return browser


def test_a_console_issue_racing_api_issues_takes_effect_once(server):
    """The author's Issue button in the console and his phone's issue, pressed together: both front
    ends go through the same rule under the same row lock, so one set of tasks and one winner."""
    exec1 = server.login("exec1")["access_token"]
    executors = server.ids("employee1", "employee2")
    browsers = [_console(server, "exec1") for _ in range(N // 2)]
    for _ in range(3):
        res = _draft(server, exec1, executors)
        page = browsers[0].get(f"{server.url}/console/resolutions/{res['id']}", timeout=30).text
        tokens = [re.search(r'name="csrf_token" value="([^"]+)"', b.get(
            f"{server.url}/console/resolutions/{res['id']}", timeout=30).text).group(1) for b in browsers]
        assert 'data-testid="issue"' in page

        def from_console(i: int) -> requests.Response:
            return browsers[i].post(f"{server.url}/console/api/resolutions/{res['id']}/issue",
                                    headers={"X-CSRF-Token": tokens[i]}, timeout=60)

        answers = together([lambda i=i: from_console(i) for i in range(len(browsers))]
                           + [lambda: server.call("POST", f"/resolutions/{res['id']}/issue", exec1, json={})]
                           * (N - len(browsers)))
        _one_winner(answers, "issued")
        with server.app.app_context():
            tasks = db.session.scalars(sa.select(Task.executor_id).where(Task.resolution_id == int(res["id"]))).all()
        assert sorted(str(t) for t in tasks) == sorted(executors)
        assert len(_outbox(server, "task_assigned", resolution_id=res["id"])) == len(executors)


def _reported_task(server) -> tuple[int, str]:
    """A controlled task of exec1's, reported by employee1: its id, and exec1's token."""
    exec1, employee1 = server.login("exec1")["access_token"], server.login("employee1")["access_token"]
    resp = server.call("POST", f"/documents/{server.letter()}/resolutions", exec1, json={
        "text": "Исполнить", "executors": server.ids("employee1"), "deadline": "2200-01-01", "issue": True})
    assert resp.status_code == 201 and resp.json()["control"] is True, resp.text
    with server.app.app_context():
        task_id = db.session.scalar(sa.select(Task.id).where(Task.resolution_id == int(resp.json()["id"])))
    reported = server.call("POST", f"/tasks/{task_id}/report", employee1, json={"text": "Исполнено"})
    assert reported.status_code == 200 and reported.json()["status"] == "reported", reported.text
    return task_id, exec1


def test_simultaneous_accepts_of_one_report_accept_it_once(server):
    task_id, exec1 = _reported_task(server)

    answers = together([lambda: server.call("POST", f"/tasks/{task_id}/accept", exec1, json={})] * 10)

    _one_winner(answers, "done")
    assert len(_outbox(server, "report_accepted", task_id=task_id)) == 1
    with server.app.app_context():
        task = db.session.get(Task, task_id)
        assert task.status == "done" and task.resolution.status == "executed"


def test_a_return_racing_an_accept_one_of_them_wins(server):
    for _ in range(3):
        task_id, exec1 = _reported_task(server)

        answers = together([lambda: server.call("POST", f"/tasks/{task_id}/accept", exec1, json={}),
                            lambda: server.call("POST", f"/tasks/{task_id}/return", exec1,
                                                json={"comment": "Доработать"})] * 4)

        codes = sorted(a.status_code for a in answers)
        assert codes == [200] + [409] * 7, [(a.status_code, a.text) for a in answers]
        winner = next(a for a in answers if a.status_code == 200).json()
        assert {a.json()["state"] for a in answers if a.status_code == 409} == {winner["status"]}
        events = _outbox(server, "report_accepted", task_id=task_id) + _outbox(server, "report_returned",
                                                                             task_id=task_id)
        assert len(events) == 1
