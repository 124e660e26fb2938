"""Search on both databases: p50 and p95 of `domain.search.search` over a few tens of thousands of
documents with Russian text, for a reader who sees everything and one who sees a hundredth.

    .venv/bin/python -m benchmarks.search [--documents 30000] [--words 150] [--runs 40] [--only sqlite|postgresql]
    .venv/bin/python -m benchmarks.search --region DB [--runs 40]

With --region, over a database `flask seed` made (the region, each document a few kilobytes of text,
benchmarks.control --keep leaves one): in the largest ministry, its head (a minister, who sees much)
and an employee who sees little search a rare word, a common word, two words and a registration
number; p50/p99 against a bare `search_vector @@ plainto_tsquery(...)` on the same table with no access
rule (newest first in the organization, and unordered), then the plans (EXPLAIN ANALYZE, BUFFERS) of
the search's statements, the index's size and (--reindex) its build time.

Seeds each database (a scratch PostgreSQL database, dropped at the end; a SQLite file in a temporary
directory) through the migrations and the demo, then inserts the documents in batches, indexed by the
same `words_of` registration uses. The text is drawn from a vocabulary of office words with a Zipf
spread of frequencies, each noun put in a random case and number by pymorphy3, so the queries meet
real word forms. Queries: a rare word, a common word, two words, a word in an inflected form, a
registration number; each run in a fresh transaction, as a request would.
"""
import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta

import sqlalchemy as sa

from domain.parsing.ru import _morph
from domain.search import search, words_of
from mobile_api.seed_text import vocabulary as vocabulary_of_seed
from models import Document, DocumentText, InboxItem, User, db, document_addressees
from benchmarks.signals import stop_on_signals
from tests.support.database import admin_url, scratch_database

ADMIN_URL = admin_url("BENCH_POSTGRES_URL")
NOUNS = ("договор письмо постановление распоряжение приказ администрация район поселение министерство "
         "бюджет субсидия дорога ремонт школа больница проект программа отчёт заявление жалоба гражданин "
         "комиссия совещание решение контракт закупка поставка оплата задолженность налог земля участок "
         "строительство объект здание вода газ тариф услуга население сельхозпроизводитель урожай техника "
         "мост памятник библиотека культура спорт молодёжь ветеран пенсия пособие семья ребёнок детсад "
         "врач лекарство транспорт автобус маршрут пожар безопасность полиция прокуратура суд иск "
         "экспертиза проверка нарушение предписание штраф лицензия разрешение реестр сведения информация "
         "предложение срок исполнение контроль поручение мероприятие праздник выборы депутат собрание "
         "совет глава республика правительство президент аппарат отдел управление служба инспекция").split()
ADJECTIVES = ("муниципальный районный республиканский федеральный бюджетный дорожный строительный "
              "социальный медицинский земельный налоговый срочный дополнительный ежегодный плановый").split()
VERBS = ("прошу сообщаем направляем информируем предлагаем рассмотреть обеспечить представить согласовать "
         "утвердить выделить провести устранить подготовить").split()
FILLER = "в на о по для с к от до и или а также в связи с согласно".split()
CASES = ("nomn", "gent", "datv", "accs", "ablt", "loct")


def vocabulary(rng: random.Random) -> tuple[list[str], list[float]]:
    """Word forms with Zipf weights: every noun in every case and number, adjectives and verbs as is."""
    morph, forms = _morph(), []
    for lemma in NOUNS:
        parsed = morph.parse(lemma)[0]
        for case in CASES:
            for number in ("sing", "plur"):
                form = parsed.inflect({case, number})
                if form:
                    forms.append(form.word)
    forms += ADJECTIVES + VERBS
    rng.shuffle(forms)
    forms = FILLER + forms  # the commonest words first
    return forms, [1 / (rank + 1) for rank in range(len(forms))]


def text(rng, forms, weights, n: int) -> str:
    return " ".join(rng.choices(forms, weights, k=n)).capitalize() + "."


