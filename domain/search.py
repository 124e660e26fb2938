"""Search over what documents say, in any Russian word form, among the documents the caller may see.

What is searched: a document's registration number, title, summary and correspondent, and the text of
its files (the latest version of each), kept in `document_texts` and written in the same
transaction that registers the document or adds a file, so a document is found as soon as it exists.
A plain-text file's words are read then; the words of a PDF, an office file or a scan join when the
documents worker has read them (domain.pages.record_ready indexes the document again).

PostgreSQL, the production engine, searches with its `russian` text search configuration (a stored
`search_vector`, `to_tsvector('russian', words)`, under a GIN index). SQLite searches an FTS5 table
over each word's normal forms from pymorphy3 (all its readings: «стали» is both сталь and стать),
the query reduced the same way. The dictionary rather than a stemmer, because it knows the forms a
suffix-stripper cannot join: «дня» and «день», «окон» and «окно», «людей» and «человек», «шла» and
«идти» (tests/api/test_search.py).

A query that looks like a registration number (digits and a `-` or `/`, one token) finds that
document exactly rather than every document sharing its digits (its words are searched when no
document has that number). Results: newest registration first,
keyset pages; a snippet, HTML-escaped, the words found marked `<mark>`.
"""
import html
import re
from datetime import date

import sqlalchemy as sa

from models import Attachment, Document, DocumentText, Rendition, User, db
from models.blobstore import blobs

from . import access, substitutions
from .errors import ApiError
from .paging import decode, encode
from .parsing.ru import _lemmas, norm

WORD = re.compile(r"\w+")
REG_NUMBER = re.compile(r"^(?=\S*\d)(?=\S*[-/])\S+$")
FILE_TEXT_LIMIT = 1_000_000  # characters of one file's text that are indexed
OPEN, CLOSE = "\u27e6", "\u27e7"  # marks of the words found, before escaping; never left in indexed text
SNIPPET_WORDS = 24


def lemmas_of(word: str) -> frozenset[str]:
    """The normal forms of a word (itself, lowercased, when the dictionary does not know it)."""
    return _lemmas(word) or frozenset([norm(word)])


def words_of(dialect: str, reg_number: str, title: str, summary: str, correspondent: str,
             file_texts: list[str]) -> tuple[str, str, str | None]:
    """What is stored for a document: the correspondent's key, the words, and on SQLite their lemmas."""
    words = "\n".join([reg_number, title, summary, correspondent, *file_texts])
    words = words.replace(OPEN, " ").replace(CLOSE, " ").replace("\x00", " ")
    lemmas = None
    if dialect == "sqlite":
        lemmas = " ".join(" ".join(sorted(lemmas_of(w))) for w in WORD.findall(words))
    return correspondent.casefold(), words, lemmas


def _file_text(attachment: Attachment) -> str | None:
    """The text of a plain-text file (UTF-8, else Windows-1251), read at once; of another file, the text
    the documents worker found in it (its text layer, or OCR of its images) once it is ready (None before:
    the worker indexes the document again when it is)."""
    if attachment.mime != "text/plain" and not attachment.name.lower().endswith(".txt"):
        text_sha = db.session.scalar(sa.select(Rendition.text_sha256).where(
            Rendition.sha256 == attachment.sha256, Rendition.mime == attachment.mime, Rendition.status == "ready"))
        if not text_sha:
            return None
        with blobs().open(text_sha) as stream:
            return stream.read(FILE_TEXT_LIMIT * 4).decode("utf-8", "replace")[:FILE_TEXT_LIMIT]
    with blobs().open(attachment.sha256) as stream:
        raw = stream.read(FILE_TEXT_LIMIT * 2)
    for encoding in ("utf-8", "cp1251"):
        try:
            return raw.decode(encoding)[:FILE_TEXT_LIMIT]
        except UnicodeDecodeError:
            continue
    return raw.decode("utf-8", "replace")[:FILE_TEXT_LIMIT]


def index(doc: Document) -> None:
    """Write what search reads of this document, in the caller's transaction (registration, a new file)."""
    latest: dict[str, Attachment] = {}
    for attachment in doc.attachments:
        if attachment.name not in latest or attachment.version > latest[attachment.name].version:
            latest[attachment.name] = attachment
    texts = [t for t in (_file_text(a) for a in latest.values()) if t]
    key, words, lemmas = words_of(db.session.get_bind().dialect.name, doc.reg_number, doc.title,
                                  doc.summary or "", doc.correspondent, texts)
    db.session.merge(DocumentText(document_id=doc.id, correspondent_key=key, words=words, lemmas=lemmas))
    db.session.flush()


def _fts_query(q: str) -> str:
    """An FTS5 query: every word of `q`, in any of its normal forms."""
    terms = []
    for word in WORD.findall(q):
        forms = sorted(lemmas_of(word))
        terms.append("(" + " OR ".join('"' + f.replace('"', '""') + '"' for f in forms) + ")")
    return " AND ".join(terms)


def _marked(text: str) -> str:
    """The snippet as HTML: escaped, with the marks turned into <mark>."""
    return html.escape(" ".join(text.split())).replace(OPEN, "<mark>").replace(CLOSE, "</mark>")


