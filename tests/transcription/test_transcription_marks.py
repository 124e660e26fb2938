"""Review marks: words that fit no phrase of the list, and words the engine's alternatives dispute."""

from __future__ import annotations

import pytest

from transcription.marks import ALTERNATIVES, PHRASE, from_nbest, mark, misfits

PHRASES = ["검토 하세요", "검토 후 보고 하세요", "계약서 를 검토 하세요", "이 문서 를 반려 합니다"]


def flagged(heard: str) -> list[str]:
    words = heard.split()
    return [w for i, w in enumerate(words) if i in misfits(words, [p.split() for p in PHRASES])]


@pytest.mark.parametrize(("heard", "marked"), [
    ("검토 하세요", []),  # a phrase as it is
    ("계약서 를 검토 하세요 검토 후 보고 하세요", []),  # two phrases in a row
    ("계약서 를 후 검토 하세요", ["후"]),  # a word no phrase has there
    ("이 문서 를 반려 합니다 이", ["이"]),  # a stray word after a phrase
    ("반려 를 하세요", ["반려", "를"]),  # words of the list in an order no phrase has
    ("계약서 를 하세요", ["를"]),  # a phrase word lost ("검토"): the word before the loss is marked
    ("", []),
])
def test_words_that_fit_no_phrase_are_marked(heard: str, marked: list[str]) -> None:
    assert flagged(heard) == marked


def test_long_dictations_align_in_linear_time() -> None:
    # Two hundred phrases in a row with one wrong word in the middle: only that word is marked.
    words = ("검토 후 보고 하세요 " * 100 + "반려 " + "이 문서 를 반려 합니다 " * 100).split()
    assert misfits(words, [p.split() for p in PHRASES]) == {400}


def nbest(*alternatives: tuple[float, list[tuple[str, float, float]]]) -> dict:
    """A result shaped as Vosk returns it with SetMaxAlternatives and SetWords."""
    return {"alternatives": [{"confidence": score, "text": " ".join(w for w, _, _ in words),
                              "result": [{"word": w, "start": s, "end": e} for w, s, e in words]}
                             for score, words in alternatives]}


def test_disputed_words_are_marked_and_undisputed_ones_are_not() -> None:
    first = [("계약서", 0.3, 0.9), ("를", 0.9, 1.1), ("검토", 1.2, 1.7), ("하세요", 1.7, 2.4)]
    rival = [("계약서", 0.3, 0.9), ("를", 0.9, 1.1), ("반려", 1.2, 1.7), ("하세요", 1.7, 2.4)]
    heard = from_nbest(nbest((150.0, first), (149.9, rival)), "phrases")
    assert [h.word for h in heard] == ["계약서", "를", "검토", "하세요"]
    assert [h.reasons for h in heard] == [[], [], [ALTERNATIVES], []]
    assert heard[2].conf == pytest.approx(0.5, abs=0.01) and heard[0].conf == 1.0
    # A rival far behind does not dispute anything.
    assert all(h.conf > 0.99 and not h.reasons for h in from_nbest(nbest((150.0, first), (120.0, rival)), "phrases"))


def test_reasons_put_a_phrase_misfit_first() -> None:
    heard = from_nbest(nbest((150.0, [("계약서", 0.3, 0.9), ("후", 0.9, 1.1), ("하세요", 1.7, 2.4)]),
                             (150.0, [("계약서", 0.3, 0.9), ("를", 0.9, 1.1), ("하세요", 1.7, 2.4)])), "phrases")
    mark(heard, PHRASES)
    assert [h.reasons for h in heard][1] == [PHRASE, ALTERNATIVES]


def test_an_empty_result_has_no_words() -> None:
    assert from_nbest({"alternatives": [{"confidence": 3.0, "text": ""}]}) == []
    assert from_nbest({"text": ""}) == []


def test_when_silence_scores_best_the_runner_up_is_a_disputed_draft() -> None:
    # Measured on a held-out MP3 in phrase-list mode: silence 224.2, "하세요" 222.7.
    result = nbest((224.2, []), (222.7, [("하세요", 1.2, 1.9)]))
    assert from_nbest(result, "phrases") == []
    [heard] = from_nbest(result, "phrases", words_only=True)
    assert (heard.word, heard.reasons) == ("하세요", [ALTERNATIVES]) and heard.conf < 0.5
