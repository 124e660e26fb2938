"""Dictated reports with the real model and worker: the executor records the report, the worker transcribes
it in the voice resolutions' queue, the executor corrects and sends it (or it is sent when transcribed),
and the controller reads it beside the recording."""
from __future__ import annotations

import io
import json
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from domain import voice
from models import Document, Job, OutboxMessage, TaskReport, VoiceNote, db
from models.blobstore import blobs
from models.queue import claim

from .conftest import AUDIO, MANIFEST

pytestmark = pytest.mark.slow
PHRASES = json.dumps(MANIFEST["phrase_list"], ensure_ascii=False)
[REVIEW] = [clip for clip in MANIFEST["clips"] if clip["id"] == "review"]
CLIP = AUDIO / "review.wav"  # exact in phrase-list mode
DEADLINE = (datetime.now(timezone.utc) + timedelta(days=10)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _issue(author, executor) -> tuple[str, str]:
    """A controlled resolution with one executor; (resolution id, the executor's task id)."""
    doc = db.session.scalar(sa.select(Document.id).where(Document.reg_number.like("МЦР-1/%")))
    resp = author.post(f"/documents/{doc}/resolutions", json={
        "text": "Подготовить ответ заявителю", "executors": [str(executor.id)], "deadline": DEADLINE, "issue": True})
    assert resp.status_code == 201, resp.get_json()
    res = resp.get_json()
    [task] = [t for t in author.get(f"/resolutions/{res['id']}/execution").get_json()["tasks"]]
    return res["id"], task["task"]["id"]


def _dictate(api, task_id, key=None, path=CLIP, files=(), **fields):
    with open(path, "rb") as f:
        data = {"audio": (f, path.name), **{k: v for k, v in {"phrases": PHRASES, **fields}.items() if v is not None},
                "file": [(io.BytesIO(body), name, mime) for name, mime, body in files]}
        return api.post(f"/tasks/{task_id}/voice-report", data=data, content_type="multipart/form-data",
                        headers={"Idempotency-Key": key} if key else {})


def _pushes(event, user) -> list[dict]:
    return [m.payload for m in db.session.scalars(sa.select(OutboxMessage).where(
        OutboxMessage.event == event, OutboxMessage.user_id == user.id).order_by(OutboxMessage.id))]


def _refused(resp, status, code, state=None):
    body = resp.get_json()
    assert resp.status_code == status and body["code"] == code, body
    if state is not None:
        assert body["state"] == state, body


def _task_in(tree: dict, task_id: str) -> dict:
    return next(t for t in tree["tasks"] if t["task"]["id"] == task_id)


def _notes(task_id) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(VoiceNote).where(VoiceNote.task_id == int(task_id)))


