"""A fake FCM v1 API and OAuth2 token endpoint on 127.0.0.1 that records every request."""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

PROJECT_ID = "demo-docs"
# google-auth always addresses the assertion to Google's endpoint, whatever the token_uri.
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"
SEND_PATH = re.compile(r"^/v1/projects/(?P<project>[^/]+)/messages:send$")
FCM_ERROR_TYPE = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # send_each opens up to 500 connections at once

    def handle_error(self, request, client_address) -> None:
        """A sender killed mid-request (the fault-injection runs) resets its connections: not news."""
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@dataclass(frozen=True)
class RecordedRequest:
    """One request as it arrived on the wire."""

    method: str
    path: str
    headers: dict[str, str]  # names lowercased: HTTP header names are case-insensitive
    body: Any  # parsed JSON, or the form fields of a token request


@dataclass(frozen=True)
class Failure:
    """How the fake FCM answers a send to one token."""

    status: int
    error_code: str | None = None
    message: str = "Requested entity was not found."
    retry_after: str | None = None


class FakeFcm:
    """The fake server; program failures per token, then read `requests`."""

    def __init__(self, public_key: rsa.RSAPublicKey | None = None) -> None:
        self.public_key = public_key
        self.requests: list[RecordedRequest] = []
        self.issued_tokens: list[str] = []
        self.failures: dict[str, Failure] = {}
        # Tokens whose sends are read and recorded, then the connection is dropped unanswered: the
        # message may have been accepted, and the sender cannot tell (a timeout, a reset).
        self.hang_up: set[str] = set()
        self.token_error: tuple[int, str] | None = None
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._sent = 0
        self._server = _Server(("127.0.0.1", 0), _handler_for(self))
        # A short poll interval keeps shutdown (and so every fixture teardown) quick.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        """Base URL to use as FCM_ENDPOINT."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def token_uri(self) -> str:
        """OAuth2 token endpoint for the service account's token_uri."""
        return f"{self.url}/token"

    def fail(self, token: str, failure: Failure) -> None:
        """Answer every send to `token` with `failure`."""
        self.failures[token] = failure

    def sends(self) -> list[RecordedRequest]:
        """Recorded requests to messages:send, in arrival order."""
        return [r for r in self.requests if SEND_PATH.match(r.path)]

    def token_requests(self) -> list[RecordedRequest]:
        """Recorded requests to the token endpoint."""
        return [r for r in self.requests if r.path == "/token"]

    def start(self) -> FakeFcm:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def __enter__(self) -> FakeFcm:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _issue_token(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if self.token_error:
            status, error = self.token_error
            return status, {"error": error, "error_description": "programmed by the test"}
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return 400, {"error": "unsupported_grant_type"}
        if self.public_key is not None:
            try:
                jwt.decode(
                    form.get("assertion", ""),
                    self.public_key,
                    algorithms=["RS256"],
                    audience=GOOGLE_TOKEN_AUDIENCE,
                )
            except jwt.InvalidTokenError as error:
                return 400, {"error": "invalid_grant", "error_description": str(error)}
        with self._lock:
            token = f"ya29.fake-{len(self.issued_tokens) + 1}"
            self.issued_tokens.append(token)
        return 200, {"access_token": token, "expires_in": 3600, "token_type": "Bearer"}

    def _answer_send(
        self, project: str, headers: dict[str, str], body: Any
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        bearer = headers.get("authorization", "").removeprefix("Bearer ")
        if bearer not in self.issued_tokens:
            return _error(Failure(401, None, "Request had invalid authentication credentials."))
        token = body.get("message", {}).get("token", "")
        failure = self.failures.get(token)
        if failure:
            return _error(failure)
        with self._lock:
            self._sent += 1
            name = f"projects/{project}/messages/{self._sent}"
        return 200, {"name": name}, {}


def _error(failure: Failure) -> tuple[int, dict[str, Any], dict[str, str]]:
    error: dict[str, Any] = {
        "code": failure.status,
        "message": failure.message,
        "status": STATUS_NAMES.get(failure.status, "UNKNOWN"),
    }
    if failure.error_code:
        error["details"] = [{"@type": FCM_ERROR_TYPE, "errorCode": failure.error_code}]
    headers = {"Retry-After": failure.retry_after} if failure.retry_after else {}
    return failure.status, {"error": error}, headers


def _handler_for(fake: FakeFcm) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the SDK's connection pool expects

        def do_POST(self) -> None:  # noqa: N802 (http.server naming)
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            headers = {name.lower(): value for name, value in self.headers.items()}
            if self.path == "/token":
                form = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
                fake._record(RecordedRequest("POST", self.path, headers, form))
                status, payload = fake._issue_token(form)
                self._reply(status, payload, {})
                return
            body = json.loads(raw or b"{}")
            fake._record(RecordedRequest("POST", self.path, headers, body))
            if body.get("message", {}).get("token") in fake.hang_up:
                self.close_connection = True
                return
            match = SEND_PATH.match(self.path)
            if not match:
                self._reply(*_error(Failure(404, None, f"no route {self.path}")))
                return
            with fake._lock:
                fake.in_flight += 1
                fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
            try:
                self._reply(*fake._answer_send(match["project"], headers, body))
            finally:
                with fake._lock:
                    fake.in_flight -= 1

        def _reply(self, status: int, payload: Any, headers: dict[str, str]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            """Stay quiet; the recorded requests are the log."""

    return Handler


def generate_key() -> rsa.RSAPrivateKey:
    """A fresh RSA key for a throwaway service account."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def write_service_account(path: Path, key: rsa.RSAPrivateKey, token_uri: str) -> Path:
    """Write a service-account JSON whose token_uri is the fake's; return its path."""
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    account = {
        "type": "service_account",
        "project_id": PROJECT_ID,
        "private_key_id": "fake-key-1",
        "private_key": pem,
        "client_email": f"push@{PROJECT_ID}.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": token_uri,
    }
    path.write_text(json.dumps(account), encoding="utf-8")
    return path

