"""Recognition with the real Korean model: phrase lists, free-mode fidelity, the model registry."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from transcription.audio import AudioError, decode
from transcription.recognizer import ModelError, SpeechModel, Word, transcribe
from transcription.registry import (
    ModelRegistry,
    default_model_path,
    model_paths,
    parse_model_paths,
)
from transcription.worker import Settings, recognise

pytestmark = pytest.mark.slow

MANIFEST = json.loads((Path(__file__).resolve().parents[1] / "fixtures/audio/manifest.json").read_text("utf-8"))
EXACT = sorted({(clip["id"], ext) for clip in MANIFEST["clips"]
                for ext, f in clip["files"].items() if ext == "wav" or f["phrase_list_exact"]})


@pytest.mark.parametrize(("clip_id", "ext"), EXACT)
def test_phrase_list_mode_is_exact(model: SpeechModel, audio_dir: Path, manifest: dict, settings: Settings,
                                   clip_id: str, ext: str) -> None:
    clip = next(c for c in manifest["clips"] if c["id"] == clip_id)
    transcript = recognise(model, str(audio_dir / clip["files"][ext]["file"]), manifest["phrase_list"], settings)
    assert transcript.text == clip["text"] == clip["files"][ext]["phrase_list_result"]
    assert [w.word for w in transcript.words] == clip["text"].split()
    assert transcript.duration_s == pytest.approx(clip["files"][ext]["seconds"], abs=0.01)


@pytest.mark.parametrize("clip_id", [c["id"] for c in MANIFEST["clips"]])
def test_free_mode_equals_bare_vosk(model: SpeechModel, audio_dir: Path, settings: Settings, reseed: Callable,
                                    bare_words: Callable, clip_id: str) -> None:
    path = audio_dir / f"{clip_id}.wav"
    reseed()
    ours = recognise(model, str(path), None, settings)
    reseed()
    bare = bare_words(path)
    assert [(w.word, w.start, w.end) for w in ours.words] == bare  # the words and their timings alike
    assert ours.text == " ".join(w for w, _, _ in bare)
    assert all(0 < w.conf <= 1 and w.review == (w.reason is not None) for w in ours.words)


def test_words_are_typed_and_ordered(model: SpeechModel, audio_dir: Path) -> None:
    words = transcribe(model, decode(audio_dir / "reject.wav").pcm).words
    assert words and all(isinstance(w, Word) and 0 <= w.start <= w.end <= 3.2 and 0 <= w.conf <= 1
                         for w in words)
    assert [w.start for w in words] == sorted(w.start for w in words)


@pytest.mark.parametrize("name", ["silence_5s.wav", "white_noise_5s.wav"])
def test_recognise_refuses_no_speech(model: SpeechModel, audio_dir: Path, settings: Settings, name: str) -> None:
    with pytest.raises(AudioError) as caught:
        recognise(model, str(audio_dir / "bad" / name), None, settings)
    assert caught.value.code == "no_speech"


def test_missing_model_path_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="No Vosk model at"):
        SpeechModel(tmp_path / "nowhere")


def test_grammar_leaves_out_unk_the_model_lacks(model: SpeechModel) -> None:
    assert not model.knows("[unk]")  # the Korean model has no [unk]; a Russian one does
    assert json.loads(model.grammar(["검토 하세요"])) == ["검토 하세요"]


def test_registry(tmp_path: Path, model: SpeechModel) -> None:
    assert default_model_path("ko") == model.path
    assert default_model_path("xx") is None
    assert parse_model_paths(" ko=/a/b , RU=/c ") == {"ko": Path("/a/b"), "ru": Path("/c")}
    with pytest.raises(ValueError, match="language=path"):
        parse_model_paths("ko")
    assert model_paths(f"ru={tmp_path}") == {"ko": model.path, "ru": tmp_path}
    registry = ModelRegistry(model_paths(f"ru={tmp_path / 'missing'}"))
    assert registry.languages() == ["ko", "ru"]
    with pytest.raises(ModelError):
        registry.get("ru")
    with pytest.raises(LookupError):
        registry.get("de")
