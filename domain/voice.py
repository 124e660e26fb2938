"""Dictated resolutions: accept a recording, queue its transcription, record what was heard.

The web layer checks and stores the recording (mobile_api/voice/upload.py); these rules commit the
resolution, its voice note and its job together, and record what the worker heard.
"""
import json
from collections.abc import Sequence

import sqlalchemy as sa
from flask import current_app

from models import Document, Job, Resolution, User, VoiceNote, audit, db
from models.base import lock as lock_row
from models.blobstore import blobs
from models.voice import PHRASE_MODES, ResolutionTemplate, VoicePreference

from . import access, corrections, dictation, inbox, paging, parsing, substitutions
from . import resolutions as rules
from .errors import ApiError, not_found
from .notify import notify

JOB_KIND = "transcribe"
# Workers LISTEN on this channel; the upload's NOTIFY is delivered when its transaction commits.
CHANNEL = "transcription_jobs"
MAX_PHRASES, MAX_PHRASE_CHARS = 500, 200
MIME = {
    "wav": "audio/wav", "w64": "audio/x-w64", "mp4": "audio/mp4", "3gp": "audio/3gpp", "mov": "audio/mp4",
    "ogg": "audio/ogg", "webm": "audio/webm", "matroska": "audio/x-matroska", "mp3": "audio/mpeg",
    "aac": "audio/aac", "flac": "audio/flac", "amr": "audio/amr", "aiff": "audio/aiff", "caf": "audio/x-caf",
    "asf": "audio/x-ms-asf",
}


def parse_phrases(raw: str | None) -> list[str] | None:
    """The `phrases` form field: a JSON array of strings, or None when absent."""
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = None
    if (not isinstance(value, list) or not 0 < len(value) <= MAX_PHRASES
            or not all(isinstance(p, str) and 0 < len(p.strip()) <= MAX_PHRASE_CHARS for p in value)):
        raise ApiError(422, "validation_failed", "The request did not pass validation.",
                       {"phrases": [f"A JSON array of 1 to {MAX_PHRASES} non-empty strings "
                                    f"of at most {MAX_PHRASE_CHARS} characters."]})
    return list(dict.fromkeys(" ".join(p.split()) for p in value))


def phrase_mode(user: User) -> str:
    pref = db.session.get(VoicePreference, user.id)
    return pref.phrase_mode if pref else "free"


def set_phrase_mode(user: User, mode: str) -> None:
    assert mode in PHRASE_MODES, mode
    pref = db.session.get(VoicePreference, user.id)
    if pref is None:
        db.session.add(VoicePreference(user_id=user.id, phrase_mode=mode))
    else:
        pref.phrase_mode = mode


def templates(organization_id: int) -> list[str]:
    """The organization's stock resolution phrases, in their order."""
    return list(db.session.scalars(
        sa.select(ResolutionTemplate.text).where(ResolutionTemplate.organization_id == organization_id)
        .order_by(ResolutionTemplate.position, ResolutionTemplate.id)))


def phrases_for(user: User, given: list[str] | None, language: str | None = None) -> list[str] | None:
    """Phrases sent with the upload win; else the templates if the user dictates in that mode; else free.

    In templates mode, the names of the people the user dictates to join the phrases when the
    recording's language is one the resolution parser reads (names in another language's model
    would only be unknown words to it).
    """
    if given is not None:
        return given
    if phrase_mode(user) == "templates":
        names = dictation.name_phrases(user) if language in parsing.languages() else []
        return (templates(user.organization_id) + names) or None
    return None


