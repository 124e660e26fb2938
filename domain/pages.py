"""Documents on the phone: every stored file's pages as images and its text, prepared in the background.

A stored file (domain.documents.store_upload: registration, a new attachment version, a report's
file) gets a `Rendition` and a job in the same transaction, so no file is ever left unprepared and
registration never waits for a conversion: the documents worker (documents/worker.py) turns the file
into page images at a few phone widths and into text, and the text joins the document's words in
search. The same content declared as the same type is prepared once, however many documents hold it.

A file the worker cannot or must not open (too large, too many pages or pixels, a compressed bomb, a
password-protected PDF, content that is not the type it was declared as, damaged) ends `failed`, with
a reason a clerk can read, in Russian and English.
"""
import json
from typing import NamedTuple

import sqlalchemy as sa

from models import Attachment, Document, Job, Rendition, db
from models.queue import db_now
from models.raw import run

from . import access
from .errors import conflict, not_found

JOB_KIND = "document_pages"
# Workers LISTEN on this channel; the NOTIFY is delivered when the storing transaction commits.
CHANNEL = "document_jobs"
PROCESSING, READY, FAILED = "processing", "ready", "failed"

# The kinds of file that have pages and text, by declared type, then by the name's extension.
KINDS = {
    "application/pdf": "pdf", "application/x-pdf": "pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/vnd.oasis.opendocument.text": "odt",
    "application/rtf": "rtf", "text/rtf": "rtf", "application/x-rtf": "rtf",
    "text/plain": "txt",
    "image/jpeg": "jpeg", "image/pjpeg": "jpeg", "image/png": "png", "image/tiff": "tiff",
}
EXTENSIONS = {".pdf": "pdf", ".docx": "docx", ".odt": "odt", ".rtf": "rtf", ".txt": "txt", ".jpg": "jpeg",
              ".jpeg": "jpeg", ".png": "png", ".tif": "tiff", ".tiff": "tiff"}
KIND_NAMES = {"pdf": "PDF", "docx": "DOCX", "odt": "ODT", "rtf": "RTF", "txt": "text", "jpeg": "JPEG",
              "png": "PNG", "tiff": "TIFF", "zip": "ZIP", "image": "image", "unknown": "unknown"}

# Why a file has no pages: (Russian, English), formatted with the rendition's params.
REASONS = {
    "unsupported": ("Для файлов этого типа ({declared}) страницы не готовятся; файл можно скачать.",
                    "Pages are not prepared for this type of file ({declared}); download the file instead."),
    "too_large": ("Файл больше {limit_mb} МБ: страницы не подготовлены.",
                  "The file is larger than {limit_mb} MB: its pages were not prepared."),
    "too_many_pages": ("В файле {pages} страниц, а готовятся не более {limit}.",
                       "The file has {pages} pages; at most {limit} are prepared."),
    "too_many_pixels": ("Изображение в файле слишком велико (больше {limit_mp} мегапикселей).",
                        "An image in the file is too large (over {limit_mp} megapixels)."),
    "zip_bomb": ("Файл распаковывается в слишком большой объём (похоже на «архивную бомбу»); он не открывался.",
                 "The file unpacks to far more than it holds (a compressed bomb); it was not opened."),
    "encrypted": ("PDF защищён паролем: пришлите файл без пароля.",
                  "The PDF is password-protected: send it without a password."),
    "type_mismatch": ("Файл назван как {declared}, но на самом деле это {actual}: пришлите файл правильного типа.",
                      "The file is declared as {declared} but is really {actual}: send it with the right type."),
    "unreadable": ("Файл повреждён или не является файлом {declared}.",
                   "The file is damaged or is not a {declared} file."),
    "too_slow": ("Подготовка страниц заняла больше {limit_s} с и была остановлена.",
                 "Preparing the pages took longer than {limit_s} s and was stopped."),
    "missing": ("Файл не найден в хранилище.", "The file is missing from the store."),
    "not_prepared": ("Страницы этого файла не готовились.", "The pages of this file were never prepared."),
    "gave_up": ("Страницы не удалось подготовить: попыток — {attempts}, все прервались по нашей вине.",
                "The pages could not be prepared: {attempts} attempts all stopped because of an error on our side."),
}


def kind_of(mime: str, name: str) -> str | None:
    """The kind of file this declared type (or, failing that, the name) says, or None: no pages."""
    base = (mime or "").split(";", 1)[0].strip().lower()
    if base in KINDS:
        return KINDS[base]
    if base in ("", "application/octet-stream", "binary/octet-stream"):
        ext = ("." + name.rsplit(".", 1)[-1].lower()) if "." in (name or "") else ""
        return EXTENSIONS.get(ext)
    return None


def reason_text(reason: str | None, params: dict | None, language: str = "ru") -> str | None:
    """Why the file has no pages, in Russian (default) or English."""
    if reason is None:
        return None
    ru, en = REASONS.get(reason, REASONS["unreadable"])
    values = {"declared": "?", **(params or {})}
    for key in ("declared", "actual"):
        values[key] = KIND_NAMES.get(values.get(key), values.get(key))
    try:
        return (en if language == "en" else ru).format(**values)
    except (KeyError, IndexError, ValueError):
        return en if language == "en" else ru


def _insert_ignoring(dialect: str):
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert


