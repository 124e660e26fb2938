"""The demo government with the staff of tests/fixtures/resolutions/staff.csv imported over it."""
from pathlib import Path

import pytest
import sqlalchemy as sa

from domain import staff_csv
from models import User, db

FIXTURES = Path(__file__).parent.parent / "fixtures" / "resolutions"


def import_file(path: Path) -> staff_csv.ImportSummary:
    with open(path, encoding="utf-8", newline="") as f:
        summary = staff_csv.import_rows(staff_csv.read_rows(f))
    db.session.commit()
    return summary


@pytest.fixture
def staffed(demo):
    """{username: User} after importing staff.csv over the demo data."""
    import_file(FIXTURES / "staff.csv")
    return {u.username: u for u in db.session.scalars(sa.select(User))}
