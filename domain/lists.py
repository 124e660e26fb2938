"""The phone's lists: inbox views, task views, the sync stream and the versions behind their ETags.

These are the reads phones poll, so they are plain SQL (see models.raw), each a walk of one partial
index: a page costs its own rows, however long the user's history. Each view's condition is its
index's predicate, written once (models.views).
"""
from datetime import datetime

from models import utcnow
from models.changes import settled, settled_rows
from models.raw import as_utc, fetch
from models.views import INBOX_VIEWS, TASK_VIEWS, condition

from .paging import decode, encode, page_of

INBOX_LINE = ("id", "document_id", "kind", "reg_number", "title", "sender", "received_at", "due_at", "unread",
              "urgent", "for_user_id", "for_user_short_name")
# The line's columns in the table: a deputy's copy names the principal (domain.substitutions).
_INBOX_COLUMNS = ", ".join((*INBOX_LINE[:-2], "for_user_id", "for_name"))
# A task as a phone lists it: its row, its document's number and the author of its resolution.
# Its reports come last, read for the page (see `with_reports`).
TASK_LINE = ("id", "document_id", "resolution_id", "document_reg_number", "text", "resolution_author_id",
             "resolution_author_short_name", "deadline", "status", "report", "created_at", "completed_at",
             "returned", "responsible", "control", "withdrawn", "reported_at", "reports")
_REPORTED_AT = TASK_LINE.index("reported_at")
_TASK_FROM = ("SELECT tasks.id, tasks.document_id, tasks.resolution_id, documents.reg_number, tasks.text, users.id, "
              "users.short_name, tasks.deadline, tasks.status, tasks.report, tasks.created_at, tasks.completed_at, "
              "tasks.returned, tasks.responsible, tasks.control, tasks.withdrawn, tasks.reported_at{} "
              "FROM tasks JOIN documents ON documents.id = tasks.document_id "
              "JOIN resolutions ON resolutions.id = tasks.resolution_id JOIN users ON users.id = resolutions.author_id")


def _newest_first(select: str, where: list[str], params: list, at: str, key: str, limit: int, cursor: str | None,
                  version: tuple[tuple[str, ...], tuple]) -> tuple[list[tuple], str | None, str | None]:
    """One keyset page, newest first by (at, key), which are the row's last two columns (the dumps
    read the others): the rows, the cursor of the next page and the version of the page (see
    `_version`), read in one statement. Rows arriving at the top never shift a page."""
    if cursor:
        where = [*where, f"({at}, {key}) < (%s, %s)"]
        params = [*params, *decode(cursor, datetime, int)]
    settled_below, columns, rows = settled_rows(
        f"{select} WHERE {' AND '.join(where)} ORDER BY {at} DESC, {key} DESC LIMIT %s", (*params, limit + 1),
        *version)
    rows.sort(key=lambda row: (row[-2], row[-1]), reverse=True)  # the join keeps no order
    rows, next_cursor = page_of(rows, limit, lambda last: (as_utc(last[-2]), last[-1]))
    return rows, next_cursor, _version_of(settled_below, columns)


def inbox_page(user_id: int, view: str, limit: int,
               cursor: str | None) -> tuple[list[tuple], str | None, str | None]:
    """A page of the user's inbox view, newest first: rows of INBOX_LINE, the next cursor and the
    version of the view (as `inbox_version` gives it), read with the page."""
    where, params, now = [f"user_id = %s AND {condition(INBOX_VIEWS, view)}"], [user_id], utcnow()
    version = _version_columns("inbox", user_id, view, now)
    if view == "overdue":
        # Walk the view's index in received order; the due date is only a filter (written so that no
        # plan ranges over due dates and then sorts every overdue line of a long history).
        where.append(f"coalesce(due_at, received_at) < %s AND {_ANY_OVERDUE['inbox']}")
        params += [now, user_id, now]
    select = f"SELECT {_INBOX_COLUMNS}, received_at, id FROM inbox_items"
    return _newest_first(select, where, params, "received_at", "id", limit, cursor, version)


def task_page(user_id: int, view: str, limit: int,
              cursor: str | None) -> tuple[list[tuple], str | None, str | None]:
    """A page of the user's tasks (open, overdue or done), newest first: rows of TASK_LINE, the next
    cursor and the version of the view (as `tasks_version` gives it), read with the page."""
    where, params, now = [f"tasks.executor_id = %s AND {condition(TASK_VIEWS, view, 'tasks')}"], [user_id], utcnow()
    version = _version_columns("tasks", user_id, view, now)
    if view == "overdue":
        where.append(f"coalesce(tasks.deadline, tasks.created_at) < %s AND {_ANY_OVERDUE['tasks']}")
        params += [now, user_id, now]
    select = _TASK_FROM.format(", tasks.created_at, tasks.id")
    rows, next_cursor, version = _newest_first(select, where, params, "tasks.created_at", "tasks.id", limit, cursor,
                                               version)
    return with_reports(rows), next_cursor, version


