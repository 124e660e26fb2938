"""Paired timing: a subject and its baseline measured in the same rounds, compared round by round.

A shared machine's speed drifts within a run; a ratio taken within each round cancels most of the drift,
and the median of those ratios ignores the round a neighbour happened to be busy in.
"""
from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field


def timed(call: Callable[[], object], repeat: int = 1, clock: Callable[[], float] = time.perf_counter) -> float:
    """Seconds per call of `call`, over `repeat` calls (`clock`: time.process_time for CPU time)."""
    started = clock()
    for _ in range(repeat):
        call()
    return (clock() - started) / repeat


@dataclass
class Paired:
    """Each round's cost of the subject and of the baseline: numbers, or dicts of numbers (`key` picks one)."""

    subject: list = field(default_factory=list)
    baseline: list = field(default_factory=list)

    def ratios(self, key: str | None = None) -> list[float]:
        """subject / baseline, round by round."""
        pick = (lambda x: x) if key is None else (lambda x: x[key])
        return [pick(s) / pick(b) for s, b in zip(self.subject, self.baseline)]

    def ratio(self, key: str | None = None) -> float:
        """The median of the rounds' ratios."""
        return statistics.median(self.ratios(key))

    def median(self, side: str, key: str | None = None) -> float:
        """The median cost of one side, "subject" or "baseline"."""
        return statistics.median(x if key is None else x[key] for x in getattr(self, side))


def paired(subject: Callable[[], float], baseline: Callable[[], float], rounds: int,
           after_round: Callable[[int, Paired], None] | None = None) -> Paired:
    """`rounds` rounds, each measuring the subject and the baseline once (what each call returns is its
    cost, for example `timed(...)`, or a dict of costs), the baseline first in every other round so that neither always
    runs on a warmer cache. `after_round(i, result)` is called after each, to show progress."""
    result = Paired()
    for i in range(rounds):
        if i % 2:
            result.subject.append(subject())
            result.baseline.append(baseline())
        else:
            base = baseline()
            result.subject.append(subject())
            result.baseline.append(base)
        if after_round:
            after_round(i, result)
    return result
