"""search: what each document says, indexed per dialect

PostgreSQL: a stored `search_vector`, `to_tsvector('russian', words)`, under a GIN index. SQLite: an FTS5 table over the words'
normal forms (pymorphy3), with external content in document_texts, kept in step by triggers. The
documents registered before this revision are indexed here from their own columns (their files' text
comes when a file is added).

Revision ID: 0016
Revises: 0015
"""
import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

SQLITE_INDEX = (
    "CREATE VIRTUAL TABLE document_words USING fts5(lemmas, content='document_texts', content_rowid='document_id')",
    "CREATE TRIGGER document_texts_ai AFTER INSERT ON document_texts BEGIN "
    "INSERT INTO document_words(rowid, lemmas) VALUES (new.document_id, new.lemmas); END",
    "CREATE TRIGGER document_texts_ad AFTER DELETE ON document_texts BEGIN "
    "INSERT INTO document_words(document_words, rowid, lemmas) VALUES ('delete', old.document_id, old.lemmas); END",
    "CREATE TRIGGER document_texts_au AFTER UPDATE ON document_texts BEGIN "
    "INSERT INTO document_words(document_words, rowid, lemmas) VALUES ('delete', old.document_id, old.lemmas); "
    "INSERT INTO document_words(rowid, lemmas) VALUES (new.document_id, new.lemmas); END",
)


def upgrade():
    op.create_table(
        "document_texts",
        sa.Column("document_id", BigId, sa.ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("correspondent_key", sa.String(300), nullable=False),
        sa.Column("words", sa.Text(), nullable=False),
        sa.Column("lemmas", sa.Text(), nullable=True),
    )
    op.create_index("ix_documents_reg_number", "documents", ["organization_id", "reg_number"])
    op.create_index("ix_documents_reg_date", "documents", ["organization_id", "reg_date", "id"])
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        # Stored, not an expression index alone: a plan that walks documents newest first and filters
        # (a common word) would otherwise parse every text it passes.
        op.execute("ALTER TABLE document_texts ADD COLUMN search_vector tsvector "
                   "GENERATED ALWAYS AS (to_tsvector('russian', words)) STORED")
        op.execute("CREATE INDEX ix_document_texts_words ON document_texts USING gin (search_vector)")
    else:
        for statement in SQLITE_INDEX:
            op.execute(statement)
    from domain.search import words_of  # the same reduction registration applies
    documents = sa.table("documents", sa.column("id"), sa.column("reg_number"), sa.column("title"),
                         sa.column("summary"), sa.column("correspondent"))
    texts = sa.table("document_texts", sa.column("document_id"), sa.column("correspondent_key"),
                     sa.column("words"), sa.column("lemmas"))
    rows = bind.execute(sa.select(documents).order_by(documents.c.id)).all()
    for start in range(0, len(rows), 1000):
        batch = [dict(zip(("document_id", "correspondent_key", "words", "lemmas"),
                          (r.id, *words_of(bind.dialect.name, r.reg_number, r.title, r.summary or "",
                                           r.correspondent, []))))
                 for r in rows[start:start + 1000]]
        if batch:
            bind.execute(texts.insert(), batch)


def downgrade():
    if op.get_bind().dialect.name == "sqlite":
        for trigger in ("document_texts_ai", "document_texts_ad", "document_texts_au"):
            op.execute(f"DROP TRIGGER {trigger}")
        op.execute("DROP TABLE document_words")
    op.drop_table("document_texts")
    op.drop_index("ix_documents_reg_number", table_name="documents")
    op.drop_index("ix_documents_reg_date", table_name="documents")
