"""`flask directory import|export`: upsert by username, all or nothing, units created or renamed, at scale."""
import csv
import io

import pytest
import sqlalchemy as sa

from domain import staff_csv
from models import Unit, User, assistants, db, unit_members
from models.changes import ChangeCounter

from .conftest import FIXTURES

HEADER = ",".join(staff_csv.COLUMNS) + "\n"


def run(app, *args):
    return app.test_cli_runner().invoke(args=["directory", *args], catch_exceptions=False)


def snapshot() -> tuple:
    users = db.session.execute(sa.select(User.__table__)).all()
    units = db.session.execute(sa.select(Unit.__table__)).all()
    members = db.session.execute(sa.select(unit_members)).all()
    helpers = db.session.execute(sa.select(assistants)).all()
    counter = db.session.scalar(sa.select(ChangeCounter.value))
    return sorted(map(tuple, users)), sorted(map(tuple, units)), sorted(members), sorted(helpers), counter


def write(tmp_path, text: str, name="staff.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_importing_the_same_file_twice_changes_nothing(app, demo, tmp_path):
    first = run(app, "import", str(FIXTURES / "staff.csv"))
    assert first.exit_code == 0, first.output
    assert "5 rows: 5 created, 0 updated, 0 unchanged; 1 units created" in first.output
    db.session.expire_all()
    before = snapshot()
    again = run(app, "import", str(FIXTURES / "staff.csv"))
    assert "5 rows: 0 created, 0 updated, 5 unchanged; 0 units created" in again.output
    db.session.expire_all()
    assert snapshot() == before
    petrov = db.session.scalar(sa.select(User).where(User.username == "petrov_i"))
    assert (petrov.name, petrov.short_name, petrov.position, petrov.roles) == (
        "Петров Игорь Васильевич", "Петров И.В.", "Начальник отдела", ["employee"])
    assert [u.name for u in petrov.units] == ["Отдел кадров"]
    assert petrov.units[0].parent_id == db.session.scalar(sa.select(Unit.id).where(Unit.name == "Аппарат министра"))


@pytest.mark.parametrize("line, problem", [
    ("МЦР,Аппарат министра/Отдел кадров,bad user,Иванов,Иван,,Специалист,employee,", "username"),
    ("ЧУЖ,Аппарат министра,ivanov,Иванов,Иван,,Специалист,employee,", "unknown organization"),
    ("МЦР,Аппарат министра,ivanov,,Иван,,Специалист,employee,", "surname is empty"),
    ("МЦР,Аппарат министра,ivanov,Иванов,Иван,,Специалист,king,", "roles"),
    ("МЦР,Аппарат министра//Отдел,ivanov,Иванов,Иван,,Специалист,employee,", "unit"),
    ("МЦР,Аппарат министра,ivanov,Иванов,Иван,,Специалист,employee,nobody", "assistant_of nobody is no one"),
    ("МЦР,Аппарат министра,ivanov,Иванов,Иван,,Специалист,employee,exec2", "another organization"),
    ("МЦР,Аппарат министра,exec2,Иванов,Иван,,Специалист,employee,", "belongs to another organization"),
    ("МЦР,Аппарат министра,valiev,Иванов,Иван,,Специалист,employee,", "also on line 2"),
    ("МЦР,Аппарат министра,ivanov,Иванов", "columns"),
])
def test_a_bad_row_imports_nothing_and_names_its_line(app, demo, tmp_path, line, problem):
    good = (FIXTURES / "staff.csv").read_text(encoding="utf-8").splitlines()
    text = "\n".join([*good[:3], line, *good[3:]]) + "\n"
    before = snapshot()
    result = run(app, "import", write(tmp_path, text))
    assert result.exit_code == 1
    assert "Nothing imported" in result.output and "line 4" in result.output and problem in result.output
    db.session.rollback()
    assert snapshot() == before


def test_a_bad_header_is_refused(app, demo, tmp_path):
    result = run(app, "import", write(tmp_path, "username,surname\nx,y\n"))
    assert result.exit_code == 1 and "line 1: the header must be" in result.output


def test_a_renamed_unit_keeps_its_id_and_people_move_and_sync_sees_both(app, demo, tmp_path, login):
    assert run(app, "import", str(FIXTURES / "staff.csv")).exit_code == 0
    hr = db.session.scalar(sa.select(Unit.id).where(Unit.name == "Отдел кадров"))
    api = login("exec1")
    since = api.get("/directory/sync").get_json()["next"]
    text = (FIXTURES / "staff.csv").read_text(encoding="utf-8").replace("Отдел кадров", "Управление кадров")
    text = text.replace("orlova,Орлова,Анна,Викторовна,Специалист", "orlova,Орлова,Анна,Викторовна,Ведущий специалист")
    result = run(app, "import", write(tmp_path, text))
    assert "unit renamed: Аппарат министра/Отдел кадров -> Аппарат министра/Управление кадров" in result.output
    assert "5 rows: 0 created, 1 updated, 4 unchanged; 0 units created" in result.output
    db.session.expire_all()
    assert db.session.get(Unit, hr).name == "Управление кадров"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Unit).where(Unit.name == "Отдел кадров")) == 0
    changes = api.get(f"/directory/sync?since={since}").get_json()
    assert [u["name"] for u in changes["units"]["upserted"]] == ["Управление кадров"]
    assert [(p["short_name"], p["position"]) for p in changes["people"]["upserted"]] == [
        ("Орлова А.В.", "Ведущий специалист")]
    # Moving one person to a unit that already has others is a move, not a rename.
    moved = text.replace("sadykova,Садыкова", "sadykova,Садыкова").replace(
        "МЦР,Аппарат министра/Управление кадров,sadykova", "МЦР,Аппарат министра/Отдел информатизации,sadykova")
    assert "1 updated" in run(app, "import", write(tmp_path, moved)).output
    db.session.expire_all()
    assert db.session.get(Unit, hr).name == "Управление кадров"
    sadykova = db.session.scalar(sa.select(User).where(User.username == "sadykova"))
    assert [u.name for u in sadykova.units] == ["Отдел информатизации"]


