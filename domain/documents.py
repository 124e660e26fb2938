"""Registration of incoming documents by a clerk."""
import mimetypes
import unicodedata
from datetime import date

import sqlalchemy as sa
from werkzeug.datastructures import FileStorage

from models import (
    Attachment,
    Document,
    RegistrationCounter,
    Unit,
    User,
    audit,
    db,
    unit_members,
)
from models.blobstore import blobs

from . import inbox, pages, search
from .errors import ApiError

MAX_FILES = 20


def next_reg_number(organization_id: int, year: int) -> int:
    """Take the next registration number of an organization's year, atomically."""
    if db.session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    stmt = insert(RegistrationCounter).values(organization_id=organization_id, year=year, value=1)
    stmt = stmt.on_conflict_do_update(
        index_elements=["organization_id", "year"], set_={"value": RegistrationCounter.value + 1}
    ).returning(RegistrationCounter.value)
    return db.session.execute(stmt).scalar_one()


def executives_of(unit_ids: list[int]) -> sa.Select:
    """The active executives among the members of these units (ids, as a SELECT)."""
    return (sa.select(User.id).join(unit_members, unit_members.c.user_id == User.id)
            .where(unit_members.c.unit_id.in_(unit_ids), User.is_active.is_(True),
                   (sa.literal(" ") + User.role_list + " ").contains(" executive ")))


def _clean_filename(name: str | None) -> str:
    name = unicodedata.normalize("NFC", (name or "file").replace("\\", "/").rsplit("/", 1)[-1])
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip() or "file"
    return name[:255]


def store_upload(upload: FileStorage) -> dict:
    """Put an uploaded file in the blob store: its name, type, size and hash, as a file row takes them.
    The type is the one declared, or guessed from the name when none was (see mobile_api.files for how
    it is served). The file's pages and text are owed in the same transaction (domain.pages): the
    documents worker prepares them, and nothing here waits for it."""
    sha, size = blobs().put(upload.stream)
    name = _clean_filename(upload.filename)
    mime = upload.mimetype if upload.mimetype and upload.mimetype != "application/octet-stream" else (
        mimetypes.guess_type(name)[0] or "application/octet-stream")
    pages.prepare(sha, mime, name)
    return {"name": name, "mime": mime, "size": size, "sha256": sha}


def register(clerk: User, meta: dict, files: list[FileStorage]) -> Document:
    """Register a document with its files and deliver it to the addressed units' executives."""
    if not clerk.has_role("clerk"):
        raise ApiError(403, "forbidden", "Only a clerk registers documents.")
    if not files:
        raise ApiError(422, "validation_failed", "Attach at least one file.", {"file": ["At least one file."]})
    if len(files) > MAX_FILES:
        raise ApiError(422, "validation_failed", "Too many files.", {"file": [f"At most {MAX_FILES} files."]})
    units = db.session.scalars(
        sa.select(Unit).where(Unit.id.in_(meta["addressees"]), Unit.organization_id == clerk.organization_id)
    ).all()
    if len(units) != len(set(meta["addressees"])):
        raise ApiError(422, "validation_failed", "Unknown addressee.", {"addressees": ["Unknown unit."]})
    readers = set(meta["for_information"])
    if readers:
        found = db.session.scalars(
            sa.select(User.id).where(User.id.in_(readers), User.organization_id == clerk.organization_id)
        ).all()
        if len(found) != len(readers):
            raise ApiError(422, "validation_failed", "Unknown reader.", {"for_information": ["Unknown user."]})

    reg_date = meta.get("reg_date") or date.today()
    number = next_reg_number(clerk.organization_id, reg_date.year)
    doc = Document(
        organization_id=clerk.organization_id,
        reg_number=f"{clerk.organization.code}-{number}/{reg_date.year % 100:02d}",
        reg_year=reg_date.year, reg_date=reg_date, title=meta["title"], summary=meta["summary"],
        correspondent=meta["correspondent"], owner_id=clerk.id, urgent=meta["urgent"], due_at=meta.get("due_at"),
        addressees=list(units),
    )
    for upload in files:
        doc.attachments.append(Attachment(**store_upload(upload)))
    db.session.add(doc)
    db.session.flush()

    # One set-based statement per kind of line, however many people the units hold: a unit of 550
    # executives costs one INSERT ... SELECT, not 550 round trips.
    sender = meta["correspondent"]
    inbox.deliver_many(executives_of([u.id for u in units]), doc, "resolution", sender)
    if readers:
        inbox.deliver_many(sa.select(User.id).where(User.id.in_(sorted(readers))), doc, "info", sender)
    search.index(doc)  # found at once: in this transaction, by nothing that can wait on another
    audit.record(clerk.organization_id, clerk.id, "document.registered", "document", doc.id,
                 reg_number=doc.reg_number, attachments=[a.sha256 for a in doc.attachments])
    return doc


def add_attachment(user: User, doc: Document, upload: FileStorage) -> Attachment:
    """Store a file on the document; a file named like an earlier one is its next version."""
    stored = store_upload(upload)
    version = 1 + max((a.version for a in doc.attachments if a.name == stored["name"]), default=0)
    attachment = Attachment(**stored, version=version)
    doc.attachments.append(attachment)
    db.session.flush()
    search.index(doc)
    audit.record(user.organization_id, user.id, "document.attachment_added", "document", doc.id,
                 attachment_id=str(attachment.id), name=attachment.name, version=version, sha256=attachment.sha256)
    return attachment