def seed(documents: int, words: int, progress) -> None:
    from mobile_api.demo import load
    load("bench")
    users = {u.username: u for u in db.session.scalars(sa.select(User))}
    exec1, employee2, clerk1 = users["exec1"], users["employee2"], users["clerk1"]
    unit = exec1.units[0].id
    org = exec1.organization
    db.session.commit()
    rng = random.Random(30)
    forms, weights = vocabulary(rng)
    dialect = db.engine.dialect.name
    first = date(2024, 1, 1)
    next_id = (db.session.scalar(sa.select(sa.func.max(Document.id))) or 0) + 1
    batch = 1000
    for start in range(0, documents, batch):
        docs, texts, addressed, informed = [], [], [], []
        for i in range(start, min(start + batch, documents)):
            doc_id = next_id + i
            reg_date = first + timedelta(days=i * 900 // documents)
            number = f"{org.code}-{100000 + i}/{reg_date.year % 100:02d}"
            title = text(rng, forms, weights, 6)
            summary = text(rng, forms, weights, 30)
            correspondent = "Администрация " + rng.choice(["Арского", "Высокогорского", "Лаишевского"]) + " района"
            docs.append({"id": doc_id, "organization_id": org.id, "reg_number": number, "reg_year": reg_date.year,
                         "reg_date": reg_date, "title": title, "summary": summary, "correspondent": correspondent,
                         "owner_id": clerk1.id, "urgent": False})
            key, body, lemmas = words_of(dialect, number, title, summary, correspondent,
                                         [text(rng, forms, weights, words)])
            texts.append({"document_id": doc_id, "correspondent_key": key, "words": body, "lemmas": lemmas})
            addressed.append({"document_id": doc_id, "unit_id": unit})
            if i % 100 == 0:
                informed.append({"user_id": employee2.id, "document_id": doc_id, "kind": "info",
                                 "title": title[:120], "sender": correspondent[:80], "reg_number": number})
        db.session.execute(sa.insert(Document), docs)
        db.session.execute(sa.insert(DocumentText), texts)
        db.session.execute(document_addressees.insert(), addressed)
        if informed:
            db.session.execute(sa.insert(InboxItem), informed)
        db.session.commit()
        progress(min(start + batch, documents), documents)
    if dialect == "postgresql":
        db.session.execute(sa.text("ANALYZE"))
        db.session.commit()


def measure(runs: int) -> dict[str, tuple[float, float, int]]:
    users = {u.username: u.id for u in db.session.scalars(sa.select(User))}
    some = db.session.scalar(sa.select(Document.reg_number).order_by(Document.id.desc()).limit(1))
    queries = {"rare word": {"q": "сельхозпроизводителям"}, "common word": {"q": "договор"},
               "two words": {"q": "ремонт дорог"}, "inflected form": {"q": "субсидиями"},
               "reg number": {"q": some}, "word + correspondent": {"q": "школа", "correspondent": "арского"}}
    results = {}
    for who in ("exec1", "employee2"):
        for name, args in queries.items():
            times, found = [], 0
            for run in range(runs + 3):
                db.session.rollback()
                user = db.session.get(User, users[who])
                began = time.perf_counter()
                items, _ = search(user, args.get("q"), None, args.get("correspondent"), None, None, 25, None)
                elapsed = time.perf_counter() - began
                if run >= 3:  # the first runs warm the caches
                    times.append(elapsed * 1000)
                found = len(items)
            times.sort()
            results[f"{who:9} {name}"] = (statistics.median(times), times[int(len(times) * 0.95) - 1], found)
    db.session.rollback()
    return results


def run_on(url: str, args) -> dict:
    from flask_migrate import upgrade

    from mobile_api import create_app
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "DATA_DIR": tempfile.mkdtemp(prefix="bench-search-")})
    with app.app_context(), app.test_request_context():
        upgrade()
        began = time.perf_counter()

        def progress(done, total):
            print(f"\r  seeded {done}/{total} documents ({time.perf_counter() - began:.0f} s)", end="", flush=True)
        seed(args.documents, args.words, progress)
        print(flush=True)
        results = measure(args.runs)
        db.session.remove()
        db.engine.dispose()
    return results


def _percentiles(times: list[float]) -> tuple[float, float]:
    times = sorted(times)
    return statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.99))]


