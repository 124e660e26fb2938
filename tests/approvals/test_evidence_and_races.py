"""The evidence zip checked by the real `openssl cms -verify`, and two approvers of a parallel stage racing."""
import io
import shlex
import shutil
import subprocess
import threading
import zipfile

import sqlalchemy as sa

from models import OutboxMessage, db
from models.signing import ApprovalDecision

OPENSSL = shutil.which("openssl")


def test_openssl_verifies_every_signature_in_the_evidence(enrol, route, users, document, tmp_path):
    exec1, employee1 = enrol("exec1"), enrol("employee1")
    approval = route(("parallel", [users["exec1"], users["employee1"]]))
    assert exec1.approve(approval["id"]).status_code == 200
    assert employee1.approve(approval["id"], "reject", "Уточнить сроки внедрения").status_code == 200
    res = exec1.api.post(f"/documents/{document}/resolutions",
                         json={"text": "Доработать и представить повторно.", "executors": [users["employee1"]]})
    session_id = exec1.signed("resolution", res.get_json()["id"])
    assert exec1.api.post(f"/resolutions/{res.get_json()['id']}/issue",
                          json={"signing_session_id": session_id}).status_code == 200

    resp = exec1.api.get(f"/documents/{document}/evidence")

    assert resp.status_code == 200 and resp.mimetype == "application/zip"
    with zipfile.ZipFile(io.BytesIO(resp.data)) as archive:
        archive.extractall(tmp_path)
    text = (tmp_path / "HOW-TO-VERIFY.txt").read_text(encoding="utf-8")
    commands = [shlex.split(line) for line in text.splitlines() if line.startswith("openssl cms -verify")]
    assert len(commands) == 3 and len(list((tmp_path / "signatures").iterdir())) == 3
    for command in commands:
        done = subprocess.run([OPENSSL, *command[1:]], cwd=tmp_path, capture_output=True, timeout=30)
        assert done.returncode == 0, done.stderr.decode()
        assert b"Verification successful" in done.stderr


def test_two_approvers_of_a_parallel_stage_deciding_at_once_end_consistently(app, route, users, login, document):
    approval = route(("parallel", [users["exec1"], users["employee1"]]), ("sequential", [users["minister"]]))
    apis = [login("exec1"), login("employee1")]
    barrier, answers = threading.Barrier(len(apis)), []

    def decide(api) -> None:
        with app.app_context():  # each thread its own context, session and connection
            client = app.test_client()
            barrier.wait()
            resp = client.post(f"/api/v1/approvals/{approval['id']}/decision", json={"decision": "approve"},
                               headers=api.headers)
            answers.append((resp.status_code, resp.get_json()))

    threads = [threading.Thread(target=decide, args=(api,)) for api in apis]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(code for code, _ in answers) == [200, 200], answers
    final = login("clerk1").get(f"/documents/{document}").get_json()["approval"]
    assert final["status"] == "in_progress" and final["due"] == [users["minister"]]
    assert [s["status"] for s in final["stages"]] == ["done", "current"]
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ApprovalDecision)) == 2
    # Whichever came second saw the first's decision and asked the minister, exactly once.
    asked = db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage).where(
        OutboxMessage.user_id == int(users["minister"]), OutboxMessage.document_id == int(document)))
    assert asked == 1
