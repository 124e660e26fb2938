"""The real firebase_admin sender against a fake FCM: what goes over the wire, how answers read."""

from __future__ import annotations

import json
import time

import jwt
import pytest

from push.backoff import backoff_delay
from push.fcm import FcmSender
from push.messages import Event, build_message
from push.sender import Outcome, OutgoingMessage
from tests.fakes.fcm_server import (
    PROJECT_ID,
    Failure,
    generate_key,
    write_service_account,
)

DOCUMENT_TITLE = (
    "О выделении бюджетных ассигнований на капитальный ремонт здания школы № 7 в 2027 году"
)
REG_NUMBER = "01-15/2047"


def outgoing(
    token: str,
    platform: str = "android",
    locale: str = "ru-RU",
    event: Event = Event.TASK_ASSIGNED,
    **kwargs,
) -> OutgoingMessage:
    ids = {"document_id": "doc-42", "task_id": "task-7"}
    message = build_message(token, platform, locale, event, ids, 3, **{"event_id": "77", **kwargs})
    return OutgoingMessage(device_id=f"device-{token}", message=message, ref="outbox-1")


def test_android_message_on_the_wire(sender, fake_fcm):
    [result] = sender.send([outgoing("android-token", "android", "ru-RU")])

    assert result.outcome is Outcome.DELIVERED
    assert result.message_id == f"projects/{PROJECT_ID}/messages/1"
    [request] = fake_fcm.sends()
    assert request.method == "POST"
    assert request.path == f"/v1/projects/{PROJECT_ID}/messages:send"
    assert request.headers["authorization"] == f"Bearer {fake_fcm.issued_tokens[0]}"
    assert request.body == {
        "message": {
            "token": "android-token",
            "data": {"event": "task_assigned", "document_id": "doc-42", "task_id": "task-7", "event_id": "77"},
            "notification": {"title": "Новое поручение", "body": "Вам назначено поручение."},
            "android": {
                "priority": "high",
                "collapse_key": "event-77",
                "notification": {"tag": "event-77", "notification_count": 3},
            },
        }
    }


def test_ios_message_on_the_wire(sender, fake_fcm):
    sender.send([outgoing("ios-token", "ios", "en-GB", Event.APPROVAL_REQUESTED, urgent=True)])

    message = fake_fcm.sends()[0].body["message"]
    assert message["notification"] == {
        "title": "Approval requested",
        "body": "A document awaits your approval.",
    }
    assert message["apns"] == {
        "headers": {"apns-priority": "10", "apns-collapse-id": "event-77"},
        "payload": {"aps": {"badge": 3, "sound": "default", "thread-id": "doc-doc-42"}},
    }
    assert "android" not in message


def test_low_priority_event_is_normal_and_silent(sender, fake_fcm):
    sender.send([
        outgoing("a", "android", "ru", event=Event.TASK_COMPLETED),
        outgoing("i", "ios", "ru", event=Event.TASK_COMPLETED),
    ])

    by_token = {r.body["message"]["token"]: r.body["message"] for r in fake_fcm.sends()}
    assert by_token["a"]["android"]["priority"] == "normal"
    assert by_token["i"]["apns"]["headers"]["apns-priority"] == "5"
    assert "sound" not in by_token["i"]["apns"]["payload"]["aps"]


def test_access_token_comes_from_a_signed_assertion(sender, fake_fcm, service_key):
    sender.send([outgoing("t")])

    [token_request] = fake_fcm.token_requests()
    claims = jwt.decode(
        token_request.body["assertion"],
        service_key.public_key(),
        algorithms=["RS256"],
        options={"verify_aud": False},
    )
    assert claims["iss"] == f"push@{PROJECT_ID}.iam.gserviceaccount.com"
    assert "https://www.googleapis.com/auth/cloud-platform" in claims["scope"].split()


def test_no_document_text_leaves_by_default(sender, fake_fcm):
    sender.send([outgoing(f"t-{e}", event=e) for e in Event])

    assert len(fake_fcm.sends()) == len(Event)
    for request in fake_fcm.sends():
        wire = json.dumps(request.body, ensure_ascii=False)
        assert REG_NUMBER not in wire
        assert "бюджетных" not in wire


def test_document_line_only_when_the_organization_allows(sender, fake_fcm):
    sender.send([outgoing("t", reg_number=REG_NUMBER, short_title=DOCUMENT_TITLE)])

    body = fake_fcm.sends()[0].body["message"]["notification"]["body"]
    assert body.startswith("Вам назначено поручение.\n№ 01-15/2047 · О выделении")
    assert body.endswith("…")


