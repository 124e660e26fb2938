"""Recognise a recording's container from its bytes and decode it to 16 kHz mono s16le PCM."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import imageio_ffmpeg

SAMPLE_RATE = 16_000
SAMPLE_WIDTH = 2  # bytes per s16 sample, mono
BYTES_PER_SECOND = SAMPLE_RATE * SAMPLE_WIDTH
SNIFF_BYTES = 64 * 1024  # enough to see past a typical ID3 tag

# Format name -> the ffmpeg demuxer we pin with -f, so ffmpeg never guesses a format of its own
# (its probing would happily open images, playlists or concat lists that merely mention audio).
DEMUXERS: dict[str, str] = {
    "wav": "wav",
    "w64": "w64",
    "mp4": "mov",
    "3gp": "mov",
    "mov": "mov",
    "ogg": "ogg",
    "webm": "matroska",
    "matroska": "matroska",
    "mp3": "mp3",
    "aac": "aac",
    "flac": "flac",
    "amr": "amr",
    "aiff": "aiff",
    "caf": "caf",
    "asf": "asf",
}

_ASF_GUID = bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c")
_W64_GUID = b"riff\x2e\x91\xcf\x11\xa5\xd6\x28\xdb\x04\xc1\x00\x00"


class AudioError(Exception):
    """A recording we refuse: `code` is a stable word for clients, `reason` a sentence for people."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason


@dataclass(frozen=True)
class Audio:
    """Decoded audio: 16 kHz mono s16le samples and their length in seconds."""

    pcm: bytes
    duration_s: float
    format: str


def sniff(head: bytes) -> str | None:
    """Name the container (and Ogg codec) from a file's first bytes, or None if it is not audio."""
    if head.startswith(b"ID3") and len(head) >= 10:
        # An ID3v2 tag may front MP3, ADTS AAC or FLAC: look at what follows it when we can.
        size = (head[6] & 0x7F) << 21 | (head[7] & 0x7F) << 14 | (head[8] & 0x7F) << 7 | head[9] & 0x7F
        after = head[10 + size + (10 if head[5] & 0x10 else 0):]
        return (sniff(after) if len(after) >= 4 else None) or "mp3"
    if head[:4] in (b"RIFF", b"RF64") and head[8:12] == b"WAVE":
        return "wav"
    if head.startswith(_W64_GUID):
        return "w64"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand.startswith((b"3gp", b"3g2")):
            return "3gp"
        return "mov" if brand == b"qt  " else "mp4"
    if head[4:8] in (b"moov", b"mdat", b"wide", b"free"):  # old QuickTime files have no ftyp
        return "mov"
    if head.startswith(b"OggS"):
        return _ogg_codec(head)
    if head.startswith(b"\x1a\x45\xdf\xa3"):  # EBML: the DocType says WebM or Matroska
        return "webm" if b"webm" in head[:64] else "matroska"
    if head.startswith(b"fLaC"):
        return "flac"
    if head.startswith(b"#!AMR"):  # covers AMR-WB ("#!AMR-WB\n") too
        return "amr"
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return "aiff"
    if head.startswith(b"caff"):
        return "caf"
    if head.startswith(_ASF_GUID):
        return "asf"
    if len(head) >= 2 and head[0] == 0xFF:
        if head[1] & 0xF6 == 0xF0:  # 12-bit sync, layer 0: ADTS AAC
            return "aac"
        if head[1] & 0xE0 == 0xE0 and head[1] & 0x06:  # 11-bit sync, layer I-III: MPEG audio
            return "mp3"
    return None


def _ogg_codec(head: bytes) -> str | None:
    """Name the codec of an Ogg stream from its first packet ("ogg/opus", "ogg/vorbis", ...)."""
    if len(head) < 28:
        return None
    first = head[27 + head[26]:]
    for magic, codec in ((b"OpusHead", "opus"), (b"\x01vorbis", "vorbis"), (b"\x7fFLAC", "flac"),
                         (b"Speex   ", "speex")):
        if first.startswith(magic):
            return f"ogg/{codec}"
    return None