def test_a_dictated_report_is_corrected_sent_and_checked_against_its_recording(login, demo, worker):
    exec1, emp1 = login("exec1"), login("employee1")
    res_id, task_id = _issue(exec1, demo["employee1"])
    pdf = ("Расчёт.pdf", "application/pdf", b"%PDF-1.4 calculation")

    queued = _dictate(emp1, task_id, key="report-1", files=[pdf])
    assert queued.status_code == 202, queued.get_json()
    body = queued.get_json()
    assert (body["task_id"], body["send"], body["status"]) == (task_id, "review", "queued")
    note_url = f"/voice-notes/{body['voice_note_id']}"
    assert queued.headers["Location"].endswith(note_url)
    # A retry with the same key (the phone lost the answer) replays it: one recording, one job.
    again = _dictate(emp1, task_id, key="report-1", files=[pdf])
    assert (again.status_code, again.get_json()) == (202, body)
    assert _notes(task_id) == 1
    assert [j.payload for j in db.session.scalars(sa.select(Job).where(Job.kind == "transcribe"))] == [
        {"voice_note_id": int(body["voice_note_id"]), "task_id": int(task_id)}]
    assert exec1.get(note_url).status_code == 404  # nothing sent yet: the recording is the executor's

    assert worker() == 1
    note = emp1.get(note_url).get_json()
    assert (note["status"], note["transcript"], note["task_id"]) == ("transcribed", REVIEW["text"], task_id)
    assert [p["voice_note_id"] for p in _pushes("report_transcribed", demo["employee1"])] == [body["voice_note_id"]]
    task = emp1.get("/tasks?view=open").get_json()["items"]
    assert [t["status"] for t in task if t["id"] == task_id] == ["open"]  # a draft until the executor sends it

    # The executor corrects the transcript and sends it with the recording's id.
    sent = emp1.post(f"/tasks/{task_id}/report", json={"voice_note_id": body["voice_note_id"],
                                                      "text": "Ответ подготовлен, расчёт приложен"})
    assert sent.status_code == 200, sent.get_json()
    [entry] = sent.get_json()["reports"]
    assert sent.get_json()["status"] == "reported" and entry["text"] == "Ответ подготовлен, расчёт приложен"
    assert (entry["voice_note_id"], entry["transcript"]) == (body["voice_note_id"], REVIEW["text"])
    assert [(f["name"], f["mime"]) for f in entry["files"]] == [
        (f"report-{body['voice_note_id']}.wav", "audio/wav"), ("Расчёт.pdf", "application/pdf")]
    assert entry["recording"] == entry["files"][0]["id"]
    assert _pushes("report_submitted", demo["exec1"])[-1]["task_id"] == task_id

    # The controller finds it in the execution tree and listens to the recording beside the text.
    [seen] = _task_in(exec1.get(f"/resolutions/{res_id}/execution").get_json(), task_id)["reports"]
    assert seen == entry
    audio = exec1.get(f"/tasks/{task_id}/reports/{entry['id']}/files/{entry['recording']}")
    assert audio.status_code == 200 and audio.data == CLIP.read_bytes()
    assert audio.mimetype == "audio/wav" and audio.headers["X-Content-Type-Options"] == "nosniff"
    assert audio.headers["Content-Security-Policy"].startswith("sandbox")
    assert exec1.get(note_url).get_json()["transcript"] == REVIEW["text"]
    assert exec1.get(f"{note_url}/audio").data == CLIP.read_bytes()
    assert login("exec2").get(f"{note_url}/audio").status_code == 404
    # What the executor's phone lists carries the same report (the tasks' fast read path).
    [listed] = [t for t in emp1.get("/tasks?view=open").get_json()["items"] if t["id"] == task_id]
    assert listed["reports"] == [entry]

    # Returned for rework: the same recording goes with one report only.
    exec1.post(f"/tasks/{task_id}/return", json={"comment": "Уточнить сроки"})
    _refused(emp1.post(f"/tasks/{task_id}/report", json={"voice_note_id": body["voice_note_id"], "text": "x"}),
             409, "invalid_state", "sent")


def test_sent_when_transcribed_unless_the_task_moved_on_meanwhile(login, demo, worker):
    exec1, emp1 = login("exec1"), login("employee1")
    res_id, task_id = _issue(exec1, demo["employee1"])
    auto = _dictate(emp1, task_id, send="on_transcribed").get_json()
    assert worker() == 1
    [entry] = _task_in(exec1.get(f"/resolutions/{res_id}/execution").get_json(), task_id)["reports"]
    assert (entry["text"], entry["voice_note_id"], entry["outcome"]) == (REVIEW["text"], auto["voice_note_id"], None)
    assert [f["mime"] for f in entry["files"]] == ["audio/wav"]
    assert [p["voice_note_id"] for p in _pushes("report_dictation_sent", demo["employee1"])] == [auto["voice_note_id"]]
    assert _pushes("report_transcribed", demo["employee1"]) == []

    # Returned; dictated again to be sent when transcribed, but the executor types the report first: the
    # transcript stays, the worker sends nothing, and sending it by hand is refused with the task's state.
    exec1.post(f"/tasks/{task_id}/return", json={"comment": "Дополнить"})
    late = _dictate(emp1, task_id, send="on_transcribed").get_json()
    assert emp1.post(f"/tasks/{task_id}/report", json={"text": "Дополнено"}).status_code == 200
    assert worker() == 1
    assert emp1.get(f"/voice-notes/{late['voice_note_id']}").get_json()["transcript"] == REVIEW["text"]
    reports = _task_in(exec1.get(f"/resolutions/{res_id}/execution").get_json(), task_id)["reports"]
    assert [r["text"] for r in reports] == [REVIEW["text"], "Дополнено"]
    assert [p["voice_note_id"] for p in _pushes("report_transcribed", demo["employee1"])] == [late["voice_note_id"]]
    _refused(emp1.post(f"/tasks/{task_id}/report", json={"voice_note_id": late["voice_note_id"], "text": "x"}),
             409, "invalid_state", "reported")

    # Withdrawn: the task is done, and a recording is refused before it is stored.
    exec1.post(f"/resolutions/{res_id}/withdraw", json={"reason": "Снято"})
    _refused(_dictate(emp1, task_id), 409, "invalid_state", "done")
    assert _notes(task_id) == 2


