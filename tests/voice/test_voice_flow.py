"""Voice resolutions end to end with the real model and ffmpeg: upload, worker, review, issue."""
from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from models import OutboxMessage, Resolution, Task, User, VoiceNote, db
from models.voice import ResolutionTemplate

from .conftest import AUDIO, MANIFEST, bare_words, document_of, jobs, note_of, upload

pytestmark = pytest.mark.slow
PHRASES = json.dumps(MANIFEST["phrase_list"], ensure_ascii=False)
# Exact in phrase-list mode: every .wav, and the lossy files of the clips the engine hears exactly in all
# five formats. (Borderline lossy files, e.g. reject.webm, flip between runs: Kaldi dithers its input.)
ROBUST = {clip["id"] for clip in MANIFEST["clips"] if all(f["phrase_list_exact"] for f in clip["files"].values())}
EXACT = [(clip, ext) for clip in MANIFEST["clips"] for ext, f in clip["files"].items()
         if ext == "wav" or (clip["id"] in ROBUST and f["phrase_list_exact"])]


def test_phrase_list_mode_is_exact_through_http_and_worker(login, worker):
    exec1 = login("exec1")
    doc = document_of(exec1)
    sent = []
    for clip, ext in EXACT:
        resp = upload(exec1, doc, AUDIO / clip["files"][ext]["file"], phrases=PHRASES)
        assert resp.status_code == 202, resp.get_json()
        assert resp.get_json()["status"] == "queued"
        sent.append((clip, ext, resp.get_json()))
    assert worker(threads=2) == len(EXACT)
    for clip, ext, body in sent:
        note = exec1.get(f"/voice-notes/{body['voice_note_id']}").get_json()
        assert (note["status"], note["transcript"]) == ("transcribed", clip["text"]), (clip["id"], ext)
        assert [w["word"] for w in note["words"]] == clip["text"].split()
        assert note["duration_s"] == pytest.approx(clip["files"][ext]["seconds"], abs=0.01)
        res = exec1.get(f"/resolutions/{body['resolution_id']}").get_json()
        assert (res["status"], res["text"]) == ("awaiting_review", clip["text"])


def test_free_mode_equals_bare_vosk(login, worker, reseed, models):
    """Through upload, queue and worker, free mode gives exactly the words of a bare recogniser."""
    exec1 = login("exec1")
    doc = document_of(exec1)
    # Four clips keep the two-database suite short; the library's tests cover all nine at pipeline level.
    for clip in [c for c in MANIFEST["clips"] if c["id"] in ("review", "confirmed", "reject", "budget")]:
        path = AUDIO / f"{clip['id']}.wav"
        body = upload(exec1, doc, path).get_json()
        reseed()
        worker(threads=1)
        note = exec1.get(f"/voice-notes/{body['voice_note_id']}").get_json()
        reseed()
        expected = bare_words(models, path)
        assert [(w["word"], w["start"], w["end"]) for w in note["words"]] == expected, clip["id"]
        assert note["transcript"] == " ".join(w for w, _, _ in expected)


BAD = {
    "empty.m4a": (415, "unsupported_audio"), "random_bytes.m4a": (415, "unsupported_audio"),
    "truncated.m4a": (415, "unsupported_audio"), "picture_named.ogg": (415, "unsupported_audio"),
    "text_named.wav": (415, "unsupported_audio"), "silence_5s.wav": (422, "no_speech"),
    "white_noise_5s.wav": (422, "no_speech"),
}


def test_bad_recordings_are_refused_at_upload(login, app):
    exec1 = login("exec1")
    doc = document_of(exec1)
    assert sorted(BAD) == sorted(p.name for p in (AUDIO / "bad").iterdir())
    for name, (status, code) in BAD.items():
        resp = upload(exec1, doc, AUDIO / "bad" / name)
        assert (resp.status_code, resp.get_json()["code"]) == (status, code), name
        assert resp.mimetype == "application/problem+json"
        assert "/" not in resp.get_json()["detail"]  # no path of ours reaches a client
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Resolution)
                             .where(Resolution.voice_note_id.is_not(None))) == 0
    assert jobs() == []


