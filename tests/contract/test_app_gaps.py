"""What an app developer missed: languages, templates, keys, vocabulary, Range, self-review, signed issuing."""
from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from domain import voice
from models import Job, Organization, Resolution, Task, User, VoiceNote, db
from models.voice import ResolutionTemplate
from tests.support.tablet import Tablet

AUDIO = Path(__file__).resolve().parents[1] / "fixtures" / "audio"
PHRASES = json.loads((AUDIO / "manifest.json").read_text("utf-8"))["phrase_list"]


def _document(api) -> str:
    """A document exec1 may resolve: the first resolution line of his inbox."""
    return next(i["document_id"] for i in api.get("/inbox").get_json()["items"] if i["kind"] == "resolution")


def _upload(api, document_id, name="review.wav", **fields):
    with open(AUDIO / name, "rb") as f:
        return api.post(f"/documents/{document_id}/voice-resolutions", data={"audio": (f, name), **fields},
                        content_type="multipart/form-data")


def _problem(resp, status: int, code: str) -> dict:
    assert (resp.status_code, resp.mimetype) == (status, "application/problem+json"), resp.get_data(as_text=True)
    body = resp.get_json()
    assert body["code"] == code and body["status"] == status, body
    return body


def test_the_configured_languages_are_listed(login):
    answer = login("exec1").get("/voice/languages")
    assert answer.status_code == 200
    assert answer.get_json() == {"items": [{"code": "ko", "default": True}]}


def test_a_user_lists_their_own_keys_newest_first_with_revocations(login):
    exec1 = login("exec1")
    first = exec1.post("/keys", json={"csr": Tablet().csr_pem()}).get_json()
    second = exec1.post("/keys", json={"csr": Tablet().csr_pem()}).get_json()
    assert exec1.delete(f"/keys/{first['id']}").status_code == 204
    items = exec1.get("/keys").get_json()["items"]
    assert [k["id"] for k in items] == [second["id"], first["id"]]
    assert items[0]["revoked_at"] is None and items[1]["revoked_at"] is not None
    assert items[0]["certificate"].startswith("-----BEGIN CERTIFICATE-----")
    assert login("assistant1").get("/keys").get_json() == {"items": []}


def test_clerks_manage_the_organizations_templates_and_dictation_uses_them(login):
    clerk, exec1 = login("clerk1"), login("exec1")
    made = [clerk.post("/organization/resolution-templates", json={"text": text}) for text in PHRASES[:3]]
    assert [r.status_code for r in made] == [201, 201, 201]
    ids = [r.get_json()["id"] for r in made]
    assert exec1.get(made[0].headers["Location"]).get_json() == made[0].get_json()
    # Anyone of the organization reads them, in order; the other organization sees none of them.
    listed = exec1.get("/organization/resolution-templates").get_json()["items"]
    assert [t["text"] for t in listed] == PHRASES[:3]
    assert login("exec2").get("/organization/resolution-templates").get_json() == {"items": []}
    assert login("exec2").delete(f"/organization/resolution-templates/{ids[0]}").status_code == 404
    # Only a clerk or an admin changes them.
    _problem(exec1.post("/organization/resolution-templates", json={"text": PHRASES[4]}), 403, "forbidden")
    _problem(exec1.delete(f"/organization/resolution-templates/{ids[0]}"), 403, "forbidden")
    # A duplicate, and a word the model cannot recognise, are refused and nothing is added.
    _problem(clerk.post("/organization/resolution-templates", json={"text": f"  {PHRASES[0]} "}), 409,
             "template_exists")
    oov = _problem(clerk.post("/organization/resolution-templates", json={"text": "검토 하세요 zzyzxq"}), 422,
                   "out_of_vocabulary")
    assert "zzyzxq" in oov["errors"]["text"][0]
    moved = clerk.patch(f"/organization/resolution-templates/{ids[2]}", json={"position": 0})
    assert moved.status_code == 200 and moved.get_json()["position"] == 0
    assert clerk.delete(f"/organization/resolution-templates/{ids[1]}").status_code == 204
    assert [t["text"] for t in exec1.get("/organization/resolution-templates").get_json()["items"]] == \
        [PHRASES[2], PHRASES[0]]
    # Dictating in templates mode now recognises exactly these phrases.
    settings = exec1.put("/me/voice-settings", json={"phrase_mode": "templates"}).get_json()
    assert settings["templates"] == [PHRASES[2], PHRASES[0]]
    assert _upload(exec1, _document(exec1)).status_code == 202
    note = db.session.scalar(sa.select(VoiceNote).order_by(VoiceNote.id.desc()))
    assert note.phrases == [PHRASES[2], PHRASES[0]]


