"""The review console's weight and speed: the review screen of the 27.7 s dictation in headless Chromium,
and the queue page with 500 drafts waiting, each against a baseline measured in the same run.

- Review screen: bytes transferred (page, script, style, recording) and time to interactive (navigation
  start until review.js has every handler in place), each load in a fresh browser context (cold cache),
  paired with a load of the sign-in page (the lightest page the console serves) as the baseline.
- Queue: GET /console/ (its first page of 100 of 500 waiting drafts, rendered) against GET
  /api/v1/review-queue?limit=100 (the same rows as JSON), alternated, median of paired ratios; and
  walking every page of the queue. Target: under one second.

Runs gunicorn on a scratch PostgreSQL database (BENCH_POSTGRES_URL, default the tests' server):

    python benchmarks/console.py            # BENCH_REPEATS=15 by default
"""
from __future__ import annotations

import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere in a checkout

import requests  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from tqdm import tqdm  # noqa: E402

from benchmarks.signals import stop_on_signals  # noqa: E402
from tests.console.conftest import CHROMIUM_ARGS, ensure_chromium  # noqa: E402
from tests.support.database import admin_url, scratch_database  # noqa: E402
from tests.support.live import Gunicorn, demo_database  # noqa: E402
from tests.support.timing import paired, timed  # noqa: E402

AUDIO = ROOT / "tests" / "fixtures" / "audio"
REPEATS = int(os.environ.get("BENCH_REPEATS", "15"))
WAITING = 500
PASSWORD = "bench-pass"
SECRET = "bench-secret-key-long-enough-for-the-checks"
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def prepare(url: str, data_dir: str) -> int:
    """Demo data, the long dictation transcribed by the real worker, and 500 more drafts waiting; its id."""
    import vosk

    from mobile_api import create_app
    from models import Document, Resolution, User, VoiceNote, db
    from transcription.worker import Settings, Worker, load_models

    vosk.SetLogLevel(-1)
    demo_database(url, data_dir, PASSWORD, SECRET)
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "DATA_DIR": data_dir, "SECRET_KEY": SECRET})
    with app.app_context():
        client = app.test_client()
        login = client.post("/api/v1/auth/login", json={"username": "exec1", "password": PASSWORD}).get_json()
        auth = {"Authorization": f"Bearer {login['access_token']}"}
        doc = next(i["document_id"] for i in client.get("/api/v1/inbox", headers=auth).get_json()["items"]
                   if i["kind"] == "resolution")
        with open(AUDIO / "dictation_long.m4a", "rb") as f:  # as an iPhone records it
            body = client.post(f"/api/v1/documents/{doc}/voice-resolutions", headers=auth,
                               data={"audio": (f, "dictation_long.m4a")}, content_type="multipart/form-data").get_json()
        db.session.commit()
        Worker(app, load_models("", "ko"), Settings.from_config(app.config, 2)).run(once=True)
        note = db.session.get(VoiceNote, int(body["voice_note_id"]))
        exec1 = db.session.scalar(sa.select(User).where(User.username == "exec1"))
        docs = list(db.session.scalars(sa.select(Document.id)))
        for i in range(WAITING):  # more drafts of the same length, waiting since earlier
            copy = VoiceNote(document_id=docs[i % len(docs)], author_id=exec1.id, sha256=note.sha256, mime=note.mime,
                             size=note.size, language=note.language, status="transcribed", duration_s=note.duration_s,
                             transcript=note.transcript, words=note.words)
            db.session.add(copy)
            db.session.flush()
            db.session.add(Resolution(document_id=copy.document_id, author_id=exec1.id, status="awaiting_review",
                                      text=note.transcript, voice_note_id=copy.id,
                                      created_at=note.created_at.replace(microsecond=0) - __import__("datetime")
                                      .timedelta(minutes=i + 1)))
        db.session.commit()
        print(f"the long dictation: {note.duration_s} s, {len(note.words)} words, "
              f"{sum(w['review'] for w in note.words)} flagged; {WAITING} more drafts waiting")
        return int(body["resolution_id"])


def console_session(base: str, username: str) -> requests.Session:
    s = requests.Session()
    token = TOKEN.search(s.get(f"{base}/console/login").text).group(1)
    s.post(f"{base}/console/login", data={"username": username, "password": PASSWORD, "csrf_token": token})
    return s


def ok_ms(call) -> float:
    """Milliseconds of one call, which must answer 200."""
    def checked():
        status = call().status_code
        assert status == 200, status
    return timed(checked) * 1000


