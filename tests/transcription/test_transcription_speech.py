"""Telling speech from silence and steady noise, and finding pauses to cut at."""

from __future__ import annotations

from pathlib import Path

import pytest

from transcription.audio import AudioError, decode
from transcription.speech import check_speech, pauses
from transcription.split import cut_points


@pytest.mark.parametrize(("name", "reason"), [
    ("silence_5s.wav", "The recording is silent: no speech was found in it."),
    # Measured: white noise sits within ~1.5 dB of its own floor, speech rises 50+ dB above it.
    # Vosk would otherwise "hear" words in it (free mode: "시"; phrase list: "이 를 주").
    ("white_noise_5s.wav", "The recording holds only steady noise: no speech was found in it."),
])
def test_no_speech(audio_dir: Path, name: str, reason: str) -> None:
    with pytest.raises(AudioError) as caught:
        check_speech(decode(audio_dir / "bad" / name).pcm)
    assert (caught.value.code, caught.value.reason) == ("no_speech", reason)


@pytest.mark.parametrize("ext", ["wav", "m4a", "ogg", "webm", "mp3"])
def test_every_clip_has_speech(audio_dir: Path, manifest: dict, ext: str) -> None:
    for clip in manifest["clips"]:
        check_speech(decode(audio_dir / clip["files"][ext]["file"]).pcm)


def test_long_dictation_pauses_and_cuts(audio_dir: Path) -> None:
    pcm = decode(audio_dir / "dictation_long.wav").pcm
    found = pauses(pcm)
    assert len(found) == 9  # eight 0.8 s gaps between the nine resolutions, and the tail
    assert all(end - start >= 0.8 for start, end in found)
    cuts = cut_points(pcm, piece_s=15.0)
    assert cuts == [pytest.approx((found[4][0] + found[4][1]) / 2)]
    assert len(cut_points(pcm, piece_s=5.0)) == 4
    assert cut_points(pcm, piece_s=30.0) == []
