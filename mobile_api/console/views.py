"""The console's pages and the few JSON calls its review screen makes; every rule is domain/'s."""
import secrets
from datetime import datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app, g, jsonify, redirect, render_template, request, session, url_for
from marshmallow import ValidationError

from domain import access, assistant_rights, directory, drafts, pages, signatures, substitutions, voice
from domain import resolutions as rules
from domain.errors import ApiError, not_found
from models import Document, Resolution, User, VoiceNote, db, utcnow

from ..auth.signin import sign_in
from ..errors import field_errors
from ..files import send_blob
from ..schemas import ResolutionPatch
from . import bp, drafting, lang, safe_next, t
from .i18n import LANGUAGES

PAGE = 100


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Sign in with the same account as the apps; the browser gets a cookie, never a token."""
    if request.method == "GET":
        return render_template("console/login.html", next=request.args.get("next"), failed=False)
    # The apps' sign-in and their limits on failed ones, shared with them (429).
    signed_in = sign_in(request.form.get("username", "")[:80], request.form.get("password", ""), "console (browser)")
    if signed_in is None:
        return render_template("console/login.html", next=request.form.get("next"), failed=True), 401
    row, _ = signed_in
    chosen = lang()
    session.clear()  # a fresh session and CSRF token after sign-in: nothing planted before it survives
    session.permanent = True
    session.update(sid=row.id, uid=row.user_id, csrf=secrets.token_urlsafe(32), lang=chosen)
    return redirect(safe_next(request.form.get("next")))


@bp.route("/logout", methods=["POST"])
def logout():
    """End the console session here and on the server."""
    row = g.auth_session
    row.revoked_at, row.revoked_reason = utcnow(), "logout"
    chosen = lang()
    session.clear()
    session["lang"] = chosen
    return redirect(url_for("console.login"))


@bp.route("/language", methods=["POST"])
def language():
    """Switch between Russian and English."""
    if request.form.get("lang") in LANGUAGES:
        session["lang"] = request.form["lang"]
    return redirect(safe_next(request.form.get("next")))


def _local(user: User, when: datetime | None) -> str:
    if when is None:
        return ""
    return when.astimezone(ZoneInfo(user.timezone or "Europe/Moscow")).strftime("%d.%m.%Y %H:%M")


def _rows(items: list[Resolution]) -> list[dict]:
    """Queue lines with their document, author and voice note, loaded in three queries whatever the page size."""
    if not items:
        return []
    docs = {d.id: d for d in db.session.scalars(
        sa.select(Document).where(Document.id.in_({r.document_id for r in items})))}
    authors = {u.id: u for u in db.session.scalars(sa.select(User).where(User.id.in_({r.author_id for r in items})))}
    note_ids = {r.voice_note_id for r in items if r.voice_note_id}
    durations = dict(db.session.execute(
        sa.select(VoiceNote.id, VoiceNote.duration_s).where(VoiceNote.id.in_(note_ids))).all()) if note_ids else {}
    flagged = voice.flagged_counts(note_ids)
    return [{
        "res": res, "doc": docs[res.document_id], "author": authors[res.author_id],
        "duration": f"{durations[res.voice_note_id]:.1f} s" if durations.get(res.voice_note_id) else "",
        "flagged": flagged.get(res.voice_note_id, 0), "since": _local(g.user, res.created_at),
    } for res in items]


@bp.route("/", methods=["GET"])
def queue():
    """The drafts waiting for this assistant's review, and this executive's drafts to issue."""
    user = g.user
    review = voice.review_queue(user, PAGE, request.args.get("cursor")) if user.executives else None
    own = voice.drafts_to_issue(user, PAGE, request.args.get("own")) if user.has_role("executive") else None
    # Drafts for executives (domain.drafts): those the executive's assistants prepared, and for an
    # assistant the documents their executives have to resolve and the drafts they prepared, answers and all.
    prepared = drafts.prepared_for(user, PAGE) if user.has_role("executive") else None
    mine = drafts.written_by(user, PAGE) if user.executives else None
    # A deputy (resolutions scope) sees the drafts each principal they act for now has to issue.
    acting = [{"principal": principal, "rows": _rows(drafts.not_issued(principal, PAGE)["items"])}
              for principal in _principals()]
    return render_template("console/queue.html", acting=acting,
                           review=review and {**review, "rows": _rows(review["items"])},
                           own=own and {**own, "rows": _rows(own["items"])},
                           prepared=prepared and _rows(prepared["items"]), mine=mine and _rows(mine["items"]),
                           documents=drafting.to_resolve(user) if user.executives else None)


def _principals() -> list[User]:
    """Whom the signed-in user acts for now in the `resolutions` scope (their drafts are the deputy's to
    issue in their name while the substitution runs)."""
    ids = substitutions.principals_of(g.user, "resolutions")
    return list(db.session.scalars(sa.select(User).where(
        User.id.in_(ids), User.organization_id == g.user.organization_id).order_by(User.id))) if ids else []


def _editable(resolution_id: int) -> Resolution:
    """A resolution this user may work on in the console (its author or their assistant); else 404."""
    res = access.get_resolution(g.user, resolution_id)
    if not access.may_edit_resolution(g.user, res):
        raise not_found("resolution")
    return res


def _reviewable(resolution_id: int) -> Resolution:
    """`_editable`, or a draft of a principal the user acts for now (to read and issue in their name)."""
    res = rules.for_issue(g.user, resolution_id)
    if access.may_edit_resolution(g.user, res) or (
            res.status in rules.EDITABLE and res.author_id in substitutions.principals_of(g.user, "resolutions")):
        return res
    raise not_found("resolution")


def _word_class(word: dict, review_below: float) -> str:
    conf = word.get("conf", 1.0)
    return "hi" if conf >= 0.9 else "mid" if conf >= review_below else "lo"


def word_diff(original: str, text: str) -> list[tuple[str, str]]:
    """The text against the original transcript, word by word: ("=", "-" or "+", words)."""
    from difflib import SequenceMatcher

    a, b = original.split(), text.split()
    out = []
    for tag, i1, i2, j1, j2 in SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if tag == "equal":
            out.append(("=", " ".join(a[i1:i2])))
            continue
        if i2 > i1:
            out.append(("-", " ".join(a[i1:i2])))
        if j2 > j1:
            out.append(("+", " ".join(b[j1:j2])))
    return out


def _revisions(res: Resolution, note: VoiceNote | None) -> list[dict]:
    original = note.transcript if note and note.transcript is not None else None
    editors = {u.id: u for u in db.session.scalars(
        sa.select(User).where(User.id.in_({r.editor_id for r in res.revisions})))} if res.revisions else {}
    out = []
    first_text = next((r.changes["text"][0] for r in res.revisions if "text" in r.changes), res.text)
    for rev in reversed(res.revisions):
        text = rev.changes.get("text")
        out.append({
            "editor": editors[rev.editor_id].short_name, "at": _local(g.user, rev.created_at),
            "fields": sorted(rev.changes),
            "diff": word_diff(original if original is not None else first_text, text[1]) if text else None,
        })
    return out


def _deadline_value(res: Resolution) -> str:
    if res.deadline is None:
        return ""
    return res.deadline.astimezone(ZoneInfo(g.user.timezone or "Europe/Moscow")).strftime("%Y-%m-%d")


@bp.route("/resolutions/<id:resolution_id>", methods=["GET"])
def review(resolution_id):
    """The review screen: the document, the recording, the words, the text, executors, deadline, revisions."""
    res = _reviewable(resolution_id)
    deputy = not access.may_edit_resolution(g.user, res)  # reads and issues only, in the author's name
    note = voice.get_note(g.user, res.voice_note_id) if res.voice_note_id else None
    review_below = current_app.config["VOICE_REVIEW_CONFIDENCE"]
    words = [{**w, "cls": _word_class(w, review_below)} for w in (note.words_shown or [])] if note else []
    return render_template(
        "console/review.html", res=res, doc=res.document, note=note, words=words,
        document_pages=_document_pages(res.document),
        revisions=_revisions(res, note), deadline=_deadline_value(res),
        may_issue=rules.may_issue(g.user, res), may_review=not deputy and rules.may_mark_reviewed(g.user, res),
        editable=not deputy and res.status in rules.EDITABLE, acting_for=res.author if deputy else None,
        may_reject=res.author_id == g.user.id and res.status in rules.EDITABLE,
        people_by_id=_names({res.drafted_by_id, res.issued_by_id} - {None}),
        signed_on_tablet=(res.author_id == g.user.id or assistant_rights.may_issue_for(g.user, res.author_id))
        and signatures.issue_needs_signature(g.user))


def _names(ids: set[int]) -> dict[int, str]:
    """Short names of these users (who drafted or issued a resolution for its author)."""
    if not ids:
        return {}
    return dict(db.session.execute(sa.select(User.id, User.short_name).where(User.id.in_(ids))).all())


def _document_pages(doc: Document) -> list[dict]:
    """Each file's pages beside the transcript: the page images once ready, else why not (yet)."""
    out = []
    for att in doc.attachments:
        try:
            prepared = pages.of_attachment(g.user_id, doc.id, att.id)
        except ApiError:  # a deputy for resolutions alone reads the draft, not the principal's mail
            continue
        if (prepared.status == pages.FAILED and prepared.reason == "unsupported") or (
                prepared.status == pages.READY and not prepared.pages):
            continue  # a file with no pages to show (a text, a spreadsheet): its link above is enough
        out.append({"attachment": att, "status": prepared.status, "pages": prepared.pages,
                    "reason": pages.reason_text(prepared.reason, prepared.params, lang())})
    return out


