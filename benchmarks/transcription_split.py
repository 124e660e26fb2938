"""Audio-seconds per wall-second on the long dictation: bare Vosk, our single pass, split in 1 and 2 threads."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere in a checkout

import vosk  # noqa: E402

from tests.support.timing import timed  # noqa: E402
from tests.support.vosk_loop import vosk_loop  # noqa: E402
from transcription.audio import decode  # noqa: E402
from transcription.recognizer import SpeechModel, transcribe  # noqa: E402
from transcription.registry import default_model_path  # noqa: E402
from transcription.split import cut_points, transcribe_long  # noqa: E402

AUDIO = ROOT / "tests" / "fixtures" / "audio" / "dictation_long.wav"


def measure(name: str, run: Callable[[], object], seconds: float, repeats: int) -> None:
    """Time `run` a few times and print the best speed."""
    best = float("inf")
    for i in range(repeats):
        print(f"  {name}: run {i + 1}/{repeats} ...", end="", flush=True)
        took = timed(run)
        best = min(best, took)
        print(f" {took:.2f} s", flush=True)
    print(f"{name:<22} {seconds / best:6.2f} audio-s per wall-s (best of {repeats})", flush=True)


def main(repeats: int = 2) -> None:
    """Load the model, decode the dictation, time each way of recognising it."""
    vosk.SetLogLevel(-1)
    print("loading model ...", flush=True)
    model = SpeechModel(default_model_path("ko"))
    audio = decode(AUDIO)
    cuts = [round(c, 2) for c in cut_points(audio.pcm)]
    print(f"{AUDIO.name}: {audio.duration_s:.2f} s, cuts at {cuts} s", flush=True)
    measure("bare vosk loop", lambda: vosk_loop(model.vosk_model, audio.pcm), audio.duration_s, repeats)
    measure("single pass", lambda: transcribe(model, audio.pcm), audio.duration_s, repeats)
    for threads in (1, 2):
        measure(f"split, {threads} thread(s)", lambda: transcribe_long(model, audio.pcm, threads=threads),
                audio.duration_s, repeats)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2)
