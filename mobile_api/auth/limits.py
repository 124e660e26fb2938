"""Failed-login limits shared by every web process and node, kept in the database.

Three keys are limited, each with its own windows: the address and username together (a user
mistyping), the username from anywhere (a distributed guess at one account), and the address
alone (one password sprayed over many usernames). The counter is a table of failures, so it
holds wherever the app runs: the embedded SQLite run, several gunicorn workers, several nodes
on one PostgreSQL; nothing else needs to be deployed for it.

Each attempt writes and commits its row *before* counting, so that simultaneous guesses cannot
all read "under the limit": the k-th committed attempt sees at least k rows. An attempt that is
refused (429) or succeeds takes its row back, so only genuine failures count.
"""
import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app, request
from limits import parse_many

from models import LoginFailure, db, utcnow

from ..errors import ApiError

# One attempt in this many prunes failures older than the longest window.
_PRUNE_ONE_IN = 20


@dataclass(frozen=True)
class Rule:
    scope: str  # "pair", "username" or "address"
    amount: int
    window: timedelta


def _rules() -> list[Rule]:
    cfg = current_app.config
    rules = []
    for scope, setting in (("pair", "LOGIN_RATE_LIMIT"), ("username", "LOGIN_USERNAME_LIMIT"),
                           ("address", "LOGIN_ADDRESS_LIMIT")):
        for item in parse_many(cfg[setting]) if cfg.get(setting) else []:
            rules.append(Rule(scope, item.amount, timedelta(seconds=item.get_expiry())))
    return rules


def client_address() -> str:
    """The caller's address (behind trusted proxies, the one they report: see TRUSTED_PROXIES)."""
    return (request.remote_addr or "unknown")[:64]


def _normalise(username: str) -> str:
    return username.strip().lower()[:80]


def _matches(rule: Rule, address: str, username: str):
    c = LoginFailure.__table__.c
    return {"pair": sa.and_(c.address == address, c.username == username),
            "username": c.username == username,
            "address": c.address == address}[rule.scope]


def begin(username: str) -> int:
    """Count this attempt; refuse it with 429 and Retry-After when a limit is reached. Returns its row id."""
    rules = _rules()
    address, name, now = client_address(), _normalise(username), utcnow()
    failures = LoginFailure.__table__
    attempt_id = db.session.execute(
        failures.insert().values(address=address, username=name, at=now).returning(failures.c.id)).scalar_one()
    db.session.commit()
    if not rules:
        return attempt_id
    c = failures.c
    longest = max(r.window for r in rules)
    counts = db.session.execute(
        sa.select(*[sa.func.count().filter(sa.and_(_matches(r, address, name), c.at > now - r.window))
                    for r in rules])
        .where(sa.or_(c.address == address, c.username == name), c.at > now - longest)
    ).one()
    breached = [rule for rule, count in zip(rules, counts) if count > rule.amount]
    if not breached:
        if random.randrange(_PRUNE_ONE_IN) == 0:
            db.session.execute(failures.delete().where(c.at < now - longest))
            db.session.commit()
        return attempt_id
    db.session.execute(failures.delete().where(c.id == attempt_id))
    db.session.commit()
    wait = max(_seconds_until_free(rule, address, name, attempt_id, now) for rule in breached)
    raise ApiError(429, "rate_limited", "Too many failed sign-ins; try again later.",
                   headers={"Retry-After": str(wait)})


def _seconds_until_free(rule: Rule, address: str, name: str, attempt_id: int, now: datetime) -> int:
    """When the window will hold fewer than `amount` failures again."""
    c = LoginFailure.__table__.c
    nth_newest = db.session.scalar(
        sa.select(c.at).where(_matches(rule, address, name), c.at > now - rule.window, c.id != attempt_id)
        .order_by(c.at.desc()).limit(1).offset(rule.amount - 1))
    if nth_newest is None:
        return 1
    return max(1, math.ceil((nth_newest + rule.window - now).total_seconds()))


def succeeded(attempt_id: int) -> None:
    """The password was right: this attempt is not a failure (committed with the caller's work)."""
    db.session.execute(LoginFailure.__table__.delete().where(LoginFailure.__table__.c.id == attempt_id))
