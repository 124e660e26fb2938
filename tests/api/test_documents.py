"""Registration by a clerk, inbox delivery, attachment download with Range, blob dedup."""
import io
import json
import re

import sqlalchemy as sa

from models import Attachment, Document, InboxItem, db
from tests.conftest import DEMO_PASSWORD
from tests.scale.test_reads import Statements


def _register(api, demo, files=None, headers=None, **meta):
    body = {"title": "О подготовке доклада Главе Республики", "correspondent": "Аппарат Президента",
            "addressees": [str(demo["exec1"].units[0].id)], **meta}
    files = files if files is not None else [("Доклад.pdf", b"%PDF-1.4 report")]
    data = {"metadata": json.dumps(body, ensure_ascii=False),
            "file": [(io.BytesIO(content), name) for name, content in files]}
    return api.post("/documents", data=data, content_type="multipart/form-data", headers=headers)


def test_clerk_registers_a_document_that_reaches_the_right_inboxes(login, demo):
    clerk = login("clerk1")
    resp = _register(clerk, demo, for_information=[str(demo["employee2"].id)])
    assert resp.status_code == 201, resp.get_json()
    doc = resp.get_json()
    assert doc["reg_number"].startswith("МЦР-") and doc["reg_number"].endswith("/26")
    assert resp.headers["Location"].endswith(f"/documents/{doc['id']}")
    assert doc["attachments"][0]["name"] == "Доклад.pdf" and doc["attachments"][0]["size"] == 15
    holders = {(u, k) for u, k in db.session.execute(
        sa.select(InboxItem.user_id, InboxItem.kind).where(InboxItem.document_id == int(doc["id"])))}
    # The executives of the addressed unit must write a resolution; employee2 is informed.
    assert holders == {(demo["exec1"].id, "resolution"), (demo["minister"].id, "resolution"),
                       (demo["employee2"].id, "info")}
    assert login("employee2").get(f"/documents/{doc['id']}").status_code == 200
    assert login("employee1").get(f"/documents/{doc['id']}").status_code == 404


def test_registration_numbers_increase_and_are_unique_per_organization_and_year(login, demo):
    clerk = login("clerk1")
    numbers = [_register(clerk, demo).get_json()["reg_number"] for _ in range(3)]
    seqs = [int(n.split("-")[1].split("/")[0]) for n in numbers]
    assert seqs == [seqs[0], seqs[0] + 1, seqs[0] + 2]
    other = login("clerk2")
    theirs = _register(other, demo, addressees=[str(demo["exec2"].units[0].id)]).get_json()["reg_number"]
    assert theirs == "АЗР-2/26"  # the municipality counts on its own (its demo document was #1)


def test_only_clerks_register_and_only_into_their_organization(login, demo):
    assert _register(login("exec1"), demo).status_code == 403
    resp = _register(login("clerk1"), demo, addressees=[str(demo["exec2"].units[0].id)])
    assert resp.status_code == 422 and "addressees" in resp.get_json()["errors"]
    # A malformed addressee is named by its place, in plain words (not a structure printed as text).
    resp = _register(login("clerk1"), demo, addressees=["first floor"])
    assert resp.status_code == 422 and list(resp.get_json()["errors"]) == ["addressees.0"]
    assert all("{" not in m for m in resp.get_json()["errors"]["addressees.0"])
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Document)) == 6


def test_bad_registrations_leave_nothing_behind(login, demo):
    clerk = login("clerk1")
    before = db.session.scalar(sa.select(sa.func.count()).select_from(Document))
    cases = [
        clerk.post("/documents", json={"title": "x"}),  # not multipart
        clerk.post("/documents", data={"file": (io.BytesIO(b"x"), "a.txt")}, content_type="multipart/form-data"),
        clerk.post("/documents", data={"metadata": "{not json", "file": (io.BytesIO(b"x"), "a.txt")},
                   content_type="multipart/form-data"),
        _register(clerk, demo, files=[]),
        _register(clerk, demo, title=""),
        _register(clerk, demo, title="a\u0000b"),
        _register(clerk, demo, unknown="field"),
    ]
    assert [c.status_code for c in cases] == [415, 422, 400, 422, 422, 422, 422]
    assert all(c.content_type == "application/problem+json" for c in cases)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Document)) == before


