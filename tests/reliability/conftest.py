"""A private PostgreSQL cluster per module, migrated, with the demo government: safe to stop."""

from __future__ import annotations

import pytest

from mobile_api import create_app
from models import db
from tests.conftest import DEMO_PASSWORD
from tests.support.database import PgCluster
from tests.support.live import demo_database

SECRET = "test-secret-key-that-is-long-enough-32"


@pytest.fixture(scope="module")
def private_pg(tmp_path_factory):
    """The cluster, migrated, with the demo data loaded once."""
    with PgCluster() as cluster:
        demo_database(cluster.url, tmp_path_factory.mktemp("pgdata"), DEMO_PASSWORD, SECRET)
        yield cluster


@pytest.fixture
def outage_app(private_pg, tmp_path):
    """An app on the private cluster; the cluster is running again after the test."""
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": private_pg.url, "DATA_DIR": str(tmp_path / "data"),
                      "SECRET_KEY": SECRET, "DEMO_PASSWORD": DEMO_PASSWORD})
    with app.app_context():
        yield app
        if not private_pg.running():
            private_pg.start()
        db.session.remove()
        db.engine.dispose()
