"""The control page: an executive's execution discipline by unit, the late tasks behind it, and the reports
and extension requests waiting for them, decided from here; an assistant sees the page of the executive
they serve, and a deputy that of the principal they act for now (resolutions scope); each acts only where
the rules let them (domain/control.py decides, as for the API: a deputy in the principal's name)."""
import secrets
from datetime import date, datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import g, redirect, render_template, request, url_for
from marshmallow import ValidationError
from sqlalchemy import orm

from domain import access, control, execution, substitutions, summary
from domain.errors import ApiError, not_found
from models import Document, Resolution, Task, User, db

from ..files import send_blob
from ..idempotency import once
from ..schemas import AcceptIn, ExtensionDecisionIn, ReturnIn, SummaryArgs
from . import bp, t
from .views import _local

PAGE = 50
# What the page keeps from one request to the next (the period, the unit, whose page).
KEPT = ("for", "unit", "from", "to")


def _acting() -> list[User]:
    """The principals the signed-in user acts for now in the `resolutions` scope (a running substitution):
    their pages are the deputy's to read and act on, in their name, while it runs."""
    ids = substitutions.principals_of(g.user, "resolutions")
    return list(db.session.scalars(sa.select(User).where(
        User.id.in_(ids), User.organization_id == g.user.organization_id).order_by(User.id))) if ids else []


def _viewer() -> User:
    """Whose page this is: an executive's own, that of an executive the assistant serves (the review
    screen's rule, access.serves), or that of a principal the user acts for now; `for` picks one of
    several. Anyone else has no control page (404), nor a deputy once the substitution ended."""
    user, wanted = g.user, request.values.get("for", "")
    if user.has_role("executive") and wanted in ("", str(user.id)):
        return user
    served = sorted(user.executives, key=lambda e: e.id)
    if wanted:
        if wanted.isdigit() and access.serves(user, int(wanted)):
            return next(e for e in served if e.id == int(wanted))
        principal = next((p for p in _acting() if str(p.id) == wanted), None)
        if principal is not None:
            return principal
        raise not_found("executive")
    if served:
        return served[0]
    acting = _acting()
    if acting:
        return acting[0]
    raise not_found("control page")


def _kept() -> dict:
    return {k: request.values[k] for k in KEPT if request.values.get(k)}


def _period(viewer: User) -> dict:
    """The period and unit asked for (the summary's own arguments), by default this year to date."""
    raw = _kept()
    raw.pop("for", None)
    if "from" not in raw:
        today = datetime.now(ZoneInfo(viewer.organization.timezone)).date()
        raw["from"] = date(today.year, 1, 1).isoformat()
    try:
        args = SummaryArgs().load(raw)
    except ValidationError:
        raise ApiError(422, "validation_failed", t("bad_period")) from None
    return {"unit": args.get("unit"), "start": args.get("start"), "end": args.get("end"), "shown": raw}


def _day(value) -> str:
    return value.isoformat() if isinstance(value, date) and not isinstance(value, datetime) else ""


def _linker(kept: dict):
    """`link(endpoint, **changes)`: a URL of the console keeping the page's period, unit and executive."""
    return lambda endpoint, **changes: url_for(endpoint, **{**kept, **changes})


def _summary(viewer: User, period: dict) -> dict:
    try:
        found = summary.summary(viewer, period["unit"], period["start"], period["end"])
    except ApiError as exc:
        if exc.status == 422:
            raise ApiError(422, "validation_failed", t("bad_period")) from None
        raise
    depth, parents = {}, {u["unit"]["id"]: u["parent_id"] for u in found["units"]}
    for unit_id in parents:
        level, up = 0, parents[unit_id]
        while up in parents:
            level, up = level + 1, parents[up]
        depth[unit_id] = level
    for line in found["units"]:
        line["depth"] = depth[line["unit"]["id"]]
    names = {u["unit"]["id"]: u["unit"]["short_name"] for u in found["units"]}
    found["units"].sort(key=lambda u: _tree_key(u["unit"]["id"], parents, names))
    return found


def _tree_key(unit_id: int, parents: dict, names: dict) -> list:
    """Units in tree order: each after its parent, siblings by name."""
    path = []
    while unit_id in parents:
        path.append((names[unit_id], unit_id))
        unit_id = parents[unit_id]
    return list(reversed(path))


