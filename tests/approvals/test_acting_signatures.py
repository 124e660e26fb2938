"""A deputy signs in a principal's name with the deputy's own key: the signed content names the
principal (`acting_for`), the report and the evidence say so, and `openssl cms -verify` accepts it."""
import io
import json
import shlex
import shutil
import subprocess
import zipfile
from datetime import datetime, timedelta, timezone

from models import db
from models.signing import Signature

OPENSSL = shutil.which("openssl")


def _deputize(login, principal: str, deputy: str, scopes: list[str]) -> dict:
    now = datetime.now(timezone.utc)
    resp = login(principal).post("/substitutions", json={
        "deputy": deputy, "starts_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "ends_at": (now + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"), "scopes": scopes})
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def test_a_deputy_signs_a_decision_and_an_issue_in_the_principals_name(enrol, route, users, login, document,
                                                                       tmp_path):
    enrol("exec1")  # the principal signs their decisions: so must whoever decides for them
    deputy = enrol("employee2")
    approval = route(("sequential", [users["exec1"]]), ("sequential", [users["minister"]]))
    made = _deputize(login, "exec1", users["employee2"], ["approvals", "resolutions"])

    unsigned = deputy.api.post(f"/approvals/{approval['id']}/decision", json={"decision": "approve"})
    assert unsigned.status_code == 422 and unsigned.get_json()["code"] == "signature_required"
    session = deputy.session("approval", approval["id"], decision="approve").get_json()
    content = json.loads(session["content"])
    assert content["signer"] == users["employee2"] and content["acting_for"] == users["exec1"]
    assert deputy.sign_session(session).status_code == 200
    resp = deputy.api.post(f"/approvals/{approval['id']}/decision",
                           json={"decision": "approve", "signing_session_id": session["id"]})
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["decisions"][-1]["acting_for"] == users["exec1"]

    draft = login("exec1").post(f"/documents/{document}/resolutions", json={
        "text": "Доработать регламент.", "executors": [users["employee1"]]}).get_json()
    session_id = deputy.signed("resolution", draft["id"])
    issued = deputy.api.post(f"/resolutions/{draft['id']}/issue", json={"signing_session_id": session_id})
    assert issued.status_code == 200, issued.get_json()
    assert issued.get_json()["acting_for"] == users["exec1"]

    principal = login("exec1")
    report = principal.get(f"/documents/{document}/signatures").get_json()["items"]
    assert [(r["signer"]["id"], r["acting_for"], r["valid"]) for r in report] == [
        (users["employee2"], users["exec1"], True)] * 2
    keys = {s.key_id for s in db.session.query(Signature)}
    assert keys == {int(deputy.key["id"])}  # the deputy's own key, never the principal's

    evidence = principal.get(f"/documents/{document}/evidence")
    with zipfile.ZipFile(io.BytesIO(evidence.data)) as archive:
        archive.extractall(tmp_path)
        signed = [json.loads(archive.read(n)) for n in archive.namelist() if n.startswith("content/")]
    assert [(c["signer"], c["acting_for"]) for c in signed] == [(users["employee2"], users["exec1"])] * 2
    text = (tmp_path / "HOW-TO-VERIFY.txt").read_text(encoding="utf-8")
    commands = [shlex.split(line) for line in text.splitlines() if line.startswith("openssl cms -verify")]
    assert len(commands) == 2
    for command in commands:
        done = subprocess.run([OPENSSL, *command[1:]], cwd=tmp_path, capture_output=True, timeout=30)
        assert done.returncode == 0, done.stderr.decode()

    # After the end, the deputy's earlier signatures stay valid; a new session in the name is refused.
    assert login("exec1").delete(f"/substitutions/{made['id']}").status_code == 204
    draft = login("exec1").post(f"/documents/{document}/resolutions", json={
        "text": "Ещё раз.", "executors": [users["employee1"]]}).get_json()
    assert deputy.session("resolution", draft["id"]).status_code == 404
