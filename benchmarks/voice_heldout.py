"""Generate a held-out set of recordings for the voice pipeline: other voices, speeds, noise, codecs.

Nothing here comes from tests/fixtures/audio (the recordings the pipeline was tuned on): the speech
is made afresh by espeak-ng with voices, speeds and pitches the fixtures do not use, then put
through what phones and networks do to it (white, pink and brown noise down to 0 dB SNR, the
telephone band, AMR-NB, Opus at 6-12 kbit/s, low-bitrate MP3). Beside the speech lie recordings
that must be refused: silence, steady noises of several colours and levels (some of them through
the same codecs), and garbage bytes. espeak-ng and sox are installed with apt-get when missing.

    .venv/bin/python -m benchmarks.voice_heldout [OUT_DIR]            # default var/voice-heldout
    .venv/bin/python -m benchmarks.voice_heldout --tuning [OUT_DIR]   # the fixtures' voices: var/voice-tuning

Writes OUT_DIR/manifest.json: one entry per file with `kind` ("speech", "noise", "garbage"), the
spoken `text` (tokenised as the model spells it), whether that text is in the phrase list
(`in_phrase_list`), `voice`, `speed`, `pitch` and `condition`. Deterministic: the same seed gives
the same files.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
import tempfile
import wave
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere in a checkout

import imageio_ffmpeg  # noqa: E402

from tests.debian import apt_install  # noqa: E402

RATE = 16_000
FIXTURE_MANIFEST = ROOT / "tests" / "fixtures" / "audio" / "manifest.json"
SEED = 8_2026

# Sentences said outside the phrase list (every token is in the model's vocabulary): in
# phrase-list mode these are the dictations the grammar cannot hold, the hardest errors to flag.
OUT_OF_LIST = [
    "보고서 를 확인 하세요",
    "내일 까지 회의 를 준비 하세요",
    "이 계약서 를 반려 합니다",
    "예산 을 검토 후 보고 하세요",
    "금요일 까지 보고서 를 완료 하세요",
]
# Voice variant, words per minute, pitch: none of them is a (voice, speed) pair of the fixtures.
VOICES = [("ko+m1", 120, 40), ("ko+f4", 170, 60), ("ko+m7", 140, 30), ("ko+f1", 185, 55), ("ko+croak", 135, 50),
          ("ko+m5", 160, 45)]
# The fixtures' own voices and speeds, for a separate tuning set (`--tuning`): thresholds are chosen
# on it and on the fixtures, and only ever measured on the held-out voices above.
TUNING_VOICES = [("ko", 150, 50), ("ko+f2", 130, 50), ("ko+m3", 110, 50)]
TUNING_SEED = 7_2026
# What happens to speech on its way from a phone: (name, noise colour, SNR dB, codec or band).
SPEECH_CONDITIONS = [
    ("clean", None, None, None),
    ("white_20db", "white", 20, None),
    ("white_10db", "white", 10, None),
    ("white_5db", "white", 5, None),
    ("white_0db", "white", 0, None),
    ("pink_5db", "pink", 5, None),
    ("brown_5db", "brown", 5, None),
    ("telephone", None, None, "telephone"),
    ("amr_4.75k", None, None, "amr:4.75k"),
    ("amr_12.2k", None, None, "amr:12.2k"),
    ("opus_6k", None, None, "opus:6k"),
    ("opus_8k", None, None, "opus:8k"),
    ("opus_12k", None, None, "opus:12k"),
    ("mp3_16k", None, None, "mp3:16k"),
    ("white_10db_amr_7.95k", "white", 10, "amr:7.95k"),
    ("pink_5db_opus_8k", "pink", 5, "opus:8k"),
    ("white_5db_telephone", "white", 5, "telephone"),
]
# Recordings without speech: (name, noise colour or "silence"/"dither"/"hum", level dBFS, codec).
NOISE_CONDITIONS = [
    ("silence", "silence", None, None),
    ("dither", "white", -85, None),
    ("white_quiet", "white", -50, None),
    ("white_loud", "white", -20, None),
    ("pink", "pink", -25, None),
    ("brown", "brown", -20, None),
    ("hum_50hz", "hum", -20, None),
    ("fan", "fan", -25, None),
    ("white_opus_8k", "white", -25, "opus:8k"),
    ("pink_amr_4.75k", "pink", -25, "amr:4.75k"),
    ("brown_mp3_16k", "brown", -25, "mp3:16k"),
    ("hum_opus_6k", "hum", -25, "opus:6k"),
]


def ensure_tools() -> None:
    """Install espeak-ng and sox from Debian when this machine lacks them."""
    missing = [pkg for pkg, exe in (("espeak-ng", "espeak-ng"), ("sox", "sox")) if shutil.which(exe) is None]
    if not missing:
        return
    print(f"installing {' '.join(missing)} with apt-get ...", flush=True)
    apt_install(*missing)


def phrase_list() -> list[str]:
    """The nine stock phrases (their text only; none of the fixture recordings is used)."""
    return json.loads(FIXTURE_MANIFEST.read_text("utf-8"))["phrase_list"]


def speak(text: str, voice: str, speed: int, pitch: int, tmp: Path) -> np.ndarray:
    """espeak-ng's rendering of the text, as float samples at 16 kHz."""
    raw, out = tmp / "espeak.wav", tmp / "speech16k.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", str(raw), text], check=True)
    subprocess.run(["sox", "-D", str(raw), "-r", str(RATE), "-c", "1", "-b", "16", str(out)], check=True)
    return read_wav(out)


