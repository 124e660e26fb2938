"""Dictated reports: the executor of a task records the report on the phone.

The recording goes through the same pipeline as a dictated resolution (domain/voice.py): a voice note
and a durable transcription job committed together, the same worker, the same queue, so a worker killed
mid-job or a database outage delays it and loses nothing. When the transcript is ready the executor is
told (push `report_transcribed`) and either corrects it and sends the report
(`POST /tasks/{id}/report` with `voice_note_id`), or, having asked for `send=on_transcribed`, finds it
sent by itself (push `report_dictation_sent`). Either way the report is made by domain.control.report,
under its rules (only the executor, only an open controlled task), and the recording becomes the
report's first file, for the controller to check the text against. A task reported, accepted or
withdrawn meanwhile keeps the transcript and refuses the report with 409 and its state.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from werkzeug.datastructures import FileStorage

from models import Task, TaskReport, User, VoiceNote, audit, db

from . import access, control, voice
from .documents import MAX_FILES, store_upload
from .errors import ApiError
from .notify import notify

SEND_WHEN = ("review", "on_transcribed")


def may_dictate(user: User, task_id: int | None) -> Task:
    """The user's own open controlled task, checked before the recording is read (404 / 409)."""
    task = access.get_task(user, task_id)
    control.reportable(task)
    return task


def dictate(user: User, task_id: int | None, sha: str, size: int, audio_format: str, duration_s: float,
            language: str, phrases: Sequence[str] | None, files: list[FileStorage], send: str) -> VoiceNote:
    """A report being transcribed from a stored recording: its voice note (with the files uploaded with it,
    kept for the report) and its transcription job, in the caller's transaction."""
    assert send in SEND_WHEN, send
    task = access.get_task(user, task_id, lock=True)  # checked again under the lock (domain.control's order)
    control.reportable(task)
    if len(files) > MAX_FILES:
        raise ApiError(422, "validation_failed", "Too many files.", {"file": [f"At most {MAX_FILES} files."]})
    note = VoiceNote(document_id=task.document_id, author_id=user.id, sha256=sha,
                     mime=voice.MIME.get(audio_format.split("/")[0], "application/octet-stream"), size=size,
                     language=language, phrases=list(phrases) if phrases else None, status="queued",
                     duration_s=round(duration_s, 3), task_id=task.id, send=send,
                     files=[store_upload(f) for f in files] or None)
    db.session.add(note)
    db.session.flush()
    voice.enqueue(note, task_id=task.id)
    audit.record(user.organization_id, user.id, "task.report_dictated", "task", task.id,
                 voice_note_id=str(note.id), send=send)
    return note


def may_read_note(user: User, note: VoiceNote) -> bool:
    """The executor reads their recording and its transcript; once a report carries it, so does whoever
    may read the task (the controller checks the text against the audio)."""
    if user.id == note.author_id:
        return True
    sent = db.session.scalar(sa.select(sa.exists().where(TaskReport.voice_note_id == note.id)))
    return bool(sent) and control.may_read_task(user, note.task_id)


# The worker's side, in its transaction (domain.voice.record_transcript / record_failure).

def transcribed(note: VoiceNote) -> None:
    """The transcript is ready: sent as the report when the executor asked for it and the task still
    takes one, else left as the executor's draft; the executor is told which."""
    sent = False
    if note.send == "on_transcribed" and (note.transcript or "").strip():
        user = db.session.get(User, note.author_id)
        try:
            # Every refusal of control.report comes before it writes anything: nothing is left half-done.
            control.report(user, note.task_id, note.transcript.strip()[:4000], [], voice_note_id=note.id)
            sent = True
        except ApiError:
            pass  # reported, accepted or withdrawn meanwhile: the transcript stays, as a draft
    notify("report_dictation_sent" if sent else "report_transcribed", note.author_id, note.document_id,
           task_id=note.task_id, voice_note_id=note.id)


def failed(note: VoiceNote) -> None:
    """The recording cannot be transcribed: its executor is told (the reason is on the note)."""
    notify("report_transcription_failed", note.author_id, note.document_id, task_id=note.task_id,
           voice_note_id=note.id)
