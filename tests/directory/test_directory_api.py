"""The directory over HTTP, on SQLite and PostgreSQL: search, units, offline sync, frequent executors, parse."""
from datetime import timedelta

import sqlalchemy as sa

from domain import names
from models import Resolution, User, db, resolution_executors, utcnow


def ids(page) -> list[str]:
    return [p["id"] for p in page["items"]]


def test_search_by_surname_name_or_position_any_case_and_yo(staffed, login):
    api = login("exec1")
    first = api.get("/directory/people?q=пЕтР").get_json()
    # Петров Д.О., Петров И.В. and Петрова О.С., in surname order; trimmed entries.
    assert [p["short_name"] for p in first["items"]] == ["Петров Д.О.", "Петров И.В.", "Петрова О.С."]
    assert first["items"][0] == {"id": str(staffed["petrov_d"].id), "short_name": "Петров Д.О.",
                                 "name": "Петров Дмитрий Олегович", "position": "Программист",
                                 "unit": {"id": first["items"][0]["unit"]["id"], "short_name": "Информатизация"}}
    assert [p["short_name"] for p in api.get("/directory/people?q=эльм").get_json()["items"]] == ["Садыкова Э.Ф."]
    assert {p["short_name"] for p in api.get("/directory/people?q=начальник").get_json()["items"]} == {
        "Петров И.В.", "Петрова О.С.", "Хабибуллин М.А."}
    # ё = е, both ways.
    names.set_name(db.session.get(User, staffed["orlova"].id), "Орлёва", "Анна", "Викторовна", "Специалист")
    db.session.commit()
    assert [p["short_name"] for p in api.get("/directory/people?q=орлев").get_json()["items"]] == ["Орлёва А.В."]
    assert [p["short_name"] for p in api.get("/directory/people?q=Орлёв").get_json()["items"]] == ["Орлёва А.В."]
    assert api.get("/directory/people?q=zzz").get_json() == {"items": [], "next_cursor": None}


