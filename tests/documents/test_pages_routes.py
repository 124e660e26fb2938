"""Documents on the phone, end to end on both databases: a clerk registers a DOCX and a photographed
page, the documents worker prepares them, the phone reads pages and text under the document's own
access rule, and search finds the document by words that were only in the scan and only in the DOCX."""
import io
import json

import pytest
import sqlalchemy as sa
from PIL import Image

from documents.worker import Settings, Worker
from models import Job, Rendition, db

pytestmark = pytest.mark.slow  # LibreOffice, Tesseract and poppler, for real


def register(api, demo, files: list[tuple[str, bytes]], title="О текущих делах"):
    body = {"title": title, "correspondent": "Министерство строительства",
            "addressees": [str(demo["exec1"].units[0].id)]}
    data = {"metadata": json.dumps(body, ensure_ascii=False),
            "file": [(io.BytesIO(content), name) for name, content in files]}
    resp = api.post("/documents", data=data, content_type="multipart/form-data")
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def run_worker(app) -> int:
    db.session.commit()  # the test's own reads end: the worker's loops write
    return Worker(app, Settings.from_config(app.config), name="documents-test").run(once=True)


def url(doc, i, tail=""):
    return f"/documents/{doc['id']}/attachments/{doc['attachments'][i]['id']}{tail}"


@pytest.fixture
def prepared_demo(app, demo):
    """The demo's own letters prepared first, so that each test counts only its own files."""
    run_worker(app)
    return demo


@pytest.fixture
def registered(app, login, prepared_demo, sample_files):
    demo = prepared_demo
    doc = register(login("clerk1"), demo, [("Протокол.docx", sample_files["docx"]),
                                           ("Распоряжение.jpg", sample_files["jpeg"])])
    return doc


def test_pages_are_processing_until_the_worker_has_prepared_them(app, login, registered):
    exec1 = login("exec1")
    resp = exec1.get(url(registered, 0, "/pages"))
    assert resp.status_code == 200
    assert resp.get_json() == {"status": "processing", "count": 0, "items": []}
    resp = exec1.get(url(registered, 0, "/text"))
    assert resp.status_code == 409 and resp.get_json()["state"] == "processing"
    assert exec1.get(url(registered, 0, "/pages/1")).status_code == 409
    # Nothing waited at registration: the jobs are queued in its transaction.
    shas = [a["sha256"] for a in registered["attachments"]]
    assert db.session.scalars(sa.select(Rendition.status).where(Rendition.sha256.in_(shas))).all() == ["processing"] * 2
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Job).where(
        Job.kind == "document_pages", Job.status == "queued")) == 2


def test_pages_text_and_search_for_the_owner_and_the_addressee_a_stranger_gets_404(app, login, registered):
    assert login("exec1").get("/search", query_string={"q": "набережная"}).get_json()["items"] == []
    assert run_worker(app) == 2
    # Search finds the document by words that were only in the scan, or only in the DOCX.
    for query in ("набережная", "водопроводу", "Баумана"):
        found = login("exec1").get("/search", query_string={"q": query}).get_json()["items"]
        assert [item["document_id"] for item in found] == [registered["id"]], query
    assert login("exec2").get("/search", query_string={"q": "набережная"}).get_json()["items"] == []

    for who in ("clerk1", "exec1"):
        api = login(who)
        pages = api.get(url(registered, 0, "/pages")).get_json()
        assert pages["status"] == "ready" and pages["count"] == 1
        assert pages["items"] == [{"n": 1, "width": 1440, "height": pages["items"][0]["height"],
                                   "widths": [480, 960, 1440]}]
        text = api.get(url(registered, 0, "/text"))
        assert text.status_code == 200 and text.mimetype == "text/plain"
        assert "водопровода в Казани" in text.get_data(as_text=True)
        scan = api.get(url(registered, 1, "/text")).get_data(as_text=True)
        assert "благоустройстве набережной" in scan

    exec1 = login("exec1")
    image = exec1.get(url(registered, 0, "/pages/1"), query_string={"width": 500})
    assert image.status_code == 200 and image.mimetype in ("image/webp", "image/png")
    with Image.open(io.BytesIO(image.data)) as page:
        assert page.width == 480  # the prepared width nearest 500
    assert "private" in image.headers["Cache-Control"] and "max-age=31536000" in image.headers["Cache-Control"]
    assert image.headers["X-Content-Type-Options"] == "nosniff"
    again = exec1.get(url(registered, 0, "/pages/1"), query_string={"width": 500},
                      headers={"If-None-Match": image.headers["ETag"]})
    assert again.status_code == 304
    with Image.open(io.BytesIO(exec1.get(url(registered, 0, "/pages/1")).data)) as page:
        assert page.width == 1440  # no width: the widest
    assert exec1.get(url(registered, 0, "/pages/2")).status_code == 404

    stranger = login("exec2")  # another organization
    for tail in ("/pages", "/pages/1", "/text"):
        resp = stranger.get(url(registered, 0, tail))
        assert resp.status_code == 404 and resp.get_json()["code"] == "not_found"
    outsider = login("employee2")  # same organization, not addressed
    assert outsider.get(url(registered, 1, "/pages")).status_code == 404


