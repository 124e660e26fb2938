"""Review marks: which recognised words an assistant should check, and why.

A word's confidence alone misses most errors (in phrase-list mode the engine is sure of nearly
every word, right or wrong), so a word is marked for review on any of these grounds, each named
in its `reason`:

- `alternatives`: the engine's own n-best list disagrees about it. Each alternative's score turns
  into a probability (softmax); a word's confidence is the share of alternatives that have the same
  word at the same moment. A word whose rivals hold more than 40% of the weight (5%
  in free mode) is marked.
- `phrase`: in phrase-list mode the dictation is made of the list's phrases, one after another.
  The recognised words are aligned to the best sequence of phrases (an edit distance against a
  loop of the phrases); a word the alignment has to substitute or insert, or one next to a phrase
  word the recording skipped, does not fit any phrase and is marked.

Timing gaps (speech between words that no word covers, words stretched past the others' pace)
were tried and left out: on the tuning set they marked mostly right words and caught no error
the two rules above missed. Everything here works on the engine's JSON; it does not know the
language.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# Chosen on the tuning set (the fixtures' voices; benchmarks/voice_heldout.py --tuning) and measured
# on the held-out voices (benchmarks/voice_marks.py).
N_BEST = 10
SCORE_SCALE = 0.3  # Vosk's n-best scores are log-likelihood-like: softmax(scale * score)
# A word is marked when its rivals hold more than this share of the n-best weight. The free
# vocabulary is large and its alternatives differ in a word or two, so it needs a stricter bar.
MIN_POSTERIOR = {"free": 0.95, "phrases": 0.6}

ALTERNATIVES, PHRASE = "alternatives", "phrase"
ORDER = [PHRASE, ALTERNATIVES]


@dataclass
class Heard:
    """One recognised word with what we concluded about it."""

    word: str
    start: float
    end: float
    conf: float
    reasons: list[str]


def from_nbest(result: dict, mode: str = "free", words_only: bool = False) -> list[Heard]:
    """The best alternative's words of one Vosk n-best result, each with its n-best posterior.

    `mode` is "free" or "phrases" (a phrase list was given): it sets the posterior a word needs.
    With `words_only`, the best alternative that has words is taken even when silence scored
    better: for a recording that holds speech, the runner-up is a better draft than nothing.
    """
    alternatives = [a for a in result.get("alternatives", []) if "confidence" in a]
    if not alternatives:
        return []
    top = max(a["confidence"] for a in alternatives)
    weights = [math.exp(SCORE_SCALE * (a["confidence"] - top)) for a in alternatives]
    total = sum(weights)
    candidates = [i for i, a in enumerate(alternatives) if a.get("result")] if words_only else range(len(weights))
    if not candidates:
        return []
    best = alternatives[max(candidates, key=weights.__getitem__)]
    heard = []
    for w in best.get("result", []):
        middle = (w["start"] + w["end"]) / 2
        share = sum(weight for alt, weight in zip(alternatives, weights)
                    if any(o["word"] == w["word"] and o["start"] <= middle <= o["end"] for o in alt.get("result", [])))
        conf = round(min(1.0, share / total), 6)
        heard.append(Heard(w["word"], w["start"], w["end"], conf, [ALTERNATIVES] if conf < MIN_POSTERIOR[mode] else []))
    return heard


def mark(heard: list[Heard], phrases: Sequence[str] | None) -> None:
    """Add the phrase misfits (phrase-list mode) to the marks the alternatives gave."""
    if phrases:
        mark_phrases(heard, phrases)
    for h in heard:  # the strongest evidence first: a phrase misfit, then disagreement
        h.reasons.sort(key=ORDER.index)


def mark_phrases(heard: list[Heard], phrases: Sequence[str]) -> None:
    """Mark the words that do not fit the best sequence of phrases (phrase-list mode)."""
    for i in misfits([h.word for h in heard], [p.split() for p in phrases]):
        _add(heard[i], PHRASE)


def _add(h: Heard, reason: str) -> None:
    if reason not in h.reasons:
        h.reasons.append(reason)


def misfits(words: Sequence[str], phrases: Sequence[Sequence[str]]) -> set[int]:
    """Indexes of the words that an alignment to the best loop of phrases cannot match.

    Edit distance of `words` against the language "any number of phrases in a row": a word is
    matched (free), substituted or inserted (1 each, the word is a misfit), and a phrase word may
    be skipped (1, and the word heard just before the skip is a misfit: something was lost there).
    Vectorised over every position of every phrase, so 500 templates and a 10-minute dictation
    take well under a second.
    """
    phrases = [list(p) for p in phrases if p]
    if not words or not phrases:
        return set()
    vocabulary: dict[str, int] = {}
    ends = np.array([len(p) for p in phrases])
    width = int(ends.max())
    expected = np.full((len(phrases), width), -1)  # the word that moves position p to p + 1
    for k, p in enumerate(phrases):
        expected[k, :len(p)] = [vocabulary.setdefault(w, len(vocabulary)) for w in p]
    positions = np.arange(width + 1)
    outside = positions[None, :] > ends[:, None]
    codes = np.empty((len(words) + 1, len(phrases), width + 1), np.uint8)
    came_from_end = np.full(len(words) + 1, -1)  # per step: the phrase whose end "between" came from, or -1

    def settle(cost: np.ndarray, between: int, step: int) -> int:
        """Moves that consume no word: skips within phrases, phrase ends to "between" and back to starts."""
        code = codes[step]
        for again in (False, True):
            cost[outside] = _INF
            skipped = np.minimum.accumulate(cost - positions, axis=1) + positions  # p - q skips from q
            better = skipped < cost
            cost[better], code[better] = skipped[better], _SKIP
            if again:
                break
            at_end = cost[np.arange(len(phrases)), ends]
            k = int(at_end.argmin())
            if at_end[k] < between:
                between, came_from_end[step] = int(at_end[k]), k
            better = between < cost[:, 0]
            cost[better, 0], code[better, 0] = between, _START
        cost[outside] = _INF
        return between

    cost = np.full((len(phrases), width + 1), _INF)
    codes[0] = _INSERT
    between = settle(cost, 0, 0)
    for step, word in enumerate(words, 1):
        code = codes[step]
        new = cost + 1  # the word inserted: stay where we are
        code[:] = _INSERT
        token = vocabulary.get(word, -2)
        moved = cost[:, :-1] + (expected != token)
        better = moved < new[:, 1:]
        new[:, 1:][better] = moved[better]
        code[:, 1:][better] = np.where(expected == token, _MATCH, _SUBSTITUTE)[better]
        between = settle(new, between + 1, step)
        cost = new
    return _walk_back(codes, came_from_end, ends)


_INF = 1 << 40
_MATCH, _SUBSTITUTE, _INSERT, _SKIP, _START = range(5)


def _walk_back(codes: np.ndarray, came_from_end: np.ndarray, ends: np.ndarray) -> set[int]:
    """Follow the best alignment back from "between phrases" after the last word; collect the misfits."""
    bad: set[int] = set()
    step, state = len(codes) - 1, None  # None is "between phrases"
    for _ in range(codes.size + len(codes)):  # a bound: every move goes back a word or along a phrase
        if state is None:
            k = int(came_from_end[step])
            if k >= 0:
                state = (k, int(ends[k]))
            elif step == 0:
                return bad
            else:  # a word inserted between phrases
                bad.add(step - 1)
                step -= 1
            continue
        k, pos = state
        code = codes[step, k, pos]
        if code == _START:
            state = None
        elif code == _SKIP:
            bad.add(max(step - 1, 0))
            state = (k, pos - 1)
        elif code == _INSERT:
            bad.add(step - 1)
            step -= 1
        else:
            if code == _SUBSTITUTE:
                bad.add(step - 1)
            state, step = (k, pos - 1), step - 1
    raise AssertionError("the alignment does not lead back to the start")
