"""The review console in a real browser: a dictation from queue to issued, CSRF refusals, strangers kept out."""
from __future__ import annotations

import io
import os
import re

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from documents.worker import Settings as DocumentsSettings
from documents.worker import Worker as DocumentsWorker
from models import Resolution, Task, User, db
from tests.conftest import DEMO_PASSWORD
from tests.documents import samples
from tests.voice.conftest import AUDIO, document_of, upload

from .conftest import ROOT, sign_in

# Dictations through the real model, gunicorn and a browser: minutes on a busy two-core machine.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
# The README's picture of the review screen, taken only on request: README_PICTURES=1 when running this file.
SCREENSHOT = ROOT / "docs" / "review-screen.png"
FIXED = "다음 주 까지 검토 하세요"


def _dictated(login, worker, clip: str = "review_next_week", reseed=None) -> dict:
    exec1 = login("exec1")
    body = upload(exec1, document_of(exec1), AUDIO / f"{clip}.wav").get_json()
    if reseed:
        reseed()  # the same dither, so the same words, on both dictations
    assert worker() == 1
    return body


def _audio_ready(page) -> None:
    page.wait_for_function("() => document.getElementById('audio').readyState >= 1")  # a function: CSP forbids eval


def test_a_dictation_from_the_queue_to_issued(app, login, worker, live_server, page, demo):
    body = _dictated(login, worker)
    res_id = body["resolution_id"]
    # A scan of the document, prepared by the documents worker, is shown beside the transcript.
    samples.ensure_converters()
    scan = samples.image_bytes(samples.scan(["Распоряжение о благоустройстве набережной"], dpi=150), "PNG")
    document_id = document_of(login("exec1"))
    added = login("clerk1").post(f"/documents/{document_id}/attachments", content_type="multipart/form-data",
                                 data={"file": (io.BytesIO(scan), "Скан.png")})
    assert added.status_code == 201, added.get_json()
    db.session.commit()
    assert DocumentsWorker(app, DocumentsSettings.from_config(app.config), name="documents-console").run(once=True)
    sign_in(page, live_server, "assistant1", DEMO_PASSWORD)

    # The queue: the draft with its document, executive, duration and flagged words.
    item = page.get_by_test_id("queue-item")
    expect(item).to_have_count(1)
    expect(item).to_contain_text("Галиев И.Р.")
    assert int(item.get_by_test_id("queue-flagged").inner_text()) >= 1
    item.locator("a").click()
    page.wait_for_url(f"{live_server}/console/resolutions/{res_id}")
    expect(page.get_by_test_id("reg-number")).not_to_be_empty()
    expect(page.get_by_test_id("attachment")).to_have_count(2)
    expect(page.get_by_test_id("page")).to_have_count(1)  # the letter is text: only the scan has a page
    expect(page.get_by_test_id("page")).to_have_attribute("alt", "Скан.png, страница 1")
    page.wait_for_function(
        "() => [...document.querySelectorAll('img.page')].every(i => i.complete && i.naturalWidth > 0)")

    # Click a flagged word: the audio jumps to its start and the word is highlighted.
    _audio_ready(page)
    flagged = next(w for w in page.locator("[data-testid=word][data-review=true]").all()
                   if float(w.get_attribute("data-start")) > 0.3)  # one the audio has to move to
    start = float(flagged.get_attribute("data-start"))
    flagged.click()
    page.evaluate("document.getElementById('audio').pause()")
    position = page.evaluate("document.getElementById('audio').currentTime")
    assert start - 0.05 <= position < start + 1.0
    expect(flagged).to_have_class(re.compile(r"\bplaying\b"))

    # Keyboard: back to the start with F1, then F8 goes to the next flagged word, F3 slows down.
    page.keyboard.press("F1")
    back = page.evaluate("document.getElementById('audio').currentTime")
    assert back < position
    starts = [float(w.get_attribute("data-start")) for w in page.locator("[data-testid=word][data-review=true]").all()]
    page.keyboard.press("F8")
    page.evaluate("document.getElementById('audio').pause()")
    expected = min(t for t in starts if t > back + 0.01)
    assert abs(page.evaluate("document.getElementById('audio').currentTime") - expected) < 0.05
    page.keyboard.press("F3")
    assert page.evaluate("document.getElementById('audio').playbackRate") < 1.0

    # Edit in place, pick an executor by autocomplete, set a deadline, save: one revision with a word diff.
    page.get_by_test_id("text-editor").fill(FIXED)
    page.get_by_test_id("executors").fill("хабиб")
    page.get_by_test_id("executor-option").filter(has_text="Хабибуллин").click()
    expect(page.get_by_test_id("executor-chip")).to_have_count(1)
    page.get_by_test_id("deadline").fill("2026-12-04")
    page.get_by_test_id("save").click()
    expect(page.get_by_test_id("notice")).to_have_text("Сохранено")
    expect(page.get_by_test_id("revision")).to_have_count(1)
    expect(page.get_by_test_id("revisions").locator("ins")).not_to_have_count(0)
    db.session.expire_all()
    res = db.session.get(Resolution, int(res_id))
    assert (res.text, [u.username for u in res.executors]) == (FIXED, ["employee1"])
    assert res.deadline.date().isoformat() in ("2026-12-04", "2026-12-05")
    flagged.click()  # the README's picture: a flagged word playing, the edit saved with its word diff
    page.evaluate("document.getElementById('audio').pause()")
    if os.environ.get("README_PICTURES") == "1":
        page.screenshot(path=str(SCREENSHOT), full_page=True)

    page.get_by_test_id("mark-reviewed").click()
    expect(page.get_by_test_id("status")).to_have_text("проверен")
    expect(page.get_by_test_id("issue")).to_have_count(0)  # only the author issues
    page.get_by_test_id("logout").click()
    page.wait_for_url(f"{live_server}/console/login")

    # The executive finds the reviewed draft and issues it: the executor gets the task.
    sign_in(page, live_server, "exec1", DEMO_PASSWORD)
    page.get_by_test_id("queue-item").filter(has_text="проверен").locator("a").click()
    expect(page.get_by_test_id("text-editor")).to_have_value(FIXED)
    page.get_by_test_id("issue").click()
    expect(page.get_by_test_id("status")).to_have_text("выдана")
    db.session.expire_all()
    tasks = db.session.scalars(sa.select(Task).where(Task.resolution_id == int(res_id))).all()
    assert [(t.executor_id, t.text) for t in tasks] == [(demo["employee1"].id, FIXED)]


