"""The one seam to Firebase Cloud Messaging: app construction, sending, and error classification."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterator, Sequence
from types import TracebackType

import firebase_admin
import google.auth.exceptions
from firebase_admin import credentials, exceptions, messaging
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from push.backoff import parse_retry_after
from push.sender import Outcome, OutgoingMessage, SendResult

log = logging.getLogger(__name__)
# How the token endpoint refuses a sign-in whose times (iat, exp) are off: the machine's clock is.
_TIMED_OUT = re.compile(r"\b(iat|exp)\b|expired|timeframe", re.IGNORECASE)

FCM_HOST = "https://fcm.googleapis.com"
MAX_BATCH = 500  # the most messaging.send_each accepts in one call
DEFAULT_TIMEOUT = 15.0

# No retries inside the SDK at all. Its default policy retries 500/503 four times and sleeps out
# any Retry-After while the dispatcher holds its lease, and a read retry resends a message FCM may
# already have accepted, behind the dispatcher's back. The dispatcher owns retries: every failure
# comes straight back as a result, is recorded, and is retried with backoff under the same event id.
_TRANSPORT_RETRY = Retry(
    total=0,
    connect=0,
    read=0,
    status=0,
    other=0,
    redirect=0,
    allowed_methods=None,
    respect_retry_after_header=False,
    raise_on_status=False,
)

_RETRYABLE = (
    exceptions.ResourceExhaustedError,  # includes QuotaExceededError
    exceptions.UnavailableError,
    exceptions.InternalError,
    exceptions.DeadlineExceededError,
    exceptions.UnknownError,
)


def build_app(
    credentials_path: str,
    *,
    endpoint: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> firebase_admin.App:
    """Build a uniquely named App from a service-account file, its messaging aimed at `endpoint`."""
    credential = credentials.Certificate(credentials_path)
    # A unique name lets several senders (and tests) coexist; the default app stays untouched.
    app = firebase_admin.initialize_app(
        credential, {"httpTimeout": timeout}, name=f"push-{uuid.uuid4().hex}"
    )
    try:
        _configure_messaging(app, (endpoint or FCM_HOST).rstrip("/"))
    except BaseException:
        firebase_admin.delete_app(app)
        raise
    return app


def _configure_messaging(app: firebase_admin.App, base_url: str) -> None:
    """Point this app's messaging service at `base_url` and hand its errors back unretried."""
    # firebase-admin 7.7 has no option or emulator variable for the FCM host (app options are
    # httpTimeout, projectId and friends; emulator variables cover auth, database and tasks only),
    # so the per-app service instance is adjusted here and nowhere else. The class attribute
    # FCM_URL is left alone so other apps in the process still reach the real FCM. The SDK is
    # pinned; if an upgrade renames these attributes, start-up fails here rather than sending
    # to the wrong host.
    service = messaging._get_messaging_service(app)  # pylint: disable=protected-access
    missing = [a for a in ("_fcm_url", "_fcm_topic_url", "_client") if not hasattr(service, a)]
    if missing:
        raise RuntimeError(f"firebase_admin messaging service lacks {missing}; check the pin")
    project = app.project_id
    service._fcm_url = f"{base_url}/v1/projects/{project}/messages:send"
    service._fcm_topic_url = f"{base_url}/v1/projects/{project}/registrations"
    adapter = HTTPAdapter(pool_connections=10, pool_maxsize=100, max_retries=_TRANSPORT_RETRY)
    service._client.session.mount(base_url, adapter)


def classify(error: exceptions.FirebaseError) -> Outcome:
    """Map one FCM error to what the caller should do about it."""
    if isinstance(error, (messaging.UnregisteredError, messaging.SenderIdMismatchError)):
        return Outcome.DROP_TOKEN
    if isinstance(error, exceptions.InvalidArgumentError):
        # FCM answers INVALID_ARGUMENT both for a malformed token and for a malformed message;
        # only the first means the device is gone.
        return Outcome.DROP_TOKEN if "token" in str(error).lower() else Outcome.FAILED
    if isinstance(error, (exceptions.UnauthenticatedError, exceptions.PermissionDeniedError)):
        return Outcome.AUTH_ERROR  # includes ThirdPartyAuthError (APNs key or certificate)
    if isinstance(error, _RETRYABLE):
        return Outcome.RETRY
    return Outcome.FAILED


