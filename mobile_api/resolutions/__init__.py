"""Text resolutions: draft, edit, review, issue."""
from flask import g, jsonify, url_for

from domain import access, control, drafts, execution, substitutions
from domain import resolutions as rules

from ..approvals.schemas import IssueIn
from ..auth.tokens import authenticate
from ..blueprint import Blueprint
from ..idempotency import idempotent
from ..openapi import LOCATION, errors
from ..reads import gets_outside_transaction
from ..schemas import ExecutionSchema, ResolutionIn, ResolutionPatch, ResolutionSchema, WithdrawIn
from .tree import dump_tree

blp = Blueprint("resolutions", __name__, description="Resolutions")
# Its GETs run outside a transaction: the execution tree reads in plain SQL; a single resolution still asks the
# ORM, in a transaction of its own. Its writes keep theirs.
gets_outside_transaction(blp)
blp.before_request(authenticate)


@blp.route("/documents/<id:document_id>/resolutions", methods=["POST"])
@idempotent
@blp.arguments(ResolutionIn())
@blp.response(201, ResolutionSchema, headers=LOCATION)
@errors("forbidden", "signature_required", "not_your_executive", "not_acting_for")
def create(body, document_id):
    """Write a resolution: a draft, or issued at once when `issue` is true. An assistant names with `author`
    an executive they serve to write a draft for them (issued at once only where that executive allowed it);
    a deputy writes in a principal's name with `acting_for` (recorded beside the deputy as author)."""
    principal = substitutions.acting_as(g.user, body.get("acting_for"), "resolutions")
    if principal is not None:
        doc = access.get_document(principal, document_id)
        res = rules.create(g.user, doc, body["text"], body["executors"], body.get("deadline"), issue=body["issue"],
                           control=body.get("control"), controller_id=body.get("controller"), principal=principal)
    else:
        doc = access.get_document(g.user, document_id)
        res = drafts.create(g.user, doc, body.get("author"), body["text"], body["executors"], body.get("deadline"),
                            issue=body["issue"], control=body.get("control"), controller_id=body.get("controller"))
    return res, 201, {"Location": url_for("resolutions.get", resolution_id=res.id)}


@blp.route("/resolutions/<id:resolution_id>", methods=["GET"])
@blp.response(200, ResolutionSchema)
def get(resolution_id):
    """One resolution."""
    return access.get_resolution(g.user, resolution_id)


@blp.route("/resolutions/<id:resolution_id>/execution", methods=["GET"])
@blp.response(200, ExecutionSchema)
def get_execution(resolution_id):
    """How far the execution has come: the resolution, each task with its status, deadline, reports (with
    files), returns and extension requests, and the sub-resolutions written on it, recursively."""
    return jsonify(dump_tree(execution.tree_rows(g.user_id, resolution_id)))


@blp.route("/resolutions/<id:resolution_id>", methods=["PATCH"])
@blp.arguments(ResolutionPatch())
@blp.response(200, ResolutionSchema)
@errors("invalid_state")
def edit(body, resolution_id):
    """Edit text, executors, deadline, control or controller before issue; each edit is kept as a revision."""
    return rules.edit(g.user, resolution_id, body)


@blp.route("/resolutions/<id:resolution_id>/reviewed", methods=["POST"])
@idempotent
@blp.response(200, ResolutionSchema)
@errors("self_review", "invalid_state")
def reviewed(resolution_id):
    """The assistant hands the corrected draft back to its author."""
    return rules.mark_reviewed(g.user, resolution_id)


@blp.route("/resolutions/<id:resolution_id>/issue", methods=["POST"])
@idempotent
@blp.arguments(IssueIn())
@blp.response(200, ResolutionSchema)
@errors("forbidden", "invalid_state", "signature_missing", "signature_mismatch", "signing_session_mismatch",
        "signature_required", "not_acting_for")
def issue(body, resolution_id):
    """The author issues the resolution, signed when `signing_session_id` names their signature of it; or,
    in the author's name, an assistant the author allowed to or the author's deputy (each signing with their
    own key)."""
    return rules.issue(g.user, resolution_id, body.get("signing_session_id"))


@blp.route("/resolutions/<id:resolution_id>/withdraw", methods=["POST"])
@idempotent
@blp.arguments(WithdrawIn())
@blp.response(200, ResolutionSchema)
@errors("forbidden", "invalid_state")
def withdraw(body, resolution_id):
    """The controller takes the resolution off control with a reason (`withdrawn`): its tasks not done end."""
    return control.withdraw(g.user, resolution_id, body["reason"])
