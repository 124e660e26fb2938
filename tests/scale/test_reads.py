"""Reads that cost a page: the 304 answered before the page is built, compressed JSON, inbox lines
within 400 bytes whatever the texts, and the document access check (each on SQLite and PostgreSQL)."""
import gzip
import io
import json
import random

import pytest
import sqlalchemy as sa
from werkzeug.datastructures import FileStorage

from domain import documents, inbox
from models import Document, InboxItem, db, raw


class Statements:
    """The SQL statements the app sends while in the block."""

    def __enter__(self):
        self.seen, self.engines = [], list(db.engines.values())  # the reader engine's too
        for engine in self.engines:
            sa.event.listen(engine, "before_cursor_execute", self._record)
        return self

    def _record(self, conn, cursor, statement, parameters, context, executemany):
        self.seen.append(" ".join(statement.split()))

    def __exit__(self, *exc):
        for engine in self.engines:
            sa.event.remove(engine, "before_cursor_execute", self._record)


def _page_reads(statements, table):
    return [s for s in statements if f"FROM {table}" in s and "ORDER BY" in s and "max(" not in s]


def test_an_unchanged_inbox_answers_304_without_building_the_page(login, demo):
    api = login("exec1")
    for view in ("all", "unread", "action", "overdue"):
        with Statements() as sql:
            first = api.get(f"/inbox?view={view}&limit=3")
        assert first.status_code == 200 and first.headers["ETag"].startswith('W/"')
        # Built, a page is one statement: its rows, its version and the session check (and, for the
        # overdue view, whether anything is overdue at all).
        assert len(sql.seen) == 1, sql.seen
        with Statements() as sql:
            again = api.get(f"/inbox?view={view}&limit=3", headers={"If-None-Match": first.headers["ETag"]})
        assert again.status_code == 304 and again.data == b"", view
        assert again.headers["ETag"] == first.headers["ETag"]
        for answer in (first, again):  # a page is the caller's own: no shared cache may keep or serve it
            assert answer.headers["Cache-Control"] == "private, no-cache"
            assert {"Authorization", "Accept-Encoding"} <= {v.strip() for v in answer.headers["Vary"].split(",")}
        assert _page_reads(sql.seen, "inbox_items") == [], sql.seen
        # The version, read with its horizon and the session check: one statement, nothing else.
        assert len(sql.seen) == 1, sql.seen
    for view in ("open", "overdue", "done"):  # the same for tasks
        with Statements() as sql:
            first = api.get(f"/tasks?view={view}")
        assert len(sql.seen) == 1, sql.seen
        with Statements() as sql:
            again = api.get(f"/tasks?view={view}", headers={"If-None-Match": first.headers["ETag"]})
        assert again.status_code == 304 and again.headers["ETag"] == first.headers["ETag"], view
        assert len(sql.seen) == 1, sql.seen
    # A sync page, from zero or from a token: the inbox's page and the tasks' page, read with the
    # horizon and the session check in one statement.
    with Statements() as sql:
        fresh = api.get("/sync")
    assert fresh.get_json()["inbox"]["upserted"] and fresh.get_json()["tasks"]["upserted"]
    assert len(sql.seen) == 1, sql.seen
    with Statements() as sql:
        assert api.get(f"/sync?since={fresh.get_json()['next']}").status_code == 200
    assert len(sql.seen) == 1, sql.seen
    # Another page of the same view is another tag.
    assert api.get("/inbox?view=all&limit=2").headers["ETag"] != api.get("/inbox?view=all&limit=3").headers["ETag"]


