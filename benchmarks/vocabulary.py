"""The vocabulary check of phrase uploads: our hashed array against a plain frozenset of the words.

Both are built from the same word list of the packaged Korean model (read once, outside the timing),
then asked about the words of the fixture phrase list and about unknown words. Each round measures
both, in alternating order; the figures are medians of the rounds and of the paired ratios. CPU time
(process_time) is used so that a busy shared machine does not skew the comparison.

    .venv/bin/python -m benchmarks.vocabulary [--rounds 5]
"""
from __future__ import annotations

import argparse
import gc
import json
import sys
import time
import tracemalloc
from pathlib import Path

from tests.support.timing import Paired, paired
from transcription.registry import default_model_path
from transcription.vocabulary import NON_WORDS, Vocabulary, _fst_words

ROOT = Path(__file__).resolve().parents[1]
PHRASES = json.loads((ROOT / "tests/fixtures/audio/manifest.json").read_text("utf-8"))["phrase_list"]


def _baseline(words):
    return frozenset(words) - NON_WORDS


def _measure(build, words, probes) -> dict:
    """Build time without tracing; then memory kept once the word list is gone; then lookups."""
    gc.collect()
    started = time.process_time()
    table = build(words)
    built = time.process_time() - started
    del table
    gc.collect()
    tracemalloc.start()
    fresh = [bytes(bytearray(word)) for word in words]  # objects of their own, as after reading the file
    table = build(fresh)
    del fresh
    gc.collect()
    retained = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    started = time.process_time()
    for _ in range(200):
        found = sum(word in table for word in probes)
    lookup = (time.process_time() - started) / (200 * len(probes))
    return {"build_s": built, "mb": retained / 2**20, "lookup_us": lookup * 1e6, "found": found}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    words = _fst_words(default_model_path() / "graph" / "Gr.fst")
    known = [w.encode() for phrase in PHRASES for w in phrase.split()]
    probes = known + [f"없는말{i}".encode() for i in range(len(known))]
    print(f"{len(words)} words; {len(probes)} probes ({len(known)} known)", file=sys.stderr)
    def done(i: int, result: Paired) -> None:
        assert result.subject[-1]["found"] == result.baseline[-1]["found"] == len(known)
        print(f"round {i + 1}/{args.rounds} done", file=sys.stderr)

    result = paired(lambda: _measure(Vocabulary, words, probes), lambda: _measure(_baseline, words, probes),
                    args.rounds, after_round=done)
    print(f"{'':14}{'build CPU s':>12}{'memory MB':>11}{'lookup µs':>11}")
    for name, side in (("frozenset", "baseline"), ("hashed array", "subject")):
        print(f"{name:14}" + "".join(f"{result.median(side, k):>{w}.{p}f}"
                                     for k, w, p in (("build_s", 12, 3), ("mb", 11, 1), ("lookup_us", 11, 2))))
    for key, label in (("build_s", "build CPU"), ("mb", "memory"), ("lookup_us", "lookup")):
        print(f"hashed array / frozenset, {label}: {result.ratio(key):.2f}")


if __name__ == "__main__":
    main()
