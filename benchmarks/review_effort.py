"""Review effort: how many words of a dictated draft an assistant still changes by hand, before and after learning.

The nine fixture sentences are dictated by one executive (free mode, the real model and worker); the
assistant corrects each draft to the sentence that was said and marks it reviewed, which teaches the
executive's corrections. Then the same sentences are dictated again:
  - from the same recordings (the very same words come back from the recogniser), and
  - from the other encodings of the fixtures (m4a, mp3, ogg, webm: the same sentence heard differently),
and a second executive who never corrected anything dictates them too (corrections must not leak).
The figure is the word-level edit count between a draft and the sentence (domain.corrections.manual_changes),
summed over the sentences; the target is round 2 at half of round 1 or less, and the other executive unchanged.

    python benchmarks/review_effort.py
"""
from __future__ import annotations

import ctypes
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere in a checkout

import vosk  # noqa: E402
from tqdm import tqdm  # noqa: E402

from domain.corrections import manual_changes  # noqa: E402

AUDIO = ROOT / "tests" / "fixtures" / "audio"
MANIFEST = json.loads((AUDIO / "manifest.json").read_text("utf-8"))
PASSWORD = "bench-pass"
LOSSY = ("m4a", "ogg")  # as an iPhone and as a browser or messenger record
SEED = 20260101


def main() -> None:
    from flask_migrate import upgrade

    from mobile_api import create_app
    from mobile_api.demo import load
    from models import db
    from transcription.worker import Settings, Worker, load_models

    vosk.SetLogLevel(-1)
    libc = ctypes.CDLL(None)
    tmp = tempfile.mkdtemp(prefix="bench_effort_")
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp}/effort.db", "DATA_DIR": tmp,
                      "SECRET_KEY": "bench-secret-key-long-enough-for-the-checks", "LOGIN_RATE_LIMIT": "1000/minute",
                      "ACCESS_TOKEN_TTL": 24 * 3600})  # a run outlasts the default 15 minutes on a busy machine
    models = load_models("", "ko")
    with app.app_context():
        upgrade()
        load(PASSWORD)
        client = app.test_client()

        def token(username: str) -> dict:
            body = client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD}).get_json()
            return {"Authorization": f"Bearer {body['access_token']}"}

        users = {u: token(u) for u in ("exec1", "assistant1", "minister")}
        docs = {u: next(i["document_id"] for i in client.get("/api/v1/inbox", headers=users[u]).get_json()["items"]
                        if i["kind"] == "resolution") for u in ("exec1", "minister")}

        def upload(username: str, path: Path) -> str:
            with open(path, "rb") as f:
                body = client.post(f"/api/v1/documents/{docs[username]}/voice-resolutions", headers=users[username],
                                   data={"audio": (f, path.name)}, content_type="multipart/form-data").get_json()
            assert "resolution_id" in body, body
            return body["resolution_id"]

        def transcribe(bar) -> None:
            """Two worker threads drain the queue, from a fixed dither seed (Kaldi's dither draws on rand())."""
            db.session.commit()
            libc.srand(SEED)
            bar.update(Worker(app, models, Settings.from_config(app.config, 2)).run(once=True))
            db.session.expire_all()

        def draft(username: str, res_id: str) -> str:
            return client.get(f"/api/v1/resolutions/{res_id}", headers=users[username]).get_json()["text"]

        clips = MANIFEST["clips"]
        # Round 1: exec1 dictates; the assistant corrects every wrong word and marks each draft reviewed.
        bar = tqdm(total=len(clips) * (1 + 2 * (1 + len(LOSSY))), desc="dictations", unit="clip")
        first = {c["id"]: upload("exec1", AUDIO / f"{c['id']}.wav") for c in clips}
        transcribe(bar)
        round1 = {}
        for clip in clips:
            res_id = first[clip["id"]]
            round1[clip["id"]] = manual_changes(draft("exec1", res_id), clip["text"])
            client.patch(f"/api/v1/resolutions/{res_id}", headers=users["assistant1"], json={"text": clip["text"]})
            assert client.post(f"/api/v1/resolutions/{res_id}/reviewed", headers=users["assistant1"]).status_code == 200
        # Round 2: the same sentences again, from the same recordings and from the other encodings, by exec1
        # and by the minister, who never had anything corrected.
        second = {}
        for clip in clips:
            second.update({(who, clip["id"], ext): upload(who, AUDIO / clip["files"][ext]["file"])
                           for who in ("exec1", "minister") for ext in ("wav", *LOSSY)})
            transcribe(bar)
        bar.close()
        left = {key: manual_changes(draft(key[0], res_id), next(c["text"] for c in clips if c["id"] == key[1]))
                for key, res_id in second.items()}

    def total(who: str, exts) -> int:
        return sum(v for (w, _, ext), v in left.items() if w == who and ext in exts)

    words = sum(len(c["text"].split()) for c in clips)
    print(f"\nWords to change by hand, {len(clips)} sentences ({words} words), free mode:")
    print(f"{'clip':18} {'round 1':>8} {'round 2':>8} {'other exec':>10}   (same .wav recordings)")
    for clip in clips:
        cid = clip["id"]
        print(f"{cid:18} {round1[cid]:8d} {left[('exec1', cid, 'wav')]:8d} {left[('minister', cid, 'wav')]:10d}")
    r1, r2, other = sum(round1.values()), total("exec1", ("wav",)), total("minister", ("wav",))
    print(f"same recordings:  round 1 {r1}, round 2 {r2}: ratio {r2 / r1:.2f} (target <= 0.50); "
          f"other executive {other} (target: {r1}, unchanged)")
    after, before = total("exec1", LOSSY), total("minister", LOSSY)
    print(f"other encodings ({', '.join(LOSSY)}): round 2 {after} words with learning, {before} without "
          f"(the other executive): ratio {after / before:.2f}")


if __name__ == "__main__":
    main()
