"""Find speech and pauses in 16 kHz mono s16le PCM.

Two questions, two measures:
- Is there speech at all? Speech is what stands out of the recording's own background in the
  speech band, frame by frame and band by band: each of 16 bands between 250 and 3400 Hz gets its
  own floor (the level its quietest tenth of frames stays under), and a frame is speech when the
  bands rise, on average, `SPEECH_SCORE_DB` above their floors. Steady noise (white, pink, brown, a
  fan, mains hum, also after a low-bitrate codec) moves a band by 1-4 dB; speech at 0-5 dB SNR
  (overall) still lifts its formant bands 7-10 dB and more. The broadband level alone cannot tell
  them apart: speech 5 dB above white noise barely moves it.
- Where are the pauses to cut a long recording at? Broadband frame level against the floor, as
  pauses in a dictation are plain silence (or the room's noise).

numpy does the frame analysis vectorised, in blocks, so an hour of audio costs seconds and a few MB.
"""

from __future__ import annotations

import numpy as np

from transcription.audio import SAMPLE_RATE, SAMPLE_WIDTH, AudioError

FRAME_S = 0.01
FRAME = int(SAMPLE_RATE * FRAME_S)  # samples per 10 ms hop
SILENCE_DBFS = -60.0  # below this a frame is silence whatever else is in the recording
FLOOR_PERCENTILE = 0.1  # a recording's noise floor: the level its quietest tenth stays under
SPEECH_ABOVE_FLOOR_DB = 15.0  # a pause is what stays this close to the floor (broadband)
MIN_SPEECH_S = 0.3  # less speech than this is a click or a cough, not a word

WINDOW = 512  # 32 ms analysis window, one every 10 ms
BAND_EDGES_HZ = np.geomspace(250.0, 3400.0, 17)  # the telephone band in 16 log-spaced bands
SMOOTH_FRAMES = 5  # 50 ms: steady noise averages out, syllables (100-300 ms) do not
# Measured on the tuning set (the fixtures' voices, benchmarks/voice_heldout.py --tuning): steady
# noises score at most 4.4 dB (white noise through Opus at 8 kbit/s), speech at 0 dB SNR 6.9 dB or more.
SPEECH_SCORE_DB = 6.0
_BLOCK = 4096  # frames analysed at once: bounds memory on long recordings
# The FFT bins of each band are contiguous: summed with one reduceat from these starts.
_BIN_BAND = np.digitize(np.fft.rfftfreq(WINDOW, 1 / SAMPLE_RATE), BAND_EDGES_HZ) - 1  # -1 and 16: outside
_FIRST_BIN, _LAST_BIN = int(np.argmax(_BIN_BAND == 0)), int(np.argmax(_BIN_BAND == len(BAND_EDGES_HZ) - 1))
_BAND_STARTS = np.searchsorted(_BIN_BAND[_FIRST_BIN:_LAST_BIN], np.arange(len(BAND_EDGES_HZ) - 1))
assert len(set(_BAND_STARTS.tolist())) == len(BAND_EDGES_HZ) - 1, "every band needs an FFT bin"


def _samples(pcm: bytes) -> np.ndarray:
    return np.frombuffer(pcm[: len(pcm) // SAMPLE_WIDTH * SAMPLE_WIDTH], "<i2").astype(np.float32) / 32768


def frame_levels(pcm: bytes) -> list[float]:
    """Loudness of each 10 ms frame in dBFS (-100 for digital silence)."""
    return _levels(_samples(pcm)).tolist()


def _levels(x: np.ndarray) -> np.ndarray:
    frames = x[: len(x) // FRAME * FRAME].reshape(-1, FRAME).astype(np.float64)
    power = np.mean(frames * frames, axis=1)
    with np.errstate(divide="ignore"):
        return np.where(power > 0, 10 * np.log10(power), -100.0)


def noise_floor(levels: list[float]) -> float:
    """The level the quietest frames of the recording stay under."""
    return sorted(levels)[int(len(levels) * FLOOR_PERCENTILE)] if levels else -100.0


def speech_frames(levels: list[float]) -> list[bool]:
    """Which frames are loud both absolutely and against the recording's own noise floor (broadband)."""
    threshold = max(SILENCE_DBFS, noise_floor(levels) + SPEECH_ABOVE_FLOOR_DB)
    return [level >= threshold for level in levels]


def band_levels(x: np.ndarray) -> np.ndarray:
    """Energy (dB) of each 10 ms frame in each speech band, smoothed over 50 ms: shape (frames, 16)."""
    n = (len(x) - WINDOW) // FRAME + 1
    if n <= 0:
        return np.zeros((0, len(BAND_EDGES_HZ) - 1))
    window = np.hanning(WINDOW).astype(np.float32)
    out = np.empty((n, len(BAND_EDGES_HZ) - 1))
    for first in range(0, n, _BLOCK):
        count = min(_BLOCK, n - first)
        starts = (first + np.arange(count)) * FRAME
        frames = x[starts[:, None] + np.arange(WINDOW)[None, :]] * window
        spectrum = np.fft.rfft(frames, axis=1)[:, _FIRST_BIN:_LAST_BIN]
        out[first:first + count] = np.add.reduceat(spectrum.real**2 + spectrum.imag**2, _BAND_STARTS, axis=1)
    kernel = np.ones(SMOOTH_FRAMES) / SMOOTH_FRAMES
    smooth = np.stack([np.convolve(out[:, b], kernel, mode="same") for b in range(out.shape[1])], axis=1)
    return 10 * np.log10(smooth + 1e-12)


def speech_scores(x: np.ndarray) -> np.ndarray:
    """Per 10 ms frame: how far, on average over the bands, the speech band rises above its floors (dB)."""
    levels = band_levels(x)
    if not len(levels):
        return np.zeros(0)
    floors = np.quantile(levels, FLOOR_PERCENTILE, axis=0)
    return np.clip(levels - floors, 0, None).mean(axis=1)


def speech_seconds(pcm: bytes) -> float:
    """How much of the recording is speech, by the band measure (loud enough to be heard, too)."""
    return _speech_seconds(_samples(pcm))


def _speech_seconds(x: np.ndarray, loud: np.ndarray | None = None) -> float:
    return float(np.count_nonzero(_activity(x, loud))) * FRAME_S


def _activity(x: np.ndarray, loud: np.ndarray | None = None) -> np.ndarray:
    scores = speech_scores(x)
    loud = _levels(x) if loud is None else loud
    loud = np.pad(loud, (0, max(0, len(scores) - len(loud))), constant_values=-100.0)[: len(scores)]
    # Window i spans frames i..i+3: frame i's level stands for its loudness, and its verdict is
    # given to frame i+1, the one it mostly describes.
    active = (scores >= SPEECH_SCORE_DB) & (loud >= SILENCE_DBFS)
    return np.concatenate([np.zeros(1, dtype=bool), active])[: len(loud)]


def check_speech(pcm: bytes) -> None:
    """Raise AudioError("no_speech") for silence or steady noise; return quietly if someone spoke."""
    x = _samples(pcm)
    levels = _levels(x)
    if not len(levels) or levels.max() < SILENCE_DBFS:
        raise AudioError("no_speech", "The recording is silent: no speech was found in it.")
    if _speech_seconds(x, levels) < MIN_SPEECH_S:
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
