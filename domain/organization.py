"""An organization's own settings and its stock resolution phrases (templates).

Who manages the templates: a clerk or an admin of the organization. Templates are the office's stock
wording ("Review and report", "Prepare the meeting"), kept like the registration journal and the
letterheads, which is records work (clerks); executives and assistants only use them. The signing
policy of the organization, its deadline reminders and its default term are an admin's decision alone.
"""
import sqlalchemy as sa

from models import User, audit, db
from models.voice import ResolutionTemplate

from .errors import ApiError, not_found

MAX_TEMPLATES, MAX_TEMPLATE_CHARS = 500, 200
TEMPLATE_MANAGERS = ("clerk", "admin")


def _may_manage_templates(user: User) -> None:
    if not any(user.has_role(role) for role in TEMPLATE_MANAGERS):
        raise ApiError(403, "forbidden", "Only a clerk or an admin of the organization manages its templates.")


def clean_text(text: str) -> str:
    """One space between words: the phrase list compares words, not spacing."""
    return " ".join(text.split())


def list_templates(user: User) -> list[ResolutionTemplate]:
    """The organization's templates in their order."""
    return list(db.session.scalars(
        sa.select(ResolutionTemplate).where(ResolutionTemplate.organization_id == user.organization_id)
        .order_by(ResolutionTemplate.position, ResolutionTemplate.id)))


def _duplicate(user: User, text: str, exclude: int | None = None) -> None:
    query = sa.select(ResolutionTemplate.id).where(ResolutionTemplate.organization_id == user.organization_id,
                                                   ResolutionTemplate.text == text)
    if exclude is not None:
        query = query.where(ResolutionTemplate.id != exclude)
    if db.session.scalar(query.limit(1)) is not None:
        raise ApiError(409, "template_exists", "The organization already has this template.")


def get_template(user: User, template_id: int | None) -> ResolutionTemplate:
    """A template of the user's organization, else 404."""
    template = db.session.get(ResolutionTemplate, template_id) if template_id else None
    if template is None or template.organization_id != user.organization_id:
        raise not_found("template")
    return template


def add_template(user: User, text: str, position: int | None) -> ResolutionTemplate:
    """A new template; without a position it goes last."""
    _may_manage_templates(user)
    text = clean_text(text)
    _duplicate(user, text)
    count = db.session.scalar(sa.select(sa.func.count()).select_from(ResolutionTemplate)
                              .where(ResolutionTemplate.organization_id == user.organization_id))
    if count >= MAX_TEMPLATES:
        raise ApiError(409, "too_many_templates", f"An organization keeps at most {MAX_TEMPLATES} templates.")
    if position is None:
        position = (db.session.scalar(sa.select(sa.func.max(ResolutionTemplate.position))
                                      .where(ResolutionTemplate.organization_id == user.organization_id)) or 0) + 1
    template = ResolutionTemplate(organization_id=user.organization_id, text=text, position=position)
    db.session.add(template)
    db.session.flush()
    audit.record(user.organization_id, user.id, "template.created", "resolution_template", template.id)
    return template


def change_template(user: User, template: ResolutionTemplate, text: str | None, position: int | None):
    _may_manage_templates(user)
    if text is not None:
        text = clean_text(text)
        _duplicate(user, text, exclude=template.id)
        template.text = text
    if position is not None:
        template.position = position
    audit.record(user.organization_id, user.id, "template.changed", "resolution_template", template.id)
    return template


def delete_template(user: User, template: ResolutionTemplate) -> None:
    _may_manage_templates(user)
    db.session.delete(template)
    audit.record(user.organization_id, user.id, "template.deleted", "resolution_template", template.id)


def set_issue_requires_signature(user: User, value: bool) -> None:
    """An admin decides whether authors with an enrolled key must sign what they issue."""
    if not user.has_role("admin"):
        raise ApiError(403, "forbidden", "Only an admin of the organization changes its signing policy.")
    org = user.organization
    if org.issue_requires_signature != value:
        org.issue_requires_signature = value
        audit.record(user.organization_id, user.id, "organization.signing_policy", "organization", org.id,
                     issue_requires_signature=value)


REMINDER_SETTINGS = ("remind_days", "quiet_from", "quiet_to", "default_term_months")


def set_reminders(user: User, changes: dict) -> None:
    """An admin decides the deadline reminders (the days before a deadline its executor is told), the
    quiet hours of the users who set none, and the term offered to a resolution for control said without
    a deadline. `changes` holds the settings to change, `remind_days` as a list of numbers."""
    if not user.has_role("admin"):
        raise ApiError(403, "forbidden", "Only an admin of the organization changes its reminders and terms.")
    org = user.organization
    if "remind_days" in changes:
        changes = {**changes, "remind_days": ",".join(str(d) for d in sorted(set(changes["remind_days"]),
                                                                              reverse=True))}
    changed = {k: v for k, v in changes.items() if k in REMINDER_SETTINGS and getattr(org, k) != v}
    if changed:
        for key, value in changed.items():
            setattr(org, key, value)
        audit.record(user.organization_id, user.id, "organization.reminders", "organization", org.id, **changed)


def notification_settings(user: User) -> dict:
    """The user's time zone and quiet hours, with the organization's that apply when they set none."""
    org = user.organization
    return {"timezone": user.timezone, "quiet_from": user.quiet_from, "quiet_to": user.quiet_to,
            "organization_quiet_from": org.quiet_from, "organization_quiet_to": org.quiet_to}


def set_notification_settings(user: User, timezone: str, quiet_from: str | None, quiet_to: str | None) -> dict:
    """Anyone sets their own time zone (the one their quiet hours and morning reminders keep) and quiet
    hours (both None: the organization's; equal ends: none at all). The push dispatcher and the reminder
    scan read them on their next pass."""
    changed = {k: v for k, v in (("timezone", timezone), ("quiet_from", quiet_from), ("quiet_to", quiet_to))
               if getattr(user, k) != v}
    if changed:
        for key, value in changed.items():
            setattr(user, key, value)
        audit.record(user.organization_id, user.id, "user.notification_settings", "user", user.id, **changed)
    return notification_settings(user)
