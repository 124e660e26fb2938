"""An append-only audit trail, hash-chained per organization so that tampering shows.

The chain alone shows a changed row only to someone who does not recompute it: whoever can write
to the database can rewrite a row and every hash after it. So each entry and each chain head is
also *sealed*: an HMAC over (organization, seq, hash) keyed with AUDIT_KEY (by default derived
from SECRET_KEY), which lives in the processes' environment and never in the database. A rewrite
with the chain recomputed still breaks the seal of the first rewritten entry; cutting entries off
the end breaks the head's seal. On PostgreSQL a trigger also refuses UPDATE and DELETE of entries.
"""
import hashlib
import hmac
import json
from datetime import datetime

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column

from .base import BigId, db, utcnow

GENESIS = "0" * 64
_PENDING = "audit_pending"
_WRITTEN = ("organization_id", "seq", "actor_id", "action", "object_type", "object_id", "details", "created_at",
            "prev_hash", "hash", "seal")


class AuditHead(db.Model):
    """The last link of an organization's chain; locking it serialises appends."""

    __tablename__ = "audit_heads"

    organization_id: Mapped[int] = mapped_column(sa.ForeignKey("organizations.id"), primary_key=True)
    seq: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    hash: Mapped[str] = mapped_column(sa.String(64), default=GENESIS)
    seal: Mapped[str | None] = mapped_column(sa.String(64))


