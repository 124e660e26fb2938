"""GET /search: any Russian word form, exact registration numbers, filters, keyset pages, snippets, and
only what the caller may see, on both databases."""
import io
import json

import pytest
import sqlalchemy as sa

from domain.search import lemmas_of
from models import Document, db


def _register(api, demo, title="О подготовке доклада", files=None, **meta):
    body = {"title": title, "correspondent": "Аппарат Президента",
            "addressees": [str(demo["exec1"].units[0].id)], **meta}
    files = files if files is not None else [("Доклад.pdf", b"%PDF-1.4 report")]
    data = {"metadata": json.dumps(body, ensure_ascii=False),
            "file": [(io.BytesIO(content), name) for name, content in files]}
    resp = api.post("/documents", data=data, content_type="multipart/form-data")
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def _found(api, **args):
    resp = api.get("/search", query_string=args)
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def _ids(page):
    return [item["document_id"] for item in page["items"]]


@pytest.mark.parametrize("query", ["договор", "договоров", "договорами", "ДОГОВОРУ"])
def test_any_form_of_a_word_finds_the_others(login, demo, query):
    doc = _register(login("clerk1"), demo, title="О заключении договоров поставки")
    page = _found(login("exec1"), q=query)
    assert _ids(page) == [doc["id"]]
    item = page["items"][0]
    assert item["reg_number"] == doc["reg_number"] and item["from"] == "Аппарат Президента"
    assert item["title"] == "О заключении договоров поставки" and item["reg_date"] == doc["reg_date"]
    assert "<mark>договоров</mark>" in item["snippet"]
    assert page["next_cursor"] is None
    assert _found(login("exec1"), q="договор аренды")["items"] == []  # every word must be found


def test_a_plain_text_file_is_searched_and_its_passage_is_the_snippet(login, demo):
    text = ("Во исполнение постановления Правительства Республики прошу представить сведения о ходе "
            "ремонта автомобильных дорог местного значения в срок до 1 декабря. " * 3
            + "Отдельно сообщите о <b>мостах</b>.").encode("cp1251")
    doc = _register(login("clerk1"), demo, files=[("Письмо.txt", text)])
    page = _found(login("exec1"), q="автомобильная дорога")
    assert _ids(page) == [doc["id"]]
    snippet = page["items"][0]["snippet"]
    assert "<mark>автомобильных</mark> <mark>дорог</mark>" in snippet
    assert "<b>" not in snippet  # the file's own markup is text, escaped
    snippet = _found(login("exec1"), q="мост")["items"][0]["snippet"]
    assert "<mark>мостах</mark>" in snippet and "<b>" not in snippet


def test_a_new_version_of_a_file_is_found_by_its_own_words(login, demo):
    clerk = login("clerk1")
    doc = _register(clerk, demo, files=[("Справка.txt", "Справка о закупке бумаги".encode())])
    assert _ids(_found(login("exec1"), q="бумага")) == [doc["id"]]
    resp = clerk.post(f"/documents/{doc['id']}/attachments", content_type="multipart/form-data",
                      data={"file": (io.BytesIO("Справка о закупке картриджей".encode()), "Справка.txt")})
    assert resp.status_code == 201, resp.get_json()
    assert _ids(_found(login("exec1"), q="картриджи")) == [doc["id"]]
    assert _found(login("exec1"), q="бумага")["items"] == []  # the replaced version is not what it says


def test_the_dictionary_joins_forms_a_stemmer_cannot(app, login, demo):
    """Why SQLite indexes pymorphy3's normal forms: these pairs share no stem, and PostgreSQL's
    snowball-based `russian` configuration does not join them; the dictionary does."""
    pairs = [("дня", "день"), ("окон", "окно"), ("людей", "человек"), ("шла", "идти")]
    for form, lemma in pairs:
        assert lemma in lemmas_of(form)
    if db.engine.dialect.name == "postgresql":
        joined = [db.session.scalar(sa.text("SELECT to_tsvector('russian', :f) @@ plainto_tsquery('russian', :l)"),
                                    {"f": form, "l": lemma}) for form, lemma in pairs]
        assert joined == [False] * len(pairs)
    else:
        doc = _register(login("clerk1"), demo, title="Замена окон в течение трёх дней", summary="Люди шли")
        for query in ("окно", "день", "человек", "идти"):
            assert _ids(_found(login("exec1"), q=query)) == [doc["id"]], query


