"""Drafts that learn from corrections: what an assistant changed in one executive's transcript fixes the next.

When a dictated draft is marked reviewed, the recogniser's original words are diffed (word level,
difflib) against the reviewed text; each replaced run of words is kept as a heard -> meant pair for
the draft's author, with a count. Heard words the assistant left as they were count for the heard
words themselves, so a correction applies only while it has been made more often than refused.

A later transcript of the same executive gets the pairs applied where the same heard words come
again: the applied version is stored beside the original (`VoiceNote.corrected_words`, each applied
word carrying `corrected_from`), the original transcript is never changed, and an applied word stays
marked `review` until the assistant has confirmed that pair CORRECTIONS_CONFIRMATIONS times. Undoing
it (leaving the heard words in the reviewed text) counts against the pair. Corrections never cross
from one executive to another.
"""
import string
from difflib import SequenceMatcher

import sqlalchemy as sa
from flask import current_app

from models import Resolution, VoiceNote, db
from models.corrections import CorrectionSource, LearnedCorrection

# Longest run of words learned or matched as one correction. A misheard word often comes out as several
# short ones ("그럼 저 하시 요" for "검토 하세요"), so runs go up to six; a long heard run is specific and
# only applies where the very same run recurs. Longer rewrites are edits, not mishearings.
MAX_WORDS = 6
_PUNCTUATION = string.punctuation + "«»“”„…—–"


def normalise(token: str) -> str:
    """A word as the comparison sees it: no surrounding punctuation, case folded."""
    return token.strip(_PUNCTUATION).casefold()


def tokens(text: str | None) -> list[str]:
    return [t for t in (normalise(w) for w in (text or "").split()) if t]


