"""Check an uploaded recording while the phone is still listening, then store it.

The web process never loads a speech model: it decodes the upload once with ffmpeg to refuse what
cannot be transcribed (not audio, damaged, too long, silent) before anything is written.
"""
import json
import tempfile
from typing import BinaryIO

from flask import current_app

from domain.errors import ApiError
from models.blobstore import blobs
from transcription.audio import Audio, AudioError, decode
from transcription.registry import model_paths
from transcription.speech import check_speech
from transcription.vocabulary import VocabularyError, unknown_words

_STATUS = {"unsupported_audio": 415, "audio_too_long": 422, "no_speech": 422}


def languages() -> list[str]:
    """Languages a speech model is configured for (read from configuration; nothing is loaded)."""
    return sorted(model_paths(current_app.config["VOSK_MODELS"]))


def phrases_field(parts: list[str]) -> str | None:
    """The `phrases` form field as one JSON array: sent as such, or one phrase per repeated part (the
    OpenAPI default for an array in multipart, which generated clients use)."""
    if not parts:
        return None
    if len(parts) == 1 and parts[0].lstrip().startswith("["):
        return parts[0]
    return json.dumps(parts, ensure_ascii=False)


def check_vocabulary(language: str, phrases: list[str] | None, field: str = "phrases") -> None:
    """Refuse phrases the language's model cannot recognise (Vosk would silently drop those words)."""
    if not phrases:
        return
    try:
        missing = unknown_words(model_paths(current_app.config["VOSK_MODELS"])[language], phrases)
    except (KeyError, VocabularyError, OSError):
        return  # a model without a readable word list: the worker still drops unknown words, as before
    if missing:
        shown = ", ".join(missing[:20]) + (", ..." if len(missing) > 20 else "")
        raise ApiError(422, "out_of_vocabulary",
                       f"The {language} speech model does not know these words, so the phrases cannot be "
                       f"recognised: {shown}.", {field: [f"Unknown to the {language} model: {shown}."]})


def store_recording(stream: BinaryIO) -> tuple[str, int, Audio]:
    """Check an uploaded recording and store it durably; returns (sha256, size, decoded audio).

    The upload is spooled to a private temporary file first so that what we refuse never
    reaches the content-addressed store.
    """
    cfg = current_app.config
    limit = cfg["VOICE_MAX_BYTES"]
    with tempfile.NamedTemporaryFile(prefix="voice-") as spool:
        size = 0
        while chunk := stream.read(1024 * 1024):
            size += len(chunk)
            if size > limit:
                raise ApiError(413, "payload_too_large", f"Recordings are limited to {limit // (1024 * 1024)} MB.")
            spool.write(chunk)
        spool.flush()
        try:
            audio = decode(spool.name, max_seconds=cfg["VOICE_MAX_SECONDS"], timeout_s=cfg["VOICE_DECODE_TIMEOUT_S"])
            check_speech(audio.pcm)
        except AudioError as exc:
            raise ApiError(_STATUS.get(exc.code, 422), exc.code, exc.reason) from None
        spool.seek(0)
        sha, size = blobs().put(spool)
    return sha, size, audio
