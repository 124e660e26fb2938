"""Deadlines as the regulations say them: «срочно» is three days, «оперативно» ten, «в месячный срок» a
month, in their usual forms; and a resolution for control said without a deadline is offered the
organization's default term, shown to the author as a suggestion and never set by itself."""
from datetime import date, datetime, timezone

import pytest
import sqlalchemy as sa

from domain import voice
from domain.parsing import ru
from models import InboxItem, Resolution, VoiceNote, db

MONDAY = date(2026, 11, 23)  # +3 is Thursday the 26th, +10 Thursday 3 December, a month 23 December


def said(text: str, today: date = MONDAY) -> tuple[date | None, str | None, str]:
    """The deadline, the words it was read from, and the instruction left."""
    parsed = ru.parse(text, today, lambda surnames, names: [])
    return parsed.deadline, parsed.deadline_span.said if parsed.deadline_span else None, parsed.text


@pytest.mark.parametrize(("text", "deadline", "words"), [
    ("Срочно подготовить ответ заявителю", date(2026, 11, 26), "Срочно"),
    ("Очень срочно подготовить ответ", date(2026, 11, 26), "Очень срочно"),
    ("Подготовить ответ в срочном порядке", date(2026, 11, 26), "в срочном порядке"),
    ("Рассмотреть в самом срочном порядке", date(2026, 11, 26), "в самом срочном порядке"),
    ("Срочное поручение: подготовить справку", date(2026, 11, 26), "Срочное"),
    ("Оперативно рассмотреть обращение", date(2026, 12, 3), "Оперативно"),
    ("Рассмотреть обращение в оперативном порядке", date(2026, 12, 3), "в оперативном порядке"),
    ("Оперативнейшим образом подготовить предложения", date(2026, 12, 3), "Оперативнейшим образом"),
    ("Подготовить ответ в месячный срок", date(2026, 12, 23), "в месячный срок"),
    ("Рассмотреть в течение месячного срока", date(2026, 12, 23), "в течение месячного срока"),
    ("Рассмотреть в пределах месячного срока со дня поступления", date(2026, 12, 23), "в пределах месячного срока"),
    ("Рассмотреть в двухмесячный срок", date(2027, 1, 22), "в двухмесячный срок"),
])
def test_the_regulations_words_state_a_term(text, deadline, words):
    found, span, rest = said(text)
    assert (found, span) == (deadline, words)
    assert words.lower() not in rest.lower()  # the instruction keeps what to do, not when


@pytest.mark.parametrize("text", ["Не срочно, подготовить справку", "Провести оперативное совещание",
                                  "Договор бессрочный, ознакомиться", "Несрочно: учесть в работе"])
def test_words_that_only_look_like_a_term_state_none(text):
    assert said(text)[0] is None


def test_a_deadline_said_outright_wins_over_urgency():
    assert said("Срочно подготовить ответ до 15.12")[:2] == (date(2026, 12, 15), "до 15.12")
    assert said("Оперативно, в течение двух рабочих дней")[:2] == (date(2026, 11, 25), "в течение двух рабочих дней")


def test_a_term_landing_on_a_day_off_moves_to_the_working_day_before():
    # Said on Thursday 24 December: +10 is 3 January (holidays), a month 24 January (a Sunday).
    assert said("Оперативно рассмотреть", date(2026, 12, 24))[0] == date(2026, 12, 30)
    assert said("Рассмотреть в месячный срок", date(2026, 12, 24))[0] == date(2027, 1, 22)
    assert said("Срочно рассмотреть", date(2026, 12, 24))[0] == date(2026, 12, 25)  # +3 is a Sunday


def parse(api, text: str, **extra) -> dict:
    resp = api.post("/resolutions/parse", json={"text": text, "on": "2026-11-23", **extra})
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def test_a_resolution_for_control_without_a_deadline_is_offered_the_organizations_term(login, demo):
    exec1 = login("exec1")
    answer = parse(exec1, "Хабибуллину подготовить ответ заявителю")
    assert answer["deadline"] is None  # not set: offered
    assert answer["suggested_deadline"] == {
        "deadline": "2026-12-23", "reason": "organization_default", "months": 1,
        "explanation": "Срок не назван. Для поручения на контроле предлагается срок организации по умолчанию: 1 мес."}

    demo["exec1"].organization.default_term_months = 2  # the organization's own default
    db.session.commit()
    assert parse(exec1, "Хабибуллину подготовить ответ")["suggested_deadline"]["deadline"] == "2027-01-22"


NOT_OWED = [
    ("Хабибуллину подготовить ответ в месячный срок", {}),  # a deadline was said
    ("Хабибуллину для сведения", {}),  # for information
    ("Ознакомить Хабибуллина", {}),
    ("Подготовить ответ", {}),  # nobody to do it: no resolution for control yet
    ("Хабибуллину подготовить ответ", {"control": False}),  # the author says: for information
]


def test_no_suggestion_where_no_deadline_is_owed_and_one_where_control_is_said(login, demo):
    exec1 = login("exec1")
    assert {text: parse(exec1, text, **extra)["suggested_deadline"] for text, extra in NOT_OWED} == \
        dict.fromkeys(text for text, _ in NOT_OWED)
    # Control said by the author: a term is offered even before anyone is named.
    assert parse(exec1, "Подготовить ответ", control=True)["suggested_deadline"]["deadline"] == "2026-12-23"


def test_a_dictated_draft_keeps_no_deadline_and_its_voice_note_offers_one(login, demo):
    exec1 = demo["exec1"]
    doc = db.session.scalar(sa.select(InboxItem).where(InboxItem.user_id == exec1.id)).document_id
    from domain import access
    res = voice.dictate(exec1, access.get_document(exec1, doc), "0" * 64, 1000, "wav", 4.0, "ru", None)
    db.session.get(VoiceNote, res.voice_note_id).created_at = datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc)
    db.session.commit()
    text = "хабибуллину подготовить ответ заявителю"
    voice.record_transcript(res.voice_note_id, text, [{"word": w, "start": i, "end": i + 0.5, "conf": 0.9}
                                                     for i, w in enumerate(text.split())], 3.0)
    db.session.commit()

    assert db.session.get(Resolution, res.id).deadline is None
    note = login("exec1").get(f"/voice-notes/{res.voice_note_id}").get_json()
    assert note["suggested_deadline"]["deadline"] == "2026-12-23"
    assert note["suggested_deadline"]["reason"] == "organization_default"