def test_a_registration_number_finds_its_document_exactly(login, demo):
    clerk = login("clerk1")
    docs = [_register(clerk, demo) for _ in range(12)]
    wanted = docs[0]  # МЦР-N/26: its digits are in other numbers too (N1, N0...)
    assert _ids(_found(login("exec1"), q=wanted["reg_number"])) == [wanted["id"]]
    assert _ids(_found(login("exec1"), reg_number=wanted["reg_number"])) == [wanted["id"]]
    assert _ids(_found(login("exec1"), reg_number=wanted["reg_number"].lower())) == [wanted["id"]]
    assert _ids(_found(login("exec1"), q="доклад", reg_number=docs[1]["reg_number"])) == [docs[1]["id"]]
    theirs = _register(login("clerk2"), demo, addressees=[str(demo["exec2"].units[0].id)])
    assert _found(login("minister"), q=theirs["reg_number"])["items"] == []
    # Shaped like a number but no document's: its words are searched.
    covid = _register(clerk, demo, title="О мерах против covid-19 в школах")
    assert _ids(_found(login("exec1"), q="covid-19")) == [covid["id"]]


def test_filters_by_correspondent_and_dates(login, demo):
    clerk = login("clerk1")
    old = _register(clerk, demo, title="Запрос о субсидиях", correspondent="Министерство финансов",
                    reg_date="2026-02-10")
    new = _register(clerk, demo, title="Запрос о субсидиях", correspondent="Казначейство",
                    reg_date="2026-03-15")
    reader = login("exec1")
    assert _ids(_found(reader, q="субсидия")) == [new["id"], old["id"]]  # newest registration first
    assert _ids(_found(reader, q="субсидия", correspondent="МИНИСТЕРСТВО фин")) == [old["id"]]
    assert _ids(_found(reader, q="субсидия", correspondent="%")) == []
    assert _ids(_found(reader, q="субсидия", **{"from": "2026-03-01"})) == [new["id"]]
    assert _ids(_found(reader, q="субсидия", to="2026-02-10")) == [old["id"]]
    assert _ids(_found(reader, q="субсидия", **{"from": "2026-02-10", "to": "2026-03-15"})) == [new["id"], old["id"]]
    assert _ids(_found(reader, correspondent="казначейство", reg_number=new["reg_number"])) == [new["id"]]


def test_pages_walk_every_match_once_newest_first(login, demo):
    clerk = login("clerk1")
    dates = ["2026-01-05", "2026-03-01", "2026-01-05", "2026-02-20", "2026-03-01", "2026-01-05", "2026-02-01"]
    docs = [_register(clerk, demo, title="Проект бюджета", reg_date=d) for d in dates]
    expected = [d["id"] for d in sorted(docs, key=lambda d: (d["reg_date"], int(d["id"])), reverse=True)]
    reader, seen, cursor = login("exec1"), [], None
    while True:
        page = _found(reader, q="проекты бюджетов", limit=3, **({"cursor": cursor} if cursor else {}))
        seen += _ids(page)
        cursor = page["next_cursor"]
        if cursor is None:
            break
        # A document registered meanwhile, dated today, is at the top: it never shifts a page.
        _register(clerk, demo, title="Проект бюджета")
    assert seen == expected


def test_only_what_the_caller_may_see_is_found(login, demo):
    clerk = login("clerk1")
    addressed = _register(clerk, demo, title="Служебная записка о командировке")
    informed = _register(clerk, demo, title="Служебная записка о командировке",
                         for_information=[str(demo["employee2"].id)])
    theirs = _register(login("clerk2"), demo, title="Служебная записка о командировке",
                       addressees=[str(demo["exec2"].units[0].id)])
    assert _ids(_found(login("exec1"), q="командировка")) == [informed["id"], addressed["id"]]
    assert _ids(_found(login("employee2"), q="командировка")) == [informed["id"]]
    # Not addressed to them: nothing, and nothing that tells there is something.
    assert _found(login("employee1"), q="командировка") == {"items": [], "next_cursor": None}
    assert _ids(_found(login("exec2"), q="командировка")) == [theirs["id"]]
    assert _found(login("employee1"), reg_number=addressed["reg_number"])["items"] == []
    # Owning one document shows that one, not the others of the organization.
    db.session.execute(sa.update(Document).where(Document.id == int(informed["id"]))
                       .values(owner_id=demo["employee1"].id))
    db.session.commit()
    assert _ids(_found(login("employee1"), q="командировка")) == [informed["id"]]


@pytest.mark.parametrize("args,status", [
    ({}, 422), ({"q": ""}, 422), ({"q": "!!! ..."}, 422), ({"q": "x" * 201}, 422),
    ({"q": "бюджет", "from": "2026-03-02", "to": "2026-03-01"}, 422), ({"q": "бюджет", "from": "вчера"}, 422),
    ({"q": "бюджет", "limit": 0}, 422), ({"q": "бюджет", "limit": 101}, 422),
    ({"q": "бюджет", "cursor": "not-a-cursor"}, 400),
])
def test_bad_input_is_refused(login, demo, args, status):
    resp = login("exec1").get("/search", query_string=args)
    assert resp.status_code == status, resp.get_json()
