"""Browser tests of the review console: Debian's Chromium driven by Playwright, against a live gunicorn.

Playwright's own browser downloads cannot be fetched on these machines, so the set-up installs
Debian's `chromium` package when it is missing and points Playwright at /usr/bin/chromium.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.debian import apt_install
from tests.support.live import Gunicorn, app_settings
from tests.voice.conftest import models, reseed, worker  # noqa: F401  (the real Vosk model and worker)

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


# Debian packages the browser tests need, each with a file that shows it is installed. The voice fixtures
# are Korean: without a Hangul font the words on the screenshot would be empty boxes.
PACKAGES = {"chromium": CHROMIUM, "fonts-nanum": "/usr/share/fonts/truetype/nanum"}


def ensure_chromium() -> str:
    """Debian's Chromium (and a Hangul font), installed with apt-get when they are not there yet."""
    missing = [name for name, path in PACKAGES.items() if not os.path.exists(path)]
    if missing:
        apt_install(*missing)
    assert os.path.exists(CHROMIUM), "chromium could not be installed"
    return CHROMIUM


@pytest.fixture(scope="module")
def browser():
    # Module scope: Playwright's sync API runs an event loop in this thread until it stops, and a
    # loop left running would break every later test that calls asyncio.run().
    from playwright.sync_api import sync_playwright

    path = ensure_chromium()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=path, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def live_server(app):
    """gunicorn serving the test's database and data directory on a free port; yields its base URL."""
    with Gunicorn(app_settings(app), log=Path(app.config["DATA_DIR"]).parent / "gunicorn.log") as server:
        yield server.url


@pytest.fixture
def page(browser):
    context = browser.new_context(locale="ru-RU", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15000)
    yield page
    context.close()


def sign_in(page, base: str, username: str, password: str) -> None:
    page.goto(f"{base}/console/login")
    page.get_by_test_id("login-username").fill(username)
    page.get_by_test_id("login-password").fill(password)
    page.get_by_test_id("login-submit").click()
    page.wait_for_url(f"{base}/console/")
