"""The fault-injection run, short: kill -9 of the worker and the dispatcher, PostgreSQL stopped under load.

The script itself checks every promise (transcribed exactly once, every device notified, no 500,
every process alive) and exits non-zero naming what broke; the full run is
`python -m benchmarks.fault_injection`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_nothing_lost_nothing_twice_under_kills_and_a_database_outage(tmp_path):
    report = tmp_path / "figures.json"
    run = subprocess.run([sys.executable, "-m", "benchmarks.fault_injection", "--short", "--json", str(report)],
                         cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-3000:]
    figures = json.loads(report.read_text("utf-8"))
    assert figures["failed"] == []
    # The faults did happen: answers 503 while the database was down, both processes killed once.
    assert figures["requests"].get("503", 0) > 0
    assert figures["kills"] == {"worker": 1, "push": 1}
    assert figures["uploads_transcribed"] == figures["plan"]["uploads"]
    assert figures["notifications_missing"] == 0 and figures["notifications_owed"] > 0