def read_wav(path: Path) -> np.ndarray:
    with wave.open(str(path)) as wf:
        assert wf.getframerate() == RATE and wf.getnchannels() == 1 and wf.getsampwidth() == 2
        return np.frombuffer(wf.readframes(wf.getnframes()), "<i2").astype(np.float64) / 32768


def write_wav(path: Path, x: np.ndarray, rate: int = RATE) -> None:
    pcm = (np.clip(x, -1, 32767 / 32768) * 32768).round().astype("<i2")
    with wave.open(str(path), "wb") as wf:
        wf.setnchannels(1)
        wf.setsampwidth(2)
        wf.setframerate(rate)
        wf.writeframes(pcm.tobytes())


def noise(colour: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """Unit-power noise of a colour (white, pink, brown, a fan's rumble, mains hum)."""
    if colour == "hum":
        t = np.arange(n) / RATE
        x = sum(np.sin(2 * np.pi * 50 * k * t + rng.uniform(0, 6.3)) / k for k in range(1, 8))
    else:
        spectrum = np.fft.rfft(rng.standard_normal(n))
        f = np.fft.rfftfreq(n, 1 / RATE)
        f[0] = f[1]
        shape = {"white": np.ones_like(f), "pink": 1 / np.sqrt(f), "brown": 1 / f,
                 "fan": 1 / f * (f > 40) * (1 / (1 + (f / 400) ** 2))}[colour]
        x = np.fft.irfft(spectrum * shape, n)
    return x / np.sqrt(np.mean(x**2))


def active_power(x: np.ndarray) -> float:
    """Mean power of the frames where speech is active (within 40 dB of the loudest 10 ms frame)."""
    frames = x[: len(x) // 160 * 160].reshape(-1, 160)
    power = np.mean(frames**2, axis=1)
    return float(np.mean(power[power > power.max() * 1e-4]))


def encode(src: Path, dest_stem: Path, codec: str | None) -> Path:
    """The recording as a phone or network would carry it; returns the file written."""
    ffmpeg = [imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-v", "error", "-y", "-i", str(src)]
    if codec is None:
        out = dest_stem.with_suffix(".wav")
        shutil.copyfile(src, out)
        return out
    kind, _, rate = codec.partition(":")
    if kind == "telephone":  # 300-3400 Hz at 8 kHz, as a landline or GSM call carries it
        out = dest_stem.with_suffix(".wav")
        subprocess.run(["sox", str(src), "-r", "8000", str(out), "sinc", "300-3400"], check=True)
        return out
    if kind == "amr":
        out = dest_stem.with_suffix(".amr")
        subprocess.run([*ffmpeg, "-ar", "8000", "-ac", "1", "-c:a", "libopencore_amrnb", "-b:a", rate, str(out)],
                       check=True)
    elif kind == "opus":  # what messengers record: Opus in Ogg at a few kbit/s
        out = dest_stem.with_suffix(".ogg")
        subprocess.run([*ffmpeg, "-c:a", "libopus", "-b:a", rate, "-application", "voip", str(out)], check=True)
    elif kind == "mp3":
        out = dest_stem.with_suffix(".mp3")
        subprocess.run([*ffmpeg, "-c:a", "libmp3lame", "-b:a", rate, str(out)], check=True)
    else:
        raise ValueError(codec)
    return out


def generate(out_dir: Path, conditions_per_utterance: int = 3, seed: int = SEED,
             voices: list[tuple[str, int, int]] = VOICES) -> list[dict]:
    """Write the held-out set into out_dir and return its manifest entries."""
    ensure_tools()
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    pick = random.Random(seed)
    in_list = phrase_list()
    sentences = [(s, True) for s in in_list] + [(s, False) for s in OUT_OF_LIST]
    entries: list[dict] = []
    total = len(sentences) * len(voices)
    with tempfile.TemporaryDirectory(prefix="heldout-") as tmp_name:
        tmp = Path(tmp_name)
        n = 0
        for si, (text, listed) in enumerate(sentences):
            for vi, (voice, speed, pitch) in enumerate(voices):
                n += 1
                print(f"\r  speech {n}/{total}", end="", flush=True)
                clean = speak(text, voice, speed, pitch, tmp)
                pad = np.zeros(int(RATE * pick.uniform(0.3, 0.8)))
                clean = np.concatenate([pad, clean * 0.5, pad[: len(pad) // 2]])  # -6 dBFS peaks, some room
                # Every utterance is heard clean and under a rotating choice of the harder conditions.
                others = SPEECH_CONDITIONS[1:]
                start = (si * len(voices) + vi) * (conditions_per_utterance - 1)
                chosen = [SPEECH_CONDITIONS[0]] + [others[(start + k) % len(others)]
                                                   for k in range(conditions_per_utterance - 1)]
                for name, colour, snr, codec in chosen:
                    x = clean
                    if colour:
                        nz = noise(colour, len(x), rng)
                        x = x + nz * np.sqrt(active_power(clean) / 10 ** (snr / 10))
                        x = x / max(1.0, np.abs(x).max() / 0.98)  # never clip: scale down as a phone's AGC would
                    src = tmp / "mix.wav"
                    write_wav(src, x)
                    stem = out_dir / f"s{si:02d}_{voice.replace('+', '-')}_{name}"
                    path = encode(src, stem, codec)
                    entries.append({"file": path.name, "kind": "speech", "text": text, "in_phrase_list": listed,
                                    "voice": voice, "speed": speed, "pitch": pitch, "condition": name})
        print(flush=True)
        for i, (name, colour, level, codec) in enumerate(NOISE_CONDITIONS):
            seconds = 3 + i % 3
            n_samples = RATE * seconds
            x = np.zeros(n_samples) if colour == "silence" else noise(colour, n_samples, rng) * 10 ** (level / 20)
            src = tmp / "noise.wav"
            write_wav(src, x)
            path = encode(src, out_dir / f"noise_{name}", codec)
            entries.append({"file": path.name, "kind": "noise", "condition": name, "seconds": seconds})
        garbage = {
            "garbage_random.ogg": rng.integers(0, 256, 20_000, dtype=np.uint8).tobytes(),
            "garbage_header_only.ogg": b"OggS" + bytes(60),
            "garbage_text.mp3": "이것은 녹음이 아닙니다\n".encode() * 50,
        }
        for name, data in garbage.items():
            (out_dir / name).write_bytes(data)
            entries.append({"file": name, "kind": "garbage", "condition": name.removesuffix(Path(name).suffix)})
    (out_dir / "manifest.json").write_text(json.dumps({"seed": seed, "phrase_list": in_list, "files": entries},
                                                      ensure_ascii=False, indent=1), "utf-8")
    return entries


def ensure(out_dir: Path) -> list[dict]:
    """The set in out_dir, generated first if it is not there yet."""
    manifest = out_dir / "manifest.json"
    if manifest.is_file():
        return json.loads(manifest.read_text("utf-8"))["files"]
    return generate(out_dir)


def main(argv: list[str]) -> None:
    tuning = "--tuning" in argv
    args = [a for a in argv if a != "--tuning"]
    target = Path(args[0]) if args else ROOT / "var" / ("voice-tuning" if tuning else "voice-heldout")
    files = generate(target, seed=TUNING_SEED, voices=TUNING_VOICES) if tuning else generate(target)
    kinds = {k: sum(e["kind"] == k for e in files) for k in ("speech", "noise", "garbage")}
    print(f"{len(files)} files in {target}: {kinds}")


if __name__ == "__main__":
    main(sys.argv[1:])