def dictate(author: User, doc: Document, sha: str, size: int, audio_format: str, duration_s: float, language: str,
            phrases: Sequence[str] | None, by: User | None = None) -> Resolution:
    """A resolution being transcribed from a stored recording, with its voice note and job. `by` is an
    assistant dictating a draft for the author (domain.drafts): note and draft are the author's (learned
    corrections stay per author) and the draft names the assistant as its drafter; once transcribed it
    is reviewed as any of the author's dictations, then goes to the author."""
    note = VoiceNote(document_id=doc.id, author_id=author.id, sha256=sha,
                     mime=MIME.get(audio_format.split("/")[0], "application/octet-stream"), size=size,
                     language=language, phrases=list(phrases) if phrases else None, status="queued",
                     duration_s=round(duration_s, 3))
    db.session.add(note)
    db.session.flush()
    res = rules.create(author, doc, "", [], None, status="transcribing", by=by)
    res.voice_note_id = note.id
    enqueue(note, resolution_id=res.id)
    return res


def enqueue(note: VoiceNote, **ids: int) -> None:
    """Owe the note's transcription to the worker: a durable job, committed with the caller's transaction.
    `ids` say what the note is for (a resolution, or a task's report); the worker reads only the note."""
    db.session.add(Job(kind=JOB_KIND, payload={"voice_note_id": note.id, **ids}))
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(sa.text(f"NOTIFY {CHANNEL}"))


def may_dictate(user: User, doc: Document) -> None:
    """Whoever may write a resolution on the document may dictate one (403 otherwise)."""
    rules.resolver_task(user, doc)


def retry(user: User, res: Resolution) -> Resolution:
    """Put a failed dictation back into the queue: once, however many retries arrive together."""
    res = lock_row(Resolution, res.id)  # the state is checked and changed under the row lock
    if not access.may_edit_resolution(user, res):
        raise not_found("resolution")
    note = db.session.get(VoiceNote, res.voice_note_id) if res.voice_note_id else None
    if note is None:
        raise ApiError(409, "invalid_state", "Only a dictated resolution is transcribed again.")
    rules.move(res, "transcribing")
    note.status, note.error = "queued", None
    enqueue(note, resolution_id=res.id)
    audit.record(user.organization_id, user.id, "resolution.transcription_retried", "resolution", res.id)
    return res


def get_note(user: User, note_id: int | None) -> VoiceNote:
    """A voice note of a resolution the user may edit (its author or their assistant), of a draft of a
    principal the user acts for now (resolutions scope: they issue it in the author's name), or of a
    dictated report (its executor; once sent, whoever may read the task); else 404."""
    note = db.session.get(VoiceNote, note_id) if note_id else None
    if note is not None and note.task_id is not None:
        from . import voice_reports  # it builds on this module
        if not voice_reports.may_read_note(user, note):
            raise not_found("voice note")
        return note
    res = note and db.session.scalar(sa.select(Resolution).where(Resolution.voice_note_id == note.id))
    if res is None or not (access.may_edit_resolution(user, res) or (
            res.status in rules.EDITABLE and res.author_id in substitutions.principals_of(user, "resolutions"))):
        raise not_found("voice note")
    return note


def review_queue(user: User, limit: int, cursor: str | None = None) -> dict:
    """Dictated drafts of the executives this user serves that wait for review, newest first."""
    bosses = [e.id for e in user.executives]
    query = sa.select(Resolution).where(Resolution.author_id.in_(bosses), Resolution.status == "awaiting_review"
                                        ).options(*rules.AS_LISTED)
    rows, next_cursor = paging.newest_first(query, Resolution.created_at, Resolution.id, limit, cursor)
    return {"items": rows, "next_cursor": next_cursor}


def drafts_to_issue(user: User, limit: int, cursor: str | None = None) -> dict:
    """An executive's own drafts not yet issued (reviewed by their assistant, or still waiting), newest first."""
    query = sa.select(Resolution).where(Resolution.author_id == user.id,
                                        Resolution.status.in_(("awaiting_review", "reviewed"))
                                        ).options(*rules.AS_LISTED)
    rows, next_cursor = paging.newest_first(query, Resolution.created_at, Resolution.id, limit, cursor)
    return {"items": rows, "next_cursor": next_cursor}