def _assistant_of_the_minister(demo) -> None:
    from werkzeug.security import generate_password_hash

    other = User(organization_id=demo["exec1"].organization_id, username="assistant2", name="Сидорова Анна Олеговна",
                 short_name="Сидорова А.О.", role_list="assistant",
                 password_hash=generate_password_hash(DEMO_PASSWORD), units=list(demo["assistant1"].units))
    other.executives = [demo["minister"]]
    db.session.add(other)
    db.session.commit()


def test_csrf_refused_cookies_locked_and_strangers_see_nothing(app, login, worker, reseed, live_server, page, demo):
    # The assistant corrected this executive's first dictation of the sentence; the second comes corrected.
    first = _dictated(login, worker, "review", reseed)
    assistant = login("assistant1")
    heard = assistant.get(f"/resolutions/{first['resolution_id']}").get_json()["text"]
    assistant.patch(f"/resolutions/{first['resolution_id']}", json={"text": "검토 하세요"})
    assert assistant.post(f"/resolutions/{first['resolution_id']}/reviewed").status_code == 200
    body = _dictated(login, worker, "review", reseed)
    res_id = body["resolution_id"]
    _assistant_of_the_minister(demo)
    sign_in(page, live_server, "assistant1", DEMO_PASSWORD)
    response = page.goto(f"{live_server}/console/resolutions/{res_id}")
    corrected = page.locator("[data-testid=word][data-corrected=true]")
    expect(corrected).to_have_count(1)
    assert corrected.get_attribute("data-review") == "true" and heard in corrected.get_attribute("title")
    expect(page.get_by_test_id("text-editor")).to_have_value("검토 하세요")
    corrected.get_by_test_id("undo-correction").click()  # one click puts back what was heard
    expect(page.get_by_test_id("text-editor")).to_have_value(heard)
    expect(page.locator("[data-testid=word][data-corrected=true]")).to_have_count(0)
    headers = response.headers
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert "script-src 'self'" in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY"
    cookie = next(c for c in page.context.cookies() if c["name"] == "console_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"

    # A write without the page's CSRF token, or with a wrong one, is refused and changes nothing.
    url = f"/console/api/resolutions/{res_id}"
    for headers in ({"Content-Type": "application/json"},
                    {"Content-Type": "application/json", "X-CSRF-Token": "forged"}):
        status = page.evaluate("([url, headers]) => fetch(url, {method: 'POST', headers, body: "
                               "JSON.stringify({text: 'hijacked'})}).then(r => r.status)", [url, headers])
        assert status == 403
    status = page.evaluate("(url) => fetch(url + '/reviewed', {method: 'POST'}).then(r => r.status)", url)
    assert status == 403
    db.session.expire_all()
    res = db.session.get(Resolution, int(res_id))
    assert res.text != "hijacked" and res.status == "awaiting_review" and res.revisions == []
    # With the token the same call goes through: the refusals above were the token's doing.
    token = page.get_attribute("#review", "data-csrf")
    status = page.evaluate("([url, token]) => fetch(url, {method: 'POST', headers: {'Content-Type': "
                           "'application/json', 'X-CSRF-Token': token}, body: JSON.stringify({text: 'fixed'})})"
                           ".then(r => r.status)", [url, token])
    assert status == 200

    # An assistant of another executive: no queue entry, and the page, the audio and the calls are 404.
    page.get_by_test_id("logout").click()
    sign_in(page, live_server, "assistant2", DEMO_PASSWORD)
    expect(page.get_by_test_id("queue-item")).to_have_count(0)
    assert page.goto(f"{live_server}/console/resolutions/{res_id}").status == 404
    assert page.goto(f"{live_server}/console/voice-notes/{body['voice_note_id']}/audio").status == 404
    page.goto(f"{live_server}/console/")
    token = page.get_attribute("[name=csrf_token]", "value")
    status = page.evaluate("([url, token]) => fetch(url + '/reviewed', {method: 'POST', headers: "
                           "{'X-CSRF-Token': token}}).then(r => r.status)", [url, token])
    assert status == 404
    db.session.expire_all()
    assert db.session.get(Resolution, int(res_id)).status == "awaiting_review"



def test_an_assistant_prepares_a_draft_on_the_documents_page_and_the_executive_rejects_it(
        app, live_server, page, demo):
    sign_in(page, live_server, "assistant1", DEMO_PASSWORD)
    # From the executive's documents waiting for a resolution to the document's page and its form.
    page.get_by_test_id("document-item").first.locator("a").click()
    page.wait_for_url(re.compile(r".*/console/documents/\d+$"))
    page.get_by_test_id("draft-author").select_option(str(demo["exec1"].id))
    page.get_by_test_id("draft-text").fill("Подготовить ответ заявителю")
    page.get_by_test_id("draft-executors").select_option([str(demo["employee1"].id)])
    page.get_by_test_id("draft-deadline").fill("2026-12-25")
    page.get_by_test_id("draft-submit").click()
    page.wait_for_url(re.compile(r".*/console/resolutions/\d+\?prepared=1$"))
    expect(page.get_by_test_id("draft-sent")).to_be_visible()
    expect(page.get_by_test_id("status")).to_have_text("черновик")
    res_id = int(re.search(r"/resolutions/(\d+)", page.url).group(1))
    db.session.expire_all()
    res = db.session.get(Resolution, res_id)
    assert (res.author_id, res.drafted_by_id, [e.id for e in res.executors]) == (
        demo["exec1"].id, demo["assistant1"].id, [demo["employee1"].id])

    # The executive finds it among the drafts from the assistant and rejects it with a comment.
    sign_in(page, live_server, "exec1", DEMO_PASSWORD)
    page.get_by_test_id("prepared-for-me").get_by_test_id("queue-item").locator("a").click()
    expect(page.get_by_test_id("drafted-by")).to_contain_text("Миннуллина")
    page.get_by_test_id("reject-comment-input").fill("Ответ уже направлен")
    page.get_by_test_id("reject").click()
    expect(page.get_by_test_id("status")).to_have_text("отклонён")
    expect(page.get_by_test_id("reject-comment")).to_have_text("Ответ уже направлен")
    db.session.expire_all()
    assert db.session.get(Resolution, res_id).status == "rejected"
