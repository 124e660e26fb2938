"""Synthetic data at regional scale for benchmarks: bulk inserts with a progress bar."""
import random
from datetime import date, timedelta

import sqlalchemy as sa
from tqdm import tqdm
from werkzeug.security import generate_password_hash

from models import Document, InboxItem, Organization, Unit, User, db, document_addressees, unit_members, utcnow
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
    now = utcnow()
    seq = db.session.scalar(sa.select(ChangeCounter.value).where(ChangeCounter.id == 1)) or 0
    with tqdm(total=documents, desc="documents", unit="row") as bar:
        for start in range(0, documents, BATCH):
            count = min(BATCH, documents - start)
            docs = []
            for i in range(start, start + count):
                org = i % n_orgs
                docs.append({"organization_id": org_ids[org], "reg_number": f"S{base + org}-{i + 1}/26",
                             "reg_year": 2026, "reg_date": date(2026, 1, 1) + timedelta(days=i % 320),
                             "title": _title(rng), "summary": "", "correspondent": "Министерство финансов",
                             "owner_id": executives[org % len(executives)], "urgent": i % 17 == 0})
            ids = list(db.session.scalars(sa.insert(Document).returning(Document.id, sort_by_parameter_order=True), docs))
            _insert(document_addressees, [{"document_id": d, "unit_id": unit_ids[(start + k) % n_orgs]}
                                          for k, d in enumerate(ids)])
            items = []
            for k, (doc_id, doc) in enumerate(zip(ids, docs)):
                i = start + k
                user = heavy if i < heavy_inbox else executives[rng.randrange(len(executives))]
                seq += 1
                items.append({"user_id": user, "document_id": doc_id, "kind": ("resolution", "info", "task")[i % 3],
                              "reg_number": doc["reg_number"], "title": doc["title"][:120],
                              "sender": "Минфин", "received_at": now - timedelta(seconds=documents - i),
                              "due_at": now + timedelta(days=(i % 30) - 10) if i % 4 == 0 else None,
                              "unread": i % 2 == 0, "urgent": doc["urgent"], "removed": False, "seq": seq})
            _insert(InboxItem, items)
            db.session.commit()
            bar.update(count)
    counter = db.session.get(ChangeCounter, 1)
    if counter is None:
        db.session.add(ChangeCounter(id=1, value=seq))
    else:
        counter.value = seq
    db.session.commit()
    return {"organizations": n_orgs, "users": users, "documents": documents,
            "heavy_executive": db.session.get(User, heavy).username}
