"""Search: the documents the caller may see, by their words in any form, their number, correspondent
and dates."""
from flask import g

from domain import search as documents_search

from ..auth.tokens import authenticate
from ..blueprint import Blueprint
from ..openapi import errors
from ..schemas import SearchArgs, SearchPage

blp = Blueprint("search", __name__, description="Search")
blp.before_request(authenticate)


@blp.route("/search", methods=["GET"])
@blp.arguments(SearchArgs(), location="query")
@blp.response(200, SearchPage)
@errors("validation_failed")
def search(args):
    """Documents the caller may see (the rule of `GET /documents/{id}`, in their own organization),
    matching every word of `q` in any of its forms (Russian morphology), newest registration first, a
    keyset page at a time, each with a snippet of its text with the words found marked. A `q` that is
    a registration number finds that document; `reg_number` finds one exactly; `correspondent` keeps
    those whose correspondent contains it; `from` and `to` bound the registration date. No count is
    given."""
    items, next_cursor = documents_search.search(
        g.user, args.get("q"), args.get("reg_number"), args.get("correspondent"), args.get("start"),
        args.get("end"), args["limit"], args.get("cursor"))
    return {"items": items, "next_cursor": next_cursor}
