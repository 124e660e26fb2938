"""Synthetic data at regional scale for benchmarks: bulk inserts with a progress bar."""
import random
from datetime import date, timedelta

import sqlalchemy as sa
from tqdm import tqdm
from werkzeug.security import generate_password_hash

from models import (
    Document,
    InboxItem,
    Organization,
    Unit,
    User,
    db,
    document_addressees,
    unit_members,
    utcnow,
)
from models.changes import ChangeCounter

BATCH = 5000
WORDS = ("О", "предоставлении", "информации", "по", "вопросу", "реализации", "программы", "цифровой",
         "трансформации", "государственного", "управления", "в", "муниципальных", "образованиях", "Республики",
         "и", "согласовании", "проекта", "постановления", "мониторинге", "исполнения", "поручений")


def _title(rng: random.Random) -> str:
    # Typical titles run 50 to 90 letters; the inbox cuts anything over 120.
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 9))).capitalize()[:90]


def _insert(table, rows: list[dict]) -> None:
    if rows:
        db.session.execute(sa.insert(table), rows)


def seed(users: int, documents: int, heavy_inbox: int, seed_value: int = 1) -> dict:
    """Insert `users` users in 40 organizations, `documents` documents with one inbox item each,
    and give one executive `heavy_inbox` of them. Returns what was made."""
    rng = random.Random(seed_value)
    pw = generate_password_hash("seed")  # one hash for all: scrypt per user would take hours
    n_orgs = max(1, min(40, users // 50))
    base = db.session.scalar(sa.select(sa.func.count()).select_from(Organization)) or 0
    orgs = [{"name": f"Организация {base + i}", "short_name": f"Орг-{base + i}", "code": f"S{base + i}"}
            for i in range(n_orgs)]
    org_ids = list(db.session.scalars(sa.insert(Organization).returning(Organization.id), orgs))
    unit_ids = list(db.session.scalars(sa.insert(Unit).returning(Unit.id),
                                       [{"organization_id": o, "name": "Аппарат", "short_name": "Аппарат"}
                                        for o in org_ids]))
    user_ids: list[int] = []
    with tqdm(total=users, desc="users", unit="row") as bar:
        for start in range(0, users, BATCH):
            chunk = [{"organization_id": org_ids[i % n_orgs], "username": f"u{base}-{i}", "password_hash": pw,
                      "name": f"Пользователь {i}", "short_name": f"Польз. {i}",
                      "role_list": "executive" if i % 20 == 0 else "employee"}
                     for i in range(start, min(users, start + BATCH))]
            ids = list(db.session.scalars(sa.insert(User).returning(User.id), chunk))
            _insert(unit_members, [{"unit_id": unit_ids[(i - ids[0] + start) % n_orgs], "user_id": uid}
                                   for i, uid in enumerate(ids)])
            user_ids += ids
            bar.update(len(chunk))
    db.session.commit()
    executives = user_ids[::20]
    heavy = executives[0]
    seq = db.session.scalar(sa.select(ChangeCounter.value).where(ChangeCounter.id == 1)) or 0
    fill = _documents_sql if db.session.get_bind().dialect.name == "postgresql" else _documents_rows
    seq = fill(rng, documents, heavy_inbox, org_ids, unit_ids, executives, seq)
    counter = db.session.get(ChangeCounter, 1)
    if counter is None:
        db.session.add(ChangeCounter(id=1, value=seq))
    else:
        counter.value = seq
    db.session.commit()
    return {"organizations": n_orgs, "users": users, "documents": documents,
            "heavy_executive": db.session.get(User, heavy).username}


def _documents_rows(rng, documents, heavy_inbox, org_ids, unit_ids, executives, seq) -> int:
    """Portable path (SQLite): rows built in Python, inserted in batches."""
    n_orgs, heavy, now = len(org_ids), executives[0], utcnow()
    with tqdm(total=documents, desc="documents", unit="row") as bar:
        for start in range(0, documents, BATCH):
            count = min(BATCH, documents - start)
            docs = [{"organization_id": org_ids[i % n_orgs], "reg_number": f"S{i % n_orgs}-{i + 1}/26",
                     "reg_year": 2026, "reg_date": date(2026, 1, 1) + timedelta(days=i % 320),
                     "title": _title(rng), "summary": "", "correspondent": "Министерство финансов",
                     "owner_id": executives[(i % n_orgs) % len(executives)], "urgent": i % 17 == 0}
                    for i in range(start, start + count)]
            ids = list(db.session.scalars(
                sa.insert(Document).returning(Document.id, sort_by_parameter_order=True), docs))
            _insert(document_addressees, [{"document_id": d, "unit_id": unit_ids[(start + k) % n_orgs]}
                                          for k, d in enumerate(ids)])
            items = []
            for k, (doc_id, doc) in enumerate(zip(ids, docs)):
                i = start + k
                seq += 1
                items.append({"user_id": heavy if i < heavy_inbox else executives[rng.randrange(len(executives))],
                              "document_id": doc_id, "kind": ("resolution", "info", "task")[i % 3],
                              "reg_number": doc["reg_number"], "title": doc["title"][:120], "sender": "Минфин",
                              "received_at": now - timedelta(seconds=documents - i),
                              "due_at": now + timedelta(days=(i % 30) - 10) if i % 4 == 0 else None,
                              "unread": i % 2 == 0, "urgent": doc["urgent"], "removed": False, "seq": seq})
            _insert(InboxItem, items)
            db.session.commit()
            bar.update(count)
    return seq


def _documents_sql(rng, documents, heavy_inbox, org_ids, unit_ids, executives, seq) -> int:
    """PostgreSQL path: the rows are generated by the server (INSERT ... SELECT generate_series),
    about fifty times faster than sending them; chunks keep transactions short and feed the bar."""
    chunk = 100_000
    params = {"orgs": org_ids, "units": unit_ids, "execs": executives, "heavy": executives[0],
              "heavy_n": heavy_inbox, "titles": [_title(rng) for _ in range(2000)], "total": documents}
    with tqdm(total=documents, desc="documents", unit="row") as bar:
        for start in range(0, documents, chunk):
            count = min(chunk, documents - start)
            first_id = db.session.execute(sa.text("""
                WITH made AS (
                  INSERT INTO documents (organization_id, reg_number, reg_year, reg_date, title, summary,
                                         correspondent, owner_id, urgent, created_at)
                  SELECT (CAST(:orgs AS bigint[]))[1 + i % cardinality(CAST(:orgs AS bigint[]))], 'S' || (i % cardinality(CAST(:orgs AS bigint[]))) || '-' || (i + 1) || '/26',
                         2026, date '2026-01-01' + (i % 320)::int, (CAST(:titles AS text[]))[1 + (i * 7919) % cardinality(CAST(:titles AS text[]))], '',
                         'Министерство финансов', (CAST(:execs AS bigint[]))[1 + i % cardinality(CAST(:execs AS bigint[]))], i % 17 = 0, now()
                  FROM generate_series(CAST(:a AS bigint), CAST(:b AS bigint)) AS i
                  RETURNING id)
                SELECT min(id) FROM made"""), {**params, "a": start, "b": start + count - 1}).scalar()
            db.session.execute(sa.text("""
                INSERT INTO document_addressees (document_id, unit_id)
                SELECT d.id, (CAST(:units AS bigint[]))[array_position(CAST(:orgs AS bigint[]), d.organization_id)]
                FROM documents d WHERE d.id >= :first AND d.id < :first + :n"""),
                {**params, "first": first_id, "n": count})
            db.session.execute(sa.text("""
                INSERT INTO inbox_items (user_id, document_id, kind, reg_number, title, sender, received_at,
                                         due_at, unread, urgent, removed, seq)
                SELECT CASE WHEN k < :heavy_n THEN :heavy
                            ELSE (CAST(:execs AS bigint[]))[1 + (k * 104729) % cardinality(CAST(:execs AS bigint[]))] END,
                       d.id, (ARRAY['resolution','info','task'])[1 + k % 3], d.reg_number, left(d.title, 120),
                       'Минфин', (now() at time zone 'utc') - make_interval(secs => (:total - k)::float8),
                       CASE WHEN k % 4 = 0 THEN (now() at time zone 'utc') + make_interval(days => (k % 30 - 10)::int) END,
                       k % 2 = 0, d.urgent, false, :seq + k + 1
                FROM (SELECT d.*, CAST(:start AS bigint) + (d.id - :first) AS k FROM documents d
                      WHERE d.id >= :first AND d.id < :first + :n) d"""),
                {**params, "first": first_id, "n": count, "start": start, "seq": seq})
            db.session.commit()
            bar.update(count)
    return seq + documents