def _acting_ids() -> set[int]:
    """Whom the signed-in user acts for now: a form to decide is offered where domain/control.py would
    let them decide in that principal's name (it checks again, in the lock, when the form is posted)."""
    return set(substitutions.principals_of(g.user, "resolutions"))


def _reports(viewer: User, cursor: str | None) -> tuple[list[dict], str | None]:
    """The reports waiting for the viewer, with their text and files, and whether the signed-in user may
    decide each (control.may_review) and read it (control.may_read_task)."""
    items, next_cursor = execution.control_page(viewer, "reports", PAGE, cursor)
    ids = [item["task"].id for item in items]
    # Fresh rows with what the rule reads (the control page's come without their relationships).
    tasks = {task.id: task for task in db.session.scalars(
        sa.select(Task).where(Task.id.in_(ids)).options(
            orm.selectinload(Task.resolution).selectinload(Resolution.executors), orm.selectinload(Task.document))
        .execution_options(populate_existing=True))} if ids else {}
    waiting = control.waiting_reports(ids)
    user, acting = g.user, _acting_ids()
    return [{**item, "task": tasks[item["task"].id], "doc": tasks[item["task"].id].document,
             "entry": waiting.get(item["task"].id),
             "may_decide": control.may_review(user, tasks[item["task"].id])
                           or control.reviewer_of(tasks[item["task"].id]) in acting,
             "may_read": control.may_read_task(user, item["task"].id),
             "form_key": secrets.token_urlsafe(16)} for item in items], next_cursor


def _extensions(viewer: User, cursor: str | None) -> tuple[list[dict], str | None]:
    items, next_cursor = execution.control_page(viewer, "extensions", PAGE, cursor)
    acting = _acting_ids()
    docs = {d.id: d for d in db.session.scalars(sa.select(Document).where(
        Document.id.in_({item["task"].document_id for item in items})).options(orm.noload("*")))} if items else {}
    return [{**item, "doc": docs[item["task"].document_id],
             "may_decide": control.may_decide(g.user, item["extension_request"])
                           or item["extension_request"].decider_id in acting,
             "form_key": secrets.token_urlsafe(16)} for item in items], next_cursor


def _page(refusal: str | None = None, status: int = 200):
    viewer = _viewer()
    period = _period(viewer)
    try:
        found = _summary(viewer, period)
    except ApiError as exc:  # an executive in no unit has no summary, but still their reports to decide
        if exc.status != 404 or period["unit"] is not None:
            raise
        found = None
    reports, reports_next = _reports(viewer, request.args.get("reports"))
    extensions, extensions_next = _extensions(viewer, request.args.get("extensions"))
    served = sorted(g.user.executives, key=lambda e: e.id)
    acting = _acting()
    pages = ([g.user] if g.user.has_role("executive") else []) + served + [
        p for p in acting if p.id not in {e.id for e in served}]
    kept = _kept() | {"from": _day(period["start"])} | ({} if viewer.id == g.user.id else {"for": str(viewer.id)})
    return render_template(
        "console/control.html", viewer=viewer, own=viewer.id == g.user.id, served=pages, summary=found,
        acting=any(p.id == viewer.id for p in acting),
        period={"from": _day(period["start"]), "to": _day(period["end"]), "unit": period["shown"].get("unit", "")},
        kept=kept, link=_linker(kept), reports=reports, reports_next=reports_next,
        extensions=extensions, extensions_next=extensions_next, local=_local, refusal=refusal,
        done=t(f"done_{request.args['done']}") if request.args.get("done") in DONE else None), status


DONE = ("accepted", "returned", "approved", "rejected")


@bp.route("/control", methods=["GET"])
def control_page():
    """The executive's control page (or, for an assistant, that of the executive they serve)."""
    return _page()


@bp.route("/control/late", methods=["GET"])
def late():
    """The late tasks (overdue, done late) behind a unit's or an executor's line of the summary."""
    viewer = _viewer()
    period = _period(viewer)
    found = _summary(viewer, period)
    in_unit, executor = request.args.get("in_unit", ""), request.args.get("executor", "")
    if in_unit.isdigit():
        line = next((u for u in found["units"] if u["unit"]["id"] == int(in_unit)), None)
        title = line and line["unit"]["short_name"]
        which = {"in_unit": int(in_unit)}
    elif executor.isdigit():
        line = next((e for e in found["executors"] if e["executor"]["id"] == int(executor)), None)
        title = line and line["executor"]["short_name"]
        which = {"executor_id": int(executor)}
    else:
        line = None
    if line is None:  # not a line of this summary: another organization's, or outside the viewer's scope
        raise not_found("unit")
    items, next_cursor = summary.late_tasks(viewer, period["unit"], period["start"], period["end"], **which,
                                            limit=PAGE, cursor=request.args.get("cursor"))
    shown = f"{_local(viewer, found['start'])[:10]} – {_local(viewer, found['end'])[:10]}"
    return render_template("console/control_late.html", viewer=viewer, title=title, items=items, period=shown,
                           next_cursor=next_cursor, link=_linker(_kept() | {"from": _day(period["start"])}),
                           which={k: v for k, v in (("in_unit", in_unit), ("executor", executor)) if v},
                           local=_local)


