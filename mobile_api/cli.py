"""Operator commands: `flask --app wsgi <command>`."""
import time

import click
import sqlalchemy as sa
from flask import Flask, current_app
from flask.cli import AppGroup

from models import db


def register(app: Flask) -> None:
    from push import cli as push_cli
    from workers import timestamps
    push_cli.register(app)
    timestamps.register(app)

    @app.cli.command("documents-worker")
    @click.option("--once", is_flag=True, help="Drain the queue, then exit.")
    @click.option("--threads", type=click.IntRange(1, 64), help="Worker threads (default DOCUMENTS_THREADS).")
    def documents_worker(once: bool, threads: int | None) -> None:
        """Prepare the page images and text of stored files (PDF, DOCX, ODT, RTF, TXT, JPEG, PNG, TIFF)."""
        import logging
        import signal

        from documents.worker import Settings, Worker

        log = logging.getLogger("documents.worker")
        app_ = current_app._get_current_object()
        settings = Settings.from_config(app_.config, threads)
        worker = Worker(app_, settings)

        def _stop(signum, _frame):
            log.info("signal %s: finishing the files in hand, then stopping", signum)
            worker.stop()

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        log.info("%s: %d thread(s)", worker.name, settings.threads)
        handled = worker.run(once=once)
        log.info("%s: stopped after %d job(s)", worker.name, handled)

    @app.cli.command("demo-data")
    def demo_data():
        """Load a small demo government and print its logins."""
        from .demo import load
        password = current_app.config["DEMO_PASSWORD"]
        try:
            logins = load(password)
        except RuntimeError as exc:
            click.echo(f"Skipped: {exc}.")
            return
        click.echo("Demo logins (password: %s):" % ("the value of DEMO_PASSWORD" if password != "demo" else "demo"))
        for username, roles, org in logins:
            click.echo(f"  {username:<12} {roles:<10} {org}")

    @app.cli.command("seed")
    @click.option("--users", default=22000, show_default=True)
    @click.option("--documents", default=2_200_000, show_default=True)
    @click.option("--text-size", default=2500, show_default=True, type=click.IntRange(0),
                  help="A document's text in characters, on average; 0 for none.")
    def seed_cmd(users, documents, text_size):
        """The region, synthesised at scale (users sign in with DEMO_PASSWORD); progress bar."""
        from .seed import seed
        started = time.perf_counter()
        made = seed(users, documents, password=current_app.config["DEMO_PASSWORD"], text_size=text_size)
        click.echo(f"Seeded {made} in {time.perf_counter() - started:.1f} s")

    users_group = AppGroup("users", help="People's roles.")
    app.cli.add_command(users_group)

    def _change_roles(username: str, role: str, granted: bool) -> None:
        from models import User, audit
        from models.org import ROLES
        if role not in ROLES:
            raise click.BadParameter(f"roles are {', '.join(ROLES)}", param_hint="ROLE")
        user = db.session.scalar(sa.select(User).where(User.username == username).with_for_update())
        if user is None:
            raise click.ClickException(f"no user {username}")
        roles = [r for r in user.roles if r != role] + ([role] if granted else [])
        if roles == user.roles:
            click.echo(f"{username}: unchanged ({user.role_list})")
            return
        if not roles:
            raise click.ClickException(f"{username} would have no role left; grant another first")
        user.role_list = " ".join(roles)
        audit.record(user.organization_id, None, "user.role_granted" if granted else "user.role_revoked", "user",
                     user.id, role=role)
        db.session.commit()
        click.echo(f"{username}: {user.role_list}")

    @users_group.command("grant")
    @click.argument("username")
    @click.argument("role")
    def users_grant(username, role):
        """Give USERNAME the ROLE (executive, assistant, clerk, employee, admin)."""
        _change_roles(username, role, True)

    @users_group.command("revoke")
    @click.argument("username")
    @click.argument("role")
    def users_revoke(username, role):
        """Take the ROLE from USERNAME."""
        _change_roles(username, role, False)

    audit_group = AppGroup("audit", help="The hash-chained audit trail.")
    app.cli.add_command(audit_group)

    @audit_group.command("verify")
    @click.option("--organization", type=int, help="one organization id (default: all)")
    def audit_verify(organization):
        """Walk each organization's audit chain; name the first broken link and exit non-zero."""
        from models import Organization, audit
        ids = [organization] if organization else db.session.scalars(sa.select(Organization.id)).all()
        broken = False
        for org_id in ids:
            bad = audit.verify_chain(org_id)
            if bad is None:
                click.echo(f"organization {org_id}: chain intact")
            else:
                broken = True
                click.echo(f"organization {org_id}: BROKEN at entry #{bad.seq} ({bad.action} {bad.object_type} "
                           f"{bad.object_id}): {bad.problem}", err=True)
        raise SystemExit(1 if broken else 0)

    @audit_group.command("seal")
    def audit_seal():
        """Seal entries written before seals existed (once, after upgrading), if their chains are intact."""
        from models import Organization, audit
        for org_id in db.session.scalars(sa.select(Organization.id)).all():
            bad = audit.verify_chain(org_id, allow_unsealed=True)
            if bad is not None:
                raise click.ClickException(f"organization {org_id}: chain broken at entry #{bad.seq} "
                                           f"({bad.problem}); not sealing")
            click.echo(f"organization {org_id}: sealed {audit.seal_unsealed(org_id)} entries")
        db.session.commit()

    ca_group = AppGroup("ca", help="The organizations' signing certificate authorities.")
    app.cli.add_command(ca_group)

    @ca_group.command("init")
    @click.option("--organization", type=int, help="one organization id (default: all)")
    def ca_init(organization):
        """Create each organization's CA (skipping those that have one), its key encrypted with CA_PASSPHRASE."""
        from domain import signatures
        from models import Organization
        query = sa.select(Organization).order_by(Organization.id)
        if organization:
            query = query.where(Organization.id == organization)
        orgs = db.session.scalars(query).all()
        if organization and not orgs:
            raise click.ClickException(f"no organization {organization}")
        for org in orgs:
            made = signatures.init_ca(org)
            click.echo(f"organization {org.id}: {'CA created' if made else 'already has a CA'}")
        db.session.commit()
