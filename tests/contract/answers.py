"""Every answer the test suite's requests get is one the contract lists for its operation.

A session fixture (used by tests/conftest.py for every test run) listens to every app's
`request_finished` and keeps each (endpoint, method, status, problem code) seen; when the session ends,
each must be in the served document: the status among the operation's responses and, for a problem,
its `code` in that response's enum. A route that answers a code its declaration does not list fails the
run, naming the first test that got it.
"""
from __future__ import annotations

import json
import os
import re
import tempfile

import pytest
from flask import request, request_finished

PROBLEM = "application/problem+json"


def _code(response) -> str | None:
    if response.mimetype != PROBLEM or response.direct_passthrough or "Content-Encoding" in response.headers:
        return None
    return json.loads(response.get_data()).get("code")


def _operations() -> tuple[dict, dict]:
    """The served document's operations by (endpoint, method), and the document."""
    from mobile_api import create_app

    with tempfile.TemporaryDirectory() as data:
        app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "DATA_DIR": data})
        spec = app.test_client().get("/api/v1/openapi.json").get_json()
        paths = {}
        for rule in app.url_map.iter_rules():
            path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
            for method in rule.methods or ():
                op = spec["paths"].get(path, {}).get(method.lower())
                if op is not None:
                    paths[(rule.endpoint, method)] = op
    return paths, spec


def _listed(spec: dict, op: dict, status: int, code: str | None) -> bool:
    response = op["responses"].get(str(status))
    if response is None:
        return False
    while "$ref" in response:
        kind, name = response["$ref"].split("/")[-2:]
        response = spec["components"][kind][name]
    if code is None or status < 400:
        return True
    schema = response.get("content", {}).get(PROBLEM, {}).get("schema", {})
    return code in schema.get("allOf", [{}, {}])[1].get("properties", {}).get("code", {}).get("enum", ())


def undeclared(seen: dict) -> list[str]:
    """The answers seen that the document does not list, one line each."""
    operations, spec = _operations()
    missing = []
    for (endpoint, method, status, code), test in sorted(seen.items(), key=str):
        op = operations.get((endpoint, method))
        if op is not None and not _listed(spec, op, status, code):
            missing.append(f"{method} {endpoint} answered {status} {code or ''} (first in {test})")
    return missing


@pytest.fixture(scope="session", autouse=True)
def answers_are_in_the_contract():
    """Record what every app answers during the session; at its end, hold it to the contract."""
    seen: dict[tuple, str] = {}

    def record(sender, response, **extra):
        endpoint = request.endpoint
        if endpoint is None or request.method in ("HEAD", "OPTIONS"):
            return  # no route matched (404, 405): no operation to hold it to
        key = (endpoint, request.method, response.status_code, _code(response))
        seen.setdefault(key, os.environ.get("PYTEST_CURRENT_TEST", "?").split(" ")[0])

    request_finished.connect(record)
    yield seen
    request_finished.disconnect(record)
    if seen:
        missing = undeclared(seen)
        assert not missing, "answers the contract does not list:\n" + "\n".join(missing)
