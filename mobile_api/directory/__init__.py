"""The directory (people, units, offline sync), frequent executors, and reading a resolution's text."""
from flask import g

from domain import dictation, directory

from ..auth.tokens import authenticate
from ..blueprint import Blueprint
from ..conditional import etagged
from ..openapi import errors
from .schemas import (
    DirectorySync,
    DirectorySyncArgs,
    FrequentList,
    ParseIn,
    ParseOut,
    PeopleArgs,
    PeoplePage,
    UnitTree,
)

blp = Blueprint("directory", __name__, description="Directory and reading resolutions")
blp.before_request(authenticate)


@blp.route("/directory/people", methods=["GET"])
@etagged
@blp.arguments(PeopleArgs(), location="query")
@blp.response(200, PeoplePage)
@errors("not_found")
def people(args):
    """People of the caller's organization by the start of their surname, first name or position."""
    return directory.search(g.user, args.get("q"), args.get("unit"), args["limit"], args.get("cursor"))


@blp.route("/directory/units", methods=["GET"])
@etagged
@blp.response(200, UnitTree)
def units():
    """The organization's tree of units."""
    return {"items": directory.units_tree(g.user.organization_id)}


@blp.route("/directory/sync", methods=["GET"])
@blp.arguments(DirectorySyncArgs(), location="query")
@blp.response(200, DirectorySync)
def sync(args):
    """People and units changed since a token (upserts and tombstones); without one, everyone current."""
    return directory.sync(g.user, args.get("since"), args["limit"])


@blp.route("/me/frequent-executors", methods=["GET"])
@etagged
@blp.response(200, FrequentList)
def frequent_executors():
    """The people this user named as executors most in the last 90 days."""
    return {"items": directory.frequent_executors(g.user)}


@blp.route("/resolutions/parse", methods=["POST"])
@blp.arguments(ParseIn())
@blp.response(200, ParseOut)
def parse(body):
    """What a resolution's text says: instruction, executors, deadline, and names to check."""
    return dictation.answer(g.user, body["text"], body.get("language"), body.get("on"), body.get("control"))
