"""Fault injection: the three processes under load, kill -9 and a PostgreSQL outage; nothing lost, nothing twice.

    .venv/bin/python -m benchmarks.fault_injection            # the full run: 20 s outage, several kills
    .venv/bin/python -m benchmarks.fault_injection --short    # the version make test runs (tests/reliability)

It starts a private PostgreSQL cluster (initdb into a temporary directory, as an unprivileged user
when run as root), migrates it and loads the demo government, then runs the Procfile's processes
against it: web (gunicorn), the transcription worker and the push dispatcher, the latter sending
through the real firebase_admin SDK to the fake FCM of tests/fakes. Phones register devices;
clients upload recordings and issue resolutions to executors, retrying on 503 with the same
Idempotency-Key as the apps do. Meanwhile the worker and the dispatcher are killed with SIGKILL
at random moments (and started again, as a process supervisor would) and PostgreSQL is stopped
for a while under load. Then it checks, and exits non-zero if any fails:

- every upload was transcribed exactly once (one resolution per upload, one job, one review request);
- every issued resolution made its tasks, and every device of every recipient got every event
  (the fake FCM's log deduplicated by event_id: resends are allowed, losses are not);
- no request was answered 500 (503 database_unavailable during the outage is the contract);
- every process is alive, and none ever exited unless we killed it.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import requests

from tests.fakes.fcm_server import FakeFcm, generate_key, write_service_account
from tests.support.database import PgCluster
from tests.support.live import free_port, wait_for

ROOT = Path(__file__).resolve().parents[1]
AUDIO = ROOT / "tests" / "fixtures" / "audio"
PASSWORD = "demo"
CLIPS = ["review.wav", "confirmed.m4a", "budget.ogg", "friday.mp3", "reject.webm", "prepare_meeting.wav",
         "review_contract.m4a", "review_report.ogg"]


@dataclass
class Plan:
    uploads: int
    issues: int
    load_s: float
    outage_s: float
    worker_kills: int
    push_kills: int
    seed: int
    web_processes: int = 2
    kills_after_outage: bool = False  # the short run: the processes meet the outage before any restart


FULL = Plan(uploads=40, issues=60, load_s=70.0, outage_s=20.0, worker_kills=4, push_kills=4, seed=8)
SHORT = Plan(uploads=6, issues=8, load_s=16.0, outage_s=5.0, worker_kills=1, push_kills=1, seed=8, web_processes=1,
             kills_after_outage=True)


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


@dataclass
class Tally:
    """What the clients saw."""

    statuses: Counter = field(default_factory=Counter)
    retry_after_missing: int = 0
    in_progress: int = 0
    connection_errors: int = 0
    five_hundreds: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def saw(self, what: str, resp: requests.Response | None) -> None:
        with self.lock:
            if resp is None:
                self.connection_errors += 1
                return
            self.statuses[resp.status_code] += 1
            if resp.status_code == 503 and not resp.headers.get("Retry-After"):
                self.retry_after_missing += 1
            if resp.status_code >= 500 and resp.status_code != 503:
                self.five_hundreds.append(f"{what}: {resp.status_code} {resp.text[:200]}")


class Client:
    """One phone: signs in, and retries what the server could not do yet, as the apps do."""

    def __init__(self, base: str, username: str, tally: Tally) -> None:
        self.base, self.tally, self.http = base, tally, requests.Session()
        self.http.trust_env = False
        resp = self.call("post", "/auth/login", json={"username": username, "password": PASSWORD}, auth=False)
        self.http.headers["Authorization"] = f"Bearer {resp.json()['access_token']}"

    def call(self, method: str, path: str, *, auth: bool = True, files=None, **kwargs) -> requests.Response:
        """Send until the answer is neither 503, nor 409 idempotency_in_progress, nor a connection error;
        the same Idempotency-Key every time, as the apps do."""
        deadline = time.monotonic() + 300
        while True:
            if files:
                for f in files.values():
                    f[1].seek(0)
            try:
                resp = self.http.request(method, self.base + "/api/v1" + path, files=files, timeout=60, **kwargs)
            except requests.RequestException:
                resp = None
            self.tally.saw(f"{method.upper()} {path}", resp)
            # A request cut off by the outage may leave its key claimed until the claim counts as abandoned.
            in_progress = resp is not None and resp.status_code == 409 and "idempotency_in_progress" in resp.text
            if in_progress:
                with self.tally.lock:
                    self.tally.in_progress += 1
            if resp is not None and resp.status_code != 503 and not in_progress:
                return resp
            if time.monotonic() > deadline:
                raise RuntimeError(f"{method.upper()} {path}: still unavailable after 300 s")
            wait = float(resp.headers.get("Retry-After", 1)) if resp is not None else 1.0
            time.sleep(min(wait, 1.0) * random.uniform(0.5, 1.0))  # a phone on screen tries sooner


class Processes:
    """The Procfile's processes on the private cluster; the worker and the dispatcher are restarted after a kill."""

    def __init__(self, env: dict[str, str], logs: Path, web_port: int, web_processes: int) -> None:
        self.env, self.logs = env, logs
        flask = [str(Path(sys.executable).with_name("flask")), "--app", "wsgi"]
        gunicorn = str(Path(sys.executable).with_name("gunicorn"))
        self.commands = {
            "web": [gunicorn, "-c", "gunicorn.conf.py", "wsgi:app"],
            "worker": [*flask, "transcription-worker"],
            "push": [*flask, "push-dispatcher"],
        }
        self.env = {**env, "BIND": f"127.0.0.1:{web_port}", "WEB_CONCURRENCY": str(web_processes), "WEB_THREADS": "4",
                    "ACCESS_LOG": "0"}
        self.procs: dict[str, subprocess.Popen] = {}
        self.killed: set[int] = set()
        self.kills: Counter = Counter()
        self.unexpected: list[str] = []
        self.starts: Counter = Counter()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._watch = threading.Thread(target=self._watcher, daemon=True)

    def start(self, name: str) -> None:
        self.starts[name] += 1
        log = open(self.logs / f"{name}.{self.starts[name]}.log", "w", encoding="utf-8")  # noqa: SIM115
        self.procs[name] = subprocess.Popen(self.commands[name], cwd=ROOT, env=self.env, stdout=log,
                                            stderr=subprocess.STDOUT)

    def start_all(self) -> None:
        for name in self.commands:
            self.start(name)
        self._watch.start()

    def kill(self, name: str) -> None:
        """kill -9, then start it again a moment later (the supervisor's job)."""
        with self._lock:
            proc = self.procs[name]
            self.killed.add(proc.pid)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            self.kills[name] += 1
        time.sleep(random.uniform(0.3, 1.5))
        with self._lock:
            self.start(name)

    STARTED = {"worker": "thread(s), models", "push": "push dispatcher", "web": "Booting worker"}

    def wait_started(self, name: str, timeout: float) -> None:
        """Until the current incarnation says it is at work (its log's start line)."""
        deadline = time.monotonic() + timeout
        path = self.logs / f"{name}.{self.starts[name]}.log"
        while time.monotonic() < deadline:
            if self.STARTED[name] in path.read_text("utf-8", errors="replace"):
                return
            time.sleep(0.2)

    def _watcher(self) -> None:
        while not self._stop.wait(0.2):
            with self._lock:
                for name, proc in list(self.procs.items()):
                    code = proc.poll()
                    if code is not None and proc.pid not in self.killed:
                        self.unexpected.append(f"{name} (pid {proc.pid}) exited with {code}; "
                                               f"see {self.logs}/{name}.{self.starts[name]}.log")
                        self.killed.add(proc.pid)
                        self.start(name)

    def alive(self) -> dict[str, bool]:
        return {name: proc.poll() is None for name, proc in self.procs.items()}

    def stop_all(self) -> dict[str, int | None]:
        self._stop.set()
        codes = {}
        for name, proc in self.procs.items():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for name, proc in self.procs.items():
            try:
                codes[name] = proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                codes[name] = None
        return codes


