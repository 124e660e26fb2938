"""Long recordings: cut at pauses, recognise the pieces in parallel threads, join the words."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from transcription.audio import BYTES_PER_SECOND, SAMPLE_WIDTH
from transcription.recognizer import SpeechModel, Transcript, transcribe
from transcription.speech import pauses


def cut_points(pcm: bytes, piece_s: float = 15.0, min_pause_s: float = 0.3) -> list[float]:
    """Seconds at which to cut: mid-pause, each piece as close to `piece_s` as the pauses allow."""
    middles = [(a + b) / 2 for a, b in pauses(pcm, min_pause_s)]
    total = len(pcm) / BYTES_PER_SECOND
    cuts: list[float] = []
    start = 0.0
    while total - start > piece_s * 1.5:  # never leave a stub shorter than half a piece
        ahead = [m for m in middles if m > start + piece_s / 2 and total - m > piece_s / 2]
        if not ahead:
            break  # no pause left: a piece without a pause is kept whole rather than cut in a word
        best = min(ahead, key=lambda m: abs(m - (start + piece_s)))
        cuts.append(best)
        start = best
    return cuts


def transcribe_long(model: SpeechModel, pcm: bytes, phrases: Sequence[str] | None = None, *,
                    threads: int = 2, piece_s: float = 15.0) -> Transcript:
    """Recognise PCM of any length, in pieces cut at pauses and decoded by `threads` threads."""
    bounds = [0, *(int(c * BYTES_PER_SECOND) // SAMPLE_WIDTH * SAMPLE_WIDTH
                   for c in cut_points(pcm, piece_s)), len(pcm)]
    pieces = [pcm[a:b] for a, b in zip(bounds, bounds[1:])]
    if len(pieces) == 1:
        return transcribe(model, pcm, phrases)
    with ThreadPoolExecutor(max_workers=max(1, threads), thread_name_prefix="vosk") as pool:
        parts = list(pool.map(lambda piece: transcribe(model, piece, phrases), pieces))
    words = [w.shifted(a / BYTES_PER_SECOND) for a, part in zip(bounds, parts) for w in part.words]
    return Transcript(" ".join(w.word for w in words), words, len(pcm) / BYTES_PER_SECOND)
