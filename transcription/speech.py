"""Find speech and pauses in 16 kHz mono s16le PCM by frame energy."""

from __future__ import annotations

import math
import operator
import sys
from array import array

from transcription.audio import SAMPLE_RATE, SAMPLE_WIDTH, AudioError

FRAME_S = 0.01
FRAME_BYTES = int(SAMPLE_RATE * FRAME_S) * SAMPLE_WIDTH
SILENCE_DBFS = -60.0  # below this a frame is silence whatever else is in the recording
FLOOR_PERCENTILE = 0.1  # a recording's noise floor: the level its quietest tenth stays under
SPEECH_ABOVE_FLOOR_DB = 15.0  # speech stands this far above the floor; steady noise does not
MIN_SPEECH_S = 0.2  # less loud sound than this is a click, not a word


def frame_levels(pcm: bytes) -> list[float]:
    """Loudness of each 10 ms frame in dBFS (-100 for digital silence)."""
    samples = array("h")
    samples.frombytes(pcm[: len(pcm) // SAMPLE_WIDTH * SAMPLE_WIDTH])
    if sys.byteorder == "big":
        samples.byteswap()
    n = FRAME_BYTES // SAMPLE_WIDTH
    levels = []
    for i in range(0, len(samples) - n + 1, n):
        frame = samples[i:i + n]
        power = sum(map(operator.mul, frame, frame)) / n
        levels.append(10 * math.log10(power / 32768**2) if power else -100.0)
    return levels


def noise_floor(levels: list[float]) -> float:
    """The level the quietest frames of the recording stay under."""
    return sorted(levels)[int(len(levels) * FLOOR_PERCENTILE)] if levels else -100.0


def speech_frames(levels: list[float]) -> list[bool]:
    """Which frames are loud both absolutely and against the recording's own noise floor."""
    threshold = max(SILENCE_DBFS, noise_floor(levels) + SPEECH_ABOVE_FLOOR_DB)
    return [level >= threshold for level in levels]


def check_speech(pcm: bytes) -> None:
    """Raise AudioError("no_speech") for silence or steady noise; return quietly if someone spoke."""
    levels = frame_levels(pcm)
    if not any(level >= SILENCE_DBFS for level in levels):
        raise AudioError("no_speech", "The recording is silent: no speech was found in it.")
    if sum(speech_frames(levels)) * FRAME_S < MIN_SPEECH_S:
        raise AudioError("no_speech", "The recording holds only steady noise: no speech was found in it.")


def pauses(pcm: bytes, min_pause_s: float = 0.3) -> list[tuple[float, float]]:
    """Runs of non-speech frames at least `min_pause_s` long, as (start_s, end_s)."""
    runs: list[tuple[float, float]] = []
    start = None
    flags = speech_frames(frame_levels(pcm))
    for i, loud in enumerate([*flags, True]):
        if not loud and start is None:
            start = i
        elif loud and start is not None:
            if (i - start) * FRAME_S >= min_pause_s:
                runs.append((start * FRAME_S, i * FRAME_S))
            start = None
    return runs