@bp.route("/documents/<id:document_id>/attachments/<id:attachment_id>/pages/<id:n>", methods=["GET"])
def page(document_id, attachment_id, n):
    """A page of a file of the document under review, at the console's width (960 px)."""
    prepared = pages.of_attachment(g.user_id, document_id, attachment_id)
    blob, kind = pages.page_image(prepared, n, 960, lang())
    resp = send_blob(blob, kind, what="page")
    resp.headers["Cache-Control"] = "private, max-age=31536000, immutable"
    return resp


@bp.route("/voice-notes/<id:note_id>/audio", methods=["GET"])
def audio(note_id):
    """The recording for the page's player (Range requests, so the player can seek)."""
    note = voice.get_note(g.user, note_id)
    return send_blob(note.sha256, note.mime, what="recording")


@bp.route("/documents/<id:document_id>/attachments/<id:attachment_id>", methods=["GET"])
def attachment(document_id, attachment_id):
    """A file of the document under review."""
    att = access.get_attachment(g.user_id, document_id, attachment_id)
    return send_blob(att.sha256, att.mime, download_name=att.name, what="attachment")


@bp.route("/api/people", methods=["GET"])
def people():
    """Autocomplete of executors: the directory's search over the resolution author's organization."""
    res = _editable(int(request.args["resolution"])) if request.args.get("resolution", "").isdigit() else None
    query = request.args.get("q", "").strip()[:80]
    if not query:
        return jsonify([])
    found = directory.search(res.author if res else g.user, query, None, 10, None)["items"]
    return jsonify([{"id": str(p["id"]), "name": p["name"], "short_name": p["short_name"],
                     "position": p["position"] or "", "unit": p["unit"].short_name if p["unit"] else ""}
                    for p in found])


