"""Uploads the pipeline was not tuned on (benchmarks/voice_heldout.py): accepted, refused, and marked."""
from __future__ import annotations

import json

import pytest

from .conftest import AUDIO, document_of, upload

HELDOUT = AUDIO / "heldout"
PHRASES = json.loads((HELDOUT / "manifest.json").read_text("utf-8"))["phrase_list"]
TEXT = {e["file"]: e.get("text") for e in json.loads((HELDOUT / "manifest.json").read_text("utf-8"))["files"]}
EXPECTED = {
    "s02_ko-m1_opus_6k.ogg": (202, None),  # Opus at 6 kbit/s, as messengers record: was a 415
    "s00_ko-m5_opus_8k.ogg": (202, None),
    "s00_ko-f1_amr_4.amr": (202, None),  # AMR-NB
    "s00_ko-f4_white_5db.wav": (202, None),  # speech at 5 dB SNR: was a 422 no_speech
    "noise_brown.flac": (422, "no_speech"),  # used to pass for speech
    "noise_white_opus_8k.ogg": (422, "no_speech"),
    "garbage_header_only.ogg": (415, "unsupported_audio"),
    "garbage_text.mp3": (415, "unsupported_audio"),
}


def test_uploads_are_refused_only_when_bad(login):
    exec1 = login("exec1")
    doc = document_of(exec1)
    for name, (status, code) in EXPECTED.items():
        resp = upload(exec1, doc, HELDOUT / name)
        assert resp.status_code == status, (name, resp.get_json())
        if code:
            assert (resp.get_json()["code"], resp.mimetype) == (code, "application/problem+json"), name


@pytest.mark.slow
def test_a_wrong_phrase_list_draft_shows_its_marks(login, worker):
    """A sentence outside the phrase list comes out as some list words: the voice note says which to check."""
    exec1 = login("exec1")
    name = "s10_ko-f4_opus_12k.ogg"
    body = upload(exec1, document_of(exec1), HELDOUT / name, phrases=json.dumps(PHRASES, ensure_ascii=False))
    assert body.status_code == 202, body.get_json()
    assert worker() == 1
    note = exec1.get(f"/voice-notes/{body.get_json()['voice_note_id']}").get_json()
    assert note["status"] == "transcribed" and note["transcript"] != TEXT[name]
    marked = [w for w in note["words"] if w["review"]]
    assert marked and all(w["reason"] in ("phrase", "alternatives", "confidence") for w in marked)
    assert all(w.get("reason") is None for w in note["words"] if not w["review"])
