"""The trimmed inbox: views, keyset pagination under concurrent arrivals, ETag/304, read marks, sync."""
import json
from datetime import datetime, timezone

import sqlalchemy as sa

from domain import inbox
from models import InboxItem, db


def _add_documents(demo, n, prefix="Письмо"):
    """Register n more documents addressed to exec1's unit, straight through the domain."""
    import io

    from werkzeug.datastructures import FileStorage

    from domain.documents import register

    office = demo["exec1"].units[0].id
    docs = []
    for i in range(n):
        meta = {"title": f"{prefix} {i} о ходе исполнения поручения", "summary": "", "correspondent": "Минфин",
                "addressees": [office], "for_information": [], "urgent": False}
        docs.append(register(demo["clerk1"], meta, [FileStorage(io.BytesIO(b"x"), filename="a.txt")]))
    db.session.commit()
    return docs


def test_inbox_items_are_trimmed_and_small(login, demo):
    """The contract: under 400 bytes of JSON for a typical Russian title (the demo's are 60-80 letters)."""
    items = login("exec1").get("/inbox?limit=100").get_json()["items"]
    assert items and all(len(i["title"]) <= 80 for i in items)
    for item in items:
        assert set(item) == {"id", "document_id", "kind", "reg_number", "title", "from", "received_at", "due_at",
                             "unread", "urgent"}  # "for" only on a deputy's lines
        assert len(item["title"]) <= 120
        assert len(json.dumps(item, ensure_ascii=False, separators=(",", ":")).encode()) < 400


def test_long_titles_are_cut_at_a_word_with_an_ellipsis():
    title = "О предоставлении " + "очень " * 40 + "важных сведений"
    short = inbox.shorten(title)
    assert len(short) <= 120 and short.endswith("…") and not short[:-1].endswith(" ")


def test_views_filter_the_inbox(login, demo):
    api = login("exec1")
    every = api.get("/inbox?limit=100").get_json()["items"]
    action = api.get("/inbox?view=action&limit=100").get_json()["items"]
    assert {i["kind"] for i in action} == {"review", "resolution", "approval", "task"}
    overdue = api.get("/inbox?view=overdue").get_json()["items"]
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert overdue and [i["id"] for i in overdue] == [i["id"] for i in every if i["due_at"] and i["due_at"] < now]
    first = every[0]["id"]
    assert api.post(f"/inbox/{first}/read").status_code == 204
    unread = api.get("/inbox?view=unread&limit=100").get_json()["items"]
    assert first not in {i["id"] for i in unread} and len(unread) == len(every) - 1