def test_a_phrase_outside_the_models_vocabulary_is_refused_at_upload(login):
    exec1 = login("exec1")
    doc = _document(exec1)
    body = _problem(_upload(exec1, doc, phrases=json.dumps([PHRASES[0], "검토 blorptastic"])), 422,
                    "out_of_vocabulary")
    assert "blorptastic" in body["detail"] and "검토" not in body["errors"]["phrases"][0].split(":")[1]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(VoiceNote)) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Job).where(Job.kind == voice.JOB_KIND)) == 0
    # Phrases sent one per part, as generated clients send an array, are read the same way.
    with open(AUDIO / "review.wav", "rb") as f:
        resp = exec1.post(f"/documents/{doc}/voice-resolutions", content_type="multipart/form-data",
                          data={"audio": (f, "review.wav"), "phrases": [PHRASES[0], PHRASES[1]]})
    assert resp.status_code == 202, resp.get_json()
    assert db.session.scalar(sa.select(VoiceNote.phrases)) == [PHRASES[0], PHRASES[1]]


@pytest.mark.parametrize("what", ["attachment", "audio"])
def test_ranges_on_files_416_says_the_size_and_malformed_ranges_are_ignored(login, what):
    exec1 = login("exec1")
    if what == "attachment":
        meta = {"title": "Скан", "correspondent": "ГКУ «ЦИТ»",
                "addressees": [str(db.session.get(User, int(exec1.get("/me").get_json()["id"])).units[0].id)]}
        content = bytes(range(256)) * 8
        doc = login("clerk1").post("/documents", content_type="multipart/form-data", data={
            "metadata": json.dumps(meta, ensure_ascii=False), "file": (io.BytesIO(content), "scan.bin")}).get_json()
        url = f"/documents/{doc['id']}/attachments/{doc['attachments'][0]['id']}"
    else:
        content = (AUDIO / "review.wav").read_bytes()
        queued = _upload(exec1, _document(exec1)).get_json()
        url = f"/voice-notes/{queued['voice_note_id']}/audio"
    size = len(content)
    part = exec1.get(url, headers={"Range": "bytes=10-19"})
    assert (part.status_code, part.data, part.headers["Content-Range"]) == (206, content[10:20], f"bytes 10-19/{size}")
    beyond = exec1.get(url, headers={"Range": f"bytes={size + 10}-"})
    _problem(beyond, 416, "range_not_satisfiable")
    assert beyond.headers["Content-Range"] == f"bytes */{size}"
    for malformed in ("bytes=abc", "bytes=5-1", "items=0-9", "bytes=0-1,5-6", "0-9"):
        whole = exec1.get(url, headers={"Range": malformed})
        assert (whole.status_code, whole.data) == (200, content), malformed
        assert "Content-Range" not in whole.headers


