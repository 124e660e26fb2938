"""The execution tree is read in plain SQL and dumped by plans compiled from its schema: every user gets,
byte for byte, what the ORM's reading of the tree (kept here as the oracle, as it was written before)
dumped by marshmallow gives, and a 404 exactly where the access rule as the ORM judged it refuses;
on hand-made trees (reports with files, returns, extension requests, sub-resolutions, a withdrawal, a
deputy's resolution in a principal's name, drafts) and on a seeded year of execution history."""
import io
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from sqlalchemy import orm

from domain import access, substitutions
from mobile_api.schemas import ExecutionSchema
from mobile_api.seed import seed
from models import ExtensionRequest, Resolution, Task, TaskReport, User, db
from models.resolutions import ISSUED_STATES
from tests.api.test_execution_control import _issue, _task
from tests.api.test_execution_views import _delegate
from tests.conftest import DEMO_PASSWORD


def _readable_by_orm(user: User, res: Resolution) -> bool:
    """Who may read a resolution, as domain.access.get_resolution judged it on ORM objects."""
    if res.author_id == user.id or any(e.id == res.author_id for e in user.executives):
        return True
    if res.status not in ISSUED_STATES:
        return False
    if user.id == res.controller_id or any(e.id == user.id for e in res.executors):
        return True
    if db.session.scalar(sa.select(access.seen_by(user.id, res.document_id))):
        return True
    concerned = {res.controller_user_id, res.author_id, *(e.id for e in res.executors)}
    return bool(concerned.intersection(substitutions.principals_of(user, "resolutions")))


def _ref(users: dict[int, User], user_id: int | None) -> dict | None:
    user = users.get(user_id)
    return None if user is None else {"id": user.id, "short_name": user.short_name}


def _tree_by_orm(root: Resolution) -> dict:
    """The tree as the ORM read it (domain.execution.tree before it was read in plain SQL)."""
    level = sa.select(Resolution.id).where(Resolution.id == root.id).cte("tree", recursive=True)
    below = (sa.select(Resolution.id).join(Task, Task.id == Resolution.parent_task_id)
             .join(level, Task.resolution_id == level.c.id)
             .where(Resolution.status.in_(ISSUED_STATES), Task.removed.is_(False)))
    level = level.union_all(below)
    ids = list(db.session.scalars(sa.select(level.c.id)))
    resolutions = {r.id: r for r in db.session.scalars(sa.select(Resolution).where(Resolution.id.in_(ids))
                                                       .order_by(Resolution.id))}
    tasks = db.session.scalars(sa.select(Task).where(Task.resolution_id.in_(ids), Task.removed.is_(False))
                               .options(orm.noload("*")).order_by(Task.id)).all()
    task_ids = [t.id for t in tasks]
    reports = db.session.scalars(sa.select(TaskReport).where(TaskReport.task_id.in_(task_ids))
                                 .options(orm.selectinload(TaskReport.files)).order_by(TaskReport.id)).all()
    requests = db.session.scalars(sa.select(ExtensionRequest).where(ExtensionRequest.task_id.in_(task_ids))
                                  .order_by(ExtensionRequest.id)).all()
    people = {t.executor_id for t in tasks} | {r.author_id for r in resolutions.values()} | {
        r.controller_user_id for r in resolutions.values()}
    users = {u.id: u for u in db.session.scalars(sa.select(User).where(User.id.in_(people)))}
    by_task = {t.id: {"reports": [], "extension_requests": [], "resolutions": []} for t in tasks}
    for entry in reports:
        by_task[entry.task_id]["reports"].append(entry)
    for request in requests:
        by_task[request.task_id]["extension_requests"].append(request)
    by_resolution: dict[int, list[dict]] = {rid: [] for rid in resolutions}
    nodes = {rid: {"resolution": res, "author": _ref(users, res.author_id),
                   "controller": _ref(users, res.controller_user_id), "tasks": by_resolution[rid]}
             for rid, res in resolutions.items()}
    for task in tasks:
        by_resolution[task.resolution_id].append({"task": task, "executor": _ref(users, task.executor_id),
                                                  **by_task[task.id]})
    for rid, res in resolutions.items():
        if res.parent_task_id in by_task and rid != root.id:
            by_task[res.parent_task_id]["resolutions"].append(nodes[rid])
    return nodes[root.id]


def _expected(app, user: User, resolution_id: int) -> bytes | None:
    """The answer's body the ORM gave, or None where it answered 404."""
    res = db.session.get(Resolution, resolution_id)
    if res is None or not _readable_by_orm(user, res):
        return None
    return app.json.response(ExecutionSchema().dump(_tree_by_orm(res))).get_data()


def _holds(app, client, users: list[User], resolution_ids: list[int]) -> int:
    """Every user's answer for every resolution is the ORM's; how many were trees (not 404)."""
    trees = 0
    for user in users:
        token = client.post("/api/v1/auth/login", json={"username": user.username, "password": DEMO_PASSWORD})
        auth = {"Authorization": f"Bearer {token.get_json()['access_token']}"}
        for resolution_id in resolution_ids:
            answer = client.get(f"/api/v1/resolutions/{resolution_id}/execution", headers=auth)
            expected = _expected(app, db.session.get(User, user.id), resolution_id)
            db.session.rollback()
            if expected is None:
                assert answer.status_code == 404 and answer.get_json()["code"] == "not_found", (user.id, resolution_id)
            else:
                assert answer.status_code == 200, answer.get_json()
                assert answer.get_data() == expected, (user.username, resolution_id)
                trees += 1
    return trees


