"""Sniffing containers from bytes and decoding with the bundled ffmpeg."""

from __future__ import annotations

import shutil
import subprocess
import wave
from pathlib import Path

import imageio_ffmpeg
import pytest

from transcription.audio import AudioError, decode, sniff, sniff_file

EXPECTED = {"wav": "wav", "m4a": "mp4", "ogg": "ogg/opus", "webm": "webm", "mp3": "mp3"}


@pytest.mark.parametrize("ext", sorted(EXPECTED))
def test_fixture_formats_are_sniffed_from_bytes(audio_dir: Path, tmp_path: Path, ext: str) -> None:
    renamed = tmp_path / "recording.bin"  # the name says nothing: only the bytes can tell
    shutil.copyfile(audio_dir / f"review.{ext}", renamed)
    assert sniff_file(renamed) == EXPECTED[ext]


@pytest.mark.parametrize(("head", "expected"), [
    (b"RIFF\x24\x00\x00\x00WAVEfmt ", "wav"),
    (b"\x00\x00\x00\x18ftypM4A \x00\x00\x02\x00", "mp4"),
    (b"\x00\x00\x00\x18ftyp3gp4\x00\x00\x02\x00", "3gp"),
    (b"\x00\x00\x00\x14ftypqt  \x00\x00\x02\x00", "mov"),
    (b"OggS\x00\x02" + bytes(20) + b"\x01\x1e\x01vorbis", "ogg/vorbis"),
    (b"OggS\x00\x02" + bytes(20) + b"\x01\x13OpusHead", "ogg/opus"),
    (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x88matroska", "matroska"),
    (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm", "webm"),
    (b"ID3\x04\x00\x00\x00\x00\x00\x00\xff\xfb\x90\x64", "mp3"),
    (b"ID3\x04\x00\x00\x00\x00\x00\x00fLaC\x00\x00\x00\x22", "flac"),
    (b"\xff\xfb\x90\x64\x00\x00", "mp3"),
    (b"\xff\xf1\x50\x80\x02\x1f", "aac"),
    (b"fLaC\x00\x00\x00\x22", "flac"),
    (b"#!AMR\n\x3c", "amr"),
    (b"#!AMR-WB\n\x04", "amr"),
    (b"FORM\x00\x00\x10\x00AIFFCOMM", "aiff"),
    (b"caff\x00\x01\x00\x00desc", "caf"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", None),
    (b"this is not audio, it is text.\n", None),
    (b"", None),
    (b"%PDF-1.7\n", None),
])
def test_sniff_heads(head: bytes, expected: str | None) -> None:
    assert sniff(head) == expected


@pytest.mark.parametrize("ext", sorted(EXPECTED))
def test_every_format_decodes_to_16k_mono(audio_dir: Path, manifest: dict, ext: str) -> None:
    audio = decode(audio_dir / f"friday.{ext}")
    friday = next(c for c in manifest["clips"] if c["id"] == "friday")
    seconds = friday["files"][ext]["seconds"]
    assert audio.duration_s == pytest.approx(seconds, abs=0.01)
    assert len(audio.pcm) == round(audio.duration_s * 32000)


def test_wav_passes_through_bit_exact(audio_dir: Path) -> None:
    with wave.open(str(audio_dir / "budget.wav")) as wf:
        assert decode(audio_dir / "budget.wav").pcm == wf.readframes(wf.getnframes())


@pytest.mark.parametrize(("name", "reason"), [
    ("empty.m4a", "The recording is empty."),
    ("random_bytes.m4a", "The file is not a recording in a supported audio format."),
    ("picture_named.ogg", "The file is not a recording in a supported audio format."),
    ("text_named.wav", "The file is not a recording in a supported audio format."),
    ("truncated.m4a", "The recording is damaged or incomplete and cannot be decoded."),
])
def test_bad_files_are_refused_readably(audio_dir: Path, name: str, reason: str) -> None:
    with pytest.raises(AudioError) as caught:
        decode(audio_dir / "bad" / name)
    assert (caught.value.code, caught.value.reason) == ("unsupported_audio", reason)


def test_half_decodable_m4a_is_refused(audio_dir: Path, tmp_path: Path) -> None:
    # With the moov atom first, ffmpeg opens the cut file, decodes part of it, exits 0 and
    # complains on stderr: that must still count as damaged.
    whole = tmp_path / "faststart.m4a"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(audio_dir / "friday.m4a"),
                    "-c", "copy", "-movflags", "+faststart", str(whole)], check=True)
    cut = tmp_path / "cut.m4a"
    cut.write_bytes(whole.read_bytes()[:12_000])
    assert decode(whole).duration_s > 2
    with pytest.raises(AudioError) as caught:
        decode(cut)
    assert caught.value.code == "unsupported_audio"
    assert "damaged or incomplete" in caught.value.reason


def test_too_long_is_refused(audio_dir: Path) -> None:
    with pytest.raises(AudioError) as caught:
        decode(audio_dir / "dictation_long.m4a", max_seconds=10)
    assert caught.value.code == "audio_too_long"
    assert caught.value.reason == "The recording is longer than the limit of 10 seconds."
    assert decode(audio_dir / "dictation_long.m4a", max_seconds=60).duration_s == pytest.approx(27.68, abs=0.01)


def test_decode_timeout_is_an_audio_error_not_a_hang(audio_dir: Path) -> None:
    with pytest.raises(AudioError) as caught:
        decode(audio_dir / "dictation_long.m4a", timeout_s=0.001)
    assert caught.value.code == "unsupported_audio"
    assert "/" not in caught.value.reason  # no paths reach a user
