"""The evidence carries a PDF a person can read without tools: the document's pages with a mark per signature
(ГОСТ Р 7.0.97: certificate number, owner, validity), a deputy's mark naming the principal too; none while the
pages are being prepared, and HOW-TO-VERIFY says why."""
import io
import json
import shlex
import subprocess
import zipfile
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from cryptography import x509
from reportlab.pdfgen import canvas

from documents.worker import Settings, Worker
from models import Unit, User, db
from signing import cms
from signing.evidence import VIEW_NAME
from tests.documents import samples

PAGE_TEXT = ["Регламент электронного документооборота", "Раздел {n}. Порядок согласования проектов"]


@pytest.fixture(scope="module")
def converters():
    samples.ensure_converters()


def _letter(pages: int) -> bytes:
    """A PDF with a text layer (no OCR needed), its last page written down to the foot: no room for a mark."""
    out = io.BytesIO()
    pdf = canvas.Canvas(out, invariant=1)
    for n in range(1, pages + 1):
        y = 800
        pdf.setFont("Helvetica", 11)
        while y > 30 if n == pages else y > 600:
            pdf.drawString(60, y, f"Section {n}, line {y}: the procedure of approval")
            y -= 14
        pdf.showPage()
    pdf.save()
    return out.getvalue()


def _register(login) -> str:
    office = db.session.scalar(sa.select(Unit.id).where(Unit.short_name == "Аппарат"))
    meta = {"title": "О регламенте документооборота", "correspondent": "ГКУ «ЦИТ»", "addressees": [str(office)]}
    resp = login("clerk1").post("/documents", data={"metadata": json.dumps(meta, ensure_ascii=False),
                                                    "file": [(io.BytesIO(_letter(2)), "Регламент.pdf"),
                                                             (io.BytesIO("Сопроводительное письмо".encode()),
                                                              "Письмо.txt")]},
                                content_type="multipart/form-data")
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()["id"]


def _run_worker(app) -> int:
    db.session.commit()
    return Worker(app, Settings.from_config(app.config), name="mark-test").run(once=True)


def _evidence(api, document: str) -> zipfile.ZipFile:
    resp = api.get(f"/documents/{document}/evidence")
    assert resp.status_code == 200
    return zipfile.ZipFile(io.BytesIO(resp.data))


