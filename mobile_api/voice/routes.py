"""HTTP routes of voice resolutions; the rules live in domain/voice.py."""
from flask import current_app, g, request, url_for

from domain import access, assistant_rights, voice, voice_reports

from ..conditional import etagged
from ..errors import ApiError
from ..fields import parse_id
from ..files import send_blob, serves_file
from ..idempotency import idempotent
from ..openapi import LOCATION, declare, errors
from ..schemas import ResolutionSchema
from . import blp
from . import upload as recording
from .schemas import (
    LanguagePage,
    PageArgs,
    ReviewQueuePage,
    VoiceNoteSchema,
    VoiceQueued,
    VoiceReportForm,
    VoiceReportQueued,
    VoiceSettings,
    VoiceUploadForm,
)


@blp.route("/documents/<id:document_id>/voice-resolutions", methods=["POST"])
@idempotent
@declare(requestBody={"required": True, "content": {"multipart/form-data": {"schema": VoiceUploadForm}}})
@blp.response(202, VoiceQueued, headers=LOCATION)
@errors("forbidden", "payload_too_large", "unsupported_audio", "audio_too_long", "no_speech", "out_of_vocabulary",
        "validation_failed", "not_your_executive")
def upload(document_id):
    """Dictate a resolution: the recording is stored and queued for transcription. An assistant names with
    `author` an executive they serve to dictate a draft for them."""
    doc = access.get_document(g.user, document_id)
    author = assistant_rights.author_for(g.user, _author(request.form.get("author")))
    voice.may_dictate(author, doc)
    cfg = current_app.config
    if (request.content_length or 0) > cfg["VOICE_MAX_BYTES"] + 64 * 1024:  # refuse before reading it
        raise ApiError(413, "payload_too_large", f"Recordings are limited to {cfg['VOICE_MAX_BYTES'] // 2**20} MB.")
    audio, language = _recording_parts()
    given = voice.parse_phrases(recording.phrases_field(request.form.getlist("phrases")))
    phrases = voice.phrases_for(g.user, given, language)
    recording.check_vocabulary(language, phrases)
    sha, size, decoded = recording.store_recording(audio.stream)
    res = voice.dictate(author, doc, sha, size, decoded.format, decoded.duration_s, language, phrases,
                        by=None if author is g.user else g.user)
    body = {"resolution_id": res.id, "voice_note_id": res.voice_note_id, "status": "queued"}
    return body, 202, {"Location": url_for("voice.get_note", note_id=res.voice_note_id)}


@blp.route("/tasks/<id:task_id>/voice-report", methods=["POST"])
@idempotent
@declare(requestBody={"required": True, "content": {"multipart/form-data": {"schema": VoiceReportForm}}})
@blp.response(202, VoiceReportQueued, headers=LOCATION)
@errors("invalid_state", "payload_too_large", "unsupported_audio", "audio_too_long", "no_speech",
        "out_of_vocabulary", "validation_failed")
def voice_report(task_id):
    """The executor dictates the report on an open controlled task: the recording (with any `file` parts)
    is stored and transcribed as a dictated resolution is. When it is ready the executor is pushed
    `report_transcribed` and sends the corrected text with POST /tasks/{id}/report `{voice_note_id, text}`;
    with `send=on_transcribed` the transcript is sent as the report by itself (push `report_dictation_sent`).
    The recording becomes the report's first file, for the controller to listen to."""
    voice_reports.may_dictate(g.user, task_id)
    audio, language = _recording_parts()  # the request's size is capped by MAX_UPLOAD_BYTES, the recording's below
    send = request.form.get("send") or "review"
    if send not in voice_reports.SEND_WHEN:
        raise ApiError(422, "validation_failed", "The request did not pass validation.",
                       {"send": [f"One of: {', '.join(voice_reports.SEND_WHEN)}."]})
    phrases = voice.parse_phrases(recording.phrases_field(request.form.getlist("phrases")))
    recording.check_vocabulary(language, phrases)
    sha, size, decoded = recording.store_recording(audio.stream)
    note = voice_reports.dictate(g.user, task_id, sha, size, decoded.format, decoded.duration_s, language, phrases,
                                 request.files.getlist("file"), send)
    body = {"voice_note_id": note.id, "task_id": note.task_id, "send": send, "status": "queued"}
    return body, 202, {"Location": url_for("voice.get_note", note_id=note.id)}


