"""A finished transcript fills its draft: text, executors and deadline, with the words they came from."""
from datetime import datetime, timezone

import sqlalchemy as sa

from domain import voice
from models import InboxItem, Resolution, VoiceNote, db
from models.voice import ResolutionTemplate


def dictated(staffed, said_on: datetime, language: str = "ru") -> Resolution:
    exec1 = staffed["exec1"]
    doc = db.session.scalar(sa.select(InboxItem).where(InboxItem.user_id == exec1.id)).document_id
    from domain import access
    res = voice.dictate(exec1, access.get_document(exec1, doc), "0" * 64, 1000, "wav", 4.0, language, None)
    db.session.get(VoiceNote, res.voice_note_id).created_at = said_on
    db.session.commit()
    return res


def words_of(text: str, low: set[int] = frozenset()) -> list[dict]:
    return [{"word": w, "start": i * 0.5, "end": i * 0.5 + 0.4, "conf": 0.3 if i in low else 0.95}
            for i, w in enumerate(text.split())]


def test_a_transcript_becomes_a_draft_with_executors_deadline_and_marked_names(staffed, app):
    # Friday 27 November 2026, 20:30 in Moscow (17:30 UTC): «до пятницы» is the next Friday.
    res = dictated(staffed, datetime(2026, 11, 27, 17, 30, tzinfo=timezone.utc))
    text = "хабибуллину и смирновой и петрову подготовить отчет до пятницы и зарипову тоже"
    voice.record_transcript(res.voice_note_id, text, words_of(text, low={4}), 4.0)
    db.session.commit()
    db.session.expire_all()
    res, note = db.session.get(Resolution, res.id), db.session.get(VoiceNote, res.voice_note_id)
    assert res.status == "awaiting_review"
    assert res.text == "Подготовить отчет тоже"
    assert [u.username for u in res.executors] == ["employee1", "employee2"]
    assert res.deadline == datetime(2026, 12, 4, 20, 59, 59, tzinfo=timezone.utc)  # 23:59:59 in Moscow
    s = note.suggestions
    assert [(e["said"], e["words"]) for e in s["executors"]] == [("хабибуллину", [0, 0]), ("смирновой", [2, 2])]
    assert (s["deadline"], s["deadline_said"], s["deadline_words"]) == ("2026-12-04", "до пятницы", [7, 8])
    assert [(a["said"], a["words"], len(a["candidates"])) for a in s["ambiguous"]] == [("петрову", [4, 4], 2)]
    assert s["unmatched"] == [{"said": "зарипову", "words": [10, 10]}]
    marks = {i: (w["review"], w.get("reason")) for i, w in enumerate(note.words)}
    assert marks[4] == (True, "ambiguous_name") and marks[10] == (True, "unknown_name")
    assert marks[0] == (False, None) and marks[5] == (False, None)
    assert note.transcript == text  # what was heard is kept as it was


def test_a_language_without_a_parser_keeps_the_transcript_as_the_text(staffed, app):
    res = dictated(staffed, datetime(2026, 11, 27, 9, 0, tzinfo=timezone.utc), language="ko")
    text = "예산 을 확인 하세요"
    voice.record_transcript(res.voice_note_id, text, words_of(text), 2.0)
    db.session.commit()
    res = db.session.get(Resolution, res.id)
    assert (res.text, res.executors, res.deadline) == (text, [], None)


def test_names_join_the_phrase_list_in_templates_mode_for_russian_only(staffed, app):
    exec1 = staffed["exec1"]
    db.session.add(ResolutionTemplate(organization_id=exec1.organization_id, text="Для сведения", position=0))
    voice.set_phrase_mode(exec1, "templates")
    db.session.commit()
    russian = voice.phrases_for(exec1, None, "ru")
    assert russian[0] == "Для сведения"
    # exec1's own unit: the minister and the assistant, named as listed and in the dative.
    assert {"Сафин", "Сафину", "Миннуллина", "Миннуллиной"} <= set(russian)
    assert "Зарипову" not in russian  # another organization
    assert voice.phrases_for(exec1, None, "ko") == ["Для сведения"]
    assert voice.phrases_for(exec1, ["только это"], "ru") == ["только это"]
