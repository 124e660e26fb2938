"""A Vosk model loaded once, and single-pass recognition of 16 kHz mono s16le PCM."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import vosk

from transcription import marks
from transcription.audio import BYTES_PER_SECOND, SAMPLE_RATE

# Vosk checks for an endpoint once per AcceptWaveform call, so the feed size shapes utterance
# boundaries and can change words: keep it fixed (0.25 s, as in Vosk's own examples).
CHUNK_BYTES = 4000 * 2
UNKNOWN = "[unk]"


class ModelError(RuntimeError):
    """The configured Vosk model is missing or cannot be loaded."""


@dataclass(frozen=True)
class Word:
    """One recognised word: start and end in seconds, confidence (0..1), and whether to check it and why.

    `conf` is the word's share of the engine's n-best alternatives (see transcription.marks);
    `review` marks the words an assistant should check, `reason` says what gave them away.
    """

    word: str
    start: float
    end: float
    conf: float
    review: bool = False
    reason: str | None = None

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
    """Recognise 16 kHz mono s16le PCM in one pass; with `phrases`, only those phrases can come out.

    The engine returns its n-best alternatives for each utterance; the best one gives the words,
    the others and the phrase list give the review marks. When the best is silence throughout,
    the best alternatives with words are taken instead (their words come out disputed); when the
    phrase list fits nothing that was said at all, the recording is heard in free mode, its words
    marked as fitting no phrase: a draft to correct beats refusing real speech.
    """
    heard = _hear(model, pcm, phrases)
    if not heard and phrases:
        heard = _hear(model, pcm, None)
    marks.mark(heard, phrases)
    words = [Word(h.word, h.start, h.end, h.conf, bool(h.reasons), h.reasons[0] if h.reasons else None)
             for h in heard]
    return Transcript(" ".join(w.word for w in words), words, len(pcm) / BYTES_PER_SECOND)


def _hear(model: SpeechModel, pcm: bytes, phrases: Sequence[str] | None) -> list[marks.Heard]:
    """The words of the engine's best alternatives, each with its n-best share and dispute mark."""
    args = [model.grammar(phrases)] if phrases else []
    rec = vosk.KaldiRecognizer(model.vosk_model, SAMPLE_RATE, *args)  # one per recording: it holds state
    rec.SetWords(True)
    rec.SetMaxAlternatives(marks.N_BEST)
    mode = "phrases" if phrases else "free"
    results = []
    for i in range(0, len(pcm), CHUNK_BYTES):
        if rec.AcceptWaveform(pcm[i:i + CHUNK_BYTES]):
            results.append(json.loads(rec.Result()))
    results.append(json.loads(rec.FinalResult()))
    heard = [h for r in results for h in marks.from_nbest(r, mode)]
    if not heard:  # silence scored best everywhere: the runners-up, disputed as they are, beat an empty draft
        heard = [h for r in results for h in marks.from_nbest(r, mode, words_only=True)]
    return heard
