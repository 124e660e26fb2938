"""The transcription worker against bare Vosk: throughput, upload-to-transcript latency, memory.

Runs on a scratch PostgreSQL database (BENCH_POSTGRES_URL, default the tests' server), so the
worker claims with SKIP LOCKED and wakes on LISTEN/NOTIFY as in production:

    python benchmarks/transcription_worker.py
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere in a checkout

import sqlalchemy as sa  # noqa: E402
import vosk  # noqa: E402

from benchmarks.signals import stop_on_signals  # noqa: E402
from tests.support.database import admin_url, scratch_database  # noqa: E402
from tests.support.vosk_loop import vosk_loop  # noqa: E402
from transcription.audio import decode  # noqa: E402
from transcription.recognizer import SpeechModel  # noqa: E402

AUDIO = ROOT / "tests" / "fixtures" / "audio"
CLIPS = ["review", "review_report", "prepare_meeting", "confirmed", "review_contract", "review_next_week",
         "reject", "friday", "budget"]
REPEATS = int(os.environ.get("BENCH_REPEATS", "2"))


def rss_mb() -> float:
    """This process's resident memory now."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def bare_threads(model: SpeechModel, pcms: list[bytes], threads: int) -> float:
    """Wall seconds for `threads` threads to run the bare loop over all recordings."""
    todo = list(pcms)
    lock = threading.Lock()

    def run() -> None:
        while True:
            with lock:
                if not todo:
                    return
                pcm = todo.pop()
            vosk_loop(model.vosk_model, pcm)

    start = time.perf_counter()
    pool = [threading.Thread(target=run) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return time.perf_counter() - start


def main() -> None:
    stop_on_signals()  # SIGTERM too drops the scratch database, in the finally below
    from flask_migrate import upgrade

    from mobile_api import create_app
    from mobile_api.demo import load
    from models import Resolution, VoiceNote, db
    from transcription.worker import Settings, Worker, load_models

    vosk.SetLogLevel(-1)
    _, url, drop = scratch_database("bench_voice", admin_url("BENCH_POSTGRES_URL"))
    data = tempfile.mkdtemp(prefix="bench-voice-")
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "DATA_DIR": data, "DEMO_PASSWORD": "demo",
                      "TRANSCRIPTION_POLL_S": 1.0})
    import logging
    logging.getLogger().setLevel(logging.WARNING)
    try:
        with app.app_context():
            print("migrating a scratch database and loading demo data ...", flush=True)
            upgrade(revision="heads")
            load("demo")
            client = app.test_client()
            token = client.post("/api/v1/auth/login", json={"username": "exec1", "password": "demo"}).get_json()
            headers = {"Authorization": f"Bearer {token['access_token']}"}
            inbox = client.get("/api/v1/inbox", headers=headers).get_json()["items"]
            doc = next(i["document_id"] for i in inbox if i["kind"] == "resolution")

            def post(path: Path) -> dict:
                with open(path, "rb") as f:
                    resp = client.post(f"/api/v1/documents/{doc}/voice-resolutions", headers=headers,
                                       data={"audio": (f, path.name)}, content_type="multipart/form-data")
                assert resp.status_code == 202, resp.get_json()
                return resp.get_json()

            base_rss = rss_mb()
            print("loading the model ...", flush=True)
            models = load_models(app.config["VOSK_MODELS"], "ko")
            model = models.get("ko")
            model_rss = rss_mb()

            # 1. Throughput on the nine short clips, twice over (free mode: the heavy path).
            files = [AUDIO / f"{c}.wav" for c in CLIPS] * 2
            pcms = [decode(f).pcm for f in files]
            audio_s = sum(len(p) for p in pcms) / 32000
            print(f"\nthroughput: {len(files)} recordings, {audio_s:.1f} s of audio, free mode", flush=True)
            speeds = {}
            for threads in (1, 2):
                took = wtook = float("inf")
                for _ in range(REPEATS):  # alternate, so both see the same background load
                    print(f"  bare vosk, {threads} thread(s) ...", end="", flush=True)
                    took = min(took, t := bare_threads(model, pcms, threads))
                    print(f" {t:.2f} s", flush=True)
                    for f in files:
                        post(f)
                    print(f"  worker,    {threads} thread(s) ...", end="", flush=True)
                    worker = Worker(app, models, Settings.from_config(app.config, threads))
                    start = time.perf_counter()
                    assert worker.run(once=True) == len(files)
                    wtook = min(wtook, t := time.perf_counter() - start)
                    print(f" {t:.2f} s", flush=True)
                speeds[threads] = (audio_s / took, audio_s / wtook)
            after_rss = rss_mb()

            # 2. Latency: upload of the long dictation to `transcribed`, with a running worker.
            long_m4a = AUDIO / "dictation_long.m4a"
            pcm = decode(long_m4a).pcm
            print(f"\nlatency: {long_m4a.name}, {len(pcm) / 32000:.1f} s", flush=True)
            bare_s, latency = float("inf"), {1: float("inf"), 2: float("inf")}
            for _ in range(REPEATS):
                print("  bare decode of its PCM ...", end="", flush=True)
                start = time.perf_counter()
                vosk_loop(model.vosk_model, pcm)
                bare_s = min(bare_s, t := time.perf_counter() - start)
                print(f" {t:.2f} s", flush=True)
                for split_threads in (1, 2):
                    app.config["VOICE_SPLIT_THREADS"] = split_threads
                    worker = Worker(app, models, Settings.from_config(app.config, 1))
                    runner = threading.Thread(target=worker.run)
                    runner.start()
                    time.sleep(1.5)  # let it listen and go idle
                    label = "split in 2 threads" if split_threads > 1 else "single pass"
                    print(f"  upload -> transcribed, {label} ...", end="", flush=True)
                    start = time.perf_counter()
                    note_id = int(post(long_m4a)["voice_note_id"])
                    while True:
                        db.session.rollback()
                        status = db.session.scalar(sa.select(VoiceNote.status).where(VoiceNote.id == note_id))
                        if status == "transcribed":
                            break
                        time.sleep(0.005)
                    latency[split_threads] = min(latency[split_threads], t := time.perf_counter() - start)
                    print(f" {t:.2f} s", flush=True)
                    worker.stop()
                    runner.join()
            assert db.session.scalar(sa.select(sa.func.count()).select_from(Resolution)
                                     .where(Resolution.status == "awaiting_review")) == REPEATS * (2 * len(files) + 2)
    finally:
        drop()

    print("\nresults")
    for threads, (b, w) in speeds.items():
        print(f"  {threads} thread(s): bare {b:6.2f}, worker {w:6.2f} audio-s per wall-s; "
              f"ratio {w / b:.2f} (target >= 0.9)")
    print(f"  long dictation: bare decode {bare_s:.2f} s; upload->transcribed {latency[1]:.2f} s single pass "
          f"({latency[1] - bare_s:+.2f} s, target <= +0.5), {latency[2]:.2f} s split "
          f"({latency[2] - bare_s:+.2f} s, target < 0)")
    print(f"  RSS: app {base_rss:.0f} MB, + model {model_rss - base_rss:.0f} MB = {model_rss:.0f} MB; "
          f"after the 2-thread worker {after_rss:.0f} MB ({after_rss - model_rss:+.0f} MB over one loaded model)")


if __name__ == "__main__":
    main()
