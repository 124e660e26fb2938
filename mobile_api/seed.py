"""The region, synthesised: `flask seed --users 22000 --documents 2200000`.

Ministries and municipalities of realistic sizes (a few large, many small), each with its tree of
units: the leadership (head, deputies and their assistants), the general office (clerks and the
administrator), departments with divisions (a head and employees each) and, in the largest
ministry, the heads of its subordinate institutions (a unit of up to 550 executives). Documents
are addressed to units and reach inboxes as registration would put them there: a "resolution" line
for each executive of the unit, an "info" line for an employee; about half carry a resolution with a
year of execution control behind it (mobile_api/seed_history.py: reports accepted and returned,
extensions, withdrawals, sub-resolutions; about 1.2 million resolutions and 2.5 million tasks at the
region's size), some an approval in progress. Each document says a few kilobytes of Russian
(mobile_api/seed_text.py), indexed for search as registration indexes it. Registration counters end
at the numbers given, every user signs in with DEMO_PASSWORD, and the tables are vacuumed and
analysed at the end.

Rows are made here and streamed with COPY on PostgreSQL (batched inserts on SQLite), with ids
given by the seed and the tables' sequences moved past them afterwards.
"""
import random
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

import sqlalchemy as sa
from tqdm import tqdm
from werkzeug.security import generate_password_hash

from domain import summary
from domain.inbox import line_texts
from domain.search import words_of
from models import db
from models.changes import change_number

from .seed_history import History
from .seed_text import Writer

CHUNK = 20_000  # documents per transaction
RESOLVED = 0.47  # the share of documents to a unit with employees that carry a resolution
MINISTRIES = [
    ("Министерство здравоохранения", "Минздрав", "МЗ"), ("Министерство образования и науки", "Минобрнауки", "МОН"),
    ("Министерство финансов", "Минфин", "МФ"), ("Министерство экономики", "Минэкономики", "МЭ"),
    ("Министерство строительства и ЖКХ", "Минстрой", "МС"), ("Министерство транспорта и дорожного хозяйства",
                                                             "Минтранс", "МТ"),
    ("Министерство сельского хозяйства и продовольствия", "Минсельхоз", "МСХ"),
    ("Министерство культуры", "Минкультуры", "МК"), ("Министерство труда и социальной защиты", "Минтруд", "МТСЗ"),
    ("Министерство природных ресурсов и экологии", "Минприроды", "МПР"),
    ("Министерство по делам молодёжи", "Минмолодёжи", "ММ"), ("Министерство спорта", "Минспорт", "МСП"),
    ("Министерство юстиции", "Минюст", "МЮ"), ("Министерство промышленности и торговли", "Минпромторг", "МПТ"),
    ("Министерство земельных и имущественных отношений", "Минземимущество", "МЗИО"),
]
DISTRICTS = ["Заинский", "Алексеевский", "Арский", "Бугульминский", "Елабужский", "Лаишевский", "Мамадышский",
             "Менделеевский", "Нурлатский", "Сабинский", "Тетюшский", "Чистопольский", "Ютазинский", "Агрызский",
             "Балтасинский", "Буинский", "Дрожжановский", "Кайбицкий", "Кукморский", "Мензелинский",
             "Новошешминский", "Рыбно-Слободский", "Спасский", "Тюлячинский", "Черемшанский"]
SURNAMES = ["Иванов", "Петров", "Сидоров", "Галиев", "Хабибуллин", "Смирнов", "Зарипов", "Волков", "Сафин",
            "Кузнецов", "Миннуллин", "Попов", "Гарипов", "Соколов", "Лебедев", "Шарипов", "Козлов", "Новиков"]
FIRST = ["Ильдар", "Марат", "Ольга", "Анна", "Рустем", "Алсу", "Екатерина", "Айрат", "Сергей", "Гульнара"]
WORDS = ("о", "предоставлении", "информации", "по", "вопросу", "реализации", "программы", "цифровой",
         "трансформации", "государственного", "управления", "в", "муниципальных", "образованиях", "Республики",
         "и", "согласовании", "проекта", "постановления", "мониторинге", "исполнения", "поручений")
SENDERS = ["Минфин России", "Аппарат Президента", "Прокуратура Республики", "Госсовет", "Минэкономразвития России",
           "Гражданин", "ФНС России", "Счётная палата", "Росстат", "Кабинет Министров"]


