"""Review marks against the true errors, per mode, before and after, on the held-out recordings.

    .venv/bin/python -m benchmarks.voice_marks [--free-every N] [HELDOUT_DIR]

For each speech recording of the held-out set (benchmarks/voice_heldout.py; generated when
missing) and each mode (free; phrase list = the nine stock phrases), both in the same run:
- before: the old single pass, a word marked when Vosk's confidence is under 0.6
  (benchmarks/voice_baseline.py);
- after: the worker's own recognition (transcription.worker.recognise), a word marked as the voice
  note stores it (its `review` mark, or confidence under VOICE_REVIEW_CONFIDENCE = 0.6).
A recognised word is wrong when a word-level alignment to the spoken text does not match it.
Printed: recall (wrong words marked), precision (marked words that are wrong) and wrong
transcripts that carry no mark at all. Free mode is slow on this machine: every Nth recording
(default 3) is decoded in it.
"""

from __future__ import annotations

import difflib
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere in a checkout

import vosk  # noqa: E402

from benchmarks import voice_baseline  # noqa: E402
from benchmarks.voice_heldout import ensure, phrase_list  # noqa: E402
from mobile_api.config import from_env  # noqa: E402
from transcription.audio import AudioError, decode  # noqa: E402
from transcription.recognizer import SpeechModel  # noqa: E402
from transcription.registry import default_model_path  # noqa: E402
from transcription.worker import Settings, recognise  # noqa: E402


def wrong_words(truth: list[str], heard: list[str]) -> list[bool]:
    """For each heard word, whether the best alignment to the truth leaves it unmatched."""
    right = [False] * len(heard)
    for block in difflib.SequenceMatcher(a=truth, b=heard, autojunk=False).get_matching_blocks():
        right[block.b:block.b + block.size] = [True] * block.size
    return [not r for r in right]


class Score:
    def __init__(self) -> None:
        self.tp = self.fp = self.fn = self.transcripts = self.wrong_transcripts = self.unmarked = 0

    def add(self, truth: list[str], words: list[tuple[str, bool]]) -> None:
        heard = [w for w, _ in words]
        for (_, marked), wrong in zip(words, wrong_words(truth, heard)):
            self.tp += marked and wrong
            self.fp += marked and not wrong
            self.fn += wrong and not marked
        self.transcripts += 1
        if heard != truth:
            self.wrong_transcripts += 1
            self.unmarked += not any(marked for _, marked in words)

    def line(self) -> str:
        recall = self.tp / max(1, self.tp + self.fn)
        precision = self.tp / max(1, self.tp + self.fp)
        return (f"recall {recall:5.1%}  precision {precision:5.1%}  ({self.tp + self.fn} wrong words, "
                f"{self.tp + self.fp} marked)  wrong transcripts without a mark {self.unmarked}/"
                f"{self.wrong_transcripts} (of {self.transcripts})")


def main(folder: Path, free_every: int = 3) -> None:
    vosk.SetLogLevel(-1)
    files = [e for e in ensure(folder) if e["kind"] == "speech"]
    phrases = phrase_list()
    cfg = from_env()
    settings = Settings.from_config(cfg)
    review_below = cfg["VOICE_REVIEW_CONFIDENCE"]
    print("loading model ...", flush=True)
    model = SpeechModel(default_model_path("ko"))
    scores = {(mode, when): Score() for mode in ("free", "phrase list") for when in ("before", "after")}
    refused = {"free": 0, "phrase list": 0}
    started = time.perf_counter()
    for i, entry in enumerate(files):
        path = folder / entry["file"]
        truth = entry["text"].split()
        pcm = decode(path).pcm
        for mode, given in (("phrase list", phrases), ("free", None)):
            if mode == "free" and i % free_every:
                continue
            scores[mode, "before"].add(truth, voice_baseline.plain_words(model, pcm, given))
            try:
                words = recognise(model, str(path), given, settings).words
            except AudioError as exc:  # the worker refuses what it hears no word in: count it, as no words
                refused[mode] += 1
                print(f"\n  {mode}: {entry['file']} refused by the worker: {exc.code}", flush=True)
                words = []
            scores[mode, "after"].add(truth, [(w.word, w.review or w.conf < review_below) for w in words])
        print(f"\r  {i + 1}/{len(files)} recordings, {time.perf_counter() - started:.0f} s", end="", flush=True)
    print()
    for mode in ("phrase list", "free"):
        for when in ("before", "after"):
            print(f"{mode:<12} {when:<7} {scores[mode, when].line()}")
        print(f"{mode:<12} after   speech the worker refused as no_speech: {refused[mode]}")


if __name__ == "__main__":
    args = sys.argv[1:]
    every = 3
    if "--free-every" in args:
        at = args.index("--free-every")
        every = int(args[at + 1])
        del args[at:at + 2]
    main(Path(args[0]) if args else ROOT / "var" / "voice-heldout", every)