def test_bad_recordings_in_the_queue_fail_readably_and_the_worker_goes_on(login, worker, demo, app):
    """Recordings that slipped past upload (an older server, a damaged blob) end failed, each with a reason."""
    from domain import voice
    from models import Document
    from models.blobstore import blobs

    exec1 = login("exec1")
    doc = db.session.get(Document, int(document_of(exec1)))
    author = demo["exec1"]
    bad = []
    for name in sorted(BAD):
        with open(AUDIO / "bad" / name, "rb") as f:
            sha, size = blobs().put(f)
        bad.append(voice.dictate(author, doc, sha, size, "wav", 0.0, "ko", None).id)
    db.session.commit()
    good = upload(exec1, doc.id, AUDIO / "review.wav", phrases=PHRASES).get_json()
    assert worker(threads=2) == len(bad) + 1
    for res_id in bad:
        res = db.session.get(Resolution, res_id)
        note = db.session.get(VoiceNote, res.voice_note_id)
        assert (res.status, note.status) == ("failed", "failed")
        assert note.error and note.error.endswith(".") and "/" not in note.error
        view = exec1.get(f"/voice-notes/{note.id}").get_json()
        assert view["status"] == "failed" and view["error"] == note.error
    assert note_of(good["resolution_id"]).transcript == "검토 하세요"
    failed_events = db.session.scalars(sa.select(OutboxMessage).where(OutboxMessage.event == "transcription_failed"))
    assert sorted(int(m.payload["resolution_id"]) for m in failed_events) == sorted(bad)
    assert all(j.status in ("done", "failed") and j.attempts == 1 for j in jobs())

    # The author asks again: the dictation is queued once more (and fails again, readably).
    again = exec1.post(f"/resolutions/{bad[0]}/retry")
    assert again.status_code == 200 and again.get_json()["status"] == "transcribing"
    assert exec1.post(f"/resolutions/{bad[0]}/retry").status_code == 409
    note_id = db.session.get(Resolution, bad[0]).voice_note_id
    assert exec1.get(f"/voice-notes/{note_id}").get_json()["status"] == "queued"
    assert worker() == 1
    assert db.session.get(Resolution, bad[0]).status == "failed"


def test_limits_and_form_validation(login, app):
    exec1 = login("exec1")
    doc = document_of(exec1)
    app.config["VOICE_MAX_SECONDS"] = 2
    resp = upload(exec1, doc, AUDIO / "review_report.wav")
    assert (resp.status_code, resp.get_json()["code"]) == (422, "audio_too_long")
    assert "2 seconds" in resp.get_json()["detail"]
    app.config["VOICE_MAX_BYTES"] = 10_000
    resp = upload(exec1, doc, AUDIO / "review.wav")
    assert (resp.status_code, resp.get_json()["code"]) == (413, "payload_too_large")
    app.config["VOICE_MAX_BYTES"] = 20 * 2**20
    for fields, field in (({"phrases": "[]"}, "phrases"), ({"phrases": "not json"}, "phrases"),
                          ({"phrases": "[1]"}, "phrases"), ({"language": "xx"}, "language")):
        resp = upload(exec1, doc, AUDIO / "review.wav", **fields)
        assert resp.status_code == 422 and field in resp.get_json()["errors"], fields
    resp = exec1.post(f"/documents/{doc}/voice-resolutions", data={"language": "ko"},
                      content_type="multipart/form-data")
    assert resp.status_code == 422 and "audio" in resp.get_json()["errors"]
    # An employee without a task here may not resolve; a stranger's document does not exist.
    assert upload(login("employee2"), doc, AUDIO / "review.wav").status_code in (403, 404)
    assert upload(login("exec2"), doc, AUDIO / "review.wav").status_code == 404
    assert jobs() == []