@dataclass
class Org:
    id: int
    code: str
    size: int
    units: list = field(default_factory=list)          # working units: (unit id, [executives], [employees])
    root: tuple | None = None
    big_unit: tuple | None = None
    clerks: list = field(default_factory=list)
    assistant_of: dict = field(default_factory=dict)


class Loader:
    """Bulk rows into tables: COPY on PostgreSQL, executemany on SQLite; ids given by the seed."""

    def __init__(self):
        self.dialect = db.session.get_bind().dialect.name
        self.pg = self.dialect == "postgresql"
        self.next = {}

    def ids(self, table: str, n: int) -> int:
        """Reserve n ids of a table; returns the first."""
        if table not in self.next:
            self.next[table] = (db.session.execute(sa.text(f"SELECT max(id) FROM {table}")).scalar() or 0) + 1
        first = self.next[table]
        self.next[table] += n
        return first

    def put(self, table: str, columns: tuple, rows) -> None:
        raw = db.session.connection().connection.driver_connection
        if self.pg:
            with raw.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join("?" * len(columns))
            raw.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",
                            [tuple(v.isoformat(" ") if isinstance(v, datetime) else v for v in r) for r in rows])

    def begin(self) -> None:
        """Each transaction: the seed's rows are consistent by construction, so PostgreSQL may skip the
        foreign-key triggers row by row (possible for a superuser; otherwise they simply run)."""
        if self.pg:
            try:
                with db.session.begin_nested():
                    db.session.execute(sa.text("SET LOCAL session_replication_role = replica"))
            except sa.exc.DBAPIError:
                pass
        else:  # a sub-resolution names its parent task, written after it
            db.session.execute(sa.text("PRAGMA defer_foreign_keys = ON"))

    def without_indexes(self, tables: list[str]):
        """Drop the tables' secondary indexes for the load and build them once at the end: one sort
        per index instead of millions of insertions into each (PostgreSQL)."""
        indexes = [i for t in tables for i in db.metadata.tables[t].indexes] if self.pg else []
        for index in indexes:
            db.session.execute(sa.text(f"DROP INDEX IF EXISTS {index.name}"))
        db.session.commit()
        return indexes

    def rebuild(self, indexes) -> None:
        if indexes:
            db.session.execute(sa.text("SET maintenance_work_mem = '256MB'"))
        for index in tqdm(indexes, desc="indexes", unit="index"):
            index.create(db.session.connection())
            db.session.commit()

    def finish(self) -> None:
        if self.pg:
            for table, nxt in self.next.items():
                db.session.execute(sa.text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), :v)"),
                                   {"v": nxt - 1})


def _sizes(users: int, n: int) -> list[int]:
    """A few large organizations and many small ones (Zipf-like), summing to `users`."""
    weights = [1 / (i + 1) ** 1.05 for i in range(n)]
    sizes = [max(8, int(users * w / sum(weights))) for w in weights]
    sizes[0] += users - sum(sizes)
    return sizes


