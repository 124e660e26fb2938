"""A sync never skips a change, whatever commits land while it reads.

The race is reproduced deterministically: a hook on the database driver's cursor runs, between the
sync's inbox query and its task query, a real transaction in another session (another app context,
another connection) that changes the user's inbox and tasks and commits. The phone then keeps
syncing from the token it was given; its copy must end equal to the server's.
"""
import threading

import sqlalchemy as sa

from domain import control
from models import InboxItem, Task, User, db


class Phone:
    """The app's offline copy: applies upserts and tombstones page after page."""

    def __init__(self, api):
        self.api, self.inbox, self.tasks, self.token = api, {}, {}, None

    def apply(self, page):
        for store, part in ((self.inbox, page["inbox"]), (self.tasks, page["tasks"])):
            for row in part["upserted"]:
                store[row["id"]] = row
            for gone in part["removed"]:
                store.pop(gone, None)
        self.token = page["next"]
        return page["has_more"]

    def sync(self):
        """Sync until nothing more is due now."""
        for _ in range(50):
            if not self.apply(self.api.get("/sync" + (f"?since={self.token}" if self.token else "")).get_json()):
                return
        raise AssertionError("sync did not settle")

    def state(self):
        return ({k: v["unread"] for k, v in self.inbox.items()}, {k: v["status"] for k, v in self.tasks.items()})


def _server_state(user_id):
    db.session.expire_all()
    inbox = {str(i.id): i.unread for i in db.session.scalars(
        sa.select(InboxItem).where(InboxItem.user_id == user_id, InboxItem.removed == sa.false()))}
    tasks = {str(t.id): t.status for t in db.session.scalars(
        sa.select(Task).where(Task.executor_id == user_id, Task.removed == sa.false()))}
    return inbox, tasks


def _race_once(app, api, token, change):
    """One /sync during which `change` commits from another session between the inbox and task reads."""
    fired, failures = [], []

    def land():
        try:
            with app.app_context():
                change()
                db.session.commit()
        except BaseException as exc:  # noqa: BLE001 - reported by the test below
            failures.append(exc)

    def hook(conn, cursor, statement, parameters, context, executemany):
        if not fired and threading.current_thread() is main and "FROM tasks" in statement and "seq" in statement:
            fired.append(statement)
            racer = threading.Thread(target=land)
            racer.start()
            racer.join(30)

    main = threading.current_thread()
    engines = list(db.engines.values())  # the sync reads on the reader engine, where there is one
    for engine in engines:
        sa.event.listen(engine, "before_cursor_execute", hook)
    try:
        page = api.get(f"/sync?since={token}").get_json()
    finally:
        for engine in engines:
            sa.event.remove(engine, "before_cursor_execute", hook)
    assert fired and not failures, failures
    return page


def test_a_commit_between_the_inbox_and_task_reads_of_one_sync_is_not_skipped(app, login, demo):
    exec1_id = demo["exec1"].id
    phone = Phone(login("exec1"))
    phone.sync()
    assert phone.state() == _server_state(exec1_id)
    assert phone.tasks

    def complete_the_task_and_read_a_line():
        # One transaction that changes the inbox (a line read, the task's line withdrawn) and a task.
        user = db.session.get(User, exec1_id)
        line = db.session.scalar(sa.select(InboxItem).where(
            InboxItem.user_id == exec1_id, InboxItem.kind == "info"))
        line.unread = False
        task = db.session.scalar(sa.select(Task).where(Task.executor_id == exec1_id, Task.status == "open"))
        control.complete(user, task.id, "Готово")

    phone.apply(_race_once(app, phone.api, phone.token, complete_the_task_and_read_a_line))
    phone.sync()
    server_inbox, server_tasks = _server_state(exec1_id)
    assert "reported" in server_tasks.values()
    # Every change reached the phone: the line read, the task reported, the task's line gone.
    assert phone.state() == (server_inbox, server_tasks)