def test_templates_mode_uses_the_organization_phrases(login, worker, demo):
    exec1 = login("exec1")
    org = demo["exec1"].organization_id
    db.session.add_all([ResolutionTemplate(organization_id=org, text=t, position=i)
                        for i, t in enumerate(MANIFEST["phrase_list"])])
    db.session.commit()
    assert exec1.get("/me/voice-settings").get_json()["phrase_mode"] == "free"
    resp = exec1.put("/me/voice-settings", json={"phrase_mode": "templates"})
    assert resp.get_json() == {"phrase_mode": "templates", "templates": MANIFEST["phrase_list"]}
    body = upload(exec1, document_of(exec1), AUDIO / "budget.wav").get_json()
    assert note_of(body["resolution_id"]).phrases == MANIFEST["phrase_list"]
    worker()
    assert note_of(body["resolution_id"]).transcript == "예산 을 확인 하세요"


def test_retried_upload_with_the_same_key_makes_one_resolution(login, worker):
    exec1 = login("exec1")
    doc = document_of(exec1)
    first = upload(exec1, doc, AUDIO / "friday.m4a", key="dictation-1", phrases=PHRASES)
    again = upload(exec1, doc, AUDIO / "friday.m4a", key="dictation-1", phrases=PHRASES)
    assert first.status_code == again.status_code == 202
    assert first.get_json() == again.get_json() and again.headers["Idempotent-Replayed"] == "true"
    other = upload(exec1, doc, AUDIO / "reject.m4a", key="dictation-1", phrases=PHRASES)
    assert (other.status_code, other.get_json()["code"]) == (409, "idempotency_conflict")
    assert len(jobs()) == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(VoiceNote)) == 1
    assert worker() == 1


def _second_assistant(demo) -> None:
    """assistant2 serves the minister, not exec1."""
    from werkzeug.security import generate_password_hash

    from tests.conftest import DEMO_PASSWORD

    a2 = User(organization_id=demo["exec1"].organization_id, username="assistant2", name="Сидорова Анна",
              short_name="Сидорова А.", role_list="assistant", password_hash=generate_password_hash(DEMO_PASSWORD),
              units=list(demo["assistant1"].units))
    a2.executives = [demo["minister"]]
    db.session.add(a2)
    db.session.commit()


