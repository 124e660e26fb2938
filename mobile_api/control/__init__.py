"""What a controller controls: reports to accept, extensions to decide, tasks overdue, due soon, open,
executed."""
from flask import g

from domain import execution, substitutions, summary

from ..auth.tokens import authenticate
from ..blueprint import Blueprint
from ..openapi import errors
from ..schemas import ControlArgs, ControlPage, SummaryArgs, SummarySchema

blp = Blueprint("control", __name__, description="Execution control")
blp.before_request(authenticate)


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
    viewer = substitutions.reading_as(g.user, args.get("principal"), "resolutions")
    items, next_cursor = execution.control_page(viewer, args["view"], args["limit"], args.get("cursor"))
    return {"items": items, "next_cursor": next_cursor, "principal": _ref(viewer)}


def _ref(viewer):
    return None if viewer.id == g.user.id else {"id": viewer.id, "short_name": viewer.short_name}


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
    return {**summary.summary(viewer, args.get("unit"), args.get("start"), args.get("end")),
            "principal": _ref(viewer)}
