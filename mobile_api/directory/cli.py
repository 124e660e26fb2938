"""`flask --app wsgi directory import FILE.csv` and `directory export`."""
import sys
import time

import click
from flask import Flask
from flask.cli import AppGroup
from tqdm import tqdm

from domain import staff_csv
from domain.errors import ApiError
from models import db


def register(app: Flask) -> None:
    group = AppGroup("directory", help="The staff directory: import and export in the staff.csv format.")
    app.cli.add_command(group)

    @group.command("import")
    @click.argument("path", type=click.Path(exists=True, dir_okay=False))
    def import_cmd(path):
        """Upsert people by username from a staff file; all of it or, if any row is bad, none of it."""
        started = time.perf_counter()
        with open(path, encoding="utf-8-sig", newline="") as f:
            try:
                rows = staff_csv.read_rows(f)
                with tqdm(total=len(rows), desc="people", unit="row", disable=len(rows) < 1000,
                          file=sys.stderr) as bar:
                    summary = staff_csv.import_rows(rows, progress=bar.update)
            except ApiError as exc:
                db.session.rollback()
                click.echo(f"Nothing imported. {exc.detail}", err=True)
                for line in (exc.errors or {}).get("rows", [])[10:]:
                    click.echo(f"  {line}", err=True)
                raise SystemExit(1) from None
        db.session.commit()
        if summary.created or summary.updated:
            staff_csv.refresh_statistics()
        click.echo(f"{summary.rows} rows: {summary.created} created, {summary.updated} updated, "
                   f"{summary.unchanged} unchanged; {summary.units_created} units created"
                   + "".join(f"; unit renamed: {a} -> {b}" for a, b in summary.units_renamed)
                   + f" ({time.perf_counter() - started:.1f} s)")

    @group.command("export")
    @click.option("--organization", help="one organization's code (default: all)")
    @click.option("--output", "-o", type=click.File("w", encoding="utf-8"), default="-")
    def export_cmd(organization, output):
        """Write the directory in the import format."""
        n = staff_csv.write_csv(staff_csv.export_rows(organization), output)
        click.echo(f"{n} people exported", err=True)