def seed(users: int = 22000, documents: int = 2_200_000, password: str = "demo", seed_value: int = 1,
         text_size: int = 2500) -> dict:
    """Make the region; returns what was made (counts, a few logins worth trying, seconds taken).
    `text_size` is a document's text in characters, on average (0: none, for benchmarks that never read
    it: at full scale the text is 11 GB and most of the seed's time)."""
    rng = random.Random(seed_value)
    load = Loader()
    now = datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)
    pw = generate_password_hash(password)  # one hash for all: scrypt per user would take hours
    taken = set(db.session.execute(sa.text("SELECT code FROM organizations")).scalars())
    start_org = (db.session.execute(sa.text("SELECT max(id) FROM users")).scalar() or 0)
    n_orgs = max(2, min(40, users // 300))
    names = [(n, s, c) for n, s, c in MINISTRIES] + [
        (f"Исполнительный комитет {d} муниципального района", f"Исполком {d[:-3]}ого р-на", f"{d[:3].upper()}")
        for d in DISTRICTS]
    orgs: list[Org] = []
    org_rows = []
    first_org = load.ids("organizations", n_orgs)
    for i, size in enumerate(_sizes(users, n_orgs)):
        name, short, code = names[i % len(names)]
        while code in taken:
            code = f"{code}{start_org % 97 + 1}"
        taken.add(code)
        orgs.append(Org(first_org + i, code, size))
        org_rows.append((first_org + i, name, short, code, False, now))
    load.put("organizations", ("id", "name", "short_name", "code", "push_shows_document", "created_at"), org_rows)

    unit_rows, user_rows, member_rows, assistant_rows = [], [], [], []
    counter = {"user": load.ids("users", users)}
    first_user = counter["user"]

    def person(org: Org, role: str, unit_id: int) -> int:
        uid = counter["user"]
        counter["user"] += 1
        surname, first = SURNAMES[uid % len(SURNAMES)], FIRST[uid % len(FIRST)]
        user_rows.append((uid, org.id, f"{org.code.lower()}{uid}", pw, f"{surname} {first} {uid}",
                          f"{surname} {first[0]}.{uid % 1000}", role, True, "ru", "Europe/Moscow", now))
        member_rows.append((unit_id, uid))
        return uid

    def unit(org: Org, name: str, short: str, parent: int | None) -> int:
        uid = load.ids("units", 1)
        unit_rows.append((uid, org.id, parent, name, short))
        return uid

    for org in orgs:
        before = counter["user"]
        root = unit(org, "Руководство", "Руководство", None)
        head = person(org, "executive", root)
        deputies = [person(org, "executive", root) for _ in range(max(1, org.size // 400))]
        org.root = (root, [head, *deputies], [])
        for boss in [head, *deputies[:3]]:
            helper = person(org, "assistant", root)
            org.assistant_of[boss] = helper
            assistant_rows.append((helper, boss))
        office = unit(org, "Общий отдел", "Общий отдел", root)
        org.clerks = [person(org, "clerk", office) for _ in range(max(1, org.size // 250))]
        person(org, "admin", office)
        if org is orgs[0] and org.size >= 200:
            # The heads of the ministry's institutions: up to 550 executives who all get its circulars.
            big = unit(org, "Руководители подведомственных учреждений", "Подведомственные", root)
            org.big_unit = (big, [person(org, "executive", big) for _ in range(min(550, org.size - 100))], [])
        left = org.size - (counter["user"] - before)
        n_units = max(1, left // 25)
        depts = max(1, n_units // 3)
        working = []
        for d in range(depts):
            dept = unit(org, f"Департамент {d + 1}", f"Деп. {d + 1}", root)
            working.append(dept)
            for k in range(2 if n_units > depts else 0):
                working.append(unit(org, f"Отдел {d + 1}.{k + 1}", f"Отд. {d + 1}.{k + 1}", dept))
        members = {u: ([], []) for u in working}
        for j in range(left):
            u = working[j % len(working)]
            execs, emps = members[u]
            (execs if not execs else emps).append(person(org, "executive" if not execs else "employee", u))
        org.units = [(u, *members[u]) for u in working if members[u][0]]
    load.put("units", ("id", "organization_id", "parent_id", "name", "short_name"), unit_rows)
    load.put("users", ("id", "organization_id", "username", "password_hash", "name", "short_name", "roles",
                       "is_active", "locale", "timezone", "created_at"), user_rows)
    load.put("unit_members", ("unit_id", "user_id"), member_rows)
    load.put("assistants", ("assistant_id", "executive_id"), assistant_rows)
    sessions = _signed_in(load, rng, user_rows, now)
    db.session.commit()

    titles = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 11))).capitalize()[:110] for _ in range(3000)]
    year = now.year
    days = max(1, (now.date() - date(year, 1, 1)).days)
    made = {"documents": 0, "inbox_items": 0, "document_texts": 0, "resolutions": 0, "tasks": 0, "task_reports": 0,
            "extension_requests": 0, "approvals": 0}
    dropped = load.without_indexes(["documents", "inbox_items", "tasks", "resolutions", "document_addressees",
                                    "task_reports", "extension_requests"])
    if load.pg:  # the search index (migration 0016's, not the models'), built once at the end too
        db.session.execute(sa.text("DROP INDEX IF EXISTS ix_document_texts_words"))
        db.session.commit()
    history = History(load, random.Random(seed_value + 1), now)
    writer = Writer(random.Random(seed_value + 2), size=text_size)
    try:
        _all_documents(load, orgs, users, documents, titles, now, year, days, made, history, writer)
    finally:
        load.finish()
        db.session.commit()
        load.rebuild(dropped)
        summary.refill_months()  # COPY in replica mode fired no trigger
        db.session.commit()
        if load.pg:
            started = time.perf_counter()
            print("building the search index (GIN)...", flush=True)
            db.session.execute(sa.text("SET maintenance_work_mem = '512MB'"))
            db.session.execute(sa.text("CREATE INDEX ix_document_texts_words ON document_texts "
                                       "USING gin (search_vector)"))
            db.session.commit()
            made["search_index_seconds"] = round(time.perf_counter() - started, 1)
    if load.pg:
        # VACUUM as well: it marks the pages all-visible, so index-only scans skip the heap, as they do
        # on a database autovacuum has been through (the search's access check read 7,400 inbox rows
        # from the heap in 112 ms right after a seed).
        db.session.commit()
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("VACUUM ANALYZE"))
    else:
        db.session.execute(sa.text("ANALYZE"))
        db.session.commit()
    heavy = orgs[0].units[0][1][0] if orgs[0].units else orgs[0].root[1][0]
    made["history"] = dict(sorted(history.states.items()))
    made["summary"] = {org: dict(counts) for org, counts in history.expected.items()}
    return {**made, "auth_sessions": sessions, "organizations": n_orgs, "users": users, "first_user": first_user,
            "executive": f"{orgs[0].code.lower()}{orgs[0].root[1][0]}",
            "unit_executive": f"{orgs[0].code.lower()}{heavy}",
            "big_unit": orgs[0].big_unit[0] if orgs[0].big_unit else None,
            "clerk": f"{orgs[0].code.lower()}{orgs[0].clerks[0]}"}


def _signed_in(load: Loader, rng: random.Random, user_rows: list[tuple], now: datetime) -> int:
    """The apps signed in: a phone for everyone, a tablet too for executives, and for one user in ten a
    session signed out earlier. Every request's session check looks its session up in this table.
    Nobody holds a token of these sessions (their refresh salts are random); seeded users sign in anew."""
    rows = []
    for user in user_rows:
        uid, role = user[0], user[6]
        devices = ["phone", "tablet"] if role == "executive" else ["phone"]
        ended = ["old phone"] if uid % 10 == 0 else []
        for device in devices + ended:
            since = now - timedelta(days=rng.randint(1, 300))
            revoked = since + timedelta(days=1) if device in ended else None
            rows.append((uid, device, f"{rng.getrandbits(128):032x}", 1, since, revoked or now, revoked,
                         "signed_out" if revoked else None))
    first = load.ids("auth_sessions", len(rows))
    load.put("auth_sessions", ("id", "user_id", "device_name", "salt", "generation", "created_at", "last_used_at",
                               "revoked_at", "revoked_reason"), [(first + i, *row) for i, row in enumerate(rows)])
    return len(rows)


def _all_documents(load, orgs, users, documents, titles, now, year, days, made, history, writer) -> None:
    with tqdm(total=documents, desc="documents", unit="doc") as bar:
        for org in orgs:
            n_docs = round(documents * org.size / users) if org is not orgs[-1] else documents - made["documents"]
            for start in range(0, n_docs, CHUNK):
                count = min(CHUNK, n_docs - start)
                load.begin()
                _documents(load, org, start, count, n_docs, titles, now, year, days, made, history, writer)
                db.session.commit()
                bar.update(count)
            db.session.execute(sa.text(
                "INSERT INTO registration_counters (organization_id, year, value) VALUES (:o, :y, :v)"),
                {"o": org.id, "y": year, "v": n_docs})


_cut: dict = {}


def _documents(load: Loader, org: Org, start: int, count: int, n_docs: int, titles, now, year, days, made,
               history: History, writer: Writer) -> None:
    """One transaction's worth of an organization's documents, with their text, lines and execution history."""
    seq = change_number(db.session)
    first = load.ids("documents", count)
    docs, addressed, lines, texts = [], [], [], []
    _, _, author_short = line_texts("", "", "Руководитель")
    approvals, stages, approvers = [], [], []
    span = days * 86400 / max(1, n_docs)
    for j in range(count):
        k = start + j
        doc_id = first + j
        received = now - timedelta(seconds=int((n_docs - k) * span) + 60)
        reg_date = received.date()
        if k % 25 == 0:
            target = org.root
        elif org.big_unit and k % 1000 == 1:
            target = org.big_unit
        else:
            target = org.units[(k * 7919) % len(org.units)] if org.units else org.root
        unit_id, execs, emps = target
        title = titles[(k * 104729) % len(titles)]
        sender = SENDERS[k % len(SENDERS)]
        due = now + timedelta(days=(k % 30) - 10) if k % 4 == 0 else None
        urgent = k % 17 == 0
        reg_number = f"{org.code}-{k + 1}/{year % 100:02d}"
        owner = org.clerks[k % len(org.clerks)]
        docs.append((doc_id, org.id, reg_number, year, reg_date, title, "", sender, owner, urgent, due, received))
        addressed.append((doc_id, unit_id))
        key = (len(reg_number.encode()), title, sender)  # the cut depends on the number's size only
        if key not in _cut:
            _cut[key] = line_texts(reg_number, title, sender)[1:]
        reg, (short_title, short_sender) = reg_number, _cut[key]
        unread = (now - received).days < 20 or k % 5 == 0
        key, body, lemmas = words_of(load.dialect, reg_number, title, "", sender, [writer.text(k)])
        texts.append((doc_id, key, body, lemmas))
        resolved = emps and target is not org.big_unit and history.rng.random() < RESOLVED
        mine: dict = {}  # this document's lines, one per person and kind (the table's unique key)

        def line(user_id, kind, at, due_at, fresh, gone, short_sender=short_sender):
            known = mine.get((user_id, kind))
            if known is not None:  # a second task or report for the same line: the latest wins
                at, fresh, gone = max(at, known[0]), fresh or known[2], gone and known[3]
                due_at = known[1] if due_at is None or (known[1] and known[1] < due_at) else due_at
            mine[(user_id, kind)] = (at, due_at, fresh, gone, short_sender)
        authors = []
        if resolved:
            issued = received + timedelta(hours=2)
            authors = history.document(org.id, doc_id, execs[0], org.root[1][0], emps, issued, k, seq,
                                       lambda u, kind, at, due_at, fresh, gone: line(u, kind, at, due_at,
                                                                                    unread and fresh, gone,
                                                                                    author_short))
        for e in execs:
            # An executive who issued a resolution has the line withdrawn: a tombstone for sync.
            line(e, "resolution", received, due, unread, e in authors)
        if emps and k % 10 < 7:
            line(emps[k % len(emps)], "info", received, due, unread, False)
        if target is org.root and (k // 25) % 20 == 0 and execs[0] in org.assistant_of:
            line(org.assistant_of[execs[0]], "info", received, due, unread, False)
        if not resolved and k % 101 == 0 and target is not org.big_unit:
            approval_id, stage_id = load.ids("approvals", 1), load.ids("approval_stages", 1)
            approvals.append((approval_id, doc_id, 1, "in_progress", owner, received))
            stages.append((stage_id, approval_id, 1, "sequential"))
            approvers.append((stage_id, execs[0], 0))
            line(execs[0], "approval", received, due, unread, False)
        for (user_id, kind), (at, due_at, fresh, gone, who) in mine.items():
            lines.append((user_id, doc_id, kind, reg, short_title, who, at, due_at, fresh, urgent, gone, seq))
    first_line = load.ids("inbox_items", len(lines))
    load.put("documents", ("id", "organization_id", "reg_number", "reg_year", "reg_date", "title", "summary",
                           "correspondent", "owner_id", "urgent", "due_at", "created_at"), docs)
    load.put("document_addressees", ("document_id", "unit_id"), addressed)
    load.put("inbox_items", ("id", "user_id", "document_id", "kind", "reg_number", "title", "sender", "received_at",
                             "due_at", "unread", "urgent", "removed", "seq"),
             ((first_line + n, *line) for n, line in enumerate(lines)))
    load.put("document_texts", ("document_id", "correspondent_key", "words", "lemmas"), texts)
    for key, n in history.flush().items():
        made[key] += n
    load.put("approvals", ("id", "document_id", "round", "status", "created_by", "created_at"), approvals)
    load.put("approval_stages", ("id", "approval_id", "position", "mode"), stages)
    load.put("approval_stage_approvers", ("stage_id", "user_id", "position"), approvers)
    for key, rows in (("documents", docs), ("inbox_items", lines), ("document_texts", texts),
                      ("approvals", approvals)):
        made[key] += len(rows)
