"""Message building: languages, document privacy, per-platform hints."""

from __future__ import annotations

import pytest

from push.messages import TEXTS, Event, build_message, language_of, localized_text

IDS = {"document_id": "d1", "resolution_id": "r1"}


@pytest.mark.parametrize(
    ("locale", "language"),
    [("ru-RU", "ru"), ("ru", "ru"), ("tt_RU", "tt"), ("TT", "tt"), ("en-US", "en"),
     ("de-DE", "en"), ("", "en"), (None, "en")],
)
def test_language_by_locale_prefix(locale, language):
    assert language_of(locale) == language


def test_every_event_has_text_in_every_language():
    for language, texts in TEXTS.items():
        assert set(texts) == set(Event), language
        assert all(title and body for title, body in texts.values())


def test_tatar_text():
    title, body = localized_text(Event.DEADLINE_PASSED, "tt-RU")
    assert (title, body) == ("Срок узды", "Йөкләмәне үтәү срогы чыкты.")


def test_data_payload_is_event_and_ids_as_strings():
    message = build_message("t", "android", "en", Event.REVIEW_REQUESTED, {"document_id": 17}, 0)

    assert message.data == {"event": "review_requested", "document_id": "17"}


def test_reserved_data_keys_are_refused():
    with pytest.raises(ValueError, match="reserves"):
        build_message("t", "android", "en", Event.TASK_ASSIGNED, {"from": "x"}, 0)


def test_web_gets_urgency_and_a_tag_per_event():
    message = build_message("t", "web", "ru", Event.TASK_ASSIGNED, IDS, 0, event_id="9")

    assert message.webpush.headers == {"Urgency": "high"}
    assert message.webpush.notification.tag == "event-9"
    assert message.data["event_id"] == "9"


def test_two_events_on_one_document_do_not_replace_each_other():
    first = build_message("t", "android", "ru", Event.TASK_ASSIGNED, IDS, 0, event_id="1")
    second = build_message("t", "android", "ru", Event.DEADLINE_SOON, IDS, 0, event_id="2")
    again = build_message("t", "android", "ru", Event.TASK_ASSIGNED, IDS, 0, event_id="1")

    assert first.android.collapse_key != second.android.collapse_key
    assert (first.android.collapse_key, first.android.notification.tag) == (again.android.collapse_key,
                                                                           again.android.notification.tag)


def test_without_an_event_id_there_is_no_collapse():
    message = build_message("t", "ios", "ru", Event.TASK_ASSIGNED, {"task_id": "t1"}, 1)

    assert "apns-collapse-id" not in message.apns.headers
    assert message.apns.payload.aps.badge == 1


def test_the_event_id_key_is_the_senders_own():
    with pytest.raises(ValueError, match="reserves"):
        build_message("t", "android", "en", Event.TASK_ASSIGNED, {"event_id": "x"}, 0)


def test_unknown_platform_is_refused():
    with pytest.raises(ValueError, match="platform"):
        build_message("t", "symbian", "ru", Event.TASK_ASSIGNED, IDS, 0)


def test_token_is_the_target_without_a_deprecation_warning(recwarn):
    message = build_message("reg-token", "android", "ru", Event.TASK_ASSIGNED, IDS, 0)

    assert message.token == "reg-token"
    assert not [w for w in recwarn if issubclass(w.category, DeprecationWarning)]


def test_execution_control_events_speak_russian_and_a_returned_report_wakes_the_phone():
    ids = {"document_id": "5", "task_id": "7", "resolution_id": "3"}
    returned = build_message("t", "android", "ru-RU", Event.REPORT_RETURNED, ids, 0, event_id="41")
    submitted = build_message("t", "android", "ru-RU", Event.REPORT_SUBMITTED, ids, 0, event_id="42")

    assert returned.notification.title == "Отчёт возвращён" and returned.android.priority == "high"
    assert submitted.notification.title == "Отчёт на приёмку" and submitted.android.priority == "normal"
    assert (returned.android.collapse_key, submitted.android.collapse_key) == ("event-41", "event-42")
    assert returned.data == {"event": "report_returned", **ids, "event_id": "41"}
    assert localized_text(Event.EXTENSION_REQUESTED, "en")[0] == "Extension requested"


@pytest.mark.parametrize(("locale", "body"), [
    ("ru", "Новых просроченных поручений на вашем контроле: 3."),
    ("en", "Tasks under your control newly overdue: 3."),
    ("tt", "Сезнең контрольдәге яңа срогы узган йөкләмәләр: 3."),
])
def test_a_digest_says_how_many_and_a_reminder_how_many_days(locale, body):
    digest = build_message("t", "android", locale, Event.OVERDUE_DIGEST, {"count": 3, "task_ids": "1,2,3"}, 0)
    assert digest.notification.body == body
    ahead = build_message("t", "ios", "ru", Event.DEADLINE_AHEAD, {"task_id": 9, "days": 3}, 0)
    assert ahead.notification.body == "До срока исполнения поручения осталось дней: 3."
