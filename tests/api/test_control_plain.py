"""The control views are read in plain SQL and dumped by a plan compiled from their schema: a controller
gets, page after page, exactly what the ORM's reading of the same rule (domain.execution.control_page)
dumped by marshmallow gives, in every view, on a seeded year of execution history; and the summary,
built directly, is its schema's dump."""
from datetime import date

import pytest
import sqlalchemy as sa

from domain import execution, summary
from mobile_api.schemas import ControlPage, SummarySchema
from mobile_api.seed import seed
from models import Task, User, db
from tests.conftest import DEMO_PASSWORD


@pytest.mark.slow
def test_every_control_view_answers_what_the_rule_reads_page_after_page(app, client):
    seed(users=80, documents=500, password=DEMO_PASSWORD)
    busiest = db.session.scalar(sa.select(Task.controller_id).where(Task.control.is_(True))
                                .group_by(Task.controller_id).order_by(sa.func.count().desc()).limit(1))
    reviewer = db.session.scalar(sa.select(Task.reviewer_id).where(Task.status == "reported")
                                 .group_by(Task.reviewer_id).order_by(sa.func.count().desc()).limit(1))
    for user_id in (busiest, reviewer):
        user = db.session.get(User, user_id)
        token = client.post("/api/v1/auth/login", json={"username": user.username, "password": DEMO_PASSWORD})
        auth = {"Authorization": f"Bearer {token.get_json()['access_token']}"}
        for view in execution.CONTROL_VIEWS:
            cursor, pages = None, 0
            while pages < 3:
                query = {"view": view, "limit": 4, **({"cursor": cursor} if cursor else {})}
                answer = client.get("/api/v1/control", headers=auth, query_string=query)
                assert answer.status_code == 200, answer.get_json()
                items, expected_cursor = execution.control_page(db.session.get(User, user_id), view, 4, cursor)
                assert answer.get_json() == ControlPage().dump({"items": items, "next_cursor": expected_cursor,
                                                                    "principal": None})
                db.session.rollback()
                cursor, pages = answer.get_json()["next_cursor"], pages + 1
                if cursor is None:
                    break
            if user_id == busiest and view in ("overdue", "open", "executed"):
                assert pages > 1, view  # the seed gives the busiest controller pages of these

    # The summary too is built directly: the same as its schema's dump of what the rule counts.
    head = db.session.get(User, busiest)
    token = client.post("/api/v1/auth/login", json={"username": head.username, "password": DEMO_PASSWORD})
    auth = {"Authorization": f"Bearer {token.get_json()['access_token']}"}
    answer = client.get("/api/v1/control/summary", headers=auth,
                        query_string={"from": "2020-01-01", "to": "2100-01-01"})
    assert answer.status_code == 200, answer.get_json()
    expected = SummarySchema().dump({**summary.summary(db.session.get(User, busiest), None, date(2020, 1, 1),
                                                       date(2100, 1, 1)), "principal": None})
    assert answer.get_json() == expected and len(expected["executors"]) > 3
