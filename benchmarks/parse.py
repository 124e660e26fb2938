"""Reading resolutions: accuracy on the shared cases and on fifty written blind, and latency at regional scale.

    .venv/bin/python -m benchmarks.parse [--people 22000] [--rounds 5] [--per-round 40] [--db postgresql|sqlite]

1. Accuracy: every case of tests/fixtures/resolutions/cases.json (staff.csv over the demo data) and
   of benchmarks/data/parse_cases_own.json (parse_staff_own.csv; written before the parser's rules),
   each on six days of dictation: executors exact, deadline exact, ambiguous names reported, and the
   number of times a person was chosen who was not meant (the target is none).
2. Latency at scale: the organization gets `--people` more people (common surnames, so a surname
   fits hundreds of them), then a 30-word resolution is parsed against it, paired with the same
   text parsed in an organization of two people (the baseline: what the words cost without a
   directory to search); and GET /directory/people?q= is paired with GET /me (same sign-in path).
   Each round interleaves the pair; the figure is the median of the rounds' p50 ratios.
"""
import argparse
import io
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from domain import dictation, staff_csv  # noqa: E402
from mobile_api import create_app  # noqa: E402
from models import User, db  # noqa: E402
from benchmarks.signals import stop_on_signals  # noqa: E402
from tests.directory.test_parse_cases import DICTATION_DAYS, expected_deadline  # noqa: E402
from tests.support.database import admin_url, scratch_database  # noqa: E402
from tests.support.timing import Paired, paired, timed  # noqa: E402

SHARED = ROOT / "tests" / "fixtures" / "resolutions"
OWN = ROOT / "benchmarks" / "data"
THIRTY_WORDS = ("Хабибуллину, Валиеву и Петрову Игорю Васильевичу совместно с отделом кадров подготовить "
                "предложения по оптимизации штатного расписания и согласовать их с финансовым отделом "
                "до 15 декабря с докладом на совещании у министра")
SURNAMES = ("Иванов Смирнов Кузнецов Попов Васильев Соколов Михайлов Новиков Фёдоров Морозов Волков Алексеев "
            "Лебедев Семёнов Егоров Павлов Козлов Степанов Николаев Орлов Андреев Макаров Никитин Захаров Зайцев "
            "Соловьёв Борисов Яковлев Григорьев Романов Воробьёв Сергеев Кузьмин Фролов Александров Дмитриев "
            "Королёв Гусев Киселёв Ильин Максимов Поляков Сорокин Виноградов Ковалёв Белов Медведев Антонов "
            "Тарасов Жуков Баранов Филиппов Комаров Давыдов Беляев Герасимов Богданов Осипов Сидоров Матвеев "
            "Галиев Зарипов Сафин Гарипов Ахметов Шарипов Нуриев Гилязов Валеев Мухаметшин").split()
MEN = "Александр Сергей Дмитрий Андрей Алексей Максим Евгений Иван Михаил Артём Рустем Марат Айдар Ильдар".split()
WOMEN = "Елена Ольга Наталья Анна Мария Татьяна Ирина Светлана Юлия Гульнара Алсу Лилия Эльмира Динара".split()
FATHERS = "Александров Сергеев Дмитриев Андреев Петров Иванов Ильдаров Рашитов Маратов Фаритов".split()


def progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def import_text(text: str) -> staff_csv.ImportSummary:
    summary = staff_csv.import_rows(staff_csv.read_rows(io.StringIO(text)))
    db.session.commit()
    staff_csv.refresh_statistics()  # as `flask directory import` does
    return summary


def accuracy(cases: list[dict], exec1: User, usernames: dict[int, str]) -> dict:
    total = ok_exec = ok_deadline = ok_amb = all_ok = wrong_person = 0
    misses = []
    for today in DICTATION_DAYS:
        for case in cases:
            parsed = dictation.read(exec1, case["text"], "ru", on=today)
            got_exec = [usernames[p.id] for p, _ in parsed.executors]
            want_deadline = expected_deadline(case["deadline"], today)
            amb = [s.said for s, _ in parsed.ambiguous]
            e, d, a = got_exec == case["executors"], parsed.deadline == want_deadline, amb == case["ambiguous"]
            total += 1
            ok_exec, ok_deadline, ok_amb, all_ok = ok_exec + e, ok_deadline + d, ok_amb + a, all_ok + (e and d and a)
            wrong_person += len(set(got_exec) - set(case["executors"]))
            if not (e and d and a) and today == DICTATION_DAYS[0]:
                misses.append(f"  #{case['id']} {case['text']!r}: executors {got_exec} deadline "
                              f"{parsed.deadline} ambiguous {amb}; wanted {case['executors']} "
                              f"{want_deadline} {case['ambiguous']}")
    pct = lambda n: f"{100 * n / total:.1f}%"  # noqa: E731
    return {"cases x days": total, "executors exact": pct(ok_exec), "deadline exact": pct(ok_deadline),
            "ambiguous reported": pct(ok_amb), "all three": pct(all_ok), "wrong person chosen": wrong_person,
            "misses (first day)": misses}