def retry_after(error: exceptions.FirebaseError) -> float | None:
    """Seconds the server asked us to wait, if it said."""
    response = error.http_response
    return parse_retry_after(response.headers.get("Retry-After")) if response is not None else None


def _chunks(items: Sequence[OutgoingMessage], size: int) -> Iterator[Sequence[OutgoingMessage]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class FcmSender:
    """Sends through the real firebase_admin.messaging, at most `batch_size` messages a call."""

    def __init__(self, app: firebase_admin.App, *, batch_size: int = MAX_BATCH) -> None:
        if not 1 <= batch_size <= MAX_BATCH:
            raise ValueError(f"batch_size must be 1..{MAX_BATCH}")
        self.app = app
        self.batch_size = batch_size

    @classmethod
    def from_credentials(
        cls,
        credentials_path: str,
        *,
        endpoint: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        batch_size: int = MAX_BATCH,
    ) -> FcmSender:
        """Build the app and the sender from configuration values."""
        app = build_app(credentials_path, endpoint=endpoint, timeout=timeout)
        return cls(app, batch_size=batch_size)

    def send(self, messages: list[OutgoingMessage]) -> list[SendResult]:
        """Send all messages; one result per message, in order."""
        results: list[SendResult] = []
        for chunk in _chunks(messages, self.batch_size):
            results.extend(self._send_chunk(chunk))
        return results

    def _send_chunk(self, chunk: Sequence[OutgoingMessage]) -> list[SendResult]:
        try:
            batch = messaging.send_each([o.message for o in chunk], app=self.app)
        except exceptions.FirebaseError as error:
            return self._chunk_failed(chunk, error)
        # Responses come back in request order, so the index ties each one to its device.
        return [
            self._result(outgoing, response)
            for outgoing, response in zip(chunk, batch.responses, strict=True)
        ]

    def _result(self, outgoing: OutgoingMessage, response: messaging.SendResponse) -> SendResult:
        if response.success:
            return SendResult(outgoing, Outcome.DELIVERED, message_id=response.message_id)
        error = response.exception
        outcome = classify(error)
        described = f"{type(error).__name__}: {error}"
        if outcome is Outcome.AUTH_ERROR:
            log.error(
                "FCM rejected our credentials for device %s (%s); check FIREBASE_CREDENTIALS "
                "and the APNs key in the Firebase console",
                outgoing.device_id,
                described,
            )
        elif outcome is Outcome.DROP_TOKEN:
            log.info("FCM: token of device %s is dead (%s)", outgoing.device_id, error.code)
        else:
            log.warning("FCM: %s for device %s: %s", outcome, outgoing.device_id, described)
        return SendResult(outgoing, outcome, retry_after=retry_after(error), error=described)

    def _chunk_failed(
        self, chunk: Sequence[OutgoingMessage], error: exceptions.FirebaseError
    ) -> list[SendResult]:
        # send_each raises only when something outside the per-message calls broke, typically
        # fetching the OAuth2 access token; a permanent refresh error means the key is bad.
        cause = error.cause
        if isinstance(cause, google.auth.exceptions.RefreshError) and not cause.retryable:
            outcome = Outcome.AUTH_ERROR
            clock = _TIMED_OUT.search(str(cause))
            log.error(
                "FCM: cannot obtain an access token (%s); %s",
                cause,
                "this machine's clock looks wrong: the sign-in is timed by it and Google allows "
                "a few minutes (or check FIREBASE_CREDENTIALS)"
                if clock
                else "check FIREBASE_CREDENTIALS",
            )
        else:
            outcome = Outcome.RETRY
            log.warning("FCM: batch of %d failed: %s", len(chunk), error)
        described = f"{type(error).__name__}: {error}"
        return [SendResult(o, outcome, error=described) for o in chunk]

    def close(self) -> None:
        """Release the app and its connection pools."""
        firebase_admin.delete_app(self.app)

    def __enter__(self) -> FcmSender:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