def test_full_flow_upload_worker_review_issue(login, worker, demo, client):
    _second_assistant(demo)
    exec1, assistant, stranger = login("exec1"), login("assistant1"), login("assistant2")
    doc = document_of(exec1)
    body = upload(exec1, doc, AUDIO / "review_contract.wav", key="k1", phrases=PHRASES).get_json()
    res_id, note_id = body["resolution_id"], body["voice_note_id"]
    assert exec1.get(f"/resolutions/{res_id}").get_json()["status"] == "transcribing"
    assert exec1.get(f"/voice-notes/{note_id}").get_json()["status"] == "queued"
    assert assistant.get("/review-queue").get_json()["items"] == []
    worker()

    # The assistant is told, and finds the draft in the review queue and the inbox.
    queue = assistant.get("/review-queue").get_json()
    assert [r["id"] for r in queue["items"]] == [res_id] and queue["next_cursor"] is None
    assert queue["items"][0]["text"] == "계약서 를 검토 하세요"
    review_items = assistant.get("/inbox?view=action").get_json()["items"]
    assert [(i["document_id"], i["kind"]) for i in review_items] == [(doc, "review")]
    told = db.session.scalars(sa.select(OutboxMessage).where(OutboxMessage.event == "review_requested")).all()
    assert [(m.user_id, m.payload["resolution_id"]) for m in told] == [(demo["assistant1"].id, res_id)]

    # The voice note: ETag and 304, the recording with Range.
    note = assistant.get(f"/voice-notes/{note_id}")
    assert note.status_code == 200 and note.headers["ETag"]
    assert all({"word", "start", "end", "conf", "review"} <= set(w) for w in note.get_json()["words"])
    assert assistant.get(f"/voice-notes/{note_id}", headers={"If-None-Match": note.headers["ETag"]}).status_code == 304
    whole = (AUDIO / "review_contract.wav").read_bytes()
    part = assistant.get(f"/voice-notes/{note_id}/audio", headers={"Range": "bytes=0-99"})
    assert part.status_code == 206 and part.data == whole[:100] and part.mimetype == "audio/wav"
    assert assistant.get(f"/voice-notes/{note_id}/audio").data == whole

    # An assistant of another executive sees nothing of it.
    assert stranger.get("/review-queue").get_json()["items"] == []
    for call in (stranger.get(f"/voice-notes/{note_id}"), stranger.get(f"/voice-notes/{note_id}/audio"),
                 stranger.get(f"/resolutions/{res_id}"), stranger.patch(f"/resolutions/{res_id}", json={"text": "x"}),
                 stranger.post(f"/resolutions/{res_id}/reviewed"), stranger.post(f"/resolutions/{res_id}/retry")):
        assert call.status_code == 404, call.request.path

    # The assistant corrects the draft (kept as a revision) and hands it back.
    fixed = assistant.patch(f"/resolutions/{res_id}", json={
        "text": "Прошу проверить договор", "executors": [str(demo["employee1"].id)]}).get_json()
    assert fixed["revisions"] == 1 and fixed["text"] == "Прошу проверить договор"
    assert assistant.post(f"/resolutions/{res_id}/reviewed").get_json()["status"] == "reviewed"
    assert assistant.get("/review-queue").get_json()["items"] == []
    assert assistant.post(f"/resolutions/{res_id}/issue").status_code == 403  # only the author issues

    issued = exec1.post(f"/resolutions/{res_id}/issue")
    assert issued.status_code == 200 and issued.get_json()["status"] == "issued"
    tasks = db.session.scalars(sa.select(Task).where(Task.resolution_id == int(res_id))).all()
    assert [(t.executor_id, t.text) for t in tasks] == [(demo["employee1"].id, "Прошу проверить договор")]
    # The recogniser's own words stay on the voice note whatever the draft became.
    assert exec1.get(f"/voice-notes/{note_id}").get_json()["transcript"] == "계약서 를 검토 하세요"
    assert db.session.get(Resolution, int(res_id)).revisions[0].changes["text"][0] == "계약서 를 검토 하세요"


def test_review_queue_pages_by_keyset(login, worker):
    exec1, assistant = login("exec1"), login("assistant1")
    doc = document_of(exec1)
    made = [upload(exec1, doc, AUDIO / "confirmed.wav", phrases=PHRASES).get_json()["resolution_id"]
            for _ in range(3)]
    worker(threads=2)
    seen, cursor = [], None
    while True:
        page = assistant.get("/review-queue?limit=2" + (f"&cursor={cursor}" if cursor else "")).get_json()
        seen += [r["id"] for r in page["items"]]
        if not (cursor := page["next_cursor"]):
            break
    assert seen == made[::-1]
    assert assistant.get("/review-queue?cursor=garbage").status_code == 400


def test_missing_model_is_a_clear_start_up_error(app, tmp_path):
    app.config["VOSK_MODELS"] = f"ru={tmp_path / 'no-such-model'}"
    result = app.test_cli_runner().invoke(args=["transcription-worker", "--once"])
    assert result.exit_code == 1 and "No Vosk model at" in result.output


def test_openapi_covers_the_voice_routes(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    for path in ("/api/v1/documents/{document_id}/voice-resolutions", "/api/v1/voice-notes/{note_id}",
                 "/api/v1/voice-notes/{note_id}/audio", "/api/v1/review-queue",
                 "/api/v1/resolutions/{resolution_id}/retry"):
        assert path in paths, path
