"""Approval routes: stages in order, who is due, decisions, rejection, and restarts on a new version.

A route is a list of stages. A stage is done when each of its approvers has a standing approval; in a
sequential stage they decide one after another in the listed order, in a parallel stage all at once.
The first stage not done is the current one, and its undecided approvers (the first of them, if
sequential) are due. One reject ends the round as rejected and returns the document to its owner,
who may put a new route: a new round. A new version of the document cancels the round's decisions
(they were about the old version) and starts the route over.

The rules that read a round (`current_stage`, `due`, `view`) take a loaded Approval or the plain
round an opened document reads (domain.reading.round_of): the same attributes, without the ORM.
"""
import json
from datetime import datetime

import sqlalchemy as sa
from werkzeug.datastructures import FileStorage

from models import Attachment, Document, User, audit, db, utcnow
from models.base import lock as lock_row
from models.base import store_order
from models.signing import (
    Approval,
    ApprovalDecision,
    ApprovalStage,
    approval_stage_approvers,
)
from signing.canonical import decision_bytes

from . import documents, inbox, signatures, substitutions
from .errors import ApiError, conflict, not_found
from .notify import notify

MAX_STAGES, MAX_APPROVERS = 20, 50


def current(document_id: int) -> Approval | None:
    """The document's latest round, if it ever had a route."""
    return db.session.scalar(sa.select(Approval).where(Approval.document_id == document_id)
                             .order_by(Approval.round.desc()).limit(1))


def _standing(approval: Approval) -> dict[tuple[int, int], ApprovalDecision]:
    return {(d.stage_id, d.approver_id): d for d in approval.decisions if not d.cancelled}


def current_stage(approval: Approval) -> ApprovalStage | None:
    """The first stage whose approvers have not all approved."""
    standing = _standing(approval)
    for stage in approval.stages:
        if any((stage.id, user.id) not in standing for user in stage.approvers):
            return stage
    return None


def due(approval: Approval) -> list[int]:
    """Ids of the approvers whose decision is awaited now."""
    stage = current_stage(approval) if approval.status == "in_progress" else None
    if stage is None:
        return []
    standing = _standing(approval)
    waiting = [user.id for user in stage.approvers if (stage.id, user.id) not in standing]
    return waiting[:1] if stage.mode == "sequential" else waiting


def _summon(approval: Approval, doc: Document, user_ids: list[int], sender: str) -> None:
    """Put the document into the inboxes of newly due approvers and owe them a push."""
    inbox.deliver(user_ids, doc, "approval", sender)
    for user_id in user_ids:
        notify("approval_requested", user_id, doc.id, dedup_key=f"approval:{approval.id}:{user_id}:"
               f"{len(approval.decisions)}", approval_id=approval.id)


def _approvers(doc: Document, stages: list[dict]) -> dict[int, User]:
    ids = [user_id for stage in stages for user_id in stage["approvers"]]
    if len(set(ids)) != len(ids):
        raise ApiError(422, "validation_failed", "An approver appears twice in the route.",
                       {"stages": ["Each approver may appear once in a route."]})
    users = db.session.scalars(sa.select(User).where(User.id.in_(ids), User.organization_id == doc.organization_id,
                                                     User.is_active.is_(True))).all()
    if len(users) != len(ids):
        raise ApiError(422, "validation_failed", "Unknown approver.",
                       {"stages": ["Approvers must be active users of the document's organization."]})
    return {user.id: user for user in users}


