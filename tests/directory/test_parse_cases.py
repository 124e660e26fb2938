"""Every shared dictated resolution read as an assistant would, on days chosen to move the deadline around.

The expected deadline is computed here from the case's rule, independently of the parser: Monday to
Friday minus the days off of Russia's production calendar (the government's decree, written out
below), and a deadline on a day off moved to the working day before.
"""
import json
from datetime import date, timedelta

import pytest

from domain import dictation, parsing

from .conftest import FIXTURES

CASES = json.loads((FIXTURES / "cases.json").read_text(encoding="utf-8"))["cases"]
# Days off by decree around the test dates: Unity Day, 31 December (moved from 4 January), New Year holidays.
DAYS_OFF = {date(2026, 11, 4), date(2026, 12, 31), *(date(2027, 1, d) for d in range(1, 9))}
DICTATION_DAYS = [
    date(2026, 11, 23),  # a Monday: «до пятницы» is this week's Friday, «до среды» the day after tomorrow
    date(2026, 11, 27),  # a Friday: «до пятницы» is next week's, «завтра» a Saturday (moves back to today)
    date(2026, 12, 2),   # month end is 31 December, a day off: the 30th; +1 month lands in the New Year holidays
    date(2026, 12, 24),  # «до 3 декабря» is next year's; +10 days lands on 3 January
    date(2026, 12, 30),  # working days jump the New Year holidays
    date(2026, 10, 30),  # +5 days lands on Unity Day
]


def working(day: date) -> bool:
    return day.weekday() < 5 and day not in DAYS_OFF