def demuxer(fmt: str) -> str:
    """The ffmpeg demuxer for a sniffed format name."""
    return DEMUXERS[fmt.split("/")[0]]


def sniff_file(path: str | os.PathLike[str]) -> str | None:
    """Sniff a file on disk by its first bytes; its name is never consulted."""
    with open(path, "rb") as f:
        return sniff(f.read(SNIFF_BYTES))


def decode(path: str | os.PathLike[str], *, max_seconds: float = 600.0,
           timeout_s: float = 120.0) -> Audio:
    """Decode any recording ffmpeg reads to 16 kHz mono s16le PCM, refusing bad input with AudioError."""
    path = Path(path)
    if path.stat().st_size == 0:
        raise AudioError("unsupported_audio", "The recording is empty.")
    fmt = sniff_file(path)
    if fmt is None:
        raise AudioError("unsupported_audio", "The file is not a recording in a supported audio format.")
    # We call ffmpeg ourselves, not through a wrapper such as pydub: its from_file runs ffprobe (absent here) unless
    # told the format, and hides ffmpeg's exit code and stderr, which is how we spot damaged files.
    # One sample past the limit tells "too long" apart from "exactly the limit".
    limit = max_seconds + 1 / SAMPLE_RATE
    cmd = [
        imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-hide_banner", "-nostats", "-v", "error",
        "-protocol_whitelist", "file", "-f", demuxer(fmt), "-i", f"file:{path}",
        "-map", "0:a:0", "-vn", "-sn", "-dn", "-t", f"{limit:.6f}",
        # Number the samples afresh: low-bitrate Opus (as messengers record) hands the raw muxer
        # repeated timestamps, which it reports as an error although not a sample is lost.
        "-af", "asetpts=N/SR/TB",
        "-ac", "1", "-ar", str(SAMPLE_RATE), "-f", "s16le", "-acodec", "pcm_s16le", "pipe:1",
    ]
    try:
        done = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout_s,
                              check=False)
    except subprocess.TimeoutExpired:  # run() has already killed ffmpeg
        raise AudioError("unsupported_audio", "The recording could not be decoded in reasonable time.") from None
    errors = input_errors(done.stderr.decode("utf-8", "replace"))
    if done.returncode != 0 or errors:
        # A non-zero exit or an error reading the input means ffmpeg lost data (a missing moov
        # atom, a cut frame): half a decoded recording is not something to transcribe silently.
        # What the output side says (our raw PCM muxer) never means the recording is bad.
        if "matches no streams" in errors or "does not contain any stream" in errors:
            raise AudioError("unsupported_audio", "The file contains no audio track.")
        raise AudioError("unsupported_audio", "The recording is damaged or incomplete and cannot be decoded.")
    pcm = done.stdout[: len(done.stdout) // SAMPLE_WIDTH * SAMPLE_WIDTH]
    if not pcm:
        raise AudioError("unsupported_audio", "The recording contains no sound.")
    duration_s = len(pcm) / BYTES_PER_SECOND
    if duration_s > max_seconds:
        raise AudioError("audio_too_long", f"The recording is longer than the limit of {_seconds(max_seconds)}.")
    return Audio(pcm, duration_s, fmt)


# Log lines from our own output side: "[s16le @ 0x...]" (the raw muxer) and "[out#0/s16le @ 0x...]".
_OUTPUT_SIDE = ("[s16le @", "[out#", "[pcm_s16le @")


def input_errors(stderr: str) -> list[str]:
    """ffmpeg's error lines about reading or decoding the recording; the output side's are left out."""
    return [line for line in (raw.strip() for raw in stderr.splitlines())
            if line and not line.startswith(_OUTPUT_SIDE)]


def _seconds(s: float) -> str:
    """Say a limit the way a person would: "10 minutes", "90 seconds"."""
    if s >= 60 and s % 60 == 0:
        return f"{int(s // 60)} minute{'s' if s != 60 else ''}"
    return f"{s:g} seconds"