def _recording_parts():
    """A dictation's multipart `audio` part and its `language` (default VOICE_LANGUAGE), or 422."""
    audio = request.files.get("audio")
    if audio is None:
        raise ApiError(422, "validation_failed", "The request did not pass validation.",
                       {"audio": ["Attach the recording as the multipart part `audio`."]})
    language = (request.form.get("language") or current_app.config["VOICE_LANGUAGE"]).strip().lower()
    if language not in recording.languages():
        raise ApiError(422, "validation_failed", "The request did not pass validation.",
                       {"language": [f"One of: {', '.join(recording.languages())}."]})
    return audio, language


def _author(raw: str | None) -> int | None:
    """The `author` form field: an executive's id, or absent."""
    if raw is None or raw == "":
        return None
    author_id = parse_id(raw.strip())
    if author_id is None:
        raise ApiError(422, "validation_failed", "The request did not pass validation.",
                       {"author": ["Not a valid id."]})
    return author_id


@blp.route("/voice-notes/<id:note_id>", methods=["GET"])
@etagged
@blp.response(200, VoiceNoteSchema)
def get_note(note_id):
    """A dictation's transcription: status, the original transcript, words with timings and confidence."""
    return voice.get_note(g.user, note_id)


@blp.route("/voice-notes/<id:note_id>/audio", methods=["GET"])
@blp.response(200, description="The original recording (Range supported: 206)")
@serves_file("audio/mp4", "audio/ogg", "audio/webm", "audio/mpeg", "audio/wav", "audio/aac", "audio/flac",
             "audio/amr", "audio/3gpp", "application/octet-stream", "audio/*")
def audio(note_id):
    """The original recording, with ETag and Range."""
    note = voice.get_note(g.user, note_id)
    return send_blob(note.sha256, note.mime, what="recording")


@blp.route("/resolutions/<id:resolution_id>/retry", methods=["POST"])
@idempotent
@blp.response(200, ResolutionSchema)
@errors("invalid_state")
def retry(resolution_id):
    """Transcribe a failed dictation again."""
    return voice.retry(g.user, access.get_resolution(g.user, resolution_id))


@blp.route("/review-queue", methods=["GET"])
@blp.arguments(PageArgs(), location="query")
@blp.response(200, ReviewQueuePage)
def review_queue(args):
    """Assistant: dictated drafts of the executives they serve that wait for review, newest first."""
    return voice.review_queue(g.user, args["limit"], args.get("cursor"))


@blp.route("/me/voice-settings", methods=["GET"])
@blp.response(200, VoiceSettings)
def get_settings():
    """How this user dictates, and the organization's templates."""
    return {"phrase_mode": voice.phrase_mode(g.user), "templates": voice.templates(g.user.organization_id)}


@blp.route("/me/voice-settings", methods=["PUT"])
@blp.arguments(VoiceSettings())
@blp.response(200, VoiceSettings)
def put_settings(body):
    """Dictate freely, or recognise only the organization's templates."""
    voice.set_phrase_mode(g.user, body["phrase_mode"])
    return {"phrase_mode": body["phrase_mode"], "templates": voice.templates(g.user.organization_id)}


@blp.route("/voice/languages", methods=["GET"])
@blp.response(200, LanguagePage)
def languages():
    """The recognition languages configured on this server; `default` is used when an upload names none."""
    default = current_app.config["VOICE_LANGUAGE"]
    return {"items": [{"code": code, "default": code == default} for code in recording.languages()]}