def test_only_the_executor_dictates_and_bad_input_writes_nothing(login, demo, worker):
    exec1, emp1 = login("exec1"), login("employee1")
    res_id, task_id = _issue(exec1, demo["employee1"])
    for other in ("exec1", "exec2", "employee2"):  # the controller, a stranger, a colleague: not their task
        _refused(_dictate(login(other), task_id), 404, "not_found")
    _refused(_dictate(emp1, task_id, path=AUDIO / "bad" / "random_bytes.m4a"), 415, "unsupported_audio")
    _refused(_dictate(emp1, task_id, send="later"), 422, "validation_failed")
    assert _notes(task_id) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Job).where(Job.kind == "transcribe")) == 0

    # Someone else's recording, or one of another task, cannot be sent as this report.
    _, other_task = _issue(exec1, demo["employee2"])
    theirs = _dictate(login("employee2"), other_task).get_json()
    _refused(emp1.post(f"/tasks/{task_id}/report", json={"voice_note_id": theirs["voice_note_id"], "text": "x"}),
             422, "validation_failed")
    assert emp1.get(f"/voice-notes/{theirs['voice_note_id']}").status_code == 404
    assert db.session.scalar(sa.select(sa.func.count()).select_from(TaskReport)) == 0


def test_a_recording_that_cannot_be_transcribed_tells_the_executor_who_still_reports(login, demo, worker, app):
    exec1, emp1 = login("exec1"), login("employee1")
    _, task_id = _issue(exec1, demo["employee1"])
    body = _dictate(emp1, task_id, send="on_transcribed").get_json()
    note = db.session.get(VoiceNote, int(body["voice_note_id"]))
    blobs().local_path(note.sha256).unlink()  # the stored recording is lost: the worker cannot read it
    app.config["TRANSCRIPTION_MAX_ATTEMPTS"] = 1
    assert worker() == 1
    shown = emp1.get(f"/voice-notes/{body['voice_note_id']}").get_json()
    assert shown["status"] == "failed" and "Try again later" in shown["error"]
    assert [p["voice_note_id"] for p in _pushes("report_transcription_failed", demo["employee1"])] == [
        body["voice_note_id"]]
    assert emp1.post(f"/tasks/{task_id}/report", json={"text": "Исполнено"}).get_json()["status"] == "reported"


def test_a_job_whose_worker_died_is_taken_again_and_sends_the_report_once(login, demo, worker):
    """The report's job is the voice queue's lease (tests/voice/test_worker_processes.py kills real worker
    processes): a worker that took it and died leaves a lease that runs out; the next worker takes it
    again and sends the report exactly once."""
    exec1, emp1 = login("exec1"), login("employee1")
    res_id, task_id = _issue(exec1, demo["employee1"])
    body = _dictate(emp1, task_id, send="on_transcribed").get_json()
    [job_id] = claim(Job, "died-mid-job", timedelta(seconds=-1), where=Job.kind == voice.JOB_KIND)
    voice.begin(int(body["voice_note_id"]))
    db.session.commit()
    assert worker() == 1
    job = db.session.get(Job, job_id)
    assert (job.status, job.attempts, job.lease_owner) == ("done", 2, None)
    [entry] = _task_in(exec1.get(f"/resolutions/{res_id}/execution").get_json(), task_id)["reports"]
    assert (entry["voice_note_id"], entry["text"]) == (body["voice_note_id"], REVIEW["text"])
    assert len(_pushes("report_submitted", demo["exec1"])) == 1
    assert len(_pushes("report_dictation_sent", demo["employee1"])) == 1
