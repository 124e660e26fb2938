"""A Vosk model loaded once, and single-pass recognition of 16 kHz mono s16le PCM."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import vosk

from transcription.audio import BYTES_PER_SECOND, SAMPLE_RATE

# Vosk checks for an endpoint once per AcceptWaveform call, so the feed size shapes utterance
# boundaries and can change words: keep it fixed (0.25 s, as in Vosk's own examples).
CHUNK_BYTES = 4000 * 2
UNKNOWN = "[unk]"


class ModelError(RuntimeError):
    """The configured Vosk model is missing or cannot be loaded."""


@dataclass(frozen=True)
class Word:
    """One recognised word with its start and end in seconds and Vosk's confidence (0..1)."""

    word: str
    start: float
    end: float
    conf: float

    def shifted(self, seconds: float) -> Word:
        """The same word, moved later by `seconds`."""
        return replace(self, start=round(self.start + seconds, 6), end=round(self.end + seconds, 6))


@dataclass(frozen=True)
class Transcript:
    """What was said: the text, its words with timings, and the audio's length."""

    text: str
    words: list[Word] = field(default_factory=list)
    duration_s: float = 0.0


class SpeechModel:
    """A Vosk model loaded once by path, to be shared by threads (Vosk releases the GIL)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        if not (self.path / "am").is_dir() and not (self.path / "conf").is_dir():
            raise ModelError(f"No Vosk model at {self.path}: set the model path to an unpacked model "
                             "directory (it holds am/, conf/ and graph/).")
        try:
            self.vosk_model = vosk.Model(str(self.path))
        except Exception as exc:  # vosk raises a bare Exception when Kaldi refuses the files
            raise ModelError(f"The Vosk model at {self.path} could not be loaded: {exc}") from exc

    def knows(self, word: str) -> bool:
        """Whether the word is in the model's vocabulary."""
        return self.vosk_model.vosk_model_find_word(word) != -1

    def grammar(self, phrases: Sequence[str]) -> str:
        """A Vosk grammar for the phrases, with "[unk]" to absorb other speech if the model has it."""
        # Models without "[unk]" log a warning for it on every recogniser: leave it out for them.
        extra = [UNKNOWN] if self.knows(UNKNOWN) else []
        return json.dumps([*phrases, *extra], ensure_ascii=False)


def transcribe(model: SpeechModel, pcm: bytes, phrases: Sequence[str] | None = None) -> Transcript:
    """Recognise 16 kHz mono s16le PCM in one pass; with `phrases`, only those phrases can come out."""
    args = [model.grammar(phrases)] if phrases else []
    rec = vosk.KaldiRecognizer(model.vosk_model, SAMPLE_RATE, *args)  # one per recording: it holds state
    rec.SetWords(True)
    words: list[Word] = []
    for i in range(0, len(pcm), CHUNK_BYTES):
        if rec.AcceptWaveform(pcm[i:i + CHUNK_BYTES]):
            words += _words(rec.Result())
    words += _words(rec.FinalResult())
    return Transcript(" ".join(w.word for w in words), words, len(pcm) / BYTES_PER_SECOND)


def _words(result: str) -> list[Word]:
    """Words of one Vosk result JSON."""
    return [Word(w["word"], w["start"], w["end"], w["conf"]) for w in json.loads(result).get("result", [])]