def test_a_new_version_of_a_file_is_prepared_too(app, login, prepared_demo, sample_files):
    clerk, demo = login("clerk1"), prepared_demo
    doc = register(clerk, demo, [("Письмо.txt", "Первый вариант".encode())])
    run_worker(app)
    resp = clerk.post(f"/documents/{doc['id']}/attachments", content_type="multipart/form-data",
                      data={"file": (io.BytesIO(sample_files["png"]), "Скан.png")})
    assert resp.status_code in (200, 201), resp.get_json()
    assert run_worker(app) == 1
    attachments = clerk.get(f"/documents/{doc['id']}").get_json()["attachments"]
    scan = next(a for a in attachments if a["name"] == "Скан.png")
    assert clerk.get(f"/documents/{doc['id']}/attachments/{scan['id']}/pages").get_json()["status"] == "ready"


def test_poison_ends_failed_with_a_reason_and_the_next_file_is_still_prepared(app, login, prepared_demo, sample_files):
    files = [("Бомба.docx", sample_files["zip_bomb"]), ("Секрет.pdf", sample_files["encrypted_pdf"]),
             ("Фото.pdf", sample_files["jpeg"]), ("Мусор.pdf", sample_files["garbage"]),
             ("Таблица.xlsx", b"PK\x03\x04 not really"), ("Письмо.txt", "Про водопровод".encode())]
    doc = register(login("clerk1"), prepared_demo, files)
    assert run_worker(app) == 5  # the spreadsheet has no pages to prepare: failed at once, no job
    exec1 = login("exec1")
    answers = [exec1.get(url(doc, i, "/pages")).get_json() for i in range(len(files))]
    assert [a["status"] for a in answers] == ["failed"] * 5 + ["ready"]
    assert [a.get("reason_code") for a in answers] == ["zip_bomb", "encrypted", "type_mismatch", "unreadable",
                                                       "unsupported", None]
    assert answers[1]["reason"] == "PDF защищён паролем: пришлите файл без пароля."
    assert "JPEG" in answers[2]["reason"] and "PDF" in answers[2]["reason"]
    english = exec1.get(url(doc, 2, "/pages"), headers={"Accept-Language": "en-GB,en;q=0.9"}).get_json()
    assert english["reason"] == "The file is declared as PDF but is really JPEG: send it with the right type."
    text = exec1.get(url(doc, 0, "/text"))
    assert text.status_code == 409 and text.get_json()["state"] == "failed" and "бомб" in text.get_json()["detail"]
    assert exec1.get(url(doc, 5, "/text")).get_data(as_text=True) == "Про водопровод"
    failed = db.session.scalars(sa.select(Job.last_error).where(Job.status == "failed").order_by(Job.id)).all()
    assert len(failed) == 4 and all(failed)


def test_the_same_file_in_two_documents_is_prepared_once(app, login, prepared_demo, sample_files):
    clerk, demo = login("clerk1"), prepared_demo
    first = register(clerk, demo, [("Скан.png", sample_files["png"])])
    second = register(clerk, demo, [("Копия.png", sample_files["png"])], title="Повторно")
    assert run_worker(app) == 1
    sha = first["attachments"][0]["sha256"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Rendition).where(Rendition.sha256 == sha)) == 1
    found = login("exec1").get("/search", query_string={"q": "набережной"}).get_json()["items"]
    assert sorted(item["document_id"] for item in found) == sorted([first["id"], second["id"]])