def task_line(task_id: int) -> tuple:
    """One task as a row of TASK_LINE, with its reports: what a transition answers, read in the
    transition's own transaction (models.raw flushes the session first) in one statement, the task's
    columns repeated beside each report and file, rather than the ORM's lazy loads of its document,
    resolution, author, reports and files."""
    rows = fetch(f"SELECT line.*, {_REPORT_COLUMNS} FROM ({_TASK_FROM.format('')} WHERE tasks.id = %s) AS line "
                 f"LEFT JOIN task_reports ON task_reports.task_id = %s {_REPORT_JOINS} "
                 "ORDER BY task_reports.id, report_files.id", (task_id, task_id))
    width = _REPORTED_AT + 1
    reports = _reports_of([row[width:] for row in rows if row[width + 1] is not None])
    return (*rows[0][:width], reports.get(task_id, []))


def with_reports(rows: list[tuple]) -> list[tuple]:
    """Task rows (TASK_LINE but its reports) with their reports, oldest first, each with its files: one
    more statement for the page, and only for a page holding a task that was ever reported on (a page
    of tasks never reported, most of them, stays one statement)."""
    reported = [row[0] for row in rows if row[_REPORTED_AT] is not None]
    reports: dict[int, list[tuple]] = {}
    if reported:
        reports = _reports_of(fetch(
            f"SELECT {_REPORT_COLUMNS} FROM task_reports {_REPORT_JOINS} WHERE task_reports.task_id IN "
            f"({', '.join(['%s'] * len(reported))}) ORDER BY task_reports.id, report_files.id", tuple(reported)))
    return [(*row[:_REPORTED_AT + 1], reports.get(row[0], [])) for row in rows]


# A report (its task, id, text, times, outcome, comment, recording and transcript, the recording's file
# among its files) and one of its files, a row each, oldest first: read by `_reports_of`.
_REPORT_COLUMNS = (
    "task_reports.task_id, task_reports.id, task_reports.text, task_reports.created_at, task_reports.outcome, "
    "task_reports.comment, task_reports.decided_at, task_reports.voice_note_id, voice_notes.transcript, "
    "(SELECT min(recording.id) FROM report_files AS recording WHERE recording.report_id = task_reports.id AND "
    "recording.sha256 = voice_notes.sha256), report_files.id, report_files.name, report_files.mime, "
    "report_files.size")
_REPORT_JOINS = ("LEFT JOIN voice_notes ON voice_notes.id = task_reports.voice_note_id "
                 "LEFT JOIN report_files ON report_files.report_id = task_reports.id")


def _reports_of(found: list[tuple]) -> dict[int, list[tuple]]:
    """Rows of _REPORT_COLUMNS, in their order, as each task's reports with their files."""
    reports: dict[int, list[tuple]] = {}
    files: dict[int, list[tuple]] = {}
    for task_id, report_id, *rest in found:
        if report_id not in files:
            files[report_id] = []
            reports.setdefault(task_id, []).append((report_id, *rest[:5], files[report_id], *rest[5:8]))
        if rest[8] is not None:
            files[report_id].append(tuple(rest[8:]))
    return reports


# Per list: its table, whose rows they are, their due column and what makes a row one that falls due
# (the predicate of its due-date index, with constants).
_DUE = {
    "inbox": ("inbox_items", "user_id", "due_at", condition(INBOX_VIEWS, "overdue")),
    "tasks": ("tasks", "executor_id", "deadline", condition(TASK_VIEWS, "overdue")),
}


# Whether any of the user's lines (or open tasks) is overdue, for the overdue views' walk: the first
# entry of the due-date index, at most. It refers to nothing outside it, so the database evaluates it
# once, before the walk, and skips the walk when it is false: without it, a user with nothing overdue
# would have every line with a due date walked to find none. (Parameters: the user, now.)
_ANY_OVERDUE = {kind: f"EXISTS (SELECT 1 FROM {table} WHERE {owner} = %s AND {falls_due} AND {due} < %s)"
                for kind, (table, owner, due, falls_due) in _DUE.items()}


# --- sync -------------------------------------------------------------------------------------------
# A position in a user's stream is (change number, part, id): part 0 is the inbox, 1 the tasks.
INBOX, TASKS = 0, 1
_END = 2**63 - 1