def wait_until(condition, timeout: float, what: str) -> float:
    """Seconds until `condition` holds."""
    started = time.monotonic()
    wait_for(condition, timeout, what, interval=0.25)
    return time.monotonic() - started


def run(plan: Plan, keep: bool = False) -> dict:
    random.seed(plan.seed)
    figures: dict = {"plan": plan.__dict__}
    phases: dict[str, float] = {}
    figures["phases_s"] = phases
    mark = [time.monotonic()]

    def phase(name: str) -> None:
        now = time.monotonic()
        phases[name] = round(now - mark[0], 1)
        mark[0] = now

    workdir = Path(tempfile.mkdtemp(prefix="fault-injection-"))
    key = generate_key()
    fcm = FakeFcm(key.public_key()).start()
    cluster = PgCluster()
    processes = None
    try:
        say(f"private PostgreSQL cluster: initdb into {cluster.root} (port {cluster.port})")
        cluster.init()
        account = write_service_account(workdir / "service-account.json", key, fcm.token_uri)
        web_port = free_port()
        env = {**os.environ, "DATABASE_URL": cluster.url, "DATA_DIR": str(workdir / "data"), "NO_PROXY": "127.0.0.1",
               "FIREBASE_CREDENTIALS": str(account), "FCM_ENDPOINT": fcm.url, "DEMO_PASSWORD": PASSWORD,
               "TRANSCRIPTION_LEASE_S": "4", "TRANSCRIPTION_POLL_S": "0.3", "TRANSCRIPTION_THREADS": "1",
               "VOICE_SPLIT_THREADS": "1", "PUSH_LEASE_S": "4", "PUSH_POLL_MS": "300", "PUSH_BATCH_SIZE": "50",
               "TRANSCRIPTION_MAX_ATTEMPTS": "10"}
        say("migrating and loading the demo government")
        phase("initdb")
        _prepare(cluster.url, workdir / "data")
        phase("migrate_and_demo")
        processes = Processes(env, workdir, web_port, plan.web_processes)
        processes.start_all()
        base = f"http://127.0.0.1:{web_port}"
        say(f"web, worker and push started; web on {base}")
        wait_until(lambda: _ready(base), 120, "/readyz to say ready")
        say("ready: worker and dispatcher beating")
        phase("processes_ready")

        tally = Tally()
        exec1 = Client(base, "exec1", tally)
        phones = {}
        for username in ("employee1", "employee2", "assistant1"):
            client = Client(base, username, tally)
            phones[username] = [f"{username}-phone-{i}" for i in range(2)]
            for token in phones[username]:
                assert client.call("post", "/devices", json={"token": token, "platform": "android",
                                                             "locale": "ru-RU"}).status_code in (200, 201)
        executors = [str(Client(base, u, tally).call("get", "/me").json()["id"]) for u in ("employee1", "employee2")]
        documents = [i["document_id"] for i in exec1.call("get", "/inbox").json()["items"] if i["kind"] == "resolution"]
        say(f"phones registered: {sum(len(t) for t in phones.values())} devices; "
            f"{len(documents)} documents to resolve")

        uploaded, issued, errors = [], [], []
        phrases = json.dumps(json.loads((AUDIO / "manifest.json").read_text("utf-8"))["phrase_list"],
                             ensure_ascii=False)

        def upload_load():
            for n in range(plan.uploads):
                clip = CLIPS[n % len(CLIPS)]
                with open(AUDIO / clip, "rb") as f:
                    resp = exec1.call("post", f"/documents/{documents[n % len(documents)]}/voice-resolutions",
                                      files={"audio": (clip, f)}, data={"phrases": phrases},
                                      headers={"Idempotency-Key": f"upload-{n}"})
                (uploaded if resp.status_code == 202 else errors).append(resp.json() if resp.ok else resp.text)
                time.sleep(plan.load_s / plan.uploads * random.uniform(0.5, 1.5))

        def issue_load():
            for n in range(plan.issues):
                body = {"text": f"Подготовить ответ №{n}", "executors": executors, "issue": True}
                resp = exec1.call("post", f"/documents/{documents[n % len(documents)]}/resolutions", json=body,
                                  headers={"Idempotency-Key": f"issue-{n}"})
                (issued if resp.status_code == 201 else errors).append(resp.json() if resp.ok else resp.text)
                time.sleep(plan.load_s / plan.issues * random.uniform(0.5, 1.5))

        outage_at = plan.load_s * 0.2

        def outage():
            time.sleep(outage_at)
            say(f"PostgreSQL stopped under load for {plan.outage_s:.0f} s")
            cluster.stop()
            time.sleep(plan.outage_s)
            cluster.start()
            say("PostgreSQL started again")

        def kills():
            first = outage_at + plan.outage_s + 1 if plan.kills_after_outage else 1.0
            moments = sorted([("worker", random.uniform(first, plan.load_s)) for _ in range(plan.worker_kills)]
                             + [("push", random.uniform(first, plan.load_s)) for _ in range(plan.push_kills)],
                             key=lambda m: m[1])
            started = time.monotonic()
            for what, at in moments:
                time.sleep(max(0.0, at - (time.monotonic() - started)))
                # Kill a process at work, not one still loading its models after the last kill.
                processes.wait_started(what, 120)
                time.sleep(random.uniform(0.0, 2.0))
                say(f"kill -9 {what}" + (" (PostgreSQL is down)" if not cluster.running() else ""))
                processes.kill(what)

        load_started = time.monotonic()
        threads = [threading.Thread(target=t, name=t.__name__) for t in (upload_load, issue_load, outage, kills)]
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            time.sleep(5)
            say(f"load: {len(uploaded)}/{plan.uploads} uploads, {len(issued)}/{plan.issues} issues; responses "
                f"{dict(sorted(tally.statuses.items()))}, kills {dict(processes.kills)}")
        figures["load_s"] = round(time.monotonic() - load_started, 1)
        phase("setup_and_load")

        from mobile_api import create_app
        from models import db
        app = create_app({"SQLALCHEMY_DATABASE_URI": cluster.url, "DATA_DIR": str(workdir / "data")})
        with app.app_context():
            drained = wait_until(lambda: _drained(db), 300, "every job and notification to be settled")
            figures["drain_after_load_s"] = round(drained, 1)
            say(f"queues drained {drained:.1f} s after the load ended")
            phase("drain")
            figures.update(_check(db, uploaded, issued, phones, fcm))
        figures["errors_4xx"] = errors
        figures["requests"] = dict(sorted(tally.statuses.items()))
        figures["connection_errors"] = tally.connection_errors
        figures["409_idempotency_in_progress_retried"] = tally.in_progress
        figures["http_500"] = tally.five_hundreds
        figures["503_without_retry_after"] = tally.retry_after_missing
        figures["kills"] = dict(processes.kills)
        figures["unexpected_exits"] = list(processes.unexpected)
        figures["alive_at_end"] = processes.alive()
        # Ready again within half a minute: a restarted worker or dispatcher first has to beat, and a
        # single probe on a busy machine could land just before that.
        try:
            figures["ready_again_s"] = round(wait_until(lambda: _ready(base), 30, "/readyz after the load"), 1)
            figures["ready_at_end"] = True
        except RuntimeError:
            figures["ready_at_end"] = False
        return figures
    finally:
        if processes is not None:
            mark[0] = time.monotonic()
            figures["exit_codes_on_sigterm"] = processes.stop_all()
            phase("sigterm_stop")
        fcm.stop()
        cluster.remove()
        if not keep:
            import shutil
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            say(f"logs kept in {workdir}")


