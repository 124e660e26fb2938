"""Roles: the demo's admin, the operator's command that grants and revokes them, and role words checked."""
import pytest
import sqlalchemy as sa

from models import db
from models.audit import AuditEvent

POLICY = {"issue_requires_signature": True}


def test_the_demo_admin_sets_the_organizations_policy(login, demo):
    assert demo["admin1"].roles == ["admin"]
    answer = login("admin1").patch("/organization", json=POLICY)
    assert answer.status_code == 200 and answer.get_json()["issue_requires_signature"] is True


def test_an_operator_grants_and_revokes_a_role_and_both_are_audited(app, login, demo):
    cli = app.test_cli_runner()
    employee1 = login("employee1")
    assert employee1.patch("/organization", json=POLICY).status_code == 403

    granted = cli.invoke(args=["users", "grant", "employee1", "admin"])
    assert granted.exit_code == 0 and "employee1: employee admin" in granted.output
    assert employee1.patch("/organization", json=POLICY).status_code == 200
    assert "unchanged" in cli.invoke(args=["users", "grant", "employee1", "admin"]).output

    unknown = cli.invoke(args=["users", "grant", "employee1", "boss"])
    assert unknown.exit_code != 0 and "executive, assistant, clerk, employee, admin" in unknown.output
    assert cli.invoke(args=["users", "grant", "nobody", "admin"]).exit_code != 0
    last = cli.invoke(args=["users", "revoke", "admin1", "admin"])
    assert last.exit_code != 0 and "no role left" in last.output

    assert cli.invoke(args=["users", "revoke", "employee1", "admin"]).exit_code == 0
    assert employee1.patch("/organization", json=POLICY).status_code == 403
    actions = db.session.scalars(sa.select(AuditEvent.action).where(
        AuditEvent.object_type == "user", AuditEvent.object_id == str(demo["employee1"].id))
        .order_by(AuditEvent.seq)).all()
    assert actions == ["user.role_granted", "user.role_revoked"]


def test_role_words_are_checked_wherever_they_are_written(demo):
    user = demo["employee2"]
    user.role_list = "clerk,admin"  # a comma is a separator, not part of one bogus role
    assert user.roles == ["clerk", "admin"] and user.has_role("admin")
    for bad in ("clerk,boss", "", " ; "):
        with pytest.raises(ValueError, match="roles must be some of"):
            user.role_list = bad
    assert user.role_list == "clerk admin"