def changes_since(user_id: int, token: str | None, limit: int) -> tuple[list[tuple], str, bool]:
    """The user's inbox lines and tasks changed after the position in `token` (all current ones
    without a token), in stream order: ([(part, removed, row)], next token, more to fetch now), where
    a row is INBOX_LINE or TASK_LINE.

    The horizon is read with both pages, and the next token never goes past it: a change committed
    while this runs, or by a transaction still open, lies beyond the token and comes next time.
    """
    fresh = token is None
    position = (-1, TASKS, _END) if fresh else decode(token, int, int, int)
    if position[1] not in (INBOX, TASKS):
        decode("!", int)  # refuse as an invalid cursor
    seq, part, key = position
    inbox_where = "user_id = %s AND (seq, id) > (%s, %s)"
    task_where = "tasks.executor_id = %s AND (tasks.seq, tasks.id) > (%s, %s)"
    if fresh:  # a new phone needs no tombstones
        inbox_where += " AND NOT removed"
        task_where += " AND NOT tasks.removed"
    # Both pages and the horizon in one statement: one snapshot, one round trip. The pages are joined
    # on false, so each row comes out once beside the other page's columns, NULL, each keeping its
    # type (a UNION would need that padding typed by hand, in each dialect's names). SQLite has FULL
    # JOIN since 3.39. Saves a round trip's system time: 3-6% of the request's CPU under gunicorn.
    settled_below, _, found = settled_rows(
        "SELECT coalesce(inbox_page.seq, task_page.seq), inbox_page.*, task_page.* FROM ("
        f"SELECT seq, id, removed, {_INBOX_COLUMNS} FROM inbox_items WHERE {inbox_where} "
        "ORDER BY seq, id LIMIT %s) AS inbox_page FULL JOIN ("
        f"{_TASK_FROM.format(', tasks.seq, tasks.removed')} WHERE {task_where} "
        "ORDER BY tasks.seq, tasks.id LIMIT %s) AS task_page ON 1 = 0",
        (user_id, seq, key if part == INBOX else _END, limit + 1,
         user_id, seq, key if part == TASKS else -1, limit + 1))
    rows, split = [], 4 + len(INBOX_LINE)  # the inbox page's columns end there
    for r in found:
        if r[1] is not None:
            rows.append((r[1], INBOX, r[2], bool(r[3]), r[4:split]))
        else:
            task = r[split:]
            rows.append((task[-2], TASKS, task[0], bool(task[-1]), task[:-2]))
    reported = with_reports([r[4] for r in rows if r[1] == TASKS])
    by_id = {row[0]: row for row in reported}
    rows = [(*r[:4], by_id[r[2]]) if r[1] == TASKS else r for r in rows]
    rows.sort(key=lambda r: r[:3])
    more = len(rows) > limit
    rows = rows[:limit]
    below = (settled_below - 1, TASKS, _END)  # everything numbered below the horizon
    if rows and rows[-1][:3] <= below:
        after = rows[-1][:3] if more else max(rows[-1][:3], below)
    else:
        # The page reaches changes of transactions that may not all have ended: resume below them, and
        # let the phone come back later rather than loop on a page that cannot move yet.
        after, more = max(position, below), False
    return [(r[1], r[3], r[4]) for r in rows], encode(*after), more


# --- versions for conditional GETs ------------------------------------------------------------------

def _version(columns: tuple[str, ...], params: tuple) -> str | None:
    """The user's last change number and, for overdue views, when the next item falls due, read in
    one statement with the horizon (models.changes.settled)."""
    return _version_of(*settled(columns, params))


def _version_of(settled_below: int, row: tuple) -> str | None:
    """The version is valid only when the last change lies below the horizon: then anything committing
    later is numbered above it, and changes the version."""
    last_change = row[0]
    next_due = as_utc(row[1]) if len(row) > 1 else None
    if last_change is not None and last_change >= settled_below:
        return None  # a transaction below the user's last change may still commit: no promise
    due = f".{int(next_due.timestamp())}" if next_due is not None else ""
    return f"{last_change or 0}{due}"


def _version_columns(kind: str, user_id: int, view: str, now: datetime) -> tuple[tuple[str, ...], tuple]:
    """The SQL columns of a list's version and their parameters: the user's last change number and,
    for the overdue view, when the next item falls due."""
    table, owner, due, falls_due = _DUE[kind]
    last_change = f"(SELECT max(seq) FROM {table} WHERE {owner} = %s)"
    if view != "overdue":
        return (last_change,), (user_id,)
    next_due = f"(SELECT min({due}) FROM {table} WHERE {owner} = %s AND {falls_due} AND {due} >= %s)"
    return (last_change, next_due), (user_id, user_id, now)


def inbox_version(user_id: int, view: str) -> str | None:
    """A string that changes whenever any page of the user's inbox view could: the number of the
    user's last change (every change gets a new one, and anything committing later a larger one),
    and for the overdue view also when the next line falls due. None when it cannot promise that."""
    return _version(*_version_columns("inbox", user_id, view, utcnow()))


def tasks_version(user_id: int, view: str) -> str | None:
    """Like inbox_version, for the user's tasks (open, overdue, done)."""
    return _version(*_version_columns("tasks", user_id, view, utcnow()))