def region(name: str, runs: int, reindex: bool) -> None:
    """The seeded region: the searches of a minister and an employee against the bare match."""
    from tests.support.database import url_of
    url = url_of(name, ADMIN_URL)
    from mobile_api import create_app
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "DATA_DIR": tempfile.mkdtemp(prefix="bench-search-")})
    statements: list[tuple[str, object]] = []
    with app.app_context(), app.test_request_context():
        conn = db.session
        org = conn.execute(sa.text("SELECT organization_id FROM users GROUP BY organization_id "
                                   "ORDER BY count(*) DESC LIMIT 1")).scalar()
        minister = conn.execute(sa.text(
            "SELECT u.id FROM users u JOIN unit_members m ON m.user_id = u.id JOIN units n ON n.id = m.unit_id "
            "WHERE n.organization_id = :o AND n.parent_id IS NULL AND u.roles = 'executive' ORDER BY u.id LIMIT 1"),
            {"o": org}).scalar()
        employee = conn.execute(sa.text(
            "SELECT u.id FROM users u JOIN inbox_items i ON i.user_id = u.id WHERE u.organization_id = :o AND "
            "u.roles = 'employee' GROUP BY u.id ORDER BY count(*) LIMIT 1"), {"o": org}).scalar()
        sees = {who: conn.execute(sa.text(
            "SELECT count(*) FROM documents d WHERE d.organization_id = :o AND (d.owner_id = :u OR EXISTS (SELECT 1 "
            "FROM inbox_items i WHERE i.user_id = :u AND i.document_id = d.id) OR EXISTS (SELECT 1 FROM "
            "document_addressees a JOIN unit_members m ON m.unit_id = a.unit_id WHERE a.document_id = d.id AND "
            "m.user_id = :u))"), {"o": org, "u": uid}).scalar() for who, uid in (("minister", minister),
                                                                                 ("employee", employee))}
        documents = conn.execute(sa.text("SELECT count(*) FROM documents WHERE organization_id = :o"),
                                 {"o": org}).scalar()
        clerk = conn.execute(sa.text("SELECT owner_id FROM documents WHERE organization_id = :o GROUP BY owner_id "
                                     "ORDER BY count(*) DESC LIMIT 1"), {"o": org}).scalar()
        sees["clerk"] = conn.execute(sa.text("SELECT count(*) FROM documents WHERE owner_id = :u"),
                                     {"u": clerk}).scalar()
        # Words of the seed's vocabulary (mobile_api.seed_text): a common office form and a rare one of the tail.
        forms, _ = vocabulary_of_seed()
        common, rare = forms[60], forms[-300]
        number = conn.execute(sa.text("SELECT reg_number FROM documents WHERE organization_id = :o "
                                      "ORDER BY id DESC LIMIT 1 OFFSET 1000"), {"o": org}).scalar()
        having = {w: conn.execute(sa.text("SELECT count(*) FROM document_texts WHERE search_vector @@ "
                                          "plainto_tsquery('russian', :q)"), {"q": w}).scalar() for w in (common, rare)}
        tables = conn.execute(sa.text(
            "SELECT pg_size_pretty(pg_relation_size('ix_document_texts_words')), "
            "pg_size_pretty(pg_total_relation_size('document_texts')), (SELECT count(*) FROM document_texts), "
            "(SELECT avg(octet_length(words))::int FROM document_texts WHERE document_id % 100 = 0)")).one()
        db.session.rollback()
        print(f"region {name}: {tables[2]} documents with text (about {tables[3]} bytes each), document_texts "
              f"{tables[1]} with its indexes, the GIN index {tables[0]}; largest ministry {org}: {documents} "
              f"documents; the minister sees {sees['minister']}, the clerk who owns most {sees['clerk']}, the employee "
              f"{sees['employee']}", flush=True)
        print(f"common word «{common}» (in {having[common]} documents of the region), rare word «{rare}» "
              f"(in {having[rare]})", flush=True)
        queries = {"rare word": {"q": rare}, "common word": {"q": common}, "two words": {"q": f"{common} {rare}"},
                   "common + inflected": {"q": "договорами поставки"}, "reg number": {"q": number}}
        print(f"  {'query':32} {'p50 ms':>8} {'p99 ms':>8} {'found':>6} {'bare p50':>9} {'bare p99':>9}"
              f" {'unordered p50':>14}")
        for who, uid in (("minister", minister), ("clerk", clerk), ("employee", employee)):
            for label, args in queries.items():
                times, found = [], 0
                for run in range(runs + 3):
                    db.session.rollback()
                    user = db.session.get(User, uid)
                    began = time.perf_counter()
                    items, _ = search(user, args["q"], None, None, None, None, 25, None)
                    if run >= 3:
                        times.append((time.perf_counter() - began) * 1000)
                    found = len(items)
                bare, loose = [], []
                for run in range(runs + 3):
                    db.session.rollback()
                    for sql, into in ((BARE_ORDERED, bare), (BARE, loose)):
                        began = time.perf_counter()
                        db.session.execute(sa.text("SET LOCAL jit = off"))
                        db.session.execute(sa.text(sql), {"q": args["q"], "o": org}).all()
                        if run >= 3:
                            into.append((time.perf_counter() - began) * 1000)
                p50, p99 = _percentiles(times)
                b50, b99 = _percentiles(bare)
                print(f"  {who + ' ' + label:32} {p50:8.1f} {p99:8.1f} {found:6} {b50:9.1f} {b99:9.1f}"
                      f" {_percentiles(loose)[0]:14.1f}", flush=True)
        print("(targets: p50 < 100 ms, p99 < 500 ms; bare: the same words newest first in the organization with "
              "no access rule; unordered: the bare match alone)", flush=True)

        def record(conn_, cursor, statement, parameters, context, executemany):
            statements.append((statement, parameters))
        for who, uid, args in (("minister", minister, queries["common word"]), ("clerk", clerk, queries["common word"]),
                               ("employee", employee, queries["common word"]), ("clerk", clerk, queries["rare word"]),
                               ("clerk", clerk, queries["reg number"])):
            db.session.rollback()
            user = db.session.get(User, uid)
            statements.clear()
            sa.event.listen(db.engine, "before_cursor_execute", record)
            search(user, args["q"], None, None, None, None, 25, None)
            sa.event.remove(db.engine, "before_cursor_execute", record)
            for statement, params in statements:
                if "document_texts" not in statement:
                    continue
                db.session.rollback()
                db.session.execute(sa.text("SET LOCAL jit = off"))
                plan = db.session.connection().exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, params)
                print(f"\nplan: {who}, q={args['q']!r}\n{statement}\n" + "\n".join(r[0] for r in plan), flush=True)
        db.session.rollback()
        if reindex:
            began = time.perf_counter()
            db.session.execute(sa.text("SET maintenance_work_mem = '512MB'"))
            db.session.execute(sa.text("REINDEX INDEX ix_document_texts_words"))
            db.session.commit()
            print(f"\nGIN index rebuilt in {time.perf_counter() - began:.0f} s", flush=True)
        db.session.remove()
        db.engine.dispose()