def test_every_user_gets_the_hand_made_trees_the_orm_read(app, client, login, demo):
    exec1, emp1, emp2 = login("exec1"), login("employee1"), login("employee2")
    # A returned report with files, an extension approved and one pending, a sub-resolution reported on.
    res = _issue(exec1, [demo["employee1"], demo["employee2"]])
    mine, theirs = _task(emp1, res["id"]), _task(emp2, res["id"])
    assert emp1.post(f"/tasks/{mine['id']}/report", data={
        "text": "Ответ подготовлен", "file": [(io.BytesIO(b"%PDF-1.4 answer"), "Ответ.pdf", "application/pdf"),
                                              (io.BytesIO(b"notes"), "notes.txt", "text/plain")]}).status_code == 200
    assert exec1.post(f"/tasks/{mine['id']}/return", json={"comment": "Дополнить"}).status_code == 200
    asked = emp1.post(f"/tasks/{mine['id']}/extension-requests",
                      json={"deadline": "2200-01-01", "reason": "Нужно время"}).get_json()
    assert exec1.post(f"/extension-requests/{asked['id']}/decision", json={"decision": "approve"}).status_code == 200
    emp1.post(f"/tasks/{mine['id']}/extension-requests", json={"deadline": "2200-02-01", "reason": "Ещё"})
    child = _delegate(emp1, [demo["employee2"]])
    [child_task] = [t for t in emp2.get("/sync").get_json()["tasks"]["upserted"] if t["resolution_id"] == child["id"]]
    emp2.post(f"/tasks/{child_task['id']}/report", json={"text": "Часть готова"})
    emp2.post(f"/tasks/{theirs['id']}/report", json={"text": "Моя часть"})
    assert emp1.post(f"/tasks/{theirs['id']}/accept", json={}).status_code == 200
    # A withdrawn resolution: its tasks ended, a report withdrawn with it.
    gone = _issue(exec1, [demo["employee1"], demo["employee2"]], doc=3)
    emp1.post(f"/tasks/{_task(emp1, gone['id'])['id']}/report", json={"text": "Почти"})
    assert exec1.post(f"/resolutions/{gone['id']}/withdraw", json={"reason": "Вопрос снят"}).status_code == 200
    # For information, without a deadline; a deputy's resolution in the principal's name; a draft.
    info = _issue(exec1, [demo["employee2"]], deadline=None, doc=4)
    now = datetime.now(timezone.utc)
    made = login("exec1").post("/substitutions", json={
        "deputy": str(demo["employee2"].id), "starts_at": (now - timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "ends_at": (now + timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%SZ"), "scopes": ["resolutions"]})
    assert made.status_code == 201, made.get_json()
    deputy_made = _issue(emp2, [demo["employee1"]], doc=1, acting_for=str(demo["exec1"].id))
    # The minister's, on letters the deputy cannot see: one the principal executes (the deputy reads it), one
    # that concerns neither.
    minister = login("minister")
    to_principal, elsewhere = (_issue(minister, [demo[who]], doc=doc) for doc, who in ((2, "exec1"), (5, "clerk1")))
    draft = exec1.post(f"/documents/{_doc_of(res)}/resolutions", json={
        "text": "Черновик", "executors": [str(demo["employee1"].id)], "issue": False}).get_json()
    ids = [int(r["id"]) for r in (res, child, gone, info, deputy_made, draft, to_principal, elsewhere)]
    users = list(db.session.scalars(sa.select(User).order_by(User.id)))
    assert _holds(app, client, users, ids) > len(ids)


def _doc_of(res: dict) -> str:
    return res["document_id"]


@pytest.mark.slow
def test_every_seeded_tree_is_what_the_orm_read(app, client):
    seed(users=80, documents=500, password=DEMO_PASSWORD)
    # Trees with sub-resolutions, returned reports, extension requests, withdrawals.
    with_children = list(db.session.scalars(
        sa.select(Task.resolution_id).join(Resolution, Resolution.parent_task_id == Task.id)
        .group_by(Task.resolution_id).order_by(Task.resolution_id).limit(6)))
    returned = list(db.session.scalars(
        sa.select(Task.resolution_id).join(TaskReport, TaskReport.task_id == Task.id)
        .where(TaskReport.outcome == "returned").group_by(Task.resolution_id).order_by(Task.resolution_id).limit(3)))
    extended = list(db.session.scalars(
        sa.select(Task.resolution_id).join(ExtensionRequest, ExtensionRequest.task_id == Task.id)
        .group_by(Task.resolution_id).order_by(Task.resolution_id).limit(3)))
    withdrawn = list(db.session.scalars(sa.select(Resolution.id).where(Resolution.status == "withdrawn")
                                        .order_by(Resolution.id).limit(2)))
    ids = sorted(set(with_children + returned + extended + withdrawn))
    assert with_children and returned and extended and withdrawn
    people = set()
    for rid in ids:
        res = db.session.get(Resolution, rid)
        people |= {res.author_id, res.controller_user_id, *(e.id for e in res.executors[:2])}
    users = list(db.session.scalars(sa.select(User).where(User.id.in_(people)).order_by(User.id)))
    users += list(db.session.scalars(sa.select(User).where(User.id.not_in(people)).order_by(User.id).limit(3)))
    assert _holds(app, client, users, ids) >= len(ids)