def put_route(owner: User, doc: Document, stages: list[dict]) -> Approval:
    """The owner starts a round with the given stages."""
    if doc.owner_id != owner.id:
        raise ApiError(403, "forbidden", "Only the document's owner sets its approval route.")
    if not 1 <= len(stages) <= MAX_STAGES or any(not 1 <= len(s["approvers"]) <= MAX_APPROVERS for s in stages):
        raise ApiError(422, "validation_failed", "A route has 1 to 20 stages of 1 to 50 approvers.",
                       {"stages": [f"1 to {MAX_STAGES} stages, each with 1 to {MAX_APPROVERS} approvers."]})
    users = _approvers(doc, stages)
    lock_row(Document, doc.id)  # two owners' taps at once must not start two rounds
    last = current(doc.id)
    if last is not None and last.status == "in_progress":
        raise ApiError(409, "approval_in_progress", "The document is being approved; wait for the round to end.")
    approval = Approval(document_id=doc.id, round=last.round + 1 if last else 1, created_by=owner.id)
    for position, stage in enumerate(stages, 1):
        approval.stages.append(ApprovalStage(position=position, mode=stage["mode"],
                                             approvers=[users[user_id] for user_id in stage["approvers"]]))
    db.session.add(approval)
    db.session.flush()
    for stage in approval.stages:
        store_order(approval_stage_approvers, "stage_id", stage.id, stage.approvers)
    inbox.withdraw(owner.id, doc.id, "approval")  # a returned document is off the owner's desk again
    _summon(approval, doc, due(approval), owner.short_name)
    audit.record(owner.organization_id, owner.id, "approval.routed", "approval", approval.id,
                 document_id=str(doc.id), round=approval.round,
                 stages=[{"mode": s["mode"], "approvers": [str(i) for i in s["approvers"]]} for s in stages])
    return approval


def _decision_content(user: User, doc: Document, decision: str, comment: str | None, signed_at: datetime,
                      principal: User | None = None) -> bytes:
    return decision_bytes(document_id=str(doc.id), version_hash=signatures.document_version(doc),
                          decision=decision, comment=comment, signer=str(user.id), signed_at=signed_at,
                          acting_for=str(principal.id) if principal is not None else None)


def _get_for_approver(user: User, approval_id: int | None, lock: bool = False,
                      acting_for: int | None = None) -> tuple[Approval, User, User | None]:
    """An approval in which the user is an approver, or a deputy of one (domain.substitutions): the
    approval, the approver who decides, and the principal the user acts for (None for their own). A
    deputy names the principal with `acting_for`; without it, the principal is inferred when the user is
    no approver and exactly one approver due now is someone they act for. Else 404 (403 `not_acting_for`
    for a principal named but not acted for now). Asked inside the approval's lock for a decision."""
    if approval_id is None:
        raise not_found("approval")
    approval = lock_row(Approval, approval_id) if lock else db.session.get(Approval, approval_id)
    if approval is None:
        raise not_found("approval")
    approvers = {u.id for stage in approval.stages for u in stage.approvers}
    if acting_for in (None, user.id) and user.id in approvers:
        return approval, user, None
    if acting_for is None:
        acted_for = set(substitutions.principals_of(user, "approvals"))
        waiting = [user_id for user_id in due(approval) if user_id in acted_for]
        if len(waiting) > 1:
            raise ApiError(422, "validation_failed", "You act for several approvers due here: name one.",
                           {"acting_for": ["Required: whom you decide for."]})
        acting_for = waiting[0] if waiting else None
    if acting_for in (None, user.id):
        raise not_found("approval")
    principal = substitutions.acting_principal(user, acting_for, "approvals")
    if principal.id not in approvers:
        raise not_found("approval")
    return approval, principal, principal


def _check_due(user: User, approval: Approval, decision: str, comment: str | None) -> None:
    if approval.status != "in_progress":
        raise conflict("approval_closed", f"This approval round is already {approval.status}.", approval.status)
    if user.id not in due(approval):
        raise conflict("not_due", "It is not your turn to decide on this approval.", approval.status)
    if decision == "reject" and not (comment or "").strip():
        raise ApiError(422, "comment_required", "A reject needs a comment.", {"comment": ["Required to reject."]})