def big_staff(n: int) -> str:
    """n people with common surnames (each fits hundreds of people), names and patronymics."""
    lines = [",".join(staff_csv.COLUMNS)]
    for i in range(n):
        woman = i % 2 == 1
        surname = SURNAMES[i % len(SURNAMES)] + ("а" if woman else "")
        first = (WOMEN if woman else MEN)[(i // len(SURNAMES)) % 14]
        patronymic = FATHERS[(i // 7) % len(FATHERS)] + ("на" if woman else "ич")
        lines.append(f"МЦР,Аппарат министра/Департамент {i % 30}/Отдел {i % 9},bench{i},{surname},{first},"
                     f"{patronymic},Специалист {i % 12},employee,")
    return "\n".join(lines) + "\n"


def against(name: str, subject, baseline, rounds: int, per_round: int) -> dict:
    """Paired rounds of subject and baseline, `per_round` calls of each; the median of the rounds' p50 ratios."""
    subject(), baseline()  # warm caches

    def p50(fn) -> dict:
        samples = [timed(fn) * 1000 for _ in range(per_round)]
        return {"p50": statistics.median(samples), "samples": samples}

    def shown(r: int, result: Paired) -> None:
        progress(f"  {name}: round {r + 1}/{rounds} p50 {result.subject[-1]['p50']:.2f} ms "
                 f"(baseline {result.baseline[-1]['p50']:.2f} ms)")

    result = paired(lambda: p50(subject), lambda: p50(baseline), rounds, after_round=shown)
    all_subject = sorted(ms for r in result.subject for ms in r["samples"])
    return {"p50 ms": round(statistics.median(all_subject), 2),
            "p99 ms": round(all_subject[min(len(all_subject) - 1, int(len(all_subject) * 0.99))], 2),
            "median ratio to baseline": round(result.ratio("p50"), 2)}


def main() -> None:
    stop_on_signals()  # SIGTERM too drops the scratch database, in the finally below
    parser = argparse.ArgumentParser()
    parser.add_argument("--people", type=int, default=22000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--per-round", type=int, default=40)
    parser.add_argument("--db", choices=["postgresql", "sqlite"], default="postgresql")
    args = parser.parse_args()

    tmp = tempfile.mkdtemp()
    if args.db == "postgresql":
        _, url, drop = scratch_database("bench_parse", admin_url("BENCH_POSTGRES_URL"))
    else:
        url = f"sqlite:///{tmp}/bench.db"
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "DATA_DIR": tmp, "SECRET_KEY": "b" * 40,
                      "DEMO_PASSWORD": "bench"})
    try:
        with app.app_context():
            from flask_migrate import upgrade

            from mobile_api.demo import load
            progress(f"migrating and loading the demo data ({args.db})")
            upgrade()
            load("bench")
            results = {}
            progress("accuracy on the shared cases")
            import_text((SHARED / "staff.csv").read_text(encoding="utf-8"))
            users = {u.id: u.username for u in db.session.scalars(sa.select(User))}
            exec1 = db.session.scalar(sa.select(User).where(User.username == "exec1"))
            shared = json.loads((SHARED / "cases.json").read_text(encoding="utf-8"))["cases"]
            results["shared cases"] = accuracy(shared, exec1, users)
            progress("accuracy on the fifty written blind")
            import_text((OWN / "parse_staff_own.csv").read_text(encoding="utf-8"))
            users = {u.id: u.username for u in db.session.scalars(sa.select(User))}
            own = json.loads((OWN / "parse_cases_own.json").read_text(encoding="utf-8"))["cases"]
            results["own cases"] = accuracy(own, exec1, users)

            progress(f"importing {args.people} more people")
            started = time.perf_counter()
            summary = import_text(big_staff(args.people))
            results["import"] = {"rows": summary.rows, "seconds": round(time.perf_counter() - started, 1)}
            org1 = exec1.organization_id
            size = db.session.scalar(sa.select(sa.func.count()).select_from(User).where(User.organization_id == org1))
            exec2 = db.session.scalar(sa.select(User).where(User.username == "exec2"))
            progress(f"parse latency: {len(THIRTY_WORDS.split())} words against {size} people")
            sample = dictation.parsed_json(dictation.read(exec1, THIRTY_WORDS, "ru"))
            results["30-word parse"] = {
                "people in the organization": size, "words": len(THIRTY_WORDS.split()),
                "executors": [e["said"] for e in sample["executors"]],
                "ambiguous": [(a["said"], len(a["candidates"])) for a in sample["ambiguous"]],
                **against("parse", lambda: dictation.read(exec1, THIRTY_WORDS, "ru"),
                         lambda: dictation.read(exec2, THIRTY_WORDS, "ru"), args.rounds, args.per_round)}

            client = app.test_client()

            def token():
                resp = client.post("/api/v1/auth/login", json={"username": "exec1", "password": "bench"})
                return {"Authorization": f"Bearer {resp.get_json()['access_token']}"}

            headers = token()
            queries = ["ива", "смирнова", "гал", "специалист 1", "ел", "зайцев", "к", "мухаметшин"]
            state = {"i": 0}

            def search():
                q = queries[state["i"] % len(queries)]
                state["i"] += 1
                resp = client.get(f"/api/v1/directory/people?q={q}&limit=25", headers=headers)
                assert resp.status_code == 200, resp.get_json()

            def me():
                assert client.get("/api/v1/me", headers=headers).status_code == 200

            progress(f"directory search latency against {size} people")
            results["directory search (HTTP, 25 a page)"] = against("search", search, me, args.rounds,
                                                                   args.per_round)
        print(json.dumps(results, ensure_ascii=False, indent=1))
    finally:
        if args.db == "postgresql":
            with app.app_context():
                db.engine.dispose()
            drop()


if __name__ == "__main__":
    main()
