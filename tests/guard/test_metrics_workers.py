"""/metrics under gunicorn sums every worker's counts, whichever worker answers the scrape."""
import concurrent.futures
import re

import pytest
import requests

from models import db
from tests.support.live import Gunicorn, app_settings

pytestmark = [pytest.mark.slow, pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)]


def _healthz_count(text: str) -> float:
    return sum(float(v) for v in re.findall(
        r'^mobile_http_requests_total\{endpoint="ops.healthz",status="200"\} (\S+)$', text, re.M))


def test_metrics_of_two_workers_are_summed(app, tmp_path):
    db.session.commit()
    metrics_dir = tmp_path / "metrics"
    with Gunicorn(app_settings(app), workers=2, threads=1, PROMETHEUS_MULTIPROC_DIR=str(metrics_dir)) as server:
        before = _healthz_count(requests.get(f"{server.url}/metrics", timeout=30).text)  # start-up probes
        sent = 0
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            # Fresh connections, several at once, until both workers have answered some.
            for _ in range(150):  # on a busy machine one worker may take many turns in a row
                codes = list(pool.map(lambda _: requests.get(f"{server.url}/healthz", timeout=30).status_code,
                                      range(16)))
                assert codes == [200] * 16
                sent += 16
                if len(list(metrics_dir.glob("counter_*.db"))) >= 2:
                    break
        assert len(list(metrics_dir.glob("counter_*.db"))) == 2, "both workers should have served requests"
        for _ in range(6):  # whichever worker answers the scrape, it reports the sum of both
            scrape = requests.get(f"{server.url}/metrics", timeout=30)
            assert scrape.status_code == 200
            assert _healthz_count(scrape.text) - before == sent
        assert "# TYPE mobile_jobs gauge" in scrape.text  # queue depths still come from the database
