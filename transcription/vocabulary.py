"""The words a Vosk model can recognise, read from its directory without loading the model.

A phrase list may only use words of the model's vocabulary: Vosk silently drops unknown words from a
grammar, so a phrase with one would never be recognised. The web process checks phrases at upload
with this module, which never imports vosk: it reads `graph/words.txt` when the model ships one, and
otherwise the word symbol table stored in the header of the grammar FST (`graph/Gr.fst`, the layout
of small models such as the packaged Korean one). Each model's words are read once per process.
"""
from __future__ import annotations

import functools
import struct
from array import array
from bisect import bisect_left
from collections.abc import Iterable
from pathlib import Path

FST_MAGIC = 2125659606
SYMBOL_TABLE_MAGIC = 2125658996
HAS_INPUT_SYMBOLS = 1
# Not words: epsilon, disambiguation and unknown-word markers.
NON_WORDS = {w.encode() for w in ("<eps>", "<unk>", "<UNK>", "<s>", "</s>", "#0", "[noise]", "<SPOKEN_NOISE>",
                                  "!SIL")}


class VocabularyError(RuntimeError):
    """The model directory holds no readable word list."""


class Vocabulary:
    """A model's words as a sorted array of their 64-bit hashes, searched by bisection.

    Half a million words keep 4 MB this way instead of 37 MB as a frozenset of bytes objects, in
    every web process; building costs about 1 s of CPU once per process instead of 0.15 s, and a
    lookup 1 µs instead of 0.1 µs (benchmarks/vocabulary.py). Sorting the words themselves instead
    of their hashes was several times slower to build. An unknown word taking the 64-bit hash of a
    known one is a chance of about 3 in 10^14 per word; its cost would only be a phrase accepted at
    upload that the recogniser then cannot produce.
    """

    def __init__(self, words: Iterable[bytes]) -> None:
        self._hashes = array("q", sorted({hash(word) for word in words if word not in NON_WORDS}))

    def __len__(self) -> int:
        return len(self._hashes)

    def __contains__(self, word: bytes) -> bool:
        key = hash(word)
        i = bisect_left(self._hashes, key)
        return i < len(self._hashes) and self._hashes[i] == key


def _string(data: bytes, at: int) -> tuple[bytes, int]:
    (length,) = struct.unpack_from("<i", data, at)
    at += 4
    return data[at:at + length], at + length


def _fst_words(path: Path) -> list[bytes]:
    """The input symbol table in an OpenFst binary header (magic, type, arc type, version, flags, ...)."""
    with open(path, "rb") as f:
        data = f.read(32 * 1024 * 1024)  # the table comes first: ~11 MB for half a million words
        if len(data) == 32 * 1024 * 1024:
            data += f.read()
    (magic,) = struct.unpack_from("<i", data, 0)
    if magic != FST_MAGIC:
        raise VocabularyError(f"{path.name} is not an OpenFst file")
    _, at = _string(data, 4)   # FST type
    _, at = _string(data, at)  # arc type
    _version, flags = struct.unpack_from("<ii", data, at)
    at += 8 + 8 + 8 + 8 + 8  # version and flags, properties, start, number of states, number of arcs
    if not flags & HAS_INPUT_SYMBOLS:
        raise VocabularyError(f"{path.name} carries no word symbols")
    (magic,) = struct.unpack_from("<i", data, at)
    if magic != SYMBOL_TABLE_MAGIC:
        raise VocabularyError(f"{path.name} has no symbol table where one was expected")
    _, at = _string(data, at + 4)
    _available, size = struct.unpack_from("<qq", data, at)
    at += 16
    length_at = struct.Struct("<i").unpack_from
    words = []
    for _ in range(size):
        (length,) = length_at(data, at)
        words.append(data[at + 4:at + 4 + length])
        at += 4 + length + 8  # the word, then its 64-bit key
    return words


def _text_words(path: Path) -> list[bytes]:
    with open(path, "rb") as f:
        return [line.split()[0] for line in f if line.strip()]


@functools.lru_cache(maxsize=8)
def words(model_dir: Path) -> Vocabulary:
    """Every word the model at `model_dir` knows, UTF-8 encoded (read once per process)."""
    graph = Path(model_dir) / "graph"
    if (graph / "words.txt").is_file():
        return Vocabulary(_text_words(graph / "words.txt"))
    if (graph / "Gr.fst").is_file():
        return Vocabulary(_fst_words(graph / "Gr.fst"))
    raise VocabularyError(f"no word list in {Path(model_dir).name}/graph (words.txt or Gr.fst)")


def unknown_words(model_dir: Path, phrases: list[str]) -> list[str]:
    """The words of `phrases` the model cannot recognise, in order of first use."""
    known = words(model_dir)
    missing: dict[str, None] = {}
    for phrase in phrases:
        for word in phrase.lower().split():
            if word.encode() not in known:
                missing[word] = None
    return list(missing)
