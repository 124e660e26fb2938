"""GET requests of the blueprints that only read run outside a transaction (models.raw.outside_transaction).

Phones poll their lists all day: a transaction around a poll costs a BEGIN and a ROLLBACK, two round
trips to the one database the region shares, and buys nothing for reads that never write.
"""
from flask import after_this_request, request
from flask_smorest import Blueprint

from models import db, raw


def gets_outside_transaction(blp: Blueprint) -> None:
    """Register first on a blueprint whose GET handlers never write, before authentication reads."""

    @blp.before_request
    def _outside_transaction():
        if request.method in ("GET", "HEAD"):
            raw.outside_transaction()
            after_this_request(_end)


def _end(response):
    db.session.rollback()  # gives the connection back now, whoever keeps the session (tests do)
    return response