def test_any_change_to_the_users_inbox_or_tasks_gives_a_new_tag(login, demo):
    api = login("exec1")
    page = api.get("/inbox?view=unread")
    tasks = api.get("/tasks")
    line = page.get_json()["items"][0]
    assert api.post(f"/inbox/{line['id']}/read").status_code == 204
    fresh = api.get("/inbox?view=unread", headers={"If-None-Match": page.headers["ETag"]})
    assert fresh.status_code == 200 and line["id"] not in [i["id"] for i in fresh.get_json()["items"]]
    # Tasks: completing one (the demo's is controlled: that reports it) changes the list.
    task = tasks.get_json()["items"][0]
    assert api.post(f"/tasks/{task['id']}/complete", json={"report": "Готово"}).status_code == 200
    after = api.get("/tasks", headers={"If-None-Match": tasks.headers["ETag"]})
    assert after.status_code == 200
    assert [t["status"] for t in after.get_json()["items"] if t["id"] == task["id"]] == ["reported"]
    # Someone else's change does not disturb this user's tag.
    tag = api.get("/inbox").headers["ETag"]
    other = login("exec2")
    other.post(f"/inbox/{other.get('/inbox').get_json()['items'][0]['id']}/read")
    assert api.get("/inbox", headers={"If-None-Match": tag}).status_code == 304


def test_json_is_compressed_when_the_client_asks(login, demo):
    api = login("exec1")
    plain = api.get("/inbox?limit=100")
    assert "Content-Encoding" not in plain.headers
    packed = api.get("/inbox?limit=100", headers={"Accept-Encoding": "gzip"})
    assert packed.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in packed.headers["Vary"]
    assert json.loads(gzip.decompress(packed.data)) == plain.get_json()
    assert len(packed.data) < len(plain.data)
    # The conditional GET works on the compressed answer too.
    again = api.get("/inbox?limit=100", headers={"Accept-Encoding": "gzip", "If-None-Match": packed.headers["ETag"]})
    assert again.status_code == 304


def _worst_line(reg_number, title, sender):
    reg_number, title, sender = inbox.line_texts(reg_number, title, sender)
    line = {"id": "9" * 19, "document_id": "9" * 19, "kind": "resolution", "reg_number": reg_number,
            "title": title, "from": sender, "received_at": "2026-11-25T09:30:00Z", "due_at": "2026-11-25T09:30:00Z",
            "unread": False, "urgent": False}
    return len(json.dumps(line, ensure_ascii=False, separators=(",", ":")).encode()), title


def test_an_inbox_line_stays_under_400_bytes_whatever_its_texts():
    rng = random.Random(7)
    alphabets = ["Жалоба ", '"\\', "😀", "\u0001\t", "ab ", "Ё中"]
    for _ in range(2000):
        texts = ["".join(rng.choice(rng.choice(alphabets)) for _ in range(rng.randint(0, n))) for n in (40, 1000, 300)]
        size, title = _worst_line(*texts)
        assert size < 400, texts
        assert len(title) <= 120
    # A typical Russian title of 60-80 letters is kept whole.
    typical = "О предоставлении информации о ходе реализации программы цифровой трансформации"
    assert _worst_line("МЦР-12345/26", typical, "Минфин")[1] == typical


def test_registered_documents_land_in_inboxes_as_lines_under_400_bytes(login, demo):
    title = "«Срочно» — " + "😀" * 30 + " о предоставлении \"сведений\" " * 20
    meta = {"title": title[:1000], "summary": "", "correspondent": "Министерство " * 20,
            "addressees": [demo["exec1"].units[0].id], "for_information": [demo["employee2"].id], "urgent": True}
    documents.register(demo["clerk1"], meta, [FileStorage(io.BytesIO(b"x"), filename="a.txt")])
    db.session.commit()
    for user in ("exec1", "minister", "employee2"):
        line = login(user).get("/inbox?limit=1").get_json()["items"][0]
        assert line["title"].startswith("«Срочно»") and line["title"].endswith("…")
        assert len(json.dumps(line, ensure_ascii=False, separators=(",", ":")).encode()) < 400


