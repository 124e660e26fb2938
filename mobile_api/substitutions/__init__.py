"""Acting for others: a deputy for a period, in some scopes (domain.substitutions states the rules)."""
from flask import g

from domain import substitutions

from ..auth.tokens import authenticate
from ..blueprint import Blueprint
from ..idempotency import idempotent
from ..openapi import errors
from .schemas import SubstitutionIn, SubstitutionList, SubstitutionSchema

blp = Blueprint("substitutions", __name__, description="Acting for others")
blp.before_request(authenticate)


@blp.route("/substitutions", methods=["POST"])
@idempotent
@blp.arguments(SubstitutionIn())
@blp.response(201, SubstitutionSchema)
@errors("forbidden", "not_found", "substitution_overlaps", "deputy_away")
def create(body):
    """Name a deputy for a period: the principal (default the caller) or an admin of the organization.
    The deputy sees the principal's inbox (`inbox`), writes and issues resolutions (`resolutions`) and
    decides approvals (`approvals`) in the principal's name, until the period ends or it is deleted."""
    return substitutions.create(g.user, body.get("principal"), body["deputy"], body["starts_at"], body["ends_at"],
                                body["scopes"])


@blp.route("/substitutions", methods=["GET"])
@blp.response(200, SubstitutionList)
def list_substitutions():
    """The substitutions in which the caller is principal or deputy, running or to come."""
    return {"items": substitutions.mine(g.user)}


@blp.route("/substitutions/<id:substitution_id>", methods=["DELETE"])
@blp.response(204)
def end(substitution_id):
    """End a substitution at once (its principal, deputy, creator or an admin): every right it gave ends
    with it, and the deputy's copies of the principal's lines leave the deputy's inbox."""
    substitutions.end(g.user, substitution_id)