def test_assistants_and_roles_come_from_the_file(app, demo, tmp_path):
    text = HEADER + ("МЦР,Аппарат министра,helper,Гарипова,Лилия,Рамилевна,Помощник министра,assistant,minister\n"
                     "МЦР,Аппарат министра,deputy,Белов,Артём,Сергеевич,Заместитель министра,executive;admin,\n")
    assert run(app, "import", write(tmp_path, text)).exit_code == 0
    helper = db.session.scalar(sa.select(User).where(User.username == "helper"))
    assert [e.username for e in helper.executives] == ["minister"]
    deputy = db.session.scalar(sa.select(User).where(User.username == "deputy"))
    assert deputy.roles == ["executive", "admin"] and deputy.short_name == "Белов А.С."


def test_export_writes_what_import_reads(app, demo, tmp_path):
    assert run(app, "import", str(FIXTURES / "staff.csv")).exit_code == 0
    out = tmp_path / "out.csv"
    result = run(app, "export", "--organization", "МЦР", "--output", str(out))
    assert result.exit_code == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert len(rows) == 12
    mine = {r["username"]: r for r in rows}
    with open(FIXTURES / "staff.csv", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            assert mine[row["username"]] == row
    assert mine["assistant1"]["assistant_of"] == "exec1"
    before = snapshot()
    again = run(app, "import", str(out))
    assert "12 rows: 0 created, 0 updated, 12 unchanged" in again.output
    db.session.expire_all()
    assert snapshot() == before


@pytest.mark.slow
def test_22000_rows_import_and_search_stays_in_the_organization(app, demo, tmp_path, login):
    surnames = ["Иванов", "Смирнов", "Кузнецов", "Попов", "Васильев", "Петров", "Соколов", "Михайлов", "Новиков",
                "Фёдоров", "Морозов", "Волков", "Алексеев", "Лебедев", "Семёнов", "Егоров", "Павлов", "Козлов"]
    names = ["Александр", "Сергей", "Дмитрий", "Андрей", "Алексей", "Максим", "Евгений", "Иван", "Михаил"]
    lines = [HEADER]
    for i in range(22000):
        lines.append(f"МЦР,Аппарат министра/Департамент {i % 40}/Отдел {i % 7},user{i},{surnames[i % 18]}{i // 18 % 60}"
                     f",{names[i % 9]},Петрович,Специалист {i % 5},employee,\n")
    path = write(tmp_path, "".join(lines), "big.csv")
    result = run(app, "import", path)
    assert result.exit_code == 0, result.output
    assert "22000 rows: 22000 created" in result.output and "320 units created" in result.output
    again = run(app, "import", path)
    assert "22000 rows: 0 created, 0 updated, 22000 unchanged" in again.output
    api = login("exec1")
    page = api.get("/directory/people?q=иванов1&limit=100").get_json()
    assert page["items"] and all(p["name"].startswith("Иванов1") for p in page["items"])
    assert login("exec2").get("/directory/people?q=иванов").get_json()["items"] == []