def _state(res: Resolution) -> dict:
    note = db.session.get(VoiceNote, res.voice_note_id) if res.voice_note_id else None
    return {"id": str(res.id), "status": res.status, "status_label": t(f"st_{res.status}"), "text": res.text,
            "executors": [{"id": str(u.id), "name": u.name} for u in res.executors],
            "revisions_html": render_template("console/_revisions.html", revisions=_revisions(res, note))}


@bp.route("/api/resolutions/<id:resolution_id>", methods=["POST"])
def save(resolution_id):
    """Save the edits (text, executors, deadline) as one revision, exactly as PATCH does."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(400, "malformed_json", "The body is not valid JSON.")
    try:
        changes = ResolutionPatch().load(body)
    except ValidationError as exc:
        raise ApiError(422, "validation_failed", "The request did not pass validation.",
                       field_errors(exc.messages)) from None
    return jsonify(_state(rules.edit(g.user, resolution_id, changes)))


@bp.route("/api/resolutions/<id:resolution_id>/reviewed", methods=["POST"])
def reviewed(resolution_id):
    """Hand the corrected draft back to its author (what was corrected is learned for their next drafts)."""
    return jsonify(_state(rules.mark_reviewed(g.user, resolution_id)))


@bp.route("/api/resolutions/<id:resolution_id>/issue", methods=["POST"])
def issue(resolution_id):
    """The author issues the resolution, unsigned: where the organization has issues signed, the
    rule refuses it (422 signature_required) and the author signs it on the tablet."""
    return jsonify(_state(rules.issue(g.user, resolution_id)))
