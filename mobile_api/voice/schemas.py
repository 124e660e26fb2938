"""Request and response schemas of voice resolutions."""
from marshmallow import Schema, fields, validate

from domain.documents import MAX_FILES
from domain.voice import MAX_PHRASE_CHARS, MAX_PHRASES
from domain.voice_reports import SEND_WHEN
from models.voice import PHRASE_MODES, VOICE_STATES

from ..directory.schemas import SuggestedDeadline
from ..fields import Id, UtcTime
from ..openapi import NONBLANK_TEXT_PATTERN
from ..schemas import BINARY_PART, PageArgs, ResolutionSchema


class VoiceQueued(Schema):
    resolution_id = Id()
    voice_note_id = Id()
    status = fields.String(metadata={"enum": ["queued"]})


class WordSchema(Schema):
    word = fields.String()
    start = fields.Float()
    end = fields.Float()
    conf = fields.Float(metadata={"description": "the word's share of the recogniser's n-best alternatives, 0..1"})
    review = fields.Boolean(metadata={"description": "check this word: the recogniser may have got it wrong"})
    reason = fields.String(allow_none=True, metadata={
        "description": "why it is marked: phrase (fits no phrase of the list), alternatives (the recogniser's "
                       "alternatives disagree), confidence (under VOICE_REVIEW_CONFIDENCE)"})
    corrected_from = fields.String(metadata={
        "description": "present when the word was corrected automatically from the author's earlier corrections: "
                       "what the recogniser heard (`transcript` keeps it)"})


class VoiceNoteSchema(Schema):
    id = Id()
    status = fields.String(metadata={"enum": list(VOICE_STATES)})
    duration_s = fields.Float(allow_none=True)
    transcript = fields.String(allow_none=True,
                               metadata={"description": "the recogniser's original text, never edited"})
    words = fields.List(fields.Nested(WordSchema), attribute="words_shown", allow_none=True, metadata={
        "description": "the words with the author's learned corrections applied (see `corrected_from`)"})
    error = fields.String(allow_none=True)
    language = fields.String()
    mime = fields.String()
    created_at = UtcTime()
    suggested_deadline = fields.Nested(SuggestedDeadline, allow_none=True, metadata={
        "description": "the dictation named executors but no deadline: the organization's default term, offered "
                       "to the author; the draft's own deadline stays empty until someone sets it"})
    task_id = Id(allow_none=True, metadata={"description": "a dictated report: the task it reports on"})
    send = fields.String(allow_none=True, metadata={
        "enum": list(SEND_WHEN), "description": "a dictated report: how its transcript is sent"})


class ReviewQueuePage(Schema):
    items = fields.List(fields.Nested(ResolutionSchema))
    next_cursor = fields.String(allow_none=True)


class VoiceSettings(Schema):
    phrase_mode = fields.String(required=True, validate=validate.OneOf(PHRASE_MODES),
                                metadata={"description": "templates: dictate only the organization's templates"})
    templates = fields.List(fields.String(), dump_only=True)


class LanguageSchema(Schema):
    code = fields.String(required=True, metadata={"example": "ko", "description": "language code of the model"})
    default = fields.Boolean(required=True, metadata={"description": "used when an upload names no language"})


class LanguagePage(Schema):
    items = fields.List(fields.Nested(LanguageSchema), required=True)


class Language(fields.String):
    """A language a speech model is configured for (the contract lists them: `openapi.field_schema`)."""


class VoiceUploadForm(Schema):
    audio = fields.Raw(required=True, metadata={**BINARY_PART, "description": "m4a/AAC, Ogg/Opus, WebM/Opus, MP3, "
                                                "WAV, FLAC, AMR...: recognised from its bytes"})
    language = Language(metadata={"description": "a configured model (GET /voice/languages); default VOICE_LANGUAGE"})
    author = Id(metadata={"description": "an assistant dictates a draft for an executive they serve"})
    phrases = fields.List(
        fields.String(validate=validate.Length(1, MAX_PHRASE_CHARS), metadata={"pattern": NONBLANK_TEXT_PATTERN}),
        validate=validate.Length(1, MAX_PHRASES),
        metadata={"description": "recognise only these phrases, one part per phrase (a single part holding a JSON "
                                 "array is read too); every word must be in the model's vocabulary, else 422 "
                                 "out_of_vocabulary"})


class VoiceReportForm(Schema):
    audio = fields.Raw(required=True, metadata={**BINARY_PART, "description": "the recorded report, in any format "
                                                "a voice resolution takes"})
    language = Language(metadata={"description": "a configured model (GET /voice/languages); default VOICE_LANGUAGE"})
    phrases = VoiceUploadForm().fields["phrases"]
    send = fields.String(validate=validate.OneOf(SEND_WHEN), metadata={
        "description": "review (the default): the transcript waits for the executor to correct it and send it with "
                       "POST /tasks/{id}/report `{voice_note_id, text}`; on_transcribed: it is sent as the report as "
                       "soon as it is ready (if the task still takes a report)"})
    file = fields.List(fields.Raw(metadata=BINARY_PART), validate=validate.Length(max=MAX_FILES),
                       metadata={"description": "files of the report, kept until it is sent; one part per file"})


class VoiceReportQueued(Schema):
    voice_note_id = Id(metadata={"description": "GET /voice-notes/{id} for the transcript when it is ready"})
    task_id = Id()
    send = fields.String(metadata={"enum": list(SEND_WHEN)})
    status = fields.String(metadata={"enum": ["queued"]})


__all__ = ["VoiceReportForm", "VoiceReportQueued",
           "LanguagePage", "PageArgs", "ReviewQueuePage", "VoiceNoteSchema", "VoiceQueued", "VoiceSettings",
           "WordSchema"]