def _prepare(url: str, data_dir: Path) -> None:
    """Migrate the cluster and load the demo data (in this process: two fewer interpreter starts)."""
    from flask_migrate import upgrade

    from mobile_api import create_app
    from mobile_api.demo import load
    from models import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "DATA_DIR": str(data_dir), "DEMO_PASSWORD": PASSWORD})
    with app.app_context():
        upgrade()
        load(PASSWORD)
        db.engine.dispose()


def _ready(base: str) -> bool:
    try:
        return requests.get(base + "/readyz", timeout=5, proxies={"http": None}).status_code == 200
    except requests.RequestException:
        return False


def _drained(db) -> bool:
    import sqlalchemy as sa

    from domain import voice
    from models import Job, OutboxMessage
    try:
        db.session.rollback()
        # Only the transcription jobs: no documents worker runs here, so page jobs stay queued.
        busy = db.session.scalar(sa.select(sa.func.count()).select_from(Job)
                                 .where(Job.kind == voice.JOB_KIND, Job.status.in_(("queued", "running"))))
        owed = db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)
                                 .where(OutboxMessage.status.in_(("queued", "running"))))
        return busy == 0 and owed == 0
    except sa.exc.OperationalError:
        return False


def _check(db, uploaded: list[dict], issued: list[dict], phones: dict[str, list[str]], fcm: FakeFcm) -> dict:
    import sqlalchemy as sa

    from domain import voice
    from models import Device, Job, OutboxMessage, Resolution, Task, User, VoiceNote

    db.session.rollback()
    transcriptions = sa.select(Job).where(Job.kind == voice.JOB_KIND)
    out: dict = {}
    resolution_ids = [int(u["resolution_id"]) for u in uploaded]
    notes = {r.id: db.session.get(VoiceNote, r.voice_note_id)
             for r in db.session.scalars(sa.select(Resolution).where(Resolution.id.in_(resolution_ids)))}
    jobs_per_note = Counter(j.payload["voice_note_id"] for j in db.session.scalars(transcriptions))
    reviews = Counter(int(o.payload["resolution_id"]) for o in db.session.scalars(
        sa.select(OutboxMessage).where(OutboxMessage.event == "review_requested")))
    out["uploads_accepted"] = len(uploaded)
    out["uploads_distinct_resolutions"] = len(set(resolution_ids))
    out["dictated_resolutions_in_db"] = db.session.scalar(
        sa.select(sa.func.count()).select_from(Resolution).where(Resolution.voice_note_id.is_not(None)))
    out["uploads_transcribed"] = sum(1 for n in notes.values() if n and n.status == "transcribed")
    out["uploads_with_one_job"] = sum(1 for n in notes.values() if n and jobs_per_note[n.id] == 1)
    out["uploads_with_one_review_request"] = sum(1 for r in resolution_ids if reviews[r] == 1)
    out["job_attempts"] = dict(Counter(db.session.scalars(sa.select(Job.attempts).where(Job.kind == voice.JOB_KIND))))
    issued_ids = [int(i["id"]) for i in issued]
    out["issues_accepted"] = len(issued)
    out["issued_distinct"] = len(set(issued_ids))
    out["tasks"] = db.session.scalar(sa.select(sa.func.count()).select_from(Task)
                                     .where(Task.resolution_id.in_(issued_ids)))
    tokens_of = {}
    for username, tokens in phones.items():
        user_id = db.session.scalar(sa.select(User.id).where(User.username == username))
        tokens_of[user_id] = tokens
    out["devices_registered"] = db.session.scalar(sa.select(sa.func.count()).select_from(Device))
    # What this run caused (the demo's own notifications went out before any phone was registered).
    ours = {str(i) for i in resolution_ids + issued_ids}
    expected = {(token, str(o.id)) for o in db.session.scalars(sa.select(OutboxMessage))
                if o.payload.get("resolution_id") in ours for token in tokens_of.get(o.user_id, [])}
    sends = [(r.body["message"]["token"], r.body["message"]["data"].get("event_id")) for r in fcm.sends()]
    got = set(sends)
    out["outbox_rows"] = db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage))
    out["outbox_by_status"] = dict(Counter(db.session.scalars(sa.select(OutboxMessage.status))))
    out["notifications_owed"] = len(expected)
    out["notifications_delivered_distinct"] = len(expected & got)
    out["notifications_missing"] = len(expected - got)
    out["fcm_requests"] = len(sends)
    out["fcm_resends_deduplicated_by_event_id"] = len(sends) - len(got)
    return out


