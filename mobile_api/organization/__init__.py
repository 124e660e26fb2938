"""The caller's organization: its signing policy and its resolution templates (the phrase list of dictation)."""
from flask import current_app, g, url_for

from domain import organization as rules

from ..auth.tokens import authenticate
from ..blueprint import Blueprint
from ..idempotency import idempotent
from ..openapi import LOCATION, errors
from ..voice.upload import check_vocabulary
from .schemas import OrganizationOut, OrganizationPatch, TemplateIn, TemplateOut, TemplatePage, TemplatePatch

blp = Blueprint("organization", __name__, description="The organization's settings and resolution templates")
blp.before_request(authenticate)


@blp.route("/organization", methods=["GET"])
@blp.response(200, OrganizationOut)
def get():
    """The caller's organization and the policies it decided."""
    return g.user.organization


@blp.route("/organization", methods=["PATCH"])
@blp.arguments(OrganizationPatch())
@blp.response(200, OrganizationOut)
@errors("forbidden")
def edit(body):
    """Admin: whether authors with an enrolled key must sign the resolutions they issue; the days before a
    deadline its executor is reminded, the quiet hours of users who set none, the default term."""
    if "issue_requires_signature" in body:
        rules.set_issue_requires_signature(g.user, body["issue_requires_signature"])
    rules.set_reminders(g.user, {k: v for k, v in body.items() if k in rules.REMINDER_SETTINGS})
    return g.user.organization


@blp.route("/organization/resolution-templates", methods=["GET"])
@blp.response(200, TemplatePage)
def list_templates():
    """The organization's resolution templates in order: the phrase list of `templates` dictation mode."""
    return {"items": rules.list_templates(g.user)}


def _checked(text: str) -> str:
    text = rules.clean_text(text)
    check_vocabulary(current_app.config["VOICE_LANGUAGE"], [text], field="text")
    return text


@blp.route("/organization/resolution-templates", methods=["POST"])
@idempotent
@blp.arguments(TemplateIn())
@blp.response(201, TemplateOut, headers=LOCATION)
@errors("forbidden", "template_exists", "too_many_templates", "out_of_vocabulary")
def create_template(body):
    """Clerk or admin: add a template; every word must be known to the default language's model."""
    template = rules.add_template(g.user, _checked(body["text"]), body.get("position"))
    return template, 201, {"Location": url_for("organization.get_template", template_id=template.id)}


@blp.route("/organization/resolution-templates/<id:template_id>", methods=["GET"])
@blp.response(200, TemplateOut)
def get_template(template_id):
    """One template of the organization."""
    return rules.get_template(g.user, template_id)


@blp.route("/organization/resolution-templates/<id:template_id>", methods=["PATCH"])
@blp.arguments(TemplatePatch())
@blp.response(200, TemplateOut)
@errors("forbidden", "template_exists", "out_of_vocabulary")
def update_template(body, template_id):
    """Clerk or admin: reword or move a template."""
    template = rules.get_template(g.user, template_id)
    text = _checked(body["text"]) if "text" in body else None
    rules.change_template(g.user, template, text, body.get("position"))
    return template


@blp.route("/organization/resolution-templates/<id:template_id>", methods=["DELETE"])
@blp.response(204)
@errors("forbidden")
def delete_template(template_id):
    """Clerk or admin: remove a template."""
    rules.delete_template(g.user, rules.get_template(g.user, template_id))