def test_the_document_access_check_follows_the_rules_in_one_lookup(login, demo):
    office = demo["exec1"].units[0].id
    meta = {"title": "Проверка доступа", "summary": "", "correspondent": "Минфин", "addressees": [office],
            "for_information": [demo["employee2"].id], "urgent": False}
    doc = documents.register(demo["clerk1"], meta, [FileStorage(io.BytesIO(b"x"), filename="a.txt")])
    db.session.commit()
    # Addressed unit's members, the owner, an informed reader, the assistant of an executive who has it.
    for user in ("exec1", "minister", "clerk1", "employee2", "assistant1"):
        api = login(user)
        with Statements() as sql:
            resp = api.get(f"/documents/{doc.id}")
        assert resp.status_code == 200, user
        checks = [s for s in sql.seen if "unit_members" in s]  # the access check asks about the user's units
        assert len(checks) <= 1 and not any("document_id IN" in s for s in sql.seen), sql.seen
    # Not addressed, not informed, another organization: as if it did not exist.
    for user in ("employee1", "exec2"):
        resp = login(user).get(f"/documents/{doc.id}")
        assert resp.status_code == 404 and resp.get_json()["code"] == "not_found"
    missing = db.session.scalar(sa.select(sa.func.max(Document.id))) + 1000
    assert login("exec1").get(f"/documents/{missing}").status_code == 404
    # The executives got their line; the reader an info line.
    kinds = dict(db.session.execute(sa.select(InboxItem.user_id, InboxItem.kind)
                                    .where(InboxItem.document_id == doc.id)).tuples().all())
    assert kinds == {demo["exec1"].id: "resolution", demo["minister"].id: "resolution", demo["employee2"].id: "info"}


def test_a_review_queue_page_costs_the_same_statements_however_many_drafts_it_shows(login, demo):
    from models import Resolution

    doc = db.session.scalars(sa.select(Document.id)).first()

    def dictate(n):
        for i in range(n):
            db.session.add(Resolution(document_id=doc, author_id=demo["exec1"].id, status="awaiting_review",
                                      text=f"Проект резолюции {i}"))
        db.session.commit()

    assistant = login("assistant1")
    dictate(2)
    with Statements() as few:
        page = assistant.get("/review-queue?limit=50").get_json()
    assert len(page["items"]) == 2 and page["items"][0]["author"]["id"] == str(demo["exec1"].id)
    dictate(8)
    with Statements() as many:
        page = assistant.get("/review-queue?limit=50").get_json()
    assert len(page["items"]) == 10 and all(item["revisions"] == 0 for item in page["items"])
    assert len(many.seen) == len(few.seen), many.seen


def test_polled_reads_hold_no_transaction_while_writes_keep_theirs(login, demo):
    """Lists, sync and an opened document run each statement on its own: no BEGIN and ROLLBACK round
    trips to the shared database for reads phones repeat all day. A write still runs in one transaction.
    (SQLite begins no transaction for a read either way: there only the write is telling.)"""
    api = login("exec1")
    postgres = db.engine.dialect.name == "postgresql"
    states = []

    def record(conn, cursor, statement, parameters, context, executemany):
        driver = conn.connection.driver_connection
        states.append(driver.in_transaction if hasattr(driver, "in_transaction")
                      else driver.info.transaction_status.name != "IDLE")

    doc_id = api.get("/inbox").get_json()["items"][0]["document_id"]
    engines = list(db.engines.values())  # on PostgreSQL, the reader engine's too
    for engine in engines:
        sa.event.listen(engine, "before_cursor_execute", record)
    try:
        for path in ("/inbox", "/inbox?view=overdue", "/sync", "/tasks", f"/documents/{doc_id}"):
            states.clear()
            assert api.get(path).status_code == 200
            assert states and not (postgres and any(states)), path
        states.clear()
        line = api.get("/inbox?view=unread").get_json()["items"][0]
        assert api.post(f"/inbox/{line['id']}/read").status_code == 204
        assert states[-1]  # the read mark's UPDATE ran inside its transaction
    finally:
        for engine in engines:
            sa.event.remove(engine, "before_cursor_execute", record)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # SQLite has one engine