def test_the_author_of_a_draft_cannot_mark_it_reviewed(login, demo):
    exec1, assistant = login("exec1"), login("assistant1")
    doc = _document(exec1)
    draft = exec1.post(f"/documents/{doc}/resolutions",
                       json={"text": "Подготовить ответ.", "executors": [str(demo["employee1"].id)]}).get_json()
    _problem(exec1.post(f"/resolutions/{draft['id']}/reviewed"), 403, "self_review")
    dictated = _upload(exec1, doc).get_json()
    _problem(exec1.post(f"/resolutions/{dictated['resolution_id']}/reviewed"), 403, "self_review")
    assert db.session.get(Resolution, int(dictated["resolution_id"])).status == "transcribing"
    # The assistant is still the one who may, once there is a transcript to review.
    _problem(assistant.post(f"/resolutions/{dictated['resolution_id']}/reviewed"), 409, "invalid_state")


def test_the_organization_decides_that_enrolled_authors_sign_what_they_issue(app, login, demo):
    exec1 = login("exec1")
    employee = str(demo["employee1"].id)
    # Only an admin sets the policy.
    _problem(exec1.patch("/organization", json={"issue_requires_signature": True}), 403, "forbidden")
    demo["clerk1"].role_list = "clerk admin"
    db.session.commit()
    answer = login("clerk1").patch("/organization", json={"issue_requires_signature": True})
    assert answer.status_code == 200 and answer.get_json()["issue_requires_signature"] is True
    assert exec1.get("/organization").get_json()["issue_requires_signature"] is True
    assert login("exec2").get("/organization").get_json()["issue_requires_signature"] is False

    doc = _document(exec1)
    # Without an enrolled key the author issues unsigned, as approvers without one decide unsigned.
    plain = exec1.post(f"/documents/{doc}/resolutions", json={"text": "Исполнить.", "executors": [employee],
                                                              "issue": True})
    assert plain.status_code == 201 and plain.get_json()["status"] == "issued"
    # Once enrolled, an unsigned issue is refused and nothing is issued.
    tablet = Tablet()
    key = exec1.post("/keys", json={"csr": tablet.csr_pem()}).get_json()
    _problem(exec1.post(f"/documents/{doc}/resolutions", json={"text": "Исполнить срочно.", "executors": [employee],
                                                               "issue": True}), 422, "signature_required")
    draft = exec1.post(f"/documents/{doc}/resolutions", json={"text": "Доложить.", "executors": [employee]}).get_json()
    body = _problem(exec1.post(f"/resolutions/{draft['id']}/issue", json={}), 422, "signature_required")
    assert "signing_session_id" in body["errors"]
    assert db.session.get(Resolution, int(draft["id"])).status == "draft"
    tasks = db.session.scalar(sa.select(sa.func.count()).select_from(Task).where(Task.text == "Доложить."))
    assert tasks == 0
    # Signed, it is issued.
    session = exec1.post("/signing-sessions", json={"subject": {"type": "resolution", "id": draft["id"]},
                                                    "key_id": key["id"]}).get_json()
    assert exec1.post(f"/signing-sessions/{session['id']}/signature",
                      json={"signature": tablet.sign_b64(session["data_to_sign"])}).status_code == 200
    issued = exec1.post(f"/resolutions/{draft['id']}/issue", json={"signing_session_id": session["id"]})
    assert issued.status_code == 200 and issued.get_json()["status"] == "issued"
    # The policy off again: the enrolled author may issue unsigned.
    login("clerk1").patch("/organization", json={"issue_requires_signature": False})
    assert db.session.scalar(sa.select(Organization.issue_requires_signature)
                             .where(Organization.id == demo["exec1"].organization_id)) is False
    again = exec1.post(f"/documents/{doc}/resolutions", json={"text": "Учесть.", "executors": [employee],
                                                              "issue": True})
    assert again.status_code == 201 and again.get_json()["status"] == "issued"


def test_templates_are_counted_per_organization(login):
    """The limit and the uniqueness are the organization's, not global."""
    assert login("clerk1").post("/organization/resolution-templates", json={"text": PHRASES[0]}).status_code == 201
    assert login("clerk2").post("/organization/resolution-templates", json={"text": PHRASES[0]}).status_code == 201
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ResolutionTemplate)) == 2
