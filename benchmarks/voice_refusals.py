"""False refusals and noise refused, before and after, on the held-out recordings.

    .venv/bin/python -m benchmarks.voice_refusals [HELDOUT_DIR]

Generates the held-out set first when it is missing (benchmarks/voice_heldout.py). "Before" is the
old upload check (benchmarks/voice_baseline.py), "after" the one uploads run now (decode, then
check_speech). Speech refused is a false refusal (target 0); noise and garbage must be refused.
"""

from __future__ import annotations

import collections
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere in a checkout

from benchmarks import voice_baseline  # noqa: E402
from benchmarks.voice_heldout import ensure  # noqa: E402
from tests.support.timing import paired, timed  # noqa: E402
from transcription.audio import AudioError, decode  # noqa: E402
from transcription.speech import check_speech  # noqa: E402


def after(path: Path) -> str:
    try:
        check_speech(decode(path).pcm)
    except AudioError as exc:
        return exc.code
    return "ok"


def check_speed(repeats: int = 5) -> None:
    """Time of the speech check on the 27.7 s dictation, old and new, paired runs: median ratio."""
    pcm = decode(ROOT / "tests" / "fixtures" / "audio" / "dictation_long.wav").pcm
    result = paired(lambda: timed(lambda: check_speech(pcm)), lambda: timed(lambda: voice_baseline.speech_verdict(pcm)),
                    repeats, after_round=lambda i, _: print(f"\r  speech check timing {i + 1}/{repeats}", end="",
                                                            flush=True))
    print(f"\nspeech check on 27.7 s of audio: before {result.median('baseline') * 1000:.0f} ms, "
          f"after {result.median('subject') * 1000:.0f} ms (median of {repeats} paired ratios after/before: "
          f"{result.ratio():.2f})")


def main(folder: Path) -> None:
    files = ensure(folder)
    tally: dict[str, collections.Counter] = {"before": collections.Counter(), "after": collections.Counter()}
    wrong: dict[str, collections.Counter] = {"before": collections.Counter(), "after": collections.Counter()}
    for i, entry in enumerate(files, 1):
        print(f"\r  {i}/{len(files)} {entry['file']:<50}", end="", flush=True)
        for name, verdict in (("before", voice_baseline.accepts(folder / entry["file"])),
                              ("after", after(folder / entry["file"]))):
            good = (verdict == "ok") == (entry["kind"] == "speech")
            tally[name][entry["kind"], good] += 1
            if not good:
                wrong[name][f"{entry['kind']} {entry['condition']} -> {verdict}"] += 1
    print()
    for kind, label in (("speech", "speech accepted"), ("noise", "noise refused"), ("garbage", "garbage refused")):
        n = tally["before"][kind, True] + tally["before"][kind, False]
        print(f"{label:<18} before {tally['before'][kind, True]:4d}/{n}   after {tally['after'][kind, True]:4d}/{n}")
    for name in ("before", "after"):
        print(f"{name}: false refusals {tally[name]['speech', False]}, wrong verdicts:")
        for what, count in sorted(wrong[name].items()):
            print(f"    {count:3d}  {what}")
    check_speed()


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "var" / "voice-heldout")
