"""The served OpenAPI document against the live server: schemathesis with every check, on both databases.

Every phase runs (examples, coverage, fuzzing, and stateful sequences along the document's links) as
exec1, with clerk1 for the clerks' operations (tests/contract/schemathesis.toml says which, and why a
few schema-valid requests may still be refused). Any failure fails the test with schemathesis' own
report: the request to replay and what was wrong with the answer.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]  # a shared, busy machine runs it slowly
CONFIG = Path(__file__).with_name("schemathesis.toml")
# Fixed, so a red run replays; CONTRACT_SEED explores other cases, CONTRACT_EXAMPLES more of them.
SEED = os.environ.get("CONTRACT_SEED", "20261125")
EXAMPLES = os.environ.get("CONTRACT_EXAMPLES", "5")


def test_the_live_server_keeps_its_published_contract(live, tmp_path):
    env = {**os.environ, "CONTRACT_CLERK_TOKEN": live.login("clerk1"), "NO_COLOR": "1"}
    token = live.login("exec1")
    command = [
        sys.executable, "-m", "schemathesis.cli", "--config-file", str(CONFIG), "run",
        f"{live.url}/api/v1/openapi.json", "--checks", "all", "--header", f"Authorization: Bearer {token}",
        "--max-examples", EXAMPLES, "--seed", SEED, "--workers", "1", "--request-timeout", "30",
        # Signing out would end the session every later request is made in (tests/api covers logout).
        "--exclude-operation-id", "auth_logout",
        "--report", "junit", "--report-junit-path", str(tmp_path / "schemathesis.xml"),
    ]
    run = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=900)
    report = run.stdout + run.stderr
    (tmp_path / "schemathesis.txt").write_text(report)
    summary = re.search(r"(\d+) generated, (\d+) passed", report)
    assert run.returncode == 0, report[-12000:]
    assert summary, report[-4000:]
    generated, passed = map(int, summary.groups())
    assert generated == passed and generated > 500, report[-4000:]
    for phase in ("Examples", "Coverage", "Fuzzing", "Stateful"):
        assert re.search(rf"✅ {phase}", report), f"{phase} did not pass:\n{report[-4000:]}"
    tested = re.search(r"Tested: (\d+)", report)
    assert tested and int(tested.group(1)) >= 45, report[-4000:]
