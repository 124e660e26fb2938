"""What a controller controls: reports to accept, extensions to decide, tasks overdue, due soon, open,
executed."""
from datetime import timezone

from flask import g, jsonify

from domain import execution, substitutions, summary

from ..auth.tokens import authenticate
from ..blueprint import Blueprint
from ..fastdump import compile_rows
from ..openapi import errors
from ..reads import gets_outside_transaction
from ..schemas import ControlArgs, ControlItem, ControlPage, ExtensionRequestSchema, SummaryArgs, SummarySchema

blp = Blueprint("control", __name__, description="Execution control")
gets_outside_transaction(blp)  # the views read in plain SQL; the summary asks the ORM, in its own transaction
blp.before_request(authenticate)
_item = compile_rows(ControlItem(exclude=("extension_request",)), execution.CONTROL_LINE)
_request = compile_rows(ExtensionRequestSchema(), execution.REQUEST_LINE)
_REQUEST_AT = len(execution.CONTROL_LINE)


@blp.route("/control", methods=["GET"])
@blp.arguments(ControlArgs(), location="query")
@blp.response(200, ControlPage)
@errors("not_acting_for")
def control_view(args):
    """A view of what the caller controls, a keyset page at a time: `reports` waiting for them (as
    controller, or as responsible executor for co-executors' reports), `extensions` to decide, and the
    tasks they control `overdue` (the longest overdue first), `due_soon` (within 3 days, the soonest
    first), `open`, or done under an `executed` resolution (newest first). A deputy acting for a principal
    in the `resolutions` scope reads the principal's views with `for=principal_id` (the answer's `for`
    names them), while the substitution runs; the acts on them (accept, return, decide, withdraw) are
    the deputy's own requests, checked and recorded in the principal's name."""
    # One's own view needs no user loaded: the page is then one statement, the session check riding in it.
    viewer = substitutions.reading_as(g.user, args["principal"], "resolutions") if args.get("principal") else None
    rows, next_cursor = execution.control_rows(viewer.id if viewer else g.user_id, args["view"], args["limit"],
                                               args.get("cursor"))
    extensions = args["view"] == "extensions"
    items = [{**_item(row), "extension_request": _request(row[_REQUEST_AT:]) if extensions else None}
             for row in rows]
    return jsonify({"items": items, "next_cursor": next_cursor, "for": _ref(viewer)})


def _ref(viewer) -> dict | None:
    """Whose view it is, for a deputy reading a principal's (None: the caller's own)."""
    return None if viewer is None or viewer.id == g.user_id else {"id": str(viewer.id), "short_name": viewer.short_name}


@blp.route("/control/summary", methods=["GET"])
@blp.arguments(SummaryArgs(), location="query")
@blp.response(200, SummarySchema)
@errors("validation_failed", "not_found", "not_acting_for")
def control_summary(args):
    """Execution discipline over the controlled tasks issued in the period, per unit of the subtree below
    `unit` and per executor: open, due soon, overdue, done on time, done late, discipline. An executive
    reads any unit of the organization, anyone else their own units' subtrees. A task counts once; one
    ended by its resolution's withdrawal counts nowhere. A deputy acting for a principal (`resolutions`
    scope) reads the principal's summary, in the principal's scope, with `for=principal_id`."""
    viewer = substitutions.reading_as(g.user, args.get("principal"), "resolutions")
    found = summary.summary(viewer, args.get("unit"), args.get("start"), args.get("end"))
    return jsonify({**dump_summary(found), "for": _ref(viewer)})


def dump_summary(found: dict) -> dict:
    """What SummarySchema's dump gives, built directly: a ministry's summary lists thousands of
    executors, and marshmallow's per-field dump of them cost more than counting their tasks."""
    def counts(c: dict) -> dict:
        return {"open": c["open"], "due_soon": c["due_soon"], "overdue": c["overdue"],
                "done_on_time": c["done_on_time"], "done_late": c["done_late"], "discipline": c["discipline"]}

    def ref(r: dict) -> dict:
        return {"id": str(r["id"]), "short_name": r["short_name"]}

    def at(moment) -> str:
        return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"unit": ref(found["unit"]), "from": at(found["start"]), "to": at(found["end"]),
            "total": counts(found["total"]),
            "units": [{"unit": ref(u["unit"]), "parent_id": None if u["parent_id"] is None else str(u["parent_id"]),
                       **counts(u)} for u in found["units"]],
            "executors": _string_ids(found["executors"])}


def _string_ids(executors: list[dict]) -> list[dict]:
    """The executors' lines with the API's string ids. Their counts are already the schema's
    (domain.summary): the lines, built for this answer alone, are changed in place rather than copied,
    thousands of them."""
    for line in executors:
        line["executor"]["id"] = str(line["executor"]["id"])
        line["unit_id"] = str(line["unit_id"])
    return executors
