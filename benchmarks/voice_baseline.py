"""What the voice pipeline did before, kept as the baseline the voice benchmarks compare against.

- `accepts`: the old upload check: any line ffmpeg printed was a damaged recording, and speech was
  a broadband 10 ms level 15 dB over the recording's floor for 0.2 s.
- `plain_words`: the old recognition, one MBR pass, a word marked for review when Vosk's
  confidence is under 0.6.
"""

from __future__ import annotations

import math
import subprocess
from pathlib import Path

import imageio_ffmpeg

from tests.support.vosk_loop import vosk_loop
from transcription.audio import DEMUXERS, sniff_file
from transcription.recognizer import SpeechModel

REVIEW_BELOW = 0.6


def accepts(path: Path) -> str:
    """The old verdict on an upload: "ok", "unsupported_audio" or "no_speech"."""
    if path.stat().st_size == 0 or (fmt := sniff_file(path)) is None:
        return "unsupported_audio"
    done = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-hide_banner", "-nostats", "-v", "error",
                           "-protocol_whitelist", "file", "-f", DEMUXERS[fmt.split("/")[0]], "-i", f"file:{path}",
                           "-map", "0:a:0", "-vn", "-ac", "1", "-ar", "16000", "-f", "s16le", "pipe:1"],
                          capture_output=True, check=False)
    if done.returncode != 0 or done.stderr.strip() or not done.stdout:
        return "unsupported_audio"
    return speech_verdict(done.stdout[: len(done.stdout) // 2 * 2])


def speech_verdict(pcm: bytes) -> str:
    """The old speech check on decoded PCM: "ok" or "no_speech"."""
    levels = []
    for i in range(0, len(pcm) // 320 * 320, 320):
        frame = memoryview(pcm[i:i + 320]).cast("h")
        power = sum(s * s for s in frame) / 160
        levels.append(10 * math.log10(power / 32768**2) if power else -100.0)
    if not any(level >= -60 for level in levels):
        return "no_speech"
    floor = sorted(levels)[int(len(levels) * 0.1)]
    if sum(level >= max(-60, floor + 15) for level in levels) * 0.01 < 0.2:
        return "no_speech"
    return "ok"


def plain_words(model: SpeechModel, pcm: bytes, phrases: list[str] | None) -> list[tuple[str, bool]]:
    """(word, marked) from the old single MBR pass with the old confidence threshold."""
    results = vosk_loop(model.vosk_model, pcm, grammar=model.grammar(phrases) if phrases else None)
    return [(w["word"], w["conf"] < REVIEW_BELOW) for r in results for w in r.get("result", [])]
