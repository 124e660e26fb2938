"""A Python client generated from the served document, used unmodified, does what the phone and tablet do.

openapi-python-client (a maintained generator) builds the client into a temporary directory from
`GET /api/v1/openapi.json` of a live server; the test then signs in, reads the inbox and gets a 304,
dictates a resolution (a real recording, the real Vosk worker run once by its CLI), has the assistant
mark it reviewed, issues it, completes the task it made, and approves a document with a signature
made by a tablet's device key. Errors arrive as the generated problem models, with their `code`.
"""
from __future__ import annotations

import importlib
import json
import subprocess
import sys
from http import HTTPStatus
from pathlib import Path

import pytest
import requests

from tests.support.tablet import Tablet

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900),
              pytest.mark.parametrize("live", ["postgresql"], indirect=True)]
ROOT = Path(__file__).resolve().parents[2]
AUDIO = ROOT / "tests" / "fixtures" / "audio"
MANIFEST = json.loads((AUDIO / "manifest.json").read_text("utf-8"))


def _generate(live, where: Path, package: str):
    """Generate the client from the served document and import it."""
    document = where / "openapi.json"
    document.write_bytes(requests.get(f"{live.url}/api/v1/openapi.json", timeout=30).content)
    config = where / "generator.json"
    # The generator reads only the binary types it knows; its documented setting maps to them the zip,
    # the page images (WebP or PNG) and the CA's CRL, each served with its own concrete type.
    binary = "application/octet-stream"
    config.write_text(json.dumps({"post_hooks": [], "content_type_overrides": {
        "application/zip": binary, "image/webp": binary, "image/png": binary, "application/pkix-crl": binary}}))
    run = subprocess.run([sys.executable, "-m", "openapi_python_client", "generate", "--path", str(document),
                          "--meta", "none", "--output-path", str(where / package), "--config", str(config),
                          "--fail-on-warning"], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    sys.path.insert(0, str(where))
    try:
        return importlib.import_module(package)
    finally:
        sys.path.remove(str(where))


def test_a_generated_client_does_the_whole_loop(live, tmp_path):
    office = _generate(live, tmp_path, "office_client")
    from office_client.api.approvals import (
        approvals_decide,
        approvals_enrol,
        approvals_evidence,
        approvals_keys,
        approvals_open_session,
        approvals_report,
        approvals_sign,
        approvals_waiting,
    )
    from office_client.api.auth import auth_login, auth_me
    from office_client.api.inbox import inbox_list_inbox
    from office_client.api.resolutions import resolutions_edit, resolutions_issue, resolutions_reviewed
    from office_client.api.tasks import tasks_complete, tasks_list_tasks
    from office_client.api.voice import voice_get_note, voice_upload
    from office_client.models import (
        DecisionIn,
        DecisionInDecision,
        IssueIn,
        KeyIn,
        LoginIn,
        ResolutionPatch,
        SessionIn,
        SessionInDecision,
        SignatureIn,
        SubjectIn,
        SubjectInType,
        TaskCompleteIn,
        VoiceUploadForm,
    )
    from office_client.types import File

    def sign_in(username: str):
        answer = auth_login.sync_detailed(client=office.Client(base_url=live.url),
                                          body=LoginIn(username=username, password=live.password))
        assert answer.status_code == HTTPStatus.OK, answer.content
        assert answer.parsed.token_type.value == "Bearer" and answer.parsed.user.roles
        return office.AuthenticatedClient(base_url=live.url, token=answer.parsed.access_token, timeout=120)

    # A wrong password: the generated 401 model carries the problem's code.
    refused = auth_login.sync_detailed(client=office.Client(base_url=live.url),
                                       body=LoginIn(username="exec1", password="wrong"))
    assert refused.status_code == HTTPStatus.UNAUTHORIZED
    assert refused.parsed.code.value == "invalid_credentials"

    executive, assistant, employee = sign_in("exec1"), sign_in("assistant1"), sign_in("employee1")

    # The inbox, then the same page again with its ETag: 304 and no body.
    inbox = inbox_list_inbox.sync_detailed(client=executive)
    assert inbox.status_code == HTTPStatus.OK and inbox.parsed.items
    etag = inbox.headers["ETag"]
    again = inbox_list_inbox.sync_detailed(client=executive, if_none_match=etag)
    assert again.status_code == HTTPStatus.NOT_MODIFIED and again.content == b""
    document_id = next(i.document_id for i in inbox.parsed.items if i.kind.value == "resolution")

    # Dictate with the phrase list; the worker runs once, as the Procfile's worker would.
    clip = next(c for c in MANIFEST["clips"] if c["id"] == "friday")  # exact with the phrase list in m4a
    with open(AUDIO / clip["files"]["m4a"]["file"], "rb") as recording:
        queued = voice_upload.sync_detailed(
            document_id, client=executive, idempotency_key="dictation-1",
            body=VoiceUploadForm(audio=File(payload=recording, file_name="note.m4a", mime_type="audio/mp4"),
                                 phrases=MANIFEST["phrase_list"]))
    assert queued.status_code == HTTPStatus.ACCEPTED, queued.content
    assert queued.parsed.status.value == "queued" and queued.headers["Location"].endswith(queued.parsed.voice_note_id)
    worker = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "transcription-worker", "--once",
                             "--threads", "1"], cwd=ROOT, env=live.env(), capture_output=True, text=True, timeout=300)
    assert worker.returncode == 0, worker.stdout + worker.stderr
    note = voice_get_note.sync_detailed(queued.parsed.voice_note_id, client=executive).parsed
    assert (note.status.value, note.transcript) == ("transcribed", clip["text"])

    # The author cannot review their own draft; the assistant does.
    own = resolutions_reviewed.sync_detailed(queued.parsed.resolution_id, client=executive)
    assert own.status_code == HTTPStatus.FORBIDDEN and own.parsed.code.value == "self_review"
    reviewed = resolutions_reviewed.sync_detailed(queued.parsed.resolution_id, client=assistant,
                                                  idempotency_key="review-1")
    assert reviewed.status_code == HTTPStatus.OK and reviewed.parsed.status.value == "reviewed"

    # The executive names the executor and issues it.
    employee_id = auth_me.sync_detailed(client=employee).parsed.id
    edited = resolutions_edit.sync_detailed(queued.parsed.resolution_id, client=executive,
                                            body=ResolutionPatch(executors=[employee_id]))
    assert edited.status_code == HTTPStatus.OK and edited.parsed.revisions == 1
    issued = resolutions_issue.sync_detailed(queued.parsed.resolution_id, client=executive, body=IssueIn())
    assert issued.status_code == HTTPStatus.OK, issued.content
    assert issued.parsed.status.value == "issued" and issued.parsed.text == clip["text"]

    # The executor completes the task the resolution made.
    tasks = tasks_list_tasks.sync_detailed(client=employee).parsed.items
    task = next(t for t in tasks if t.resolution_id == queued.parsed.resolution_id)
    done = tasks_complete.sync_detailed(task.id, client=employee, body=TaskCompleteIn(report="Проверено, отчёт готов."))
    assert done.status_code == HTTPStatus.OK and done.parsed.status.value == "done"

    # The tablet enrols its key and approves the document waiting for exec1, signed.
    tablet = Tablet()
    key = approvals_enrol.sync_detailed(client=executive, body=KeyIn(csr=tablet.csr_pem()))
    assert key.status_code == HTTPStatus.CREATED, key.content
    assert [k.id for k in approvals_keys.sync_detailed(client=executive).parsed.items] == [key.parsed.id]
    approval = approvals_waiting.sync_detailed(client=executive).parsed.items[0]
    session = approvals_open_session.sync_detailed(client=executive, body=SessionIn(
        subject=SubjectIn(type_=SubjectInType.APPROVAL, id=approval.id), key_id=key.parsed.id,
        decision=SessionInDecision.APPROVE))
    assert session.status_code == HTTPStatus.CREATED, session.content
    signature = tablet.sign_b64(session.parsed.data_to_sign)
    signed = approvals_sign.sync_detailed(session.parsed.id, client=executive, body=SignatureIn(signature=signature))
    assert signed.status_code == HTTPStatus.OK, signed.content
    decided = approvals_decide.sync_detailed(approval.id, client=executive, body=DecisionIn(
        decision=DecisionInDecision.APPROVE, signing_session_id=session.parsed.id))
    assert decided.status_code == HTTPStatus.OK, decided.content
    mine = [d for d in decided.parsed.decisions if d.signature_id == signed.parsed.id]
    assert [d.decision.value for d in mine] == ["approve"]
    report = approvals_report.sync_detailed(approval.document_id, client=executive).parsed
    assert [(item.valid, item.reason.value) for item in report.items] == [(True, "ok")]
    evidence = approvals_evidence.sync_detailed(approval.document_id, client=executive)
    assert evidence.status_code == HTTPStatus.OK and evidence.parsed.payload.read(2) == b"PK"