def test_attachment_download_supports_etag_and_range(login, demo):
    content = bytes(range(256)) * 40
    doc = _register(login("clerk1"), demo, files=[("scan.bin", content)]).get_json()
    api = login("exec1")
    url = f"/documents/{doc['id']}/attachments/{doc['attachments'][0]['id']}"
    full = api.get(url)
    assert full.status_code == 200 and full.data == content
    assert full.headers["ETag"].strip('"') == doc["attachments"][0]["sha256"]
    part = api.get(url, headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.data == content[100:200]
    assert part.headers["Content-Range"] == f"bytes 100-199/{len(content)}"
    assert api.get(url, headers={"If-None-Match": full.headers["ETag"]}).status_code == 304
    assert api.get(url, headers={"Range": "bytes=999999-"}).status_code == 416
    # Another document's attachment id under this document is not found, nor a document one may not see.
    other = _register(login("clerk1"), demo).get_json()
    wrong = api.get(f"/documents/{doc['id']}/attachments/{other['attachments'][0]['id']}")
    assert wrong.status_code == 404 and wrong.get_json()["detail"] == "No such attachment."
    hidden = login("exec2").get(url)  # another organization's reader
    assert hidden.status_code == 404 and hidden.get_json()["detail"] == "No such document."
    # The file is found under the access rule in one statement, after the session check.
    with Statements() as sql:
        assert api.get(url).status_code == 200
    assert len(sql.seen) == 2, sql.seen


def test_the_same_file_is_stored_once(app, login, demo):
    clerk = login("clerk1")
    a = _register(clerk, demo, files=[("a.pdf", b"same bytes")]).get_json()
    b = _register(clerk, demo, files=[("b.pdf", b"same bytes")]).get_json()
    assert a["attachments"][0]["sha256"] == b["attachments"][0]["sha256"]
    store = app.extensions["blobstore"]
    with store.open(a["attachments"][0]["sha256"]) as stored:
        assert stored.read() == b"same bytes"
    files = [p for p in store.root.rglob("*") if p.is_file() and not p.name.startswith(".")]
    assert len(files) == len({x.sha256 for x in db.session.scalars(sa.select(Attachment))})


def test_an_opened_document_says_what_the_schemas_say_of_its_rows(login, demo):
    """The detail is read in plain SQL and dumped by compiled plans: it must equal the schemas' dump of
    the same ORM objects, including which drafts each reader sees."""
    from domain import access
    from mobile_api.schemas import AttachmentSchema, DocumentDetailSchema, ResolutionSchema, UserRef
    from models import Resolution, User

    clerk, exec1 = login("clerk1"), login("exec1")
    doc_id = _register(clerk, demo, files=[("Доклад.pdf", b"%PDF-1.4"), ("Приложение.txt", b"x")],
                       due_at="2031-02-01T09:00:00Z").get_json()["id"]
    assert exec1.post(f"/documents/{doc_id}/resolutions", json={
        "text": "Подготовить доклад", "executors": [str(demo["employee2"].id), str(demo["employee1"].id)],
        "deadline": "2031-01-20T09:00:00Z", "issue": True}).status_code == 201
    draft = exec1.post(f"/documents/{doc_id}/resolutions",
                       json={"text": "Черновик", "executors": [str(demo["employee1"].id)]})
    assert draft.status_code == 201, draft.get_json()
    exec1.patch(f"/resolutions/{draft.get_json()['id']}", json={"text": "Черновик, правка"})

    def expected(username):
        user = db.session.scalar(sa.select(User).where(User.username == username))
        doc = db.session.get(Document, int(doc_id))
        shown = [r for r in db.session.scalars(sa.select(Resolution).where(Resolution.document_id == doc.id)
                                              .order_by(Resolution.id))
                 if r.status == "issued" or access.may_edit_resolution(user, r)]
        head = DocumentDetailSchema(only=("id", "reg_number", "reg_date", "title", "summary", "sender", "urgent",
                                          "due_at")).dump(doc)
        return {**head, "addressees": UserRef(many=True).dump(sorted(doc.addressees, key=lambda u: u.id)),
                "attachments": AttachmentSchema(many=True).dump(doc.attachments),
                "resolutions": ResolutionSchema(many=True).dump(shown), "resolutions_next_cursor": None}

    db.session.expire_all()
    for username, drafts_seen in (("exec1", True), ("assistant1", True), ("minister", False)):
        body = login(username).get(f"/documents/{doc_id}").get_json()
        assert {k: v for k, v in body.items() if k not in ("approval", "actions")} == expected(username), username
        assert any(r["status"] != "issued" for r in body["resolutions"]) is drafts_seen, username
    issued = next(r for r in exec1.get(f"/documents/{doc_id}").get_json()["resolutions"] if r["status"] == "issued")
    assert [e["id"] for e in issued["executors"]] == [str(demo["employee2"].id), str(demo["employee1"].id)]


def test_a_document_with_a_long_history_opens_with_a_page_of_resolutions_and_pages_through_the_rest(login, demo):
    """A circular delegated over and over: the opened document shows the first DETAIL_RESOLUTIONS
    resolutions its reader sees and a cursor; the pages after it bring each remaining one once, in
    order, and a reader who may not see the drafts never gets them on any page."""
    from domain.reading import DETAIL_RESOLUTIONS

    clerk, exec1 = login("clerk1"), login("exec1")
    doc_id = _register(clerk, demo).get_json()["id"]
    issued, drafts = [], []
    for n in range(DETAIL_RESOLUTIONS + 7):
        draft = n % 9 == 4  # some drafts among them, which only exec1 and his assistant see
        resp = exec1.post(f"/documents/{doc_id}/resolutions", json={
            "text": f"Поручение {n}", "executors": [str(demo["employee1"].id)], "issue": not draft})
        assert resp.status_code == 201, resp.get_json()
        (drafts if draft else issued).append(resp.get_json()["id"])

    def read_all(api, page_size):
        opened = api.get(f"/documents/{doc_id}").get_json()
        ids, cursor = [r["id"] for r in opened["resolutions"]], opened["resolutions_next_cursor"]
        assert len(ids) == DETAIL_RESOLUTIONS and cursor
        while cursor:
            page = api.get(f"/documents/{doc_id}/resolutions?limit={page_size}&cursor={cursor}")
            assert page.status_code == 200, page.get_json()
            ids += [r["id"] for r in page.get_json()["items"]]
            cursor = page.get_json()["next_cursor"]
        return ids

    everything = sorted(issued + drafts, key=int)
    assert read_all(exec1, 3) == everything
    assert read_all(login("assistant1"), 100) == everything
    assert read_all(login("minister"), 4) == sorted(issued, key=int)
    first = exec1.get(f"/documents/{doc_id}/resolutions?limit=5").get_json()
    assert [r["id"] for r in first["items"]] == everything[:5] and first["next_cursor"]
    assert exec1.get(f"/documents/{doc_id}/resolutions?cursor=nonsense").status_code == 400
    assert login("exec2").get(f"/documents/{doc_id}/resolutions").status_code == 404  # another organization


def test_uploaded_files_are_never_active_content_on_the_products_origin(client, login, demo):
    """A clerk's letter.html that loads scan.js must not run in the console or the API's origin: active
    types come as bytes, nothing is sniffed, every file is a sandboxed download."""
    files = [("letter.html", b'<script src="scan.js"></script>', "text/html"),
             ("scan.js", b"fetch('/console/api/resolutions/1/issue', {method: 'POST'})", "text/javascript"),
             ("logo.svg", b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>', "image/svg+xml"),
             ("Доклад.pdf", b"%PDF-1.4 report", "application/pdf")]
    body = {"title": "Письмо с вложениями", "correspondent": "Аппарат Президента",
            "addressees": [str(demo["exec1"].units[0].id)]}
    data = {"metadata": json.dumps(body, ensure_ascii=False),
            "file": [(io.BytesIO(content), name, mime) for name, content, mime in files]}
    doc = login("clerk1").post("/documents", data=data, content_type="multipart/form-data").get_json()
    declared = {a["name"]: a["mime"] for a in doc["attachments"]}
    assert declared["letter.html"] == "text/html"  # what was declared is kept as the file's description

    served = {"letter.html": "application/octet-stream", "scan.js": "application/octet-stream",
              "logo.svg": "application/octet-stream", "Доклад.pdf": "application/pdf"}
    exec1 = login("exec1")
    client.post("/console/login", data={"username": "exec1", "password": DEMO_PASSWORD, "csrf_token": re.search(
        r'name="csrf_token" value="([^"]+)"', client.get("/console/login").get_data(as_text=True)).group(1)})
    for att in doc["attachments"]:
        path = f"/documents/{doc['id']}/attachments/{att['id']}"
        for resp in (exec1.get(path), client.get(f"/console{path}")):
            assert resp.status_code == 200 and resp.mimetype == served[att["name"]], (att["name"], resp.mimetype)
            assert resp.headers["X-Content-Type-Options"] == "nosniff"
            assert resp.headers["Content-Disposition"].startswith("attachment")
            assert resp.headers["Content-Security-Policy"].startswith("sandbox")