def open_session(user: User, approval_id: int, key_id: int, decision: str, comment: str | None,
                 acting_for: int | None = None):
    """A signing session for the user's decision on the document as it is now (a deputy's, in the
    principal's name: the content names the principal, the deputy's own key signs it)."""
    approval, approver, principal = _get_for_approver(user, approval_id, acting_for=acting_for)
    _check_due(approver, approval, decision, comment)
    doc = db.session.get(Document, approval.document_id)
    signed_at = signatures.signing_now()
    content = _decision_content(user, doc, decision, comment, signed_at, principal)
    return signatures.open_session(user, key_id, doc, "approval", approval.id, content, signed_at)


def _signature_for(user: User, approval: Approval, doc: Document, decision: str, comment: str | None,
                   session_id: int | None, principal: User | None = None):
    """The signature backing this decision, checked to cover exactly it; None if it may go unsigned."""
    if session_id is None:
        if signatures.signature_required(user.id):
            raise ApiError(422, "signature_required", "You have an enrolled key: sign your decision.",
                           {"signing_session_id": ["Required: your decisions are signed."]})
        return None
    signature = signatures.bound_signature(user, session_id, "approval", approval.id)
    if db.session.scalar(sa.select(ApprovalDecision.id).where(ApprovalDecision.signature_id == signature.id)):
        raise conflict("session_used", "This signature already backs a decision.", "used")
    signed = json.loads(signature.content)
    if signed["version_hash"] != signatures.document_version(doc):
        raise ApiError(409, "stale_version", "The document changed after you signed; sign the new version.")
    expected = _decision_content(user, doc, decision, comment, signatures.signed_at_of(signed), principal)
    if signature.content != expected:
        raise ApiError(409, "signature_mismatch", "The signed decision or comment differs from this one.")
    return signature


def decide(user: User, approval_id: int | None, decision: str, comment: str | None,
           session_id: int | None, acting_for: int | None = None) -> Approval:
    """Record an approver's decision and move the route on. A deputy decides in the principal's name
    (`acting_for`, or inferred): the decision is the principal's, recorded with the deputy beside it."""
    approval, approver, principal = _get_for_approver(user, approval_id, lock=True, acting_for=acting_for)
    _check_due(approver, approval, decision, comment)
    doc = db.session.get(Document, approval.document_id)
    signature = _signature_for(user, approval, doc, decision, comment, session_id, principal)
    before = set(due(approval))
    stage = current_stage(approval)
    approval.decisions.append(ApprovalDecision(stage_id=stage.id, approver_id=approver.id, decision=decision,
                                               comment=comment or None, signature_id=signature and signature.id,
                                               acting_deputy_id=principal and user.id))
    db.session.flush()
    inbox.withdraw(approver.id, doc.id, "approval")
    if decision == "reject":
        approval.status, approval.finished_at = "rejected", utcnow()
        for user_id in before - {approver.id}:
            inbox.withdraw(user_id, doc.id, "approval")
        inbox.deliver([doc.owner_id], doc, "approval", user.short_name)  # back to the owner for a new route
    else:
        now_due = due(approval)
        if current_stage(approval) is None:
            approval.status, approval.finished_at = "approved", utcnow()
            inbox.deliver([doc.owner_id], doc, "info", user.short_name)
        _summon(approval, doc, [i for i in now_due if i not in before], user.short_name)
    audit.record(user.organization_id, user.id, "approval.decided", "approval", approval.id,
                 document_id=str(doc.id), round=approval.round, stage=stage.position, decision=decision,
                 comment=comment, signature_id=signature and str(signature.id), status=approval.status,
                 **substitutions.audited(principal))
    return approval