def test_polled_lists_read_on_their_own_engine_and_keep_no_connection(login, demo):
    """The lists read on the reader engine's connections, in autocommit and on generic plans; each
    request gives its connection back as it ends, so a web thread holds one connection at most while
    it answers and none between requests. The session's engine, which writes, never runs in autocommit
    and keeps PostgreSQL's own choice of plans, or a write would commit statement by statement."""
    api = login("exec1")
    reader, writer = db.engines[raw.READER], db.engine
    served = {reader: set(), writer: set()}
    held = []

    def recorder(engine):
        def record(conn, cursor, statement, parameters, context, executemany):
            served[engine].add(conn.connection.driver_connection.info.backend_pid)
            held.append(reader.pool.checkedout() + writer.pool.checkedout())
        return record

    listeners = {engine: recorder(engine) for engine in served}
    db.session.rollback()  # the sign-in's connection, which the test's session held, back to its pool
    for engine, listener in listeners.items():
        sa.event.listen(engine, "before_cursor_execute", listener)
    try:
        for path in ("/inbox", "/tasks?view=overdue", "/sync", "/inbox?cursor=not-a-cursor", "/tasks?limit=0",
                     "/inbox?view=unread"):
            api.get(path)
            assert reader.pool.checkedout() == 0, path  # given back as the request ended
    finally:
        for engine, listener in listeners.items():
            sa.event.remove(engine, "before_cursor_execute", listener)
    assert served[reader] and not served[writer] and held and max(held) == 1
    with reader.connect() as conn:
        assert conn.exec_driver_sql("SHOW plan_cache_mode").scalar() == "force_generic_plan"
        assert conn.connection.driver_connection.autocommit
    with writer.connect() as conn:
        assert conn.exec_driver_sql("SHOW plan_cache_mode").scalar() == "auto"
        assert not conn.connection.driver_connection.autocommit


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # SQLite prepares nothing
def test_a_polled_list_is_planned_once_not_on_every_poll(app, login, demo):
    """PostgreSQL plans a prepared statement for the values given for at least its first five runs, and
    for as long as its generic plan looks costlier, which a page's LIMIT as a parameter always makes it
    look: every poll paid for planning, most of its database time. Polls run the one plan made once."""
    api = login("exec1")
    for _ in range(8):
        for path in ("/inbox", "/inbox?view=unread", "/tasks", "/sync?limit=5"):
            assert api.get(path).status_code == 200
    with app.test_request_context():
        reads = raw.begin_reads()  # on the reader connection the polls had, whose prepared statements these are
        try:
            plans = raw.fetch("SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements")
        finally:
            raw.end_reads(reads)
    pages = {statement: (generic, custom) for statement, generic, custom in plans
             if "ORDER BY" in statement and "LIMIT" in statement}
    assert len(pages) >= 4, plans  # inbox all, unread, tasks, sync
    assert all(custom == 0 and generic >= 8 for generic, custom in pages.values()), pages


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_lists_read_the_same_whatever_date_style_the_server_writes_times_in(login, demo):
    """The polled lists keep PostgreSQL's text of a time rather than parse it (models.raw): a server
    set to another DateStyle than its default ISO must still give the same times, and cursors that
    page through lines received within the same second."""
    api = login("exec1")
    with db.engine.begin() as conn:  # three lines within one second, apart by microseconds
        conn.execute(sa.text("UPDATE inbox_items SET received_at = date_trunc('second', received_at) "
                             "+ (id % 3) * interval '1 microsecond' WHERE user_id = (SELECT id FROM users "
                             "WHERE username = 'exec1')"))

    def walk(path):
        lines, cursor = [], None
        while True:
            page = api.get(path + (f"&cursor={cursor}" if cursor else "")).get_json()
            lines += page["items"]
            if not (cursor := page["next_cursor"]):
                return lines

    def read_all():
        return [walk("/inbox?limit=2"), walk("/tasks?view=done&limit=1"), api.get("/sync?limit=2").get_json()["inbox"]]

    before = read_all()
    name = db.engine.url.database
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text(f"ALTER DATABASE \"{name}\" SET DateStyle = 'SQL, DMY'"))
    for engine in db.engines.values():
        engine.dispose()
    try:
        with db.engine.connect() as conn:
            assert conn.execute(sa.text("SHOW DateStyle")).scalar() == "SQL, DMY"
        after = read_all()
    finally:
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text(f'ALTER DATABASE "{name}" RESET DateStyle'))
        for engine in db.engines.values():
            engine.dispose()
    assert after == before
    assert before[0] and all(line["received_at"].endswith("Z") for line in before[0])
    assert len({line["id"] for line in before[0]}) == len(before[0])  # no line twice, however alike the times