@pytest.mark.parametrize(
    ("status", "error_code", "message", "expected"),
    [
        (404, "UNREGISTERED", "Requested entity was not found.", Outcome.DROP_TOKEN),
        (400, "INVALID_ARGUMENT", "The registration token is not a valid FCM registration token",
         Outcome.DROP_TOKEN),
        (403, "SENDER_ID_MISMATCH", "SenderId mismatch", Outcome.DROP_TOKEN),
        (400, "INVALID_ARGUMENT", "Invalid value at 'message.data[0].value'", Outcome.FAILED),
        (429, "QUOTA_EXCEEDED", "Quota exceeded.", Outcome.RETRY),
        (503, "UNAVAILABLE", "The service is currently unavailable.", Outcome.RETRY),
        (500, "INTERNAL", "Internal error.", Outcome.RETRY),
        (401, "THIRD_PARTY_AUTH_ERROR", "Auth error from APNS or Web Push Service",
         Outcome.AUTH_ERROR),
        (403, None, "Permission 'cloudmessaging.messages.create' denied", Outcome.AUTH_ERROR),
    ],
)
def test_error_table(sender, fake_fcm, status, error_code, message, expected):
    fake_fcm.fail("bad", Failure(status, error_code, message))

    good, bad = sender.send([outgoing("good"), outgoing("bad")])

    assert good.outcome is Outcome.DELIVERED
    assert bad.outcome is expected
    assert bad.outgoing.device_id == "device-bad"
    assert bad.message_id is None


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_come_back_without_sdk_retries(sender, fake_fcm, status):
    fake_fcm.fail("t", Failure(status, None, "down", retry_after="30"))

    started = time.monotonic()
    [result] = sender.send([outgoing("t")])

    # One request, no sleeping: the outbox, not the SDK, owns retries.
    assert len(fake_fcm.sends()) == 1
    assert time.monotonic() - started < 5
    assert result.outcome is Outcome.RETRY
    assert result.retry_after == 30


def test_a_dropped_connection_is_not_resent_behind_the_dispatchers_back(sender, fake_fcm):
    # FCM read the request and the answer never came: the message may be on the phone already.
    fake_fcm.hang_up.add("t")

    [result] = sender.send([outgoing("t")])

    # Exactly one request on the wire: a resend is the dispatcher's decision, under the same event id.
    assert [r.body["message"]["token"] for r in fake_fcm.sends()] == ["t"]
    assert result.outcome is Outcome.RETRY


def test_retry_after_is_honoured(sender, fake_fcm):
    fake_fcm.fail("t", Failure(429, "QUOTA_EXCEEDED", "Quota exceeded.", retry_after="120"))

    [result] = sender.send([outgoing("t")])

    assert result.outcome is Outcome.RETRY
    assert result.retry_after == 120
    assert len(fake_fcm.sends()) == 1
    assert all(backoff_delay(n, retry_after=result.retry_after) >= 120 for n in range(1, 8))


def test_rejected_credentials_fail_the_batch_as_auth_error(sender, fake_fcm, caplog):
    fake_fcm.token_error = (400, "invalid_grant")

    results = sender.send([outgoing("a"), outgoing("b")])

    assert [r.outcome for r in results] == [Outcome.AUTH_ERROR, Outcome.AUTH_ERROR]
    assert fake_fcm.sends() == []
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert any("FIREBASE_CREDENTIALS" in message for message in errors)


def test_a_key_the_server_does_not_know_is_an_auth_error(fake_fcm, tmp_path):
    stranger = write_service_account(tmp_path / "other.json", generate_key(), fake_fcm.token_uri)

    with FcmSender.from_credentials(str(stranger), endpoint=fake_fcm.url, timeout=5) as sender:
        [result] = sender.send([outgoing("t")])

    assert result.outcome is Outcome.AUTH_ERROR
    assert "invalid_grant" in result.error


def test_more_than_500_messages_are_split(sender, fake_fcm):
    messages = [outgoing(f"t{i}") for i in range(501)]

    results = sender.send(messages)

    # send_each refuses more than 500 at once, so all 501 arriving proves the split.
    assert [r.outcome for r in results] == [Outcome.DELIVERED] * 501
    assert [r.outgoing for r in results] == messages
    assert len(fake_fcm.sends()) == 501
    assert fake_fcm.max_in_flight <= 500


def test_batch_size_bounds_concurrency(credentials_path, fake_fcm):
    with FcmSender.from_credentials(
        str(credentials_path), endpoint=fake_fcm.url, batch_size=2
    ) as sender:
        results = sender.send([outgoing(f"t{i}") for i in range(7)])

    assert len(results) == 7
    assert fake_fcm.max_in_flight <= 2


def test_several_senders_coexist(credentials_path, fake_fcm):
    with (
        FcmSender.from_credentials(str(credentials_path), endpoint=fake_fcm.url) as one,
        FcmSender.from_credentials(str(credentials_path), endpoint=fake_fcm.url) as two,
    ):
        assert one.app.name != two.app.name
        one.send([outgoing("a")])
        two.send([outgoing("b")])

    assert len(fake_fcm.sends()) == 2


def test_an_unavailable_token_endpoint_is_retried_not_blamed_on_credentials(sender, fake_fcm):
    # google-auth retries the token endpoint itself for a few seconds before giving up.
    fake_fcm.token_error = (503, "temporarily_unavailable")

    [result] = sender.send([outgoing("t")])

    assert result.outcome is Outcome.RETRY
    assert fake_fcm.sends() == []