@bp.route("/control/tasks/<id:task_id>/reports/<id:report_id>/files/<id:file_id>", methods=["GET"])
def report_file(task_id, report_id, file_id):
    """A file of a report, for whoever may read the task (the API's rule and its safe serving)."""
    found = control.report_file(g.user, task_id, report_id, file_id)
    return send_blob(found.sha256, found.mime, download_name=found.name, what="file")


# --- acting: the rules are domain/control.py's; a refusal shows the page again, saying why --------------

def _state_label(prefix: str, state: str | None) -> str:
    try:
        return t(f"{prefix}_{state}")
    except KeyError:
        return state or ""


def _explain(exc: ApiError, what: str) -> str:
    """A refusal of the rules in the reader's language."""
    if exc.status == 404:
        return t("task_not_found" if what == "report" else "request_not_found")
    if exc.status == 403:
        return t("no_review_right" if what == "report" else "no_decide_right")
    if exc.code == "invalid_state":
        state = (exc.extra or {}).get("state")
        if what == "report":
            return t("report_decided").format(state=_state_label("ts", state))
        return t("request_decided").format(state=_state_label("xs", state))
    if exc.status == 422 and "deadline" in (exc.errors or {}):
        return t("deadline_passed")
    return t("bad_input")


def _act(what: str, done: str, anchor: str, run):
    """Run a decision once per form (a double submit replays the first answer), then back to the page."""
    def view():
        try:
            run()
        except ApiError as exc:
            db.session.rollback()
            return _page(_explain(exc, what), exc.status)
        return redirect(url_for("console.control_page", **_kept(), done=done) + anchor, code=303)

    key = request.form.get("form_key", "")
    return once(f"console:{key}" if key else None, view)


def _load(schema, raw: dict, refusal: str) -> dict:
    try:
        return schema.load({k: v for k, v in raw.items() if v not in (None, "")})
    except ValidationError as exc:
        raise _Refused(refusal if "deadline" not in exc.messages else t("bad_control_date")) from None


class _Refused(Exception):
    def __init__(self, said: str):
        self.said = said


def _refused(said: str):
    db.session.rollback()
    return _page(said, 422)


@bp.route("/control/tasks/<id:task_id>/accept", methods=["POST"])
def accept(task_id):
    """Accept the report waiting on the task (control.accept)."""
    try:
        body = _load(AcceptIn(), {"comment": request.form.get("comment", "").strip()}, t("bad_input"))
    except _Refused as refused:
        return _refused(refused.said)
    return _act("report", "accepted", "#reports", lambda: control.accept(g.user, task_id, body.get("comment")))


@bp.route("/control/tasks/<id:task_id>/return", methods=["POST"])
def return_report(task_id):
    """Return the report for rework, with the comment the rules require (control.return_report)."""
    try:
        body = _load(ReturnIn(), {"comment": request.form.get("comment", "").strip()}, t("comment_required"))
    except _Refused as refused:
        return _refused(refused.said)
    return _act("report", "returned", "#reports", lambda: control.return_report(g.user, task_id, body["comment"]))


@bp.route("/control/extension-requests/<id:request_id>/decision", methods=["POST"])
def decide(request_id):
    """Approve (to the date asked, or to the one given) or reject an extension (control.decide_extension)."""
    try:
        body = _load(ExtensionDecisionIn(), {"decision": request.form.get("decision", ""),
                                             "comment": request.form.get("comment", "").strip(),
                                             "deadline": request.form.get("deadline", "").strip()}, t("bad_input"))
    except _Refused as refused:
        return _refused(refused.said)
    done = "approved" if body["decision"] == "approve" else "rejected"
    return _act("extension", done, "#extensions", lambda: control.decide_extension(
        g.user, request_id, body["decision"], body.get("comment"), body.get("deadline")))