def expected_deadline(rule: str, today: date) -> date | None:
    if rule == "none":
        return None
    if rule.endswith("bd"):
        day, n = today, int(rule[1:-2])
        while n:
            day += timedelta(days=1)
            n -= working(day)
        return day
    if rule.startswith("+") and rule.endswith("d"):
        day = today + timedelta(days=int(rule[1:-1]))
    elif rule == "+1m":
        year, month = today.year + today.month // 12, today.month % 12 + 1
        day = date(year, month, 1) + timedelta(days=today.day - 1)
        if day.month != month:
            day = date(year, month + 1, 1) - timedelta(days=1) if month < 12 else date(year, 12, 31)
    elif rule.startswith("weekday:"):
        ahead = (int(rule.split(":")[1]) - today.weekday()) % 7
        day = today + timedelta(days=ahead or 7)
    elif rule.startswith("date:"):
        month, dom = map(int, rule.split(":")[1].split("-"))
        day = date(today.year, month, dom)
        if day < today:
            day = date(today.year + 1, month, dom)
    elif rule == "month_end":
        day = date(today.year + today.month // 12, today.month % 12 + 1, 1) - timedelta(days=1)
    elif rule == "tomorrow":
        day = today + timedelta(days=1)
    else:
        raise AssertionError(rule)
    while not working(day):
        day -= timedelta(days=1)
    return day


@pytest.mark.parametrize("today", DICTATION_DAYS, ids=str)
def test_every_shared_case_on_each_dictation_day(staffed, today):
    by_id = {u.id: name for name, u in staffed.items()}
    failures = []
    for case in CASES:
        parsed = dictation.parsed_json(dictation.read(staffed["exec1"], case["text"], "ru", on=today))
        got = {
            "executors": [by_id[e["id"]] for e in parsed["executors"]],
            "deadline": parsed["deadline"],
            "ambiguous": [a["said"] for a in parsed["ambiguous"]],
        }
        deadline = expected_deadline(case["deadline"], today)
        want = {"executors": case["executors"], "deadline": deadline and deadline.isoformat(),
                "ambiguous": case["ambiguous"]}
        if got != want:
            failures.append((case["id"], case["text"], got, want))
    assert failures == []


def test_the_calendar_cases_land_where_the_decree_says(staffed):
    """Spot checks of the rules above on the days that matter, written out by hand."""
    assert expected_deadline("+5d", date(2026, 10, 30)) == date(2026, 11, 3)
    exec1 = staffed["exec1"]

    def deadline(text, on):
        return dictation.read(exec1, text, "ru", on=on).deadline

    assert deadline("Смирновой подготовить ответ до конца месяца", date(2026, 12, 2)) == date(2026, 12, 30)
    assert deadline("Смирновой подготовить ответ в течение двух рабочих дней", date(2026, 12, 30)) == date(2027, 1, 12)
    assert deadline("Смирновой подготовить ответ в пятидневный срок", date(2026, 10, 30)) == date(2026, 11, 3)
    assert deadline("Смирновой подготовить ответ до 20 декабря", date(2026, 12, 2)) == date(2026, 12, 18)
    assert deadline("Смирновой подготовить ответ до пятницы", date(2026, 11, 27)) == date(2026, 12, 4)
    assert deadline("Смирновой подготовить ответ до пятницы", date(2026, 11, 26)) == date(2026, 11, 27)


def test_what_is_left_is_the_instruction(staffed):
    exec1 = staffed["exec1"]
    on = date(2026, 11, 23)

    def read(text):
        return dictation.parsed_json(dictation.read(exec1, text, "ru", on=on))

    first = read("Хабибуллину и Смирновой подготовить предложения к совещанию до пятницы")
    assert first["text"] == "Подготовить предложения к совещанию"
    assert [e["said"] for e in first["executors"]] == ["Хабибуллину", "Смирновой"]
    assert first["deadline_said"] == "до пятницы"
    assert read("Орловой Анне Викторовне для сведения")["text"] == "Для сведения"
    assert read("Садыковой срок месяц, подготовить график")["text"] == "Подготовить график"
    assert read("Ответственный — Валиев, соисполнители Смирнова и Хабибуллин. Срок 10 дней.")["text"] == ""
    asked = read("Прошу Марата Айдаровича проверить резервные копии завтра")
    assert asked["text"] == "Прошу проверить резервные копии"
    assert asked["executors"][0]["said"] == "Марата Айдаровича"


def test_ambiguous_names_list_their_candidates_and_choose_no_one(staffed):
    parsed = dictation.parsed_json(dictation.read(staffed["exec1"], "Петрову подготовить отчёт", "ru",
                                                  on=date(2026, 11, 23)))
    assert parsed["executors"] == []
    assert [c["id"] for c in parsed["ambiguous"][0]["candidates"]] == [staffed["petrov_d"].id, staffed["petrov_i"].id]
    # «Петровой» is a woman: only Петрова О.С. fits, the two men do not.
    her = dictation.read(staffed["exec1"], "Петровой подготовить отчёт", "ru", on=date(2026, 11, 23))
    assert [p.id for p, _ in her.executors] == [staffed["clerk1"].id] and her.ambiguous == []


def test_people_of_another_organization_are_unmatched_never_chosen(staffed):
    # Зарипов and Волкова work in the other organization of the demo.
    parsed = dictation.parsed_json(dictation.read(staffed["exec1"], "Зарипову и Волковой подготовить справку",
                                                  "ru", on=date(2026, 11, 23)))
    assert parsed["executors"] == [] and parsed["unmatched"] == ["Зарипову", "Волковой"]
    assert parsed["text"] == "Подготовить справку"


def test_a_language_without_a_parser_keeps_the_text_as_it_is(staffed):
    text = "홍길동 보고서 준비 금요일까지"
    parsed = dictation.parsed_json(dictation.read(staffed["exec1"], text, "ko", on=date(2026, 11, 23)))
    assert parsed == {"text": text, "executors": [], "deadline": None, "deadline_said": None,
                      "deadline_span": None, "ambiguous": [], "unmatched": [], "suggested_deadline": None}


def test_a_letter_unicode_has_no_name_for_is_read_as_no_one(staffed):
    """pymorphy3 raises ValueError on such a letter (it asks unicodedata.name whether it is Latin)."""
    tangut = "\U00018259"
    parsed = dictation.parsed_json(dictation.read(staffed["exec1"], f"{tangut}у и Смирновой ответить {tangut} завтра",
                                                  "ru", on=date(2026, 11, 23)))
    assert [e["said"] for e in parsed["executors"]] == ["Смирновой"]
    assert parsed["deadline"] == "2026-11-24" and parsed["text"] == f"{tangut}у и ответить {tangut}"
    # The dictation's phrase list reads every name in the directory, whatever letters an import brought.
    assert parsing.addressed_forms("ru", f"Иванов{tangut}", f"Иван{tangut}") == [f"Иванов{tangut}"]