class AuditEvent(db.Model):
    __tablename__ = "audit_events"
    __table_args__ = (sa.UniqueConstraint("organization_id", "seq"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    organization_id: Mapped[int] = mapped_column(sa.ForeignKey("organizations.id"))
    seq: Mapped[int] = mapped_column(sa.BigInteger)
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(sa.String(40))
    object_type: Mapped[str] = mapped_column(sa.String(30))
    object_id: Mapped[str] = mapped_column(sa.String(40))
    details: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    prev_hash: Mapped[str] = mapped_column(sa.String(64))
    hash: Mapped[str] = mapped_column(sa.String(64))
    # HMAC of the link under a key the database does not hold; NULL only for entries written before seals.
    seal: Mapped[str | None] = mapped_column(sa.String(64))

    def compute_hash(self) -> str:
        """SHA-256 over the previous link and this entry's canonical JSON."""
        body = {
            "organization_id": self.organization_id,
            "seq": self.seq,
            "actor_id": self.actor_id,
            "action": self.action,
            "object_type": self.object_type,
            "object_id": self.object_id,
            "details": self.details,
            "created_at": self.created_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        }
        canon = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256((self.prev_hash + canon).encode()).hexdigest()


def record(organization_id: int, actor_id: int | None, action: str, obj_type: str, obj_id, **details) -> None:
    """Append an entry to the organization's chain, as part of the caller's transaction.

    The entry is linked when that transaction commits (`_chain`): linking locks the organization's
    chain head until commit, and taken at the first write that lock would queue each organization's
    whole transactions behind one another; taken at commit, it is held for the commit alone."""
    db.session.info.setdefault(_PENDING, []).append(AuditEvent(
        organization_id=organization_id, actor_id=actor_id, action=action, object_type=obj_type,
        object_id=str(obj_id), details=details, created_at=utcnow()))


@sa.event.listens_for(Session, "before_commit")
def _chain(session: Session) -> None:
    """Link the transaction's entries to their chains, heads locked in organization order (no deadlock).
    A savepoint's release also fires this event: only the outermost commit links."""
    if session.in_nested_transaction():
        return
    pending = session.info.pop(_PENDING, None)
    if not pending:
        return
    connection, key = session.connection(), _key()
    for organization_id in sorted({e.organization_id for e in pending}):
        head = connection.execute(_LOCK_HEAD, {"organization_id": organization_id}).first()
        if head is None:
            # The organization's first entry. Two first entries at once both get here: one creates the
            # head, the other's insert waits for it and does nothing, and both then lock the same head.
            connection.execute(_FIRST_HEAD[connection.dialect.name], {"organization_id": organization_id})
            head = connection.execute(_LOCK_HEAD, {"organization_id": organization_id}).one()
        seq, link = head
        rows = []
        for entry in (e for e in pending if e.organization_id == organization_id):
            entry.seq, entry.prev_hash = seq + 1, link
            entry.hash = entry.compute_hash()
            entry.seal = _seal("event", organization_id, entry.seq, entry.hash, key)
            seq, link = entry.seq, entry.hash
            rows.append({column: getattr(entry, column) for column in _WRITTEN})
        moved = {"org": organization_id, "new_seq": seq, "new_hash": link,
                 "new_seal": _seal("head", organization_id, seq, link, key)}
        if connection.dialect.name == "postgresql" and len(rows) <= _IN_ONE:  # the head moves in the insert's WITH
            connection.execute(sa.insert(AuditEvent.__table__).values(rows).add_cte(_MOVED_HEAD), moved)
        else:
            connection.execute(_INSERT_EVENTS, rows)
            connection.execute(_MOVE_HEAD, moved)


# The chain's statements, built once (SQLAlchemy compiles each once and caches it): they run in every
# writing request, where building and compiling them anew cost a third of a millisecond.
_heads = AuditHead.__table__.c
_LOCK_HEAD = (sa.select(_heads.seq, _heads.hash).where(_heads.organization_id == sa.bindparam("organization_id"))
              .with_for_update())
_FIRST_HEAD = {dialect.__name__.rsplit(".", 1)[-1]: dialect.insert(AuditHead.__table__).values(
    seq=0, hash=GENESIS).on_conflict_do_nothing(
    index_elements=["organization_id"]) for dialect in (postgresql, sqlite)}
_INSERT_EVENTS = sa.insert(AuditEvent.__table__)  # its rows as parameters: one executemany, no ids returned
_MOVE_HEAD = sa.update(AuditHead.__table__).where(_heads.organization_id == sa.bindparam("org")).values(
    seq=sa.bindparam("new_seq"), hash=sa.bindparam("new_hash"), seal=sa.bindparam("new_seal"))
# PostgreSQL runs a data-modifying WITH exactly once, read or not: the head moves with the entries'
# insert, whose statement is compiled once per number of entries (SQLAlchemy caches it by that shape).
_MOVED_HEAD = _MOVE_HEAD.cte("moved_head")
# Entries linked in that one statement at most (a request writes one or two; an import thousands, as
# many rows of parameters as PostgreSQL's limit would not take, and they go by executemany).
_IN_ONE = 20


@sa.event.listens_for(Session, "after_transaction_end")
def _forget(session: Session, transaction) -> None:
    if transaction.parent is None:  # rolled back (a commit has taken them already)
        session.info.pop(_PENDING, None)


def _key() -> bytes:
    cfg = current_app.config
    if cfg.get("AUDIT_KEY"):
        return cfg["AUDIT_KEY"].encode()
    return hmac.new(cfg["SECRET_KEY"].encode(), b"audit-seal", hashlib.sha256).digest()


def _seal(kind: str, organization_id: int, seq: int, link: str, key: bytes | None = None) -> str:
    message = f"{kind}|{organization_id}|{seq}|{link}".encode()
    return hmac.new(key or _key(), message, hashlib.sha256).hexdigest()


def _sealed(kind: str, organization_id: int, seq: int, link: str, seal: str | None, key: bytes) -> bool:
    return seal is not None and hmac.compare_digest(seal, _seal(kind, organization_id, seq, link, key))


def seal_unsealed(organization_id: int) -> int:
    """Seal the entries written before seals existed, after `verify_chain` found their chain intact.

    Run once after upgrading (`flask audit seal`): it vouches for the trail as it stands now.
    """
    key, count = _key(), 0
    for event in db.session.scalars(sa.select(AuditEvent).where(
            AuditEvent.organization_id == organization_id, AuditEvent.seal.is_(None)).order_by(AuditEvent.seq)):
        event.seal = _seal("event", organization_id, event.seq, event.hash, key)
        count += 1
    head = db.session.get(AuditHead, organization_id)
    if head is not None and head.seal is None:
        head.seal = _seal("head", organization_id, head.seq, head.hash, key)
    return count


def verify_chain(organization_id: int, allow_unsealed: bool = False) -> AuditEvent | None:
    """Walk the chain in order; return the first entry whose link or seal is broken, or None.

    The entry returned carries `problem`, a short reason. `allow_unsealed` accepts entries written
    before seals existed (used by `flask audit seal` before it seals them).
    """
    key, prev, expected_seq = _key(), GENESIS, 1
    rows = db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.organization_id == organization_id).order_by(AuditEvent.seq)
    )
    for event in rows:
        problem = None
        if event.seq != expected_seq:
            problem = "an entry is missing before it"
        elif event.prev_hash != prev or event.compute_hash() != event.hash:
            problem = "its content or link was changed"
        elif event.seal is None and not allow_unsealed:
            problem = "it is not sealed"
        elif event.seal is not None and not _sealed("event", organization_id, event.seq, event.hash, event.seal,
                                                    key):
            problem = "its seal does not match: rewritten with the chain recomputed, or AUDIT_KEY changed"
        if problem:
            event.problem = problem
            return event
        prev, expected_seq = event.hash, expected_seq + 1
    head = db.session.get(AuditHead, organization_id)
    if head is None:
        return None
    problem = None
    if head.seq != expected_seq - 1 or head.hash != prev:
        problem = "the chain head points past the last entry (entries were removed)"
    elif head.seal is None and not allow_unsealed:
        problem = "the chain head is not sealed"
    elif head.seal is not None and not _sealed("head", organization_id, head.seq, head.hash, head.seal, key):
        problem = "the chain head's seal does not match (entries cut off the end?)"
    if problem:
        # Report the head as an entry of its own, so that the caller can name it.
        missing = AuditEvent(organization_id=organization_id, seq=head.seq, hash=head.hash, prev_hash=prev,
                             action="(head)", object_type="", object_id="")
        missing.problem = problem
        return missing
    return None
