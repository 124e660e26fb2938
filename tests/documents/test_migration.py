"""Migration 0017: the files stored before it get their renditions and jobs, so every attachment is
prepared once the documents worker runs; a type without pages ends failed at once, with its reason."""
import pytest
import sqlalchemy as sa
from flask_migrate import upgrade

from mobile_api import create_app
from models import db
from tests.conftest import _pg_database

PDF, XLSX = "a" * 64, "b" * 64


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_files_stored_before_get_their_pages_owed(kind, tmp_path):
    url, drop = (f"sqlite:///{tmp_path}/m.db", lambda: None) if kind == "sqlite" else _pg_database()
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "DATA_DIR": str(tmp_path)})
    try:
        with app.app_context():
            upgrade(revision="0016")
            with db.engine.begin() as conn:
                run = lambda sql: conn.execute(sa.text(sql))  # noqa: E731
                run("INSERT INTO organizations (id, name, short_name, code, push_shows_document, timezone, "
                    "deadline_day_off, issue_requires_signature, created_at) "
                    "VALUES (1, 'Министерство', 'Мин', 'M', false, 'Europe/Moscow', 'before', false, '2026-01-01')")
                run("INSERT INTO users (id, organization_id, username, password_hash, name, short_name, roles, "
                    "is_active, locale, timezone, created_at, seq) VALUES (1, 1, 'u1', 'x', 'U', 'U', 'clerk', true, "
                    "'ru', 'Europe/Moscow', '2026-01-01', 0)")
                for doc_id in (1, 2):
                    run("INSERT INTO documents (id, organization_id, reg_number, reg_year, reg_date, title, summary, "
                        f"correspondent, owner_id, urgent, created_at) VALUES ({doc_id}, 1, 'M-{doc_id}/26', 2026, "
                        "'2026-01-01', 'T', '', 'C', 1, false, '2026-01-01')")
                # The same PDF in two documents (prepared once) and a spreadsheet (no pages).
                files = ((1, PDF, "application/pdf", "a.pdf"), (2, PDF, "application/pdf", "b.pdf"),
                         (2, XLSX, "application/vnd.ms-excel", "c.xls"))
                for doc_id, sha, mime, name in files:
                    run("INSERT INTO attachments (document_id, name, mime, size, sha256, version, created_at) "
                        f"VALUES ({doc_id}, '{name}', '{mime}', 10, '{sha}', 1, '2026-01-01')")
            upgrade()
            with db.engine.connect() as conn:
                renditions = conn.execute(sa.text(
                    "SELECT sha256, status, reason FROM renditions ORDER BY sha256")).all()
                jobs = conn.execute(sa.text("SELECT kind, status FROM jobs")).all()
            assert [tuple(r) for r in renditions] == [(PDF, "processing", None), (XLSX, "failed", "unsupported")]
            assert [tuple(j) for j in jobs] == [("document_pages", "queued")]
            db.engine.dispose()
    finally:
        drop()
