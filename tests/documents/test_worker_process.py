"""The documents worker as its own process: `flask documents-worker` killed with SIGKILL in the middle
of a conversion leaves no converter and no LibreOffice behind, and its job to be taken again; `--once`
then finishes it."""
import signal
import subprocess

import pytest
import sqlalchemy as sa

from models import Job, Rendition, db
from models.queue import db_now
from tests.support.live import FlaskCommand, app_settings, wait_for

from .test_pages_routes import register, run_worker, url

pytestmark = pytest.mark.slow  # LibreOffice, Tesseract and poppler, for real


def _job():
    db.session.rollback()  # a fresh snapshot: the worker writes from its own process
    return db.session.execute(sa.select(Job.status, Job.attempts, Job.lease_until < db_now())
                              .where(Job.kind == "document_pages").order_by(Job.id.desc()).limit(1)).one()


def _children(parent: int, pattern: str) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(parent), "-f", pattern], capture_output=True, text=True)
    return [int(pid) for pid in found.stdout.split()]


def _converter_and_office(worker: int) -> list[int]:
    """The converter child and the LibreOffice it runs, once both are under way."""
    for converter in _children(worker, "documents.convert"):
        office = _children(converter, "soffice")
        if office:
            return [converter, *office]
    return []


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as status:
            return any(line.startswith("State:") and "Z" in line for line in status)
    except FileNotFoundError:
        return True


def test_a_worker_killed_mid_conversion_leaves_the_job_to_be_taken_again(app, login, demo, sample_files, tmp_path):
    run_worker(app)  # the demo's letters
    doc = register(login("clerk1"), demo, [("Протокол.docx", sample_files["docx"])])
    db.session.commit()
    settings = {**app_settings(app), "DOCUMENTS_LEASE_S": "2", "DOCUMENTS_POLL_S": "0.2"}
    with FlaskCommand("documents-worker", settings=settings, log=tmp_path / "killed.log") as worker:
        converters = wait_for(lambda: _converter_and_office(worker.process.pid), 60, "LibreOffice under way",
                              process=worker.process, log=worker.log, interval=0.05)
        worker.process.send_signal(signal.SIGKILL)
        worker.process.wait(10)
    wait_for(lambda: all(_gone(pid) for pid in converters), 10, "the converter and LibreOffice to die with the worker")
    status, attempts, _ = _job()
    assert (status, attempts) == ("running", 1)
    assert login("exec1").get(url(doc, 0, "/pages")).get_json()["status"] == "processing"

    wait_for(lambda: _job()[2], 30, "the dead worker's lease to run out")
    with FlaskCommand("documents-worker", "--once", settings=settings, log=tmp_path / "once.log") as again:
        again.wait(120)
        assert again.returncode == 0, again.output()
    assert _job()[:2] == ("done", 2)
    pages = login("exec1").get(url(doc, 0, "/pages")).get_json()
    assert pages["status"] == "ready" and pages["count"] == 1
    assert "водопровода" in login("exec1").get(url(doc, 0, "/text")).get_data(as_text=True)
    db.session.rollback()
    assert db.session.scalar(sa.select(Rendition.status).where(
        Rendition.sha256 == doc["attachments"][0]["sha256"])) == "ready"