def test_pages_follow_on_without_gaps_and_an_unchanged_page_is_304(staffed, login):
    api = login("exec1")
    everyone = ids(api.get("/directory/people?limit=100").get_json())
    assert len(everyone) == 12  # the demo's 7 of this organization and the 5 of staff.csv
    seen, cursor = [], None
    while True:
        page = api.get("/directory/people?limit=4" + (f"&cursor={cursor}" if cursor else "")).get_json()
        seen += ids(page)
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == everyone
    resp = api.get("/directory/people?q=пет")
    again = api.get("/directory/people?q=пет", headers={"If-None-Match": resp.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""
    bad = api.get("/directory/people?cursor=nonsense")
    assert bad.status_code == 400 and bad.get_json()["code"] == "invalid_cursor"
    assert api.get("/directory/people?limit=0").status_code == 422


def test_unit_filter_takes_the_units_below_and_another_organizations_unit_is_not_found(staffed, login):
    api = login("exec1")
    tree = api.get("/directory/units").get_json()["items"]
    assert [u["name"] for u in tree] == ["Аппарат министра"]
    children = {u["name"]: u for u in tree[0]["children"]}
    assert set(children) == {"Отдел делопроизводства", "Отдел информатизации", "Отдел кадров"}
    it = children["Отдел информатизации"]["id"]
    people = api.get(f"/directory/people?unit={it}&limit=100").get_json()
    assert {p["short_name"] for p in people["items"]} == {"Хабибуллин М.А.", "Смирнова Е.П.", "Валиев А.М.",
                                                          "Петров Д.О.", "Козлов Д.А."}
    assert len(ids(api.get(f"/directory/people?unit={tree[0]['id']}&limit=100").get_json())) == 12
    theirs = login("exec2").get("/directory/units").get_json()["items"]
    assert [u["name"] for u in theirs] == ["Глава района"]
    assert api.get(f"/directory/people?unit={theirs[0]['id']}").status_code == 404


def test_another_organizations_people_never_appear(staffed, login):
    mine = login("exec1")
    theirs = login("exec2")
    assert mine.get("/directory/people?q=зарипов").get_json()["items"] == []
    assert mine.get("/directory/people?q=волков").get_json()["items"] == []
    assert {p["short_name"] for p in theirs.get("/directory/people").get_json()["items"]} == {"Зарипов А.Р.",
                                                                                              "Волкова А.И."}
    synced = theirs.get("/directory/sync").get_json()
    assert {p["short_name"] for p in synced["people"]["upserted"]} == {"Зарипов А.Р.", "Волкова А.И."}
    parsed = mine.post("/resolutions/parse", json={"text": "Зарипову подготовить справку"}).get_json()
    assert parsed["executors"] == [] and parsed["unmatched"] == ["Зарипову"]


def test_sync_brings_a_phone_up_to_date_with_upserts_and_tombstones(staffed, login):
    api = login("exec1")
    first = api.get("/directory/sync").get_json()
    assert len(first["people"]["upserted"]) == 12 and first["people"]["removed"] == []
    assert {u["name"] for u in first["units"]["upserted"]} >= {"Аппарат министра", "Отдел кадров"}
    assert api.get(f"/directory/sync?since={first['next']}").get_json()["people"] == {"upserted": [], "removed": []}
    # Someone leaves, someone changes position, a unit is renamed.
    db.session.get(User, staffed["orlova"].id).is_active = False
    valiev = db.session.get(User, staffed["valiev"].id)
    names.set_name(valiev, "Валиев", "Айдар", "Маратович", "Начальник отдела")
    unit = valiev.units[0]
    unit.name, unit.short_name = "Отдел цифровых технологий", "Цифровые технологии"
    db.session.commit()
    changes = api.get(f"/directory/sync?since={first['next']}").get_json()
    assert changes["people"]["removed"] == [str(staffed["orlova"].id)]
    assert [(p["short_name"], p["position"]) for p in changes["people"]["upserted"]] == [
        ("Валиев А.М.", "Начальник отдела")]
    assert [u["name"] for u in changes["units"]["upserted"]] == ["Отдел цифровых технологий"]
    # A small page at a time: every change arrives exactly once.
    seen, since = [], None
    for _ in range(20):
        page = api.get("/directory/sync?limit=3" + (f"&since={since}" if since else "")).get_json()
        seen += [p["id"] for p in page["people"]["upserted"]]
        since = page["next"]
        if not page["has_more"]:
            break
    assert sorted(seen) == sorted(str(u.id) for u in staffed.values()
                                  if u.organization_id == staffed["exec1"].organization_id
                                  and u.username != "orlova")
    assert api.get("/directory/sync?since=@@").status_code == 400


def test_frequent_executors_are_the_people_named_most_in_90_days(staffed, login):
    exec1, doc_id = staffed["exec1"], None
    from models import Document
    doc_id = db.session.scalar(sa.select(Document.id).limit(1))
    now = utcnow()

    def resolution(executors, days_ago):
        res = Resolution(document_id=doc_id, author_id=exec1.id, status="draft", text="x",
                         created_at=now - timedelta(days=days_ago))
        db.session.add(res)
        db.session.flush()
        db.session.execute(sa.insert(resolution_executors), [
            {"resolution_id": res.id, "user_id": staffed[u].id, "position": i} for i, u in enumerate(executors)])

    resolution(["valiev", "orlova"], 1)
    resolution(["valiev"], 10)
    resolution(["sadykova"], 30)
    resolution(["orlova", "valiev"], 89)
    resolution(["petrov_i", "petrov_i"][:1], 120)  # too long ago
    db.session.commit()
    got = login("exec1").get("/me/frequent-executors").get_json()["items"]
    assert [(p["short_name"], p["times"]) for p in got] == [("Валиев А.М.", 3), ("Орлова А.В.", 2),
                                                            ("Садыкова Э.Ф.", 1)]
    assert login("exec2").get("/me/frequent-executors").get_json()["items"] == []


def test_parse_answers_what_the_text_says(staffed, login):
    api = login("exec1")
    resp = api.post("/resolutions/parse", json={
        "text": "Хабибуллину и Смирновой подготовить предложения к совещанию до пятницы", "language": "ru",
        "on": "2026-11-23"})
    assert resp.status_code == 200
    assert resp.get_json() == {
        "text": "Подготовить предложения к совещанию",
        "executors": [
            {"said": "Хабибуллину", "start": 0, "end": 11, "id": str(staffed["employee1"].id),
             "short_name": "Хабибуллин М.А."},
            {"said": "Смирновой", "start": 14, "end": 23, "id": str(staffed["employee2"].id),
             "short_name": "Смирнова Е.П."}],
        "deadline": "2026-11-27", "deadline_said": "до пятницы",
        "deadline_span": {"said": "до пятницы", "start": 60, "end": 70},
        "ambiguous": [], "unmatched": [], "suggested_deadline": None}  # a deadline was said: nothing to suggest
    ambiguous = api.post("/resolutions/parse", json={"text": "Петрову подготовить отчёт"}).get_json()
    assert ambiguous["ambiguous"] == [{"said": "Петрову", "start": 0, "end": 7, "candidates": [
        {"id": str(staffed["petrov_d"].id), "short_name": "Петров Д.О."},
        {"id": str(staffed["petrov_i"].id), "short_name": "Петров И.В."}]}]
    # A letter Unicode has no name for (U+18259, a Tangut ideograph) is read as no one, not a 500.
    unnamed = api.post("/resolutions/parse", json={"text": "Смирновой \U00018259 подготовить ответ до пятницы",
                                                   "language": "ru", "on": "2026-11-23"})
    assert unnamed.status_code == 200, unnamed.get_data(as_text=True)
    assert unnamed.get_json()["executors"][0]["short_name"] == "Смирнова Е.П."
    assert unnamed.get_json()["deadline"] == "2026-11-27"
    for bad in ({}, {"text": ""}, {"text": "x" * 4001}, {"text": 5}, {"text": "a", "language": "../"},
                {"text": "a", "on": "tomorrow"}):
        resp = api.post("/resolutions/parse", json=bad)
        assert resp.status_code == 422 and resp.mimetype == "application/problem+json", bad
