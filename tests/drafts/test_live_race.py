"""Issue and reject of one draft at the same moment, on a live gunicorn (2 processes x 8 threads) over
PostgreSQL: exactly one takes effect, the other answers 409 with the state the winner left."""
import uuid

import pytest
import sqlalchemy as sa

from models import OutboxMessage, Task, User, db
from tests.support.live import together

pytestmark = pytest.mark.slow  # a real gunicorn and a database of its own
ROUNDS = 6


def test_an_issue_and_a_reject_at_once_one_wins_the_other_sees_its_state(server):
    exec1, assistant = server.login("exec1")["access_token"], server.login("assistant1")["access_token"]
    exec1_id, assistant_id, employee1 = server.ids("exec1", "assistant1", "employee1")
    granted = server.call("PUT", "/me/assistant-rights", exec1, json={"assistant": assistant_id, "may_issue": True})
    assert granted.status_code == 200, granted.text
    winners = set()
    for round_ in range(ROUNDS):
        draft = server.call("POST", f"/documents/{server.letter()}/resolutions", assistant,
                            json={"text": f"Подготовить ответ {round_}", "executors": [employee1], "author": exec1_id})
        assert draft.status_code == 201, draft.text
        res_id = draft.json()["id"]
        # The executive issues, or (odd rounds) the assistant in the executive's name; the executive rejects.
        issuer = exec1 if round_ % 2 == 0 else assistant
        issue = lambda: server.call("POST", f"/resolutions/{res_id}/issue", issuer, json={})  # noqa: E731
        reject = lambda: server.call("POST", f"/resolutions/{res_id}/reject", exec1,  # noqa: E731
                                     json={"comment": "Не нужно"})
        calls = [issue, reject] if round_ % 3 else [reject, issue]

        answers = together(calls)

        codes = sorted(a.status_code for a in answers)
        assert codes == [200, 409], [(a.status_code, a.text) for a in answers]
        won = next(a for a in answers if a.status_code == 200).json()
        lost = next(a for a in answers if a.status_code == 409)
        assert lost.headers["Content-Type"] == "application/problem+json"
        assert (lost.json()["code"], lost.json()["state"]) == ("invalid_state", won["status"])
        winners.add(won["status"])
        with server.app.app_context():
            tasks = db.session.scalar(sa.select(sa.func.count()).select_from(Task).where(
                Task.resolution_id == int(res_id)))
            told = [m.event for m in db.session.scalars(sa.select(OutboxMessage).where(
                OutboxMessage.event.in_(("task_assigned", "draft_rejected"))))
                if m.payload.get("resolution_id") == res_id]
        if won["status"] == "issued":
            assert (tasks, told) == (1, ["task_assigned"])
        else:
            assert won["status"] == "rejected" and (tasks, told) == (0, ["draft_rejected"])
    assert winners <= {"issued", "rejected"}


def test_the_same_grant_sent_many_times_at_once_is_kept_once(server):
    with server.app.app_context():  # a second assistant of exec1, never given anything yet
        from werkzeug.security import generate_password_hash

        from models import AssistantRight

        exec1_row = db.session.scalar(sa.select(User).where(User.username == "exec1"))
        helper = User(organization_id=exec1_row.organization_id, username=f"helper-{uuid.uuid4().hex[:6]}",
                      name="Помощник", short_name="Помощник", role_list="assistant",
                      password_hash=generate_password_hash("x"))
        helper.executives = [exec1_row]
        db.session.add(helper)
        db.session.commit()
        helper_id = helper.id
    exec1 = server.login("exec1")["access_token"]

    answers = together([lambda i=i: server.call("PUT", "/me/assistant-rights", exec1, json={
        "assistant": str(helper_id), "may_issue": i % 2 == 0}) for i in range(8)])

    assert [a.status_code for a in answers] == [200] * 8, [a.text for a in answers]
    with server.app.app_context():
        rows = db.session.scalars(sa.select(AssistantRight).where(AssistantRight.assistant_id == helper_id)).all()
    assert len(rows) == 1
