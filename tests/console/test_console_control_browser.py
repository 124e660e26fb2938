"""The control page in a real browser: an executive reads the summary, drills down to a late task, accepts
a report, returns another with a comment and approves an extension to a date of their own; the API then
tells the same story. On a phone's width the page does not scroll sideways."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from playwright.sync_api import expect

from tests.conftest import DEMO_PASSWORD

from .conftest import sign_in
from .test_console_control import _unit, _world

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def test_an_executive_decides_from_the_control_page(app, login, live_server, page, demo):
    world = _world(login, demo)
    sign_in(page, live_server, "exec1", DEMO_PASSWORD)
    page.get_by_test_id("nav-control").click()
    page.wait_for_url(f"{live_server}/console/control")

    # The summary: the overdue task counted for its unit and its executor; drill down to it.
    expect(page.get_by_test_id("total-line").get_by_test_id("overdue")).to_have_text("1")
    unit = page.locator(f"[data-testid=unit-line][data-unit-id='{_unit('Информатизация')}']")
    expect(unit.get_by_test_id("overdue")).to_have_text("1")
    unit.get_by_test_id("late-link").click()
    expect(page.get_by_test_id("late-title")).to_have_text("Просроченные поручения: Информатизация")
    late = page.get_by_test_id("late-item")
    expect(late).to_have_count(1)
    assert late.get_attribute("data-task-id") == world["overdue"]
    expect(late).to_contain_text("Смирнова")
    expect(late).to_contain_text("просрочено")
    page.get_by_test_id("to-summary").click()

    # Accept the report with a file (the file opens as the API serves it).
    reports = page.get_by_test_id("report-item")
    expect(reports).to_have_count(2)
    first = page.locator(f"[data-testid=report-item][data-task-id='{world['with_file']}']")
    expect(first.get_by_test_id("report-text")).to_have_text("Ответ подготовлен")
    served = page.request.get(live_server + first.get_by_test_id("report-file").get_attribute("href"))
    assert served.status == 200 and served.body() == b"%PDF-1.4 answer"
    first.get_by_test_id("accept").click()
    expect(page.get_by_test_id("done")).to_have_text("Отчёт принят.")
    expect(reports).to_have_count(1)

    # Return the other: the comment is required before the browser even sends it.
    second = page.locator(f"[data-testid=report-item][data-task-id='{world['plain']}']")
    second.get_by_test_id("return").click()
    expect(page.get_by_test_id("done")).to_have_text("Отчёт принят.")  # nothing sent: still the last notice
    second.get_by_test_id("return-comment").fill("Дополнить расчётами")
    second.get_by_test_id("return").click()
    expect(page.get_by_test_id("done")).to_have_text("Отчёт возвращён на доработку.")
    expect(page.get_by_test_id("reports-empty")).to_be_visible()

    # Approve the extension to a date other than the one asked.
    chosen = (datetime.now(timezone.utc) + timedelta(days=30)).date()
    request = page.get_by_test_id("extension-item")
    expect(request).to_contain_text("Ждём ответа ведомства")
    request.get_by_test_id("extension-deadline").fill(chosen.isoformat())
    request.get_by_test_id("approve").click()
    expect(page.get_by_test_id("done")).to_have_text("Срок продлён.")
    expect(page.get_by_test_id("extensions-empty")).to_be_visible()

    # The API, over the wire, agrees.
    token = page.request.post(f"{live_server}/api/v1/auth/login",
                              data={"username": "exec1", "password": DEMO_PASSWORD}).json()["access_token"]
    auth = {"Authorization": f"Bearer {token}"}

    def task(task_id: str) -> dict:
        [found] = [t for t in page.request.get(f"{live_server}/api/v1/control?view=open", headers=auth).json()["items"]
                   + page.request.get(f"{live_server}/api/v1/control?view=executed", headers=auth).json()["items"]
                   if t["task"]["id"] == task_id]
        return found["task"]

    assert task(world["with_file"])["status"] == "done"
    returned = task(world["plain"])
    assert (returned["status"], returned["returned"]) == ("open", True)
    extended = task(world["extended"])
    assert extended["deadline"][:10] in (chosen.isoformat(), (chosen + timedelta(days=1)).isoformat())
    for view in ("reports", "extensions"):
        assert page.request.get(f"{live_server}/api/v1/control?view={view}", headers=auth).json()["items"] == []

    # A phone's width: the page wraps and its tables scroll inside their boxes, never the page sideways.
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server}/console/control")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    expect(page.get_by_test_id("units")).to_be_visible()
    assert re.search(r"\d", page.get_by_test_id("total-line").inner_text())