def test_the_evidence_pdf_shows_who_signed_a_deputy_for_the_principal(app, converters, enrol, login, users,
                                                                      tmp_path):
    _run_worker(app)  # the demo's own letters first
    document = _register(login)
    enrol("exec1")
    deputy, minister = enrol("employee2"), enrol("minister")
    now = datetime.now(timezone.utc)
    made = login("exec1").post("/substitutions", json={
        "deputy": users["employee2"], "starts_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "ends_at": (now + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"), "scopes": ["approvals"]})
    assert made.status_code == 201, made.get_json()
    body = {"stages": [{"mode": "sequential", "approvers": [users["exec1"]]},
                       {"mode": "sequential", "approvers": [users["minister"]]}]}
    approval = login("clerk1").put(f"/documents/{document}/approval-route", json=body).get_json()
    assert deputy.approve(approval["id"]).status_code == 200
    assert minister.approve(approval["id"]).status_code == 200

    # The pages are still being prepared: no PDF, and the instructions say why.
    with _evidence(login("clerk1"), document) as archive:
        assert VIEW_NAME not in archive.namelist()
        text = archive.read("HOW-TO-VERIFY.txt").decode()
    assert f"{VIEW_NAME} is not included: the pages of Регламент.pdf are still being prepared" in text
    assert f"{VIEW_NAME} не приложен: страницы файла Регламент.pdf ещё готовятся" in text

    assert _run_worker(app) == 2
    first = login("clerk1").get(f"/documents/{document}/evidence").data
    assert login("clerk1").get(f"/documents/{document}/evidence").data == first  # the same bytes each time
    with zipfile.ZipFile(io.BytesIO(first)) as archive:
        archive.extractall(tmp_path)
        text = archive.read("HOW-TO-VERIFY.txt").decode()
    assert "The signatures are over\n                        content/<name>.json, not over this PDF" in text
    assert "не приложен" not in text and "is not included" not in text
    pdf = tmp_path / VIEW_NAME
    # The principal is in the deputy's signed attributes too (CAdES signer-attributes), and stock OpenSSL
    # verifies both signatures with it there.
    claims = sorted(str(cms.claimed_role(p.read_bytes())) for p in (tmp_path / "signatures").glob("*.p7s"))
    principal = db.session.get(User, int(users["exec1"])).name
    assert claims == ["None", f"за {principal} / acting for {principal} (user {users['exec1']})"]
    commands = [shlex.split(line) for line in text.splitlines() if line.startswith("openssl cms -verify")]
    assert len(commands) == 2
    for command in commands:
        done = subprocess.run(command, cwd=tmp_path, capture_output=True, timeout=30)
        assert done.returncode == 0, done.stderr.decode()

    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    # Two pages of the PDF file (the text file has none), and a signature sheet: its last page has no room.
    assert "Pages:           3" in info
    sheet = subprocess.run(["pdftotext", "-f", "3", "-l", "3", str(pdf), "-"], capture_output=True, text=True,
                           check=True).stdout
    assert sheet.count("ДОКУМЕНТ ПОДПИСАН") == 2 and sheet.count("ЭЛЕКТРОННОЙ ПОДПИСЬЮ") == 2
    assert "Signed with an electronic signature" in sheet
    for signer in (deputy, minister):
        cert = x509.load_pem_x509_certificate(signer.key["certificate"].encode())
        assert f"Сертификат: {cert.serial_number:X}" in sheet
        assert (f"Действителен с {cert.not_valid_before_utc:%d.%m.%Y} по {cert.not_valid_after_utc:%d.%m.%Y}"
                in sheet)
    names = {u.username: u.name for u in db.session.scalars(sa.select(User))}
    assert f"Владелец / Owner: {names['employee2']}" in sheet
    assert f"Подписал за / Acting for: {names['exec1']}" in sheet
    assert f"Владелец / Owner: {names['minister']}" in sheet
    assert sheet.count("Подписал за") == 1  # the minister signed in their own name
    rendered = subprocess.run(["pdftoppm", "-r", "40", "-png", str(pdf), str(tmp_path / "page")],
                              capture_output=True, timeout=60)
    assert rendered.returncode == 0 and len(list(tmp_path.glob("page-*.png"))) == 3


def test_no_pdf_when_a_files_pages_could_not_be_prepared_and_the_instructions_say_why(app, converters, enrol,
                                                                                       login, users, tmp_path):
    _run_worker(app)
    office = db.session.scalar(sa.select(Unit.id).where(Unit.short_name == "Аппарат"))
    meta = {"title": "О ремонте", "correspondent": "ГКУ «ЦИТ»", "addressees": [str(office)]}
    files = [(io.BytesIO("Сопроводительное письмо".encode()), "Письмо.txt"),
             (io.BytesIO(b"%PDF-1.7 not really" + bytes(range(256)) * 8), "Скан.pdf")]
    resp = login("clerk1").post("/documents", data={"metadata": json.dumps(meta, ensure_ascii=False), "file": files},
                                content_type="multipart/form-data")
    document = resp.get_json()["id"]
    minister = enrol("minister")
    approval = login("clerk1").put(f"/documents/{document}/approval-route", json={
        "stages": [{"mode": "sequential", "approvers": [users["minister"]]}]}).get_json()
    assert minister.approve(approval["id"]).status_code == 200

    with _evidence(login("clerk1"), document) as archive:  # the text file never has pages: the PDF's are awaited
        text = archive.read("HOW-TO-VERIFY.txt").decode()
    assert f"{VIEW_NAME} is not included: the pages of Скан.pdf are still being prepared" in text
    _run_worker(app)
    with _evidence(login("clerk1"), document) as archive:
        assert VIEW_NAME not in archive.namelist()
        text = archive.read("HOW-TO-VERIFY.txt").decode()
    assert (f"{VIEW_NAME} is not included: the pages of Скан.pdf could not be prepared: "
            "The file is damaged or is not a PDF file.") in text
    assert f"{VIEW_NAME} не приложен: страницы файла Скан.pdf не подготовлены: Файл повреждён" in text
