"""One call from a recording on disk to a transcript, raising AudioError for what we refuse."""

from __future__ import annotations

import os
from collections.abc import Sequence

from transcription.audio import AudioError, decode
from transcription.recognizer import SpeechModel, Transcript
from transcription.speech import check_speech
from transcription.split import transcribe_long


def transcribe_file(model: SpeechModel, path: str | os.PathLike[str], phrases: Sequence[str] | None = None,
                    *, threads: int = 2, piece_s: float = 15.0, max_seconds: float = 600.0,
                    timeout_s: float = 120.0) -> Transcript:
    """Decode, check for speech, recognise (in parallel pieces when long); empty results are no_speech."""
    audio = decode(path, max_seconds=max_seconds, timeout_s=timeout_s)
    check_speech(audio.pcm)
    transcript = transcribe_long(model, audio.pcm, phrases, threads=threads, piece_s=piece_s)
    if not transcript.words:
        raise AudioError("no_speech", "No words could be recognised in the recording.")
    return transcript