# Words marked for review in the words a reviewer sees (the corrected ones where any were applied), counted
# by the database: a queue page never decodes the words of every draft on it.
_FLAGGED_SQL = {
    "postgresql": """SELECT n.id, (SELECT count(*) FROM json_array_elements(CASE
        WHEN json_typeof(n.corrected_words) = 'array' THEN n.corrected_words
        WHEN json_typeof(n.words) = 'array' THEN n.words ELSE '[]'::json END) AS e
        WHERE e->>'review' = 'true') FROM voice_notes AS n WHERE n.id = ANY(:ids)""",
    "sqlite": """SELECT n.id, (SELECT count(*) FROM json_each(CASE
        WHEN json_type(n.corrected_words) = 'array' THEN n.corrected_words
        WHEN json_type(n.words) = 'array' THEN n.words ELSE '[]' END)
        WHERE json_extract(value, '$.review') = 1)
        FROM voice_notes AS n WHERE n.id IN (SELECT value FROM json_each(:ids))""",
}


def flagged_counts(note_ids: set[int]) -> dict[int, int]:
    """How many words of each voice note are marked for review."""
    if not note_ids:
        return {}
    dialect = db.session.get_bind().dialect.name
    ids = sorted(note_ids)
    rows = db.session.execute(sa.text(_FLAGGED_SQL[dialect]),
                              {"ids": ids if dialect == "postgresql" else json.dumps(ids)})
    return dict(rows.all())


# The worker's side: plain ids in, rows changed in the caller's transaction.

def begin(note_id: int) -> VoiceNote:
    """The worker took the note's job."""
    note = db.session.get(VoiceNote, note_id)
    note.status, note.error = "processing", None
    return note


def recording_path(note: VoiceNote) -> str:
    """A file on this machine with the recording (a cached download when blobs live in an object store)."""
    try:
        return str(blobs().local_path(note.sha256))
    except FileNotFoundError:
        raise FileNotFoundError("the recording is missing from the blob store") from None


def record_transcript(note_id: int, text: str, words: list[dict], duration_s: float) -> None:
    """Keep what the recogniser heard and hand the draft to whoever reviews it."""
    review_below = current_app.config["VOICE_REVIEW_CONFIDENCE"]
    note = db.session.get(VoiceNote, note_id)
    note.status, note.error, note.transcript, note.duration_s = "transcribed", None, text, round(duration_s, 3)
    note.words = [_with_review(w, review_below) for w in words]
    if note.task_id is not None:
        from . import voice_reports  # it builds on this module
        voice_reports.transcribed(note)
        return
    res = _resolution_of(note)
    if res is None or res.status != "transcribing":
        return
    res.text = text
    dictation.fill_draft(res, note)  # suggested text, executors and deadline; names to check marked
    corrections.apply(note, res)  # the author's earlier corrections: beside the original words, and in the draft
    rules.move(res, "awaiting_review")
    reviewers = access.reviewers_of(res.author_id)
    inbox.deliver(reviewers, res.document, "review", res.author.short_name)
    for reviewer in reviewers:
        notify("review_requested", reviewer, res.document_id, resolution_id=res.id, voice_note_id=note.id)


def _with_review(word: dict, review_below: float) -> dict:
    """The recogniser's review mark (transcription/marks.py) stands; a confidence under the bar adds one."""
    if word.get("review") or word["conf"] >= review_below:
        return {**word, "review": bool(word.get("review"))}
    return {**word, "review": True, "reason": "confidence"}


def record_failure(note_id: int, reason: str) -> None:
    """The recording cannot be transcribed: say why, and tell its author."""
    note = db.session.get(VoiceNote, note_id)
    note.status, note.error = "failed", reason[:500]
    if note.task_id is not None:
        from . import voice_reports  # it builds on this module
        voice_reports.failed(note)
        return
    res = _resolution_of(note)
    if res is not None and res.status == "transcribing":
        rules.move(res, "failed")
        notify("transcription_failed", res.author_id, res.document_id, resolution_id=res.id, voice_note_id=note.id)


def _resolution_of(note: VoiceNote) -> Resolution | None:
    return db.session.scalar(sa.select(Resolution).where(Resolution.voice_note_id == note.id))
