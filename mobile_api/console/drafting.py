"""Drafts for executives in the console: an assistant prepares one from the document's page, the
executive finds it in their queue and issues or rejects it. Every rule is domain/'s (drafts,
assistant_rights, resolutions), as through the API."""
from datetime import date

import sqlalchemy as sa
from flask import g, redirect, render_template, request, url_for

from domain import access, drafts
from domain.errors import ApiError
from models import InboxItem, User, assistants, db

from . import bp, t

PEOPLE = 500  # executors offered on the form: the organization's active people, by name
DOCUMENTS = 50  # documents listed for an assistant to prepare drafts on


def _people(organization_id: int) -> list[User]:
    return list(db.session.scalars(sa.select(User).where(
        User.organization_id == organization_id, User.is_active.is_(True)).order_by(User.name, User.id).limit(PEOPLE)))


def to_resolve(user: User) -> list[InboxItem]:
    """The documents that wait for a resolution from the executives this user serves (their inbox lines),
    newest first: where an assistant starts a draft."""
    return list(db.session.scalars(
        sa.select(InboxItem).join(assistants, assistants.c.executive_id == InboxItem.user_id).where(
            assistants.c.assistant_id == user.id, InboxItem.kind == "resolution", InboxItem.removed.is_(False))
        .order_by(InboxItem.received_at.desc(), InboxItem.id.desc()).limit(DOCUMENTS)))


def _form(doc, values: dict, error: str | None = None, status: int = 200):
    return render_template("console/document.html", doc=doc, executives=g.user.executives,
                           people=_people(g.user.organization_id), values=values, error=error), status


@bp.route("/documents/<id:document_id>", methods=["GET"])
def document(document_id):
    """The document's page: its files, and for an assistant the form that prepares a draft for an executive."""
    doc = access.get_document(g.user, document_id)
    return _form(doc, {"author": "", "text": "", "executors": [], "deadline": ""})


def _date(raw: str) -> date | None:
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ApiError(422, "validation_failed", t("bad_date"), {"deadline": [t("bad_date")]}) from None


def _ids(raw: list[str]) -> list[int]:
    return [int(value) for value in raw if value.isascii() and value.isdigit() and len(value) <= 18]


@bp.route("/documents/<id:document_id>/drafts", methods=["POST"])
def prepare(document_id):
    """An assistant's draft for the executive chosen on the form: it goes to that executive's inbox."""
    doc = access.get_document(g.user, document_id)
    form = request.form
    values = {"author": form.get("author", ""), "text": form.get("text", "").strip(),
              "executors": form.getlist("executors"), "deadline": form.get("deadline", "")}
    try:
        if not values["text"] or not values["executors"]:
            raise ApiError(422, "validation_failed", t("draft_incomplete"))
        author = _ids([values["author"]])
        res = drafts.create(g.user, doc, author[0] if author else -1, values["text"], _ids(values["executors"]),
                            _date(values["deadline"]))
    except ApiError as exc:
        if exc.status not in (403, 422):
            raise
        db.session.rollback()
        return _form(doc, values, t(exc.code) if exc.code in ("not_your_executive",) else exc.detail, exc.status)
    return redirect(url_for("console.review", resolution_id=res.id, prepared=1))


@bp.route("/resolutions/<id:resolution_id>/reject", methods=["POST"])
def reject(resolution_id):
    """The executive turns the draft down, with the comment typed on the form (may be empty)."""
    drafts.reject(g.user, resolution_id, request.form.get("comment", "").strip()[:4000] or None)
    return redirect(url_for("console.review", resolution_id=resolution_id))