def changes(heard: list[str], final: list[str]) -> tuple[list[tuple[str, str]], list[tuple[int, int]]]:
    """The heard -> meant pairs between two word lists, and the spans of `heard` left unchanged."""
    pairs, kept = [], []
    matcher = SequenceMatcher(a=heard, b=final, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            kept.append((i1, i2))
        elif tag == "replace":
            said, meant = heard[i1:i2], final[j1:j2]
            if len(said) == len(meant):  # word for word: learn each word, which generalises best
                pairs += [(h, m) for h, m in zip(said, meant) if h != m]
            elif len(said) <= MAX_WORDS and len(meant) <= MAX_WORDS:
                pairs.append((" ".join(said), " ".join(meant)))
    return pairs, kept


def manual_changes(draft: str, final: str) -> int:
    """Words an assistant has to change to turn `draft` into `final` (the review-effort measure)."""
    a, b = tokens(draft), tokens(final)
    return sum(max(i2 - i1, j2 - j1) for tag, i1, i2, j1, j2 in
               SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes() if tag != "equal")


def _add(executive_id: int, counted: dict[tuple[str, str], int]) -> None:
    if not counted:
        return
    rows = {(r.heard, r.meant): r for r in db.session.scalars(
        sa.select(LearnedCorrection).where(LearnedCorrection.executive_id == executive_id,
                                           LearnedCorrection.heard.in_({h for h, _ in counted}))
        .with_for_update())}
    for (heard, meant), n in counted.items():
        row = rows.get((heard, meant))
        if row is None:
            if n > 0:
                db.session.add(LearnedCorrection(executive_id=executive_id, heard=heard, meant=meant, times=n))
        else:
            row.times = max(0, row.times + n)


def learn(res: Resolution) -> None:
    """The draft was marked reviewed: count what the assistant changed in its transcript, and what they kept."""
    note = db.session.get(VoiceNote, res.voice_note_id) if res.voice_note_id else None
    if note is None or not note.transcript:
        return
    heard = tokens(note.transcript)
    pairs, kept = changes(heard, tokens(res.text))
    candidates = _ngrams(heard, kept)
    known = set(db.session.scalars(
        sa.select(LearnedCorrection.heard).where(LearnedCorrection.executive_id == res.author_id,
                                                 LearnedCorrection.heard.in_(candidates),
                                                 LearnedCorrection.meant != LearnedCorrection.heard)
    )) if candidates else set()
    known |= {h for h, _ in pairs}
    # Heard words with a correction on record that the assistant left as they were: evidence against it.
    pairs += [(h, h) for h in candidates if h in known for _ in range(candidates[h])]
    source = db.session.get(CorrectionSource, res.id)
    counted: dict[tuple[str, str], int] = {}
    for heard_words, meant in pairs:
        counted[(heard_words, meant)] = counted.get((heard_words, meant), 0) + 1
    if source is not None:  # reviewed again: this draft's earlier contribution is replaced, not added to
        for heard_words, meant in source.pairs:
            counted[(heard_words, meant)] = counted.get((heard_words, meant), 0) - 1
        source.pairs = [list(p) for p in pairs]
    else:
        db.session.add(CorrectionSource(resolution_id=res.id, executive_id=res.author_id,
                                        pairs=[list(p) for p in pairs]))
    _add(res.author_id, {k: v for k, v in counted.items() if v})


def _ngrams(words: list[str], spans: list[tuple[int, int]]) -> dict[str, int]:
    """Every run of 1..MAX_WORDS words inside the given spans, with how often it occurs."""
    found: dict[str, int] = {}
    for i1, i2 in spans:
        for i in range(i1, i2):
            for n in range(1, MAX_WORDS + 1):
                if i + n <= i2:
                    key = " ".join(words[i:i + n])
                    found[key] = found.get(key, 0) + 1
    return found


def _best(executive_id: int, heard: list[str]) -> dict[str, tuple[str, int]]:
    """For each heard run in this transcript, the correction to apply and how often it was confirmed."""
    candidates = _ngrams(heard, [(0, len(heard))])
    if not candidates:
        return {}
    rows = db.session.execute(
        sa.select(LearnedCorrection.heard, LearnedCorrection.meant, LearnedCorrection.times)
        .where(LearnedCorrection.executive_id == executive_id, LearnedCorrection.heard.in_(candidates),
               LearnedCorrection.times > 0)).all()
    by_heard: dict[str, list[tuple[int, str]]] = {}
    for row in rows:
        by_heard.setdefault(row.heard, []).append((row.times, row.meant))
    best = {}
    for heard_words, options in by_heard.items():
        options.sort(key=lambda o: (-o[0], o[1]))
        times, meant = options[0]
        # A tie with another reading (or with the heard words themselves) is no evidence: leave it alone.
        if meant != heard_words and (len(options) == 1 or options[1][0] < times):
            best[heard_words] = (meant, times)
    return best


def apply(note: VoiceNote, res: Resolution | None = None) -> None:
    """Apply the author's learned corrections to a fresh transcript, beside the original words, and to the draft.

    The draft's text is corrected where the same heard words appear in it, so this works whatever
    filled the draft from the transcript before (the transcript itself, or what was read out of it).
    """
    words = note.words or []
    heard = [normalise(w["word"]) for w in words]
    best = _best(note.author_id, heard)
    note.corrected_words = None
    if not best:
        return
    confirmations = current_app.config["CORRECTIONS_CONFIRMATIONS"]
    out, applied = [], False
    for start, n, meant, times in _matches(heard, best):
        if n == 0:
            out.append(words[start])
            continue
        span = words[start:start + n]
        out.append({**span[0], "word": meant, "end": span[-1]["end"], "conf": min(w["conf"] for w in span),
                    "review": times < confirmations, "corrected_from": " ".join(w["word"] for w in span)})
        applied = True
    if applied:
        note.corrected_words = out
        if res is not None:
            res.text = correct_text(res.text, best)


def _matches(keys: list[str], best: dict[str, tuple[str, int]]):
    """Walk the words left to right, longest heard run first: (start, n, meant, times), n=0 for a word kept."""
    i = 0
    while i < len(keys):
        for n in range(min(MAX_WORDS, len(keys) - i), 0, -1):
            key = " ".join(keys[i:i + n])
            if key in best and all(keys[i:i + n]):
                yield i, n, *best[key]
                i += n
                break
        else:
            yield i, 0, None, 0
            i += 1


def correct_text(text: str, best: dict[str, tuple[str, int]]) -> str:
    """The text with each learned heard run replaced by what was meant, punctuation around it kept."""
    raw = text.split()
    out = []
    for start, n, meant, _ in _matches([normalise(t) for t in raw], best):
        if n == 0:
            out.append(raw[start])
            continue
        first, last = raw[start], raw[start + n - 1]
        lead = first[:len(first) - len(first.lstrip(_PUNCTUATION))]
        trail = last[len(last.rstrip(_PUNCTUATION)):]
        out.append(f"{lead}{meant}{trail}")
    return " ".join(t for t in out if t)