def add_version(user: User, doc: Document, upload: FileStorage) -> Attachment:
    """The owner adds a file (a new version of one with the same name): the round's decisions are cancelled."""
    if doc.owner_id != user.id:
        raise ApiError(403, "forbidden", "Only the document's owner adds its files.")
    # Locks first, before anything is written (writes take the sync counter's lock): one new version
    # or route at a time, and a decision landing now either waits or is seen.
    lock_row(Document, doc.id)
    approval = current(doc.id)
    if approval is not None:
        approval = lock_row(Approval, approval.id)
    attachment = documents.add_attachment(user, doc, upload)
    if approval is not None and approval.status == "in_progress":
        before = set(due(approval))
        cancelled = [d for d in approval.decisions if not d.cancelled]
        for decision in cancelled:
            decision.cancelled = True
        db.session.flush()
        after = due(approval)
        for user_id in before - set(after):
            inbox.withdraw(user_id, doc.id, "approval")
        _summon(approval, doc, [i for i in after if i not in before], user.short_name)
        audit.record(user.organization_id, user.id, "approval.restarted", "approval", approval.id,
                     document_id=str(doc.id), attachment_id=str(attachment.id),
                     cancelled=[str(d.id) for d in cancelled])
    return attachment


def waiting_for(user: User, limit: int, after_id: int | None) -> tuple[list[Approval], int | None]:
    """Approvals in which the user is due now, or someone they act for in `approvals` is (a deputy's),
    newest first; returns a page and the next cursor id."""
    deciders = {user.id, *substitutions.principals_of(user, "approvals")}
    query = (sa.select(Approval).join(ApprovalStage, ApprovalStage.approval_id == Approval.id)
             .join(approval_stage_approvers, approval_stage_approvers.c.stage_id == ApprovalStage.id)
             .where(approval_stage_approvers.c.user_id.in_(deciders), Approval.status == "in_progress")
             .order_by(Approval.id.desc()).distinct())
    if after_id is not None:
        query = query.where(Approval.id < after_id)
    found: list[Approval] = []
    # An approver of a later stage is a candidate but not due yet: walk candidates until the page is full.
    # An approver appears once per route; a deputy's principals may share one (DISTINCT).
    for approval in db.session.scalars(query.execution_options(yield_per=100)):
        if deciders & set(due(approval)):
            found.append(approval)
            if len(found) > limit:
                break
    more = len(found) > limit
    page = found[:limit]
    return page, (page[-1].id if more else None)


def view(approval: Approval) -> dict:
    """The Approval of the contract: the round, its stages with each approver's standing decision."""
    standing, waiting = _standing(approval), set(due(approval))
    stage_now = current_stage(approval) if approval.status == "in_progress" else None
    stages = []
    for stage in approval.stages:
        decided = [standing.get((stage.id, u.id)) for u in stage.approvers]
        status = ("rejected" if any(d and d.decision == "reject" for d in decided)
                  else "done" if all(decided) else "current" if stage is stage_now else "waiting")
        stages.append({
            "position": stage.position, "mode": stage.mode, "status": status,
            "approvers": [{"user": u, "due": u.id in waiting, **_decision_view(d)}
                          for u, d in zip(stage.approvers, decided)],
        })
    return {"id": approval.id, "document_id": approval.document_id, "document": approval.document,
            "round": approval.round,
            "status": approval.status, "created_at": approval.created_at, "finished_at": approval.finished_at,
            "due": sorted(waiting), "stages": stages,
            "decisions": [{"id": d.id, "approver": d.approver, "stage": _position(approval, d.stage_id),
                           "decided_at": d.decided_at, "cancelled": d.cancelled,
                           "decided_by": d.acting_deputy_id or d.approver_id,
                           "acting_for": d.approver_id if d.acting_deputy_id else None, **_decision_view(d)}
                          for d in approval.decisions]}


def _position(approval: Approval, stage_id: int) -> int:
    return next(stage.position for stage in approval.stages if stage.id == stage_id)


def _decision_view(decision: ApprovalDecision | None) -> dict:
    if decision is None:
        return {"decision": None, "comment": None, "decided_at": None, "signature_id": None}
    return {"decision": decision.decision, "comment": decision.comment, "decided_at": decision.decided_at,
            "signature_id": decision.signature_id}