BARE_ORDERED = ("SELECT d.id FROM documents d JOIN document_texts t ON t.document_id = d.id "
                "WHERE d.organization_id = :o AND t.search_vector @@ plainto_tsquery('russian', :q) "
                "ORDER BY d.reg_date DESC, d.id DESC LIMIT 26")
BARE = "SELECT document_id FROM document_texts WHERE search_vector @@ plainto_tsquery('russian', :q) LIMIT 26"


def main() -> None:
    stop_on_signals()  # SIGTERM too drops the scratch database, in the finally below
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--documents", type=int, default=30000)
    parser.add_argument("--words", type=int, default=150, help="words of each document's file text")
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    parser.add_argument("--region", help="a seeded region's PostgreSQL database (flask seed)")
    parser.add_argument("--reindex", action="store_true", help="with --region: time rebuilding the GIN index")
    args = parser.parse_args()
    if args.region:
        region(args.region, args.runs, args.reindex)
        return
    for kind in ("sqlite", "postgresql"):
        if args.only and kind != args.only:
            continue
        print(f"{kind}: {args.documents} documents, {args.words} words of file text each", flush=True)
        if kind == "sqlite":
            directory = tempfile.mkdtemp(prefix="bench-search-")
            results = run_on(f"sqlite:///{directory}/search.db", args)
        else:
            _name, url, drop = scratch_database("bench_search", ADMIN_URL)
            try:
                results = run_on(url, args)
            finally:
                drop()
        print(f"  {'query':34} {'p50 ms':>8} {'p95 ms':>8} {'found':>6}")
        for name, (p50, p95, found) in results.items():
            print(f"  {name:34} {p50:8.1f} {p95:8.1f} {found:6}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