def test_pagination_neither_skips_nor_repeats_while_new_items_arrive(login, demo):
    _add_documents(demo, 12)
    api = login("exec1")
    before = {i["id"] for i in api.get("/inbox?limit=100").get_json()["items"]}
    seen, cursor, pages = [], None, 0
    while True:
        resp = api.get("/inbox?limit=5" + (f"&cursor={cursor}" if cursor else "")).get_json()
        seen += [i["id"] for i in resp["items"]]
        pages += 1
        if pages == 1:
            _add_documents(demo, 3, "Новое")  # arrives at the top while the phone scrolls down
        cursor = resp["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen))
    assert set(seen) == before


def test_bad_cursor_and_limits_are_refused(login, demo):
    api = login("exec1")
    for query, code in (("cursor=!!!", "invalid_cursor"), ("cursor=WzFd", "invalid_cursor"),
                        ("limit=0", "validation_failed"), ("limit=101", "validation_failed"),
                        ("view=secret", "validation_failed"), ("limit=abc", "validation_failed")):
        resp = api.get(f"/inbox?{query}")
        assert resp.status_code in (400, 422) and resp.get_json()["code"] == code, query


def test_etag_answers_304_until_something_changes(login, demo):
    api = login("exec1")
    first = api.get("/inbox")
    etag = first.headers["ETag"]
    again = api.get("/inbox", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    api.post(f"/inbox/{first.get_json()['items'][0]['id']}/read")
    changed = api.get("/inbox", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag


def test_sync_reports_changes_and_tombstones(login, demo):
    api = login("exec1")
    full = api.get("/sync").get_json()
    assert {i["kind"] for i in full["inbox"]["upserted"]} == {"review", "resolution", "approval", "task", "info"}
    assert full["inbox"]["removed"] == [] and len(full["tasks"]["upserted"]) == 1
    token = full["next"]
    assert api.get(f"/sync?since={token}").get_json()["inbox"] == {"upserted": [], "removed": []}

    # exec1 issues a resolution on a document: its "resolution" line leaves the inbox.
    doc_item = next(i for i in full["inbox"]["upserted"] if i["kind"] == "resolution")
    api.post(f"/documents/{doc_item['document_id']}/resolutions",
             json={"text": "В работу", "executors": [str(demo["employee1"].id)], "issue": True})
    info = next(i for i in full["inbox"]["upserted"] if i["kind"] == "info")
    assert api.post(f"/inbox/{info['id']}/read").status_code == 204
    delta = api.get(f"/sync?since={token}").get_json()
    assert delta["inbox"]["removed"] == [doc_item["id"]]
    assert [(i["id"], i["unread"]) for i in delta["inbox"]["upserted"]] == [(info["id"], False)]
    assert delta["next"] != token
    # The executor's phone learns of the new task.
    emp = login("employee1").get("/sync").get_json()
    assert "В работу" in [t["text"] for t in emp["tasks"]["upserted"]]
    # A fresh phone gets no tombstones.
    assert doc_item["id"] not in {i["id"] for i in api.get("/sync").get_json()["inbox"]["upserted"]}


def test_sync_pages_through_a_backlog_one_call_per_page(login, demo):
    api = login("exec1")
    token = api.get("/sync").get_json()["next"]
    _add_documents(demo, 7)
    got, calls = [], 0
    while True:
        page = api.get(f"/sync?since={token}&limit=3").get_json()
        calls += 1
        got += [i["id"] for i in page["inbox"]["upserted"]]
        token = page["next"]
        if not page["has_more"]:
            break
    assert len(got) == len(set(got)) == 7 and calls == 3


def test_marking_someone_elses_item_read_is_not_found(login, demo):
    item = db.session.scalar(sa.select(InboxItem).where(InboxItem.user_id == demo["exec1"].id))
    resp = login("minister").post(f"/inbox/{item.id}/read")
    assert resp.status_code == 404
    db.session.refresh(item)
    assert item.unread is True


def test_the_plain_sql_lists_equal_the_schema_dump(login, demo):
    """The polled lists are plain SQL dumped by plans compiled from the schemas: they must say exactly
    what the schemas say of the same rows, on both databases."""
    from mobile_api.schemas import InboxItemSchema, TaskSchema
    from models import Task

    _add_documents(demo, 3)
    exec1, employee = login("exec1"), login("employee1")
    doc = db.session.scalars(sa.select(InboxItem.document_id).where(InboxItem.user_id == demo["exec1"].id)).first()
    resp = exec1.post(f"/documents/{doc}/resolutions", json={
        "text": "Подготовить ответ", "executors": [str(demo["employee1"].id)], "deadline": "2031-01-15T09:00:00Z",
        "issue": True})
    assert resp.status_code == 201, resp.get_json()

    lines, tasks = InboxItemSchema(), TaskSchema()
    items = db.session.scalars(sa.select(InboxItem).where(InboxItem.user_id == demo["exec1"].id,
                                                          InboxItem.removed.is_(False))).all()
    newest = sorted(items, key=lambda i: (i.received_at, i.id), reverse=True)
    assert exec1.get("/inbox?limit=100").get_json()["items"] == [lines.dump(i) for i in newest]
    mine = db.session.scalars(sa.select(Task).where(Task.executor_id == demo["employee1"].id)).all()
    assert mine and employee.get("/tasks?limit=100").get_json()["items"] == [
        tasks.dump(t) for t in sorted(mine, key=lambda t: (t.created_at, t.id), reverse=True)]
    synced = employee.get("/sync?limit=500").get_json()
    assert sorted(synced["tasks"]["upserted"], key=lambda t: t["id"]) == sorted(
        (tasks.dump(t) for t in mine), key=lambda t: t["id"])


def test_plain_sql_reads_see_what_the_transaction_wrote_but_did_not_flush(demo):
    from domain import lists

    exec1 = demo["exec1"]
    unread = [r[0] for r in lists.inbox_page(exec1.id, "unread", 100, None)[0]]
    item = db.session.get(InboxItem, unread[0])
    item.unread = False  # pending in the session, not yet sent
    assert item.id not in [r[0] for r in lists.inbox_page(exec1.id, "unread", 100, None)[0]]
    db.session.rollback()