def verdict(f: dict) -> list[str]:
    """What failed, in words; empty when every promise held."""
    failed = []
    n = f["uploads_accepted"]
    if n != f["plan"]["uploads"] or f["issues_accepted"] != f["plan"]["issues"]:
        failed.append(f"not every request was accepted: {f['errors_4xx'][:3]}")
    for key in ("uploads_distinct_resolutions", "dictated_resolutions_in_db", "uploads_transcribed",
                "uploads_with_one_job", "uploads_with_one_review_request"):
        if f[key] != n:
            failed.append(f"{key}: {f[key]} of {n}")
    if f["issued_distinct"] != f["issues_accepted"] or f["tasks"] != 2 * f["issues_accepted"]:
        failed.append(f"issues: {f['issued_distinct']} distinct, {f['tasks']} tasks for {f['issues_accepted']}")
    if f["notifications_missing"] or set(f["outbox_by_status"]) != {"done"}:
        failed.append(f"notifications: {f['notifications_missing']} missing, outbox {f['outbox_by_status']}")
    if f["http_500"] or f["connection_errors"]:
        failed.append(f"{len(f['http_500'])} answers 5xx other than 503, {f['connection_errors']} connection errors: "
                      f"{f['http_500'][:3]}")
    if f["503_without_retry_after"]:
        failed.append(f"{f['503_without_retry_after']} answers 503 without Retry-After")
    if f["unexpected_exits"] or not all(f["alive_at_end"].values()) or not f["ready_at_end"]:
        failed.append(f"processes: exits {f['unexpected_exits']}, alive {f['alive_at_end']}, "
                      f"ready {f['ready_at_end']}")
    if any(code != 0 for code in f.get("exit_codes_on_sigterm", {}).values()):
        failed.append(f"a process did not stop cleanly on SIGTERM: {f['exit_codes_on_sigterm']}")
    return failed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--short", action="store_true", help="the small version make test runs")
    parser.add_argument("--seed", type=int, help="random seed for the kill moments (default: the plan's)")
    parser.add_argument("--keep", action="store_true", help="keep the processes' logs")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    plan = SHORT if args.short else FULL
    if args.seed is not None:
        plan = Plan(**{**plan.__dict__, "seed": args.seed})
    say(f"fault injection: {plan}")
    started = time.monotonic()
    figures = run(plan, keep=args.keep)
    figures["total_s"] = round(time.monotonic() - started, 1)
    failed = verdict(figures)
    figures.pop("postgres_started_at", None)
    print(json.dumps(figures, ensure_ascii=False, indent=1, default=str))
    if args.json:
        args.json.write_text(json.dumps({**figures, "failed": failed}, ensure_ascii=False, default=str), "utf-8")
    if failed:
        say("FAILED: " + "; ".join(failed))
        return 1
    say(f"OK: {figures['uploads_accepted']} uploads transcribed once, {figures['notifications_owed']} notifications "
        f"on every device ({figures['fcm_resends_deduplicated_by_event_id']} resends deduplicated), "
        f"{figures['requests'].get(503, 0)} answers 503 and none 500, kills {figures['kills']}, "
        f"every process alive; {figures['total_s']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