def queue_figures(base: str) -> None:
    browser_like = console_session(base, "assistant1")
    token = requests.post(f"{base}/api/v1/auth/login", json={"username": "assistant1", "password": PASSWORD}).json()
    api = requests.Session()
    api.headers["Authorization"] = f"Bearer {token['access_token']}"
    first = browser_like.get(f"{base}/console/")
    rows = first.text.count('data-testid="queue-item"')
    with tqdm(total=REPEATS * 2, desc="queue page", unit="req") as bar:
        queue = paired(lambda: ok_ms(lambda: browser_like.get(f"{base}/console/")),
                       lambda: ok_ms(lambda: api.get(f"{base}/api/v1/review-queue", params={"limit": 100})),
                       REPEATS * 2, after_round=lambda *_: bar.update())
    page_ms = queue.subject
    walk = []
    for _ in range(3):
        start, url, pages = time.perf_counter(), f"{base}/console/", 0
        while url:
            html = browser_like.get(url).text
            pages += 1
            more = re.search(r'href="(/console/\?cursor=[^"]+)"', html)
            url = f"{base}{more.group(1).replace('&amp;', '&')}" if more else None
        walk.append((time.perf_counter() - start) * 1000)
    print(f"\nQueue, {WAITING + 1} drafts waiting ({rows} rows on the first page, {len(first.content)} bytes):")
    print(f"  GET /console/               median {statistics.median(page_ms):7.1f} ms   "
          f"p95 {sorted(page_ms)[int(len(page_ms) * 0.95) - 1]:7.1f} ms   (target < 1000 ms)")
    print(f"  GET /api/v1/review-queue    median {queue.median('baseline'):7.1f} ms   "
          "(baseline: the same rows as JSON)")
    print(f"  page / API: median of paired ratios {queue.ratio():.2f}")
    print(f"  every page of the queue ({pages} pages): median {statistics.median(walk):.0f} ms")


def review_figures(base: str, res_id: int) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=ensure_chromium(), args=CHROMIUM_ARGS, headless=True)
        context = browser.new_context()
        page = context.new_page()
        page.goto(f"{base}/console/login")
        page.fill("[data-testid=login-username]", "assistant1")
        page.fill("[data-testid=login-password]", PASSWORD)
        page.click("[data-testid=login-submit]")
        page.wait_for_url(f"{base}/console/")
        state = context.storage_state()
        context.close()

        def load(url: str, ready: str) -> tuple[dict, float]:
            ctx = browser.new_context(storage_state=state)  # a cold cache every time
            pg = ctx.new_page()
            sizes: dict[str, int] = {}

            def count(request):
                s = request.sizes()
                kind = request.resource_type
                sizes[kind] = sizes.get(kind, 0) + s["responseBodySize"] + s["responseHeadersSize"]

            pg.on("requestfinished", count)
            pg.goto(url)
            pg.wait_for_function(f"() => {ready}")  # a function: the page's CSP forbids eval
            interactive = pg.evaluate(f"() => {ready}")
            pg.wait_for_load_state("networkidle")
            ctx.close()
            return sizes, float(interactive)

        review_url = f"{base}/console/resolutions/{res_id}"
        weights = []

        def review() -> float:
            sizes, interactive = load(review_url, "document.getElementById('review') && "
                                                  "document.getElementById('review').dataset.ready")
            weights.append(sizes)
            return interactive

        with tqdm(total=REPEATS, desc="review screen", unit="load") as bar:
            tti = paired(review, lambda: load(f"{base}/console/login",
                                              "document.readyState !== 'loading' && performance.now()")[1],
                         REPEATS, after_round=lambda *_: bar.update())
        browser.close()
    kinds = sorted({k for w in weights for k in w})
    print(f"\nReview screen of the 27.7 s dictation, headless Chromium, cold cache, {REPEATS} loads:")
    for kind in kinds:
        print(f"  {kind:10} {statistics.median(w.get(kind, 0) for w in weights) / 1024:8.1f} KiB")
    total = statistics.median(sum(w.values()) for w in weights)
    without_audio = statistics.median(sum(v for k, v in w.items() if k != "media") for w in weights)
    print(f"  total      {total / 1024:8.1f} KiB ({without_audio / 1024:.1f} KiB without the recording)")
    print(f"  time to interactive: median {tti.median('subject'):.0f} ms (sign-in page: "
          f"{tti.median('baseline'):.0f} ms; median of paired ratios {tti.ratio():.2f})")


def main() -> None:
    stop_on_signals()  # SIGTERM too drops the scratch database, in the finally below
    _, url, drop = scratch_database("bench_console", admin_url("BENCH_POSTGRES_URL"))
    data_dir = tempfile.mkdtemp(prefix="bench_console_")
    try:
        res_id = prepare(url, data_dir)
        with Gunicorn({"DATABASE_URL": url, "DATA_DIR": data_dir, "SECRET_KEY": SECRET}) as server:
            queue_figures(server.url)
            review_figures(server.url, res_id)
    finally:
        drop()


if __name__ == "__main__":
    main()