def prepare(sha256: str, mime: str, name: str) -> None:
    """Owe this stored file its pages and text (in the caller's transaction): a rendition and a job,
    unless the same content of the same type has one already. A type without pages ends failed at once."""
    dialect = db.session.get_bind().dialect.name
    kind = kind_of(mime, name)
    values = dict(sha256=sha256, mime=mime, status=PROCESSING if kind else FAILED, pages=[],
                  reason=None if kind else "unsupported",
                  params=None if kind else {"declared": mime.split(";", 1)[0]})
    stmt = _insert_ignoring(dialect)(Rendition).values(**values).on_conflict_do_nothing(
        index_elements=["sha256", "mime"]).returning(Rendition.id)
    rendition_id = db.session.execute(stmt).scalar()
    if rendition_id is None or not kind:
        return
    db.session.add(Job(kind=JOB_KIND, payload={"rendition_id": rendition_id, "kind": kind, "name": name}))
    if dialect == "postgresql":
        db.session.execute(sa.text(f"NOTIFY {CHANNEL}"))


def backfill(bind: sa.Connection) -> int:
    """Renditions and jobs for the files stored before renditions existed (migration 0017)."""
    attachments = sa.table("attachments", sa.column("sha256"), sa.column("mime"), sa.column("name"))
    renditions = sa.table("renditions", sa.column("id"), sa.column("sha256"), sa.column("mime"),
                          sa.column("status"), sa.column("reason"), sa.column("params", sa.JSON),
                          sa.column("pages", sa.JSON), sa.column("created_at"))
    jobs = sa.table("jobs", sa.column("kind"), sa.column("payload", sa.JSON), sa.column("status"),
                    sa.column("attempts"), sa.column("available_at"), sa.column("created_at"))
    rows = bind.execute(sa.select(attachments.c.sha256, attachments.c.mime, sa.func.min(attachments.c.name))
                        .group_by(attachments.c.sha256, attachments.c.mime)).all()
    now = bind.execute(sa.select(db_now())).scalar()
    for sha256, mime, name in rows:
        kind = kind_of(mime, name)
        rendition_id = bind.execute(renditions.insert().values(
            sha256=sha256, mime=mime, status=PROCESSING if kind else FAILED, pages=[],
            reason=None if kind else "unsupported", params=None if kind else {"declared": mime},
            created_at=now).returning(renditions.c.id)).scalar()
        if kind:
            bind.execute(jobs.insert().values(kind=JOB_KIND, status="queued", attempts=0, available_at=now,
                                              created_at=now,
                                              payload={"rendition_id": rendition_id, "kind": kind, "name": name}))
    return len(rows)


def record_ready(rendition_id: int, pages: list[dict], text_sha256: str | None) -> None:
    """The file's pages and text are stored: show them, and let search find the documents by its words."""
    from . import search

    rendition = db.session.get(Rendition, rendition_id, with_for_update=True)
    rendition.status, rendition.pages, rendition.text_sha256 = READY, pages, text_sha256
    rendition.reason = rendition.params = None
    rendition.finished_at = db_now()
    db.session.flush()
    documents = db.session.scalars(
        sa.select(Document).where(Document.id.in_(
            sa.select(Attachment.document_id).where(Attachment.sha256 == rendition.sha256,
                                                    Attachment.mime == rendition.mime)))
        .order_by(Document.id).with_for_update()).all()
    for doc in documents:
        search.index(doc)


def record_failure(rendition_id: int, reason: str, params: dict | None = None) -> None:
    rendition = db.session.get(Rendition, rendition_id, with_for_update=True)
    rendition.status, rendition.reason, rendition.params = FAILED, reason, params or {}
    rendition.pages, rendition.finished_at = [], db_now()


class Prepared(NamedTuple):
    """What a phone may read of an attachment's pages and text."""

    status: str
    reason: str | None
    params: dict | None
    pages: list[dict]
    text_sha256: str | None


_RENDITION = sa.select(Rendition.status, Rendition.reason, Rendition.params, Rendition.pages,
                       Rendition.text_sha256).where(Rendition.sha256 == sa.bindparam("sha256"),
                                                    Rendition.mime == sa.bindparam("mime"))


def _json(value):
    return json.loads(value) if isinstance(value, str) else value


def of_attachment(user_id: int, document_id: int, attachment_id: int) -> Prepared:
    """The pages and text of a file of a document this user may see (404 otherwise: the same rule as
    the document's own read)."""
    file = access.get_attachment(user_id, document_id, attachment_id)
    return of_file(file.sha256, file.mime)


def of_file(sha256: str, mime: str) -> Prepared:
    """The pages and text of a stored file, by its content and declared type (no access check: the caller's)."""
    rows = run(_RENDITION, sha256=sha256, mime=mime)
    if not rows:  # a file stored past store_upload (bulk-loaded data): nothing is coming
        return Prepared(FAILED, "not_prepared", {}, [], None)
    status, reason, params, pages, text_sha256 = rows[0]
    return Prepared(status, reason, _json(params), _json(pages) or [], text_sha256)


def page_image(prepared: Prepared, n: int, width: int | None, language: str = "ru") -> tuple[str, str]:
    """(blob, media type) of page `n` at the prepared width nearest `width` (the widest without one);
    409 while the file is being prepared or when it failed, 404 for a page it does not have."""
    ready(prepared, language)
    page = next((p for p in prepared.pages if p["n"] == n), None)
    if page is None:
        raise not_found("page")
    widths = sorted(int(w) for w in page["images"])
    chosen = widths[-1] if width is None else min(widths, key=lambda w: (abs(w - width), -w))
    return page["images"][str(chosen)], page.get("type", "image/webp")


def ready(prepared: Prepared, language: str = "ru") -> None:
    """409 `invalid_state` unless the file's pages and text are ready (`state` says what they are)."""
    if prepared.status == PROCESSING:
        raise conflict("invalid_state", "The file is still being prepared; try again in a few seconds."
                       if language == "en" else "Файл ещё готовится; повторите через несколько секунд.", PROCESSING)
    if prepared.status != READY:
        raise conflict("invalid_state", reason_text(prepared.reason, prepared.params, language), prepared.status)
