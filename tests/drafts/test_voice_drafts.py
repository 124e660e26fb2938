"""An assistant dictates a draft for the executive they serve, with the real model and worker: the draft is
the executive's, marked as the assistant's; once reviewed it reaches the executive, who rejects or issues it."""
from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from models import OutboxMessage, Resolution, Task, VoiceNote, db
from tests.voice.conftest import AUDIO, MANIFEST, document_of, upload

pytestmark = pytest.mark.slow
PHRASES = json.dumps(MANIFEST["phrase_list"], ensure_ascii=False)


def test_an_assistant_dictates_a_draft_for_the_executive_who_then_issues_it(login, worker, demo):
    exec1, assistant = login("exec1"), login("assistant1")
    doc = document_of(exec1)

    resp = upload(assistant, doc, AUDIO / "review_contract.wav", key="dict-1", phrases=PHRASES,
                  author=str(demo["exec1"].id))

    assert resp.status_code == 202, resp.get_json()
    res_id = resp.get_json()["resolution_id"]
    res = assistant.get(f"/resolutions/{res_id}").get_json()
    assert (res["status"], res["author"]["id"], res["drafted_by"]) == (
        "transcribing", str(demo["exec1"].id), str(demo["assistant1"].id))
    worker()
    # Transcribed, it is reviewed as any of the executive's dictations, then handed to the executive.
    assert [r["id"] for r in assistant.get("/review-queue").get_json()["items"]] == [res_id]
    assistant.patch(f"/resolutions/{res_id}", json={"text": "Прошу проверить договор",
                                                     "executors": [str(demo["employee1"].id)]})
    assert assistant.post(f"/resolutions/{res_id}/reviewed").get_json()["status"] == "reviewed"
    assert any(line["document_id"] == doc and line["kind"] == "resolution"
               for line in exec1.get("/inbox").get_json()["items"])
    assert db.session.scalar(sa.select(OutboxMessage.user_id).where(OutboxMessage.event == "draft_reviewed")) == \
        demo["exec1"].id

    issued = exec1.post(f"/resolutions/{res_id}/issue")

    assert issued.status_code == 200 and issued.get_json()["drafted_by"] == str(demo["assistant1"].id)
    assert issued.get_json()["issued_by"] is None  # the executive issued it
    assert [t.text for t in db.session.scalars(sa.select(Task).where(Task.resolution_id == int(res_id)))] == [
        "Прошу проверить договор"]


def test_a_dictation_for_an_executive_not_served_is_refused_before_anything_is_stored(login, demo):
    assistant = login("assistant1")
    doc = document_of(login("exec1"))
    refused = upload(assistant, doc, AUDIO / "review_contract.wav", author=str(demo["minister"].id))
    assert refused.status_code == 403 and refused.get_json()["code"] == "not_your_executive"
    bad = upload(assistant, doc, AUDIO / "review_contract.wav", author="exec1")
    assert bad.status_code == 422 and "author" in bad.get_json()["errors"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(VoiceNote)) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Resolution).where(
        Resolution.drafted_by_id.is_not(None))) == 0


def test_the_executive_rejects_a_dictated_draft_still_waiting_for_review(login, worker, demo):
    exec1, assistant = login("exec1"), login("assistant1")
    doc = document_of(exec1)
    res_id = upload(assistant, doc, AUDIO / "reject.wav", phrases=PHRASES,
                    author=str(demo["exec1"].id)).get_json()["resolution_id"]
    worker()

    rejected = exec1.post(f"/resolutions/{res_id}/reject", json={"comment": "Не надо"})

    assert rejected.status_code == 200 and rejected.get_json()["status"] == "rejected"
    assert assistant.get("/review-queue").get_json()["items"] == []  # off the review queue and inbox
    assert not [i for i in assistant.get("/inbox?view=action").get_json()["items"] if i["kind"] == "review"]
    [told] = db.session.scalars(sa.select(OutboxMessage).where(OutboxMessage.event == "draft_rejected")).all()
    assert (told.user_id, told.payload["resolution_id"]) == (demo["assistant1"].id, res_id)
