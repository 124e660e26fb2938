"""CAdES-T through the API, with a real TSA on 127.0.0.1 (`openssl ts -reply`): a decision's signature gets the
TSA's token while the tablet waits; a TSA that is down, slow or wrong never costs the signature, and the
time-stamp worker attaches a token once the TSA answers, even after a worker was killed mid-job."""

import io
import shlex
import signal
import subprocess
import time
import zipfile

import pytest
import sqlalchemy as sa

from domain.signatures import TIMESTAMP_JOB
from models import Job, db, utcnow
from models.queue import beat
from models.signing import Signature
from signing import cms, timestamp
from tests.approvals.conftest import Signer
from tests.fakes.tsa_server import FakeTsa, TsaPki
from tests.support.gost_tablet import GostTablet, gost_engine
from tests.support.live import FlaskCommand, app_settings, wait_for
from tests.support.tablet import Tablet
from workers.timestamps import Settings, Worker


@pytest.fixture(scope="session")
def tsa_pki() -> TsaPki:
    gost_engine()
    return TsaPki()


@pytest.fixture
def tsa(app, tsa_pki, monkeypatch):
    """The app asks this TSA, waiting at most half a second."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    with FakeTsa(tsa_pki, delay=2.0) as fake:
        app.config.update(TSA_URL=fake.url, TSA_CA_FILE=str(tsa_pki.ca_file), TSA_TIMEOUT_S=0.5)
        yield fake


@pytest.fixture
def enrol_any(login):
    """enrol_any("exec1", "p256" | "gost256") -> Signer."""

    def _enrol(username: str, kind: str = "p256") -> Signer:
        api, tablet = login(username), Tablet() if kind == "p256" else GostTablet(256)
        resp = api.post("/keys", json={"csr": tablet.csr_pem()})
        assert resp.status_code == 201, resp.get_json()
        return Signer(api, tablet, resp.get_json())

    return _enrol


def sign_decision(signer: Signer, approval_id: str) -> dict:
    session = signer.session("approval", approval_id, decision="approve").get_json()
    resp = signer.sign_session(session)
    assert resp.status_code == 200, resp.get_json()
    decided = signer.api.post(f"/approvals/{approval_id}/decision",
                              json={"decision": "approve", "signing_session_id": session["id"]})
    assert decided.status_code == 200, decided.get_json()
    return resp.get_json()


def evidence_commands(signer: Signer, document: str, folder) -> list[str]:
    evidence = signer.api.get(f"/documents/{document}/evidence")
    with zipfile.ZipFile(io.BytesIO(evidence.data)) as archive:
        archive.extractall(folder)
    text = (folder / "HOW-TO-VERIFY.txt").read_text(encoding="utf-8")
    return [line for line in text.splitlines() if line.startswith("openssl ")]


def run_all(commands: list[str], folder) -> None:
    for command in commands:
        done = subprocess.run(shlex.split(command), cwd=folder, capture_output=True, timeout=30)
        assert done.returncode == 0, (command, done.stdout.decode(errors="replace"), done.stderr.decode())
        assert b"Verification successful" in done.stderr or b"Verification: OK" in done.stdout


def pending_jobs() -> list[Job]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(Job).where(Job.kind == TIMESTAMP_JOB)))


@pytest.mark.parametrize("kind", ["p256", "gost256"])
def test_a_signed_decision_is_time_stamped_and_the_evidence_verifies_with_openssl(enrol_any, route, users, document,
                                                                                tsa, tmp_path, kind):
    exec1 = enrol_any("exec1", kind)
    approval = route(("sequential", [users["exec1"]]))
    # A signature that is refused is refused before the TSA is bothered.
    session = exec1.session("approval", approval["id"], decision="approve").get_json()
    stranger = Tablet() if kind == "p256" else GostTablet(256)
    resp = exec1.api.post(f"/signing-sessions/{session['id']}/signature",
                          json={"signature": stranger.sign_b64(session["data_to_sign"])})
    assert resp.status_code == 422 and resp.get_json()["code"] == "bad_signature"
    assert tsa.queries == []

    signed = sign_decision(exec1, approval["id"])
    assert len(tsa.queries) == 1
    assert signed["timestamped_at"] is not None
    assert pending_jobs() == []

    [item] = exec1.api.get(f"/documents/{document}/signatures").get_json()["items"]
    assert (item["valid"], item["reason"]) == (True, "ok")
    assert item["timestamped_at"] == signed["timestamped_at"]
    token = cms.timestamp_token(db.session.get(Signature, int(signed["id"])).p7s)
    assert timestamp.token_info(token).hash_algorithm == ("sha256" if kind == "p256" else timestamp.STREEBOG_256)

    commands = evidence_commands(exec1, document, tmp_path)
    assert [c.split()[1] for c in commands] == ["cms", "ts"]
    assert (tmp_path / "timestamps").is_dir() and (tmp_path / "certs" / "tsa.pem").is_file()
    run_all(commands, tmp_path)
    # verify.sh checks the same token file (Streebog imprint: with the GOST engine) and the CRL at its genTime.
    done = subprocess.run(["sh", "verify.sh"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "1 of 1 signatures valid" in done.stdout, done.stdout + done.stderr
    assert "(time-stamp / метка времени)" in done.stdout


@pytest.mark.parametrize("trouble", ["stopped", "slow"])
def test_without_a_timely_good_token_the_signature_stands_and_the_worker_attaches_one_later(
        app, enrol_any, route, users, document, tsa, tmp_path, trouble):
    exec1 = enrol_any("exec1")
    approval = route(("sequential", [users["exec1"]]))
    if trouble == "stopped":
        tsa.stop()
    else:
        tsa.mode = trouble
    signed = sign_decision(exec1, approval["id"])
    assert signed["timestamped_at"] is None  # accepted as CAdES-BES all the same
    [job] = pending_jobs()
    assert job.status == "queued" and job.payload == {"signature_id": int(signed["id"])}

    def run_worker() -> None:  # the real worker, draining what is due
        Worker(Settings(retry_s=60, retry_max_s=600, timeout_s=0.5), name="test-timestamps", app=app).run(once=True)

    if trouble != "stopped":
        tsa.mode = "down"  # still no answer: the job backs off
        run_worker()
        [job] = pending_jobs()
        assert (job.status, job.attempts) == ("queued", 1) and "503" in job.last_error
        assert job.available_at > utcnow()
        assert db.session.get(Signature, int(signed["id"])).timestamped_at is None

    # The TSA is back and the back-off has run out.
    tsa.mode = "ok"
    if trouble == "stopped":
        tsa.start()
        app.config["TSA_URL"] = tsa.url
    db.session.execute(sa.update(Job).values(available_at=utcnow()))
    db.session.commit()
    run_worker()
    [job] = pending_jobs()
    assert job.status == "done", job.last_error
    [item] = exec1.api.get(f"/documents/{document}/signatures").get_json()["items"]
    assert (item["valid"], item["reason"]) == (True, "ok") and item["timestamped_at"] is not None
    run_all(evidence_commands(exec1, document, tmp_path), tmp_path)

    # A second run finds nothing to do: one token per signature.
    p7s = db.session.get(Signature, int(signed["id"])).p7s
    db.session.execute(sa.update(Job).values(status="queued", available_at=utcnow()))
    db.session.commit()
    run_worker()
    db.session.expire_all()
    assert db.session.get(Signature, int(signed["id"])).p7s == p7s


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_worker_killed_mid_job_leaves_the_job_to_be_retried(app, enrol_any, route, users, document, tsa,
                                                               tsa_pki, tmp_path):
    exec1 = enrol_any("exec1")
    approval = route(("sequential", [users["exec1"]]))
    tsa.mode = "down"
    signed = sign_decision(exec1, approval["id"])
    [job] = pending_jobs()

    tsa.mode, tsa.delay = "slow", 8.0  # the worker's request hangs at the TSA (it gives up after lease/3 = 2 s)
    settings = {**app_settings(app), "TSA_URL": tsa.url, "TSA_CA_FILE": str(tsa_pki.ca_file), "TSA_LEASE_S": "6",
                "TSA_POLL_S": "0.1", "TSA_RETRY_S": "60", "NO_PROXY": "127.0.0.1"}
    asked = len(tsa.queries)
    with FlaskCommand("timestamp-worker", settings=settings, log=tmp_path / "first.log") as first:
        wait_for(lambda: len(tsa.queries) > asked, 60, "the worker's request at the TSA", interval=0.02)
        output = first.stop(signal.SIGKILL, 10)
    assert first.returncode == -signal.SIGKILL, output
    [job] = pending_jobs()
    assert (job.status, job.attempts) == ("running", 1)  # still leased to the dead worker
    assert db.session.get(Signature, int(signed["id"])).timestamped_at is None

    tsa.mode = "ok"
    time.sleep(max(0.0, (job.lease_until - utcnow()).total_seconds()) + 0.2)
    with FlaskCommand("timestamp-worker", "--once", settings=settings, log=tmp_path / "second.log") as second:
        output = second.wait(60)
    assert second.returncode == 0, output
    [job] = pending_jobs()
    assert (job.status, job.attempts) == ("done", 2)
    assert db.session.get(Signature, int(signed["id"])).timestamped_at is not None
    run_all(evidence_commands(exec1, document, tmp_path), tmp_path)


def test_with_a_tsa_readyz_wants_a_live_timestamp_worker(app, client, tsa):
    beat("worker-elsewhere", "worker", silence_s=600)
    beat("push-elsewhere", "push", silence_s=600)
    resp = client.get("/readyz")
    assert resp.status_code == 503 and "timestamps not seen recently" in resp.get_json()["detail"]
    beat("timestamps-elsewhere", "timestamps", silence_s=600)
    resp = client.get("/readyz")
    assert resp.status_code == 200 and resp.get_json()["checks"]["timestamps"] == "ok"
    app.config["TSA_URL"] = None  # no TSA: no time-stamp worker needed
    assert "timestamps" not in client.get("/readyz").get_json()["checks"]


def test_revocation_is_judged_at_the_time_stamp_by_the_report_and_by_verify_sh(app, enrol_any, route, users,
                                                                              document, tsa, tmp_path):
    """Time-stamps and long-term evidence together: a key revoked after its signature's time-stamp keeps the
    signature valid; a signature whose token came only after its key was revoked is not, on the server and in
    the evidence's verify.sh alike."""
    exec1, employee1 = enrol_any("exec1"), enrol_any("employee1")
    approval = route(("parallel", [users["exec1"], users["employee1"]]))
    early = sign_decision(exec1, approval["id"])
    assert early["timestamped_at"] is not None
    tsa.mode = "down"
    late = sign_decision(employee1, approval["id"])
    assert late["timestamped_at"] is None  # CAdES-BES for now; a job asks again

    assert exec1.api.delete(f"/keys/{exec1.key['id']}").status_code == 204
    assert employee1.api.delete(f"/keys/{employee1.key['id']}").status_code == 204
    time.sleep(1.05 - utcnow().microsecond / 1e6)  # genTime is in whole seconds: the token comes a second later
    tsa.mode = "ok"
    db.session.execute(sa.update(Job).values(available_at=utcnow()))
    db.session.commit()
    Worker(Settings(retry_s=60, retry_max_s=600, timeout_s=2), name="test-timestamps", app=app).run(once=True)

    report = {item["id"]: item for item in exec1.api.get(f"/documents/{document}/signatures").get_json()["items"]}
    kept, lost = report[early["id"]], report[late["id"]]
    assert (kept["valid"], kept["reason"], kept["revocation"]["status"]) == (True, "ok", "good")
    assert "after this signature was made" in kept["revocation"]["detail"]
    assert lost["timestamped_at"] is not None and lost["timestamped_at"] > lost["signed_at"]
    assert (lost["valid"], lost["reason"], lost["revocation"]["status"]) == (False, "certificate_revoked", "revoked")

    evidence = exec1.api.get(f"/documents/{document}/evidence")
    with zipfile.ZipFile(io.BytesIO(evidence.data)) as archive:
        archive.extractall(tmp_path)
        names = archive.namelist()
    assert {"certs/tsa.pem", "verify.sh"} <= set(names)
    assert sum(name.startswith("timestamps/") for name in names) == 2
    done = subprocess.run(["sh", "verify.sh"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done.stdout + done.stderr
    verdicts = {line.split()[1].rstrip(":"): line.split()[0] for line in done.stdout.splitlines()
                if line.startswith(("VALID", "INVALID"))}
    assert verdicts == {f"approval-{approval['id']}-signature-{early['id']}": "VALID",
                        f"approval-{approval['id']}-signature-{late['id']}": "INVALID"}, done.stdout
    assert "was revoked later" in done.stdout and "1 of 2 signatures valid" in done.stdout
    # The documented per-file commands accept both tokens and both signatures (revocation is verify.sh's part).
    text = (tmp_path / "HOW-TO-VERIFY.txt").read_text(encoding="utf-8")
    run_all([line for line in text.splitlines() if line.startswith("openssl ")], tmp_path)
