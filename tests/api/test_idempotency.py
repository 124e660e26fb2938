"""Idempotency-Key: a retried POST replays the first answer; the same key with another body is a conflict."""
import io
import json

import sqlalchemy as sa

from models import Document, Resolution, db


def _doc_id(demo):
    return db.session.scalar(sa.select(Document.id).where(Document.reg_number.like("МЦР-1/%")))


def test_a_retried_resolution_is_created_once(login, demo):
    api = login("exec1")
    body = {"text": "Подготовить ответ", "executors": [str(demo["employee1"].id)]}
    first = api.post(f"/documents/{_doc_id(demo)}/resolutions", json=body, headers={"Idempotency-Key": "k-1"})
    again = api.post(f"/documents/{_doc_id(demo)}/resolutions", json=body, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == again.status_code == 201
    assert first.get_json() == again.get_json()
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Resolution).where(
        Resolution.author_id == demo["exec1"].id)) == 1


def test_the_same_key_with_a_different_body_is_a_conflict(login, demo):
    api = login("exec1")
    url = f"/documents/{_doc_id(demo)}/resolutions"
    api.post(url, json={"text": "A", "executors": [str(demo["employee1"].id)]}, headers={"Idempotency-Key": "k"})
    resp = api.post(url, json={"text": "B", "executors": [str(demo["employee1"].id)]}, headers={"Idempotency-Key": "k"})
    assert resp.status_code == 409 and resp.get_json()["code"] == "idempotency_conflict"
    texts = db.session.scalars(sa.select(Resolution.text).where(Resolution.author_id == demo["exec1"].id)).all()
    assert texts == ["A"]


def test_keys_belong_to_their_user(login, demo):
    body = {"text": "Исполнить", "executors": [str(demo["employee1"].id)]}
    url = f"/documents/{_doc_id(demo)}/resolutions"
    a = login("exec1").post(url, json=body, headers={"Idempotency-Key": "shared"})
    b = login("minister").post(url, json=body, headers={"Idempotency-Key": "shared"})
    assert a.status_code == b.status_code == 201 and a.get_json()["id"] != b.get_json()["id"]


def test_a_failed_request_is_not_remembered(login, demo):
    api = login("exec1")
    url = f"/documents/{_doc_id(demo)}/resolutions"
    bad = api.post(url, json={"text": "", "executors": []}, headers={"Idempotency-Key": "retry-me"})
    assert bad.status_code == 422
    good = api.post(url, json={"text": "Исполнить", "executors": [str(demo["employee1"].id)]},
                    headers={"Idempotency-Key": "retry-me"})
    assert good.status_code == 201


def test_multipart_retries_match_by_content_not_by_boundary(login, demo):
    clerk = login("clerk1")
    meta = json.dumps({"title": "Письмо", "correspondent": "Минфин", "addressees": [str(demo["exec1"].units[0].id)]})

    def post(content=b"scan"):
        return clerk.post("/documents", data={"metadata": meta, "file": (io.BytesIO(content), "a.pdf")},
                          content_type="multipart/form-data", headers={"Idempotency-Key": "upload-1"})

    first, again = post(), post()
    assert first.status_code == again.status_code == 201
    assert first.get_json()["reg_number"] == again.get_json()["reg_number"]
    assert post(b"another scan").status_code == 409


def test_overlong_or_unprintable_keys_are_refused(login, demo):
    api = login("exec1")
    for key in ("x" * 256, "tab\there"):
        resp = api.post("/devices", json={"token": "t", "platform": "ios"}, headers={"Idempotency-Key": key})
        assert resp.status_code == 400 and resp.get_json()["code"] == "invalid_idempotency_key"