def _snippet_sqlite(words: str, wanted: set[str]) -> str:
    """A window of words around the first one found, every word found in it marked."""
    tokens = list(WORD.finditer(words))
    hit = next((i for i, t in enumerate(tokens) if lemmas_of(t.group()) & wanted), 0)
    first = max(0, hit - SNIPPET_WORDS // 3)
    window = tokens[first:first + SNIPPET_WORDS]
    if not window:
        return ""
    out, at = [], window[0].start()
    for token in window:
        out.append(words[at:token.start()])
        found = lemmas_of(token.group()) & wanted
        out.append(f"{OPEN}{token.group()}{CLOSE}" if found else token.group())
        at = token.end()
    text = " ".join("".join(out).split())
    return ("… " if first else "") + text + (" …" if first + SNIPPET_WORDS < len(tokens) else "")


def search(user: User, q: str | None, reg_number: str | None, correspondent: str | None,
           start: date | None, end: date | None, limit: int, cursor: str | None) -> tuple[list[dict], str | None]:
    """A page of the documents this user may see that match, newest registration first. A `q` shaped
    like a registration number is first looked up as one; when no document has that number, its
    words are searched (`covid-19`)."""
    q = (q or "").strip()
    if q and REG_NUMBER.match(q) and not reg_number:
        found = _search(user, "", q, correspondent, start, end, limit, cursor)
        if found[0]:
            return found
    return _search(user, q, reg_number, correspondent, start, end, limit, cursor)


def _search(user: User, q: str, reg_number: str | None, correspondent: str | None,
            start: date | None, end: date | None, limit: int, cursor: str | None) -> tuple[list[dict], str | None]:
    if q and not WORD.search(q):
        raise ApiError(422, "validation_failed", "The query has no words.", {"q": ["No words to search for."]})
    if not q and not reg_number:
        raise ApiError(422, "validation_failed", "Say what to search for.", {"q": ["Give q or reg_number."]})
    if start and end and start > end:
        raise ApiError(422, "validation_failed", "The period ends before it starts.", {"from": ["After `to`."]})
    dialect = db.session.get_bind().dialect.name
    # An alias: the access rule's own subqueries read `documents`, and must read the row at hand.
    d, t = Document.__table__.alias("d"), DocumentText.__table__
    # A deputy (inbox scope) also finds what the principals they act for now may see; never after.
    seers = [user.id, *substitutions.principals_of(user, "inbox")]
    conditions = [d.c.organization_id == user.organization_id,
                  sa.or_(*(access.seen_by(seer, d.c.id) for seer in seers))]
    if reg_number:
        conditions.append(d.c.reg_number == reg_number.strip().upper())
    if correspondent and correspondent.strip():
        pattern = correspondent.strip().casefold().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        conditions.append(t.c.correspondent_key.like(f"%{pattern}%", escape="\\"))
    if start:
        conditions.append(d.c.reg_date >= start)
    if end:
        conditions.append(d.c.reg_date <= end)
    if cursor:
        at, key = decode(cursor, str, int)
        try:
            at = date.fromisoformat(at)
        except ValueError:
            raise ApiError(400, "invalid_cursor", "The cursor is not valid; start from the first page.") from None
        conditions.append(sa.tuple_(d.c.reg_date, d.c.id) < sa.tuple_(sa.literal(at, sa.Date), sa.literal(key)))
    if q and dialect == "postgresql":
        tsquery = sa.func.plainto_tsquery(sa.literal_column("'russian'"), q)
        conditions.append(sa.literal_column("document_texts.search_vector").op("@@")(tsquery))
    elif q:
        matching = sa.text("SELECT rowid FROM document_words WHERE document_words MATCH :fts").bindparams(
            fts=_fts_query(q)).columns(sa.column("rowid", sa.Integer))
        conditions.append(d.c.id.in_(matching))
    # The matches are ordered by their keys alone, and only the page's rows are read whole: sorting
    # every match with its text (a common word matches most documents) cost more than the search.
    newest = d.c.reg_date
    if reg_number and dialect == "sqlite":
        # A number finds one document by its index; SQLite would rather walk the date order (18 ms
        # over 30,000 documents, 2 ms this way): the unary plus keeps that index out of the order.
        newest = sa.literal_column("+d.reg_date")
    inner = (sa.select(d.c.id, d.c.reg_date).select_from(d.join(t, t.c.document_id == d.c.id))
             .where(*conditions).order_by(newest.desc(), d.c.id.desc()).limit(limit + 1).subquery("hit"))
    doc, text = Document.__table__.alias("doc"), DocumentText.__table__.alias("text")
    if dialect == "postgresql" and q:
        snippet = sa.func.ts_headline(sa.literal_column("'russian'"), text.c.words,
                                      sa.func.plainto_tsquery(sa.literal_column("'russian'"), q),
                                      f"StartSel={OPEN}, StopSel={CLOSE}, MaxWords={SNIPPET_WORDS}, MinWords=8")
    else:
        snippet = text.c.words
    page = (sa.select(inner.c.id, doc.c.reg_number, inner.c.reg_date, doc.c.title, doc.c.correspondent, snippet)
            .select_from(inner.join(doc, doc.c.id == inner.c.id).join(text, text.c.document_id == inner.c.id))
            .order_by(inner.c.reg_date.desc(), inner.c.id.desc()))
    if dialect == "postgresql":
        # The access rule's correlated checks make the planner's estimate large enough to compile the
        # statement (JIT), which cost 280 ms of a 300 ms search over 30,000 documents; it runs in 20.
        db.session.execute(sa.text("SET LOCAL jit = off"))
    rows = db.session.execute(page).all()
    more = len(rows) > limit
    rows = rows[:limit]
    wanted = set().union(*(lemmas_of(w) for w in WORD.findall(q))) if q else set()
    items = []
    for doc_id, number, reg_date, title, sender, text in rows:
        if dialect != "postgresql" or not q:
            text = _snippet_sqlite(text, wanted) if q else " ".join(text.split()[:SNIPPET_WORDS])
        items.append({"document_id": doc_id, "reg_number": number, "reg_date": reg_date, "title": title,
                      "from": sender, "snippet": _marked(text)})
    next_cursor = encode(rows[-1][2].isoformat(), rows[-1][0]) if more else None
    return items, next_cursor
