"""Drafts that learn from corrections, with the real model: an executive's next transcript comes out corrected."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from domain import corrections
from models import VoiceNote, db
from models.corrections import LearnedCorrection

from .conftest import AUDIO, MANIFEST, document_of, upload

pytestmark = pytest.mark.slow
CLIP = next(c for c in MANIFEST["clips"] if c["id"] == "review")
HEARD = CLIP["files"]["wav"]["free_result"]  # what the model makes of the synthetic voice in free mode
MEANT = CLIP["text"]


def _dictate(api, worker, clip: str = "review") -> tuple[dict, dict]:
    body = upload(api, document_of(api), AUDIO / f"{clip}.wav").get_json()
    assert worker() == 1
    note = api.get(f"/voice-notes/{body['voice_note_id']}").get_json()
    return body, note


def _review(assistant, res_id: str, text: str | None = None) -> None:
    if text is not None:
        assert assistant.patch(f"/resolutions/{res_id}", json={"text": text}).status_code == 200
    assert assistant.post(f"/resolutions/{res_id}/reviewed").status_code == 200


@pytest.mark.timeout(900)  # five dictations through the real model: slow on a busy machine
def test_a_correction_applies_to_the_same_executives_next_draft_only(app, login, worker):
    app.config["CORRECTIONS_CONFIRMATIONS"] = 2
    exec1, assistant, minister = login("exec1"), login("assistant1"), login("minister")
    assert HEARD != MEANT

    first, note = _dictate(exec1, worker)
    assert note["transcript"] == HEARD and not any("corrected_from" in w for w in note["words"])
    _review(assistant, first["resolution_id"], MEANT + ".")  # punctuation is not a correction of its own

    # The same words heard again: corrected automatically, still marked, the original kept.
    second, note = _dictate(exec1, worker)
    assert note["transcript"] == HEARD
    fixed = [w for w in note["words"] if "corrected_from" in w]
    assert [(w["word"], w["corrected_from"], w["review"]) for w in fixed] == [(MEANT, HEARD, True)]
    assert fixed[0]["start"] == pytest.approx(note["words"][0]["start"])
    draft = assistant.get(f"/resolutions/{second['resolution_id']}").get_json()
    assert draft["text"] == MEANT
    queue = assistant.get("/review-queue").get_json()["items"]
    assert queue[0]["text"] == MEANT

    # The same clip from another executive is left alone.
    stranger_body, stranger_note = _dictate(minister, worker)
    assert stranger_note["transcript"] == HEARD
    assert not any("corrected_from" in w for w in stranger_note["words"])
    assert minister.get(f"/resolutions/{stranger_body['resolution_id']}").get_json()["text"] == HEARD

    # Confirmed (kept at review) as often as configured: no longer marked for review.
    _review(assistant, second["resolution_id"])
    third, note = _dictate(exec1, worker)
    assert [(w["word"], w["review"]) for w in note["words"] if "corrected_from" in w] == [(MEANT, False)]

    # Undone twice (the heard words left in the reviewed text): the correction no longer outnumbers them.
    _review(assistant, third["resolution_id"], HEARD)
    fourth, note = _dictate(exec1, worker)
    assert any("corrected_from" in w for w in note["words"])  # 2 confirmations against 1 undo
    _review(assistant, fourth["resolution_id"], HEARD)
    recorded = db.session.get(VoiceNote, int(fourth["voice_note_id"]))
    again = VoiceNote(author_id=recorded.author_id, transcript=recorded.transcript, words=recorded.words)
    corrections.apply(again)  # the same words heard a fifth time: two confirmations against two undos
    assert again.corrected_words is None


def test_reviewing_a_draft_again_replaces_what_it_taught(app, login, worker, demo):
    """A draft sent back to review and reviewed again counts once, with its final text."""
    from domain import resolutions as rules
    from models import Resolution

    exec1, assistant = login("exec1"), login("assistant1")
    first, _ = _dictate(exec1, worker)
    _review(assistant, first["resolution_id"], MEANT)
    res = db.session.get(Resolution, int(first["resolution_id"]))
    rules.move(res, "awaiting_review")
    db.session.commit()
    _review(assistant, first["resolution_id"], "검토 바랍니다")
    rows = {(r.heard, r.meant): r.times for r in db.session.scalars(
        sa.select(LearnedCorrection).where(LearnedCorrection.executive_id == demo["exec1"].id))}
    assert rows.get((HEARD, MEANT), 0) == 0
    assert rows[(HEARD, "검토 바랍니다")] == 1


def test_learned_runs_are_replaced_in_a_draft_with_its_punctuation_kept():
    best = {"그럼 저 하시 요": ("검토 하세요", 1), "노바": ("문서", 2)}
    assert corrections.correct_text("«그럼 저 하시 요.» Ещё: Нова, НОВА", best) == "«검토 하세요.» Ещё: Нова, НОВА"
    assert corrections.correct_text("이 로써 노바, 여하", best) == "이 로써 문서, 여하"
    assert corrections.correct_text("그럼 저 — 하시 요", best) == "그럼 저 — 하시 요"  # not the same run


def test_manual_changes_counts_words_to_change():
    assert corrections.manual_changes("그럼 저 하시 요", "검토 하세요") == 4
    assert corrections.manual_changes("검토 하세요", "검토 하세요.") == 0
    assert corrections.manual_changes("이 에 사교육 확인 하세요", "예산 을 확인 하세요") == 3
