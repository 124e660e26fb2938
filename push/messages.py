"""Building FCM messages: localized texts, an id-only data payload, per-platform delivery hints."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from firebase_admin import messaging


class Event(StrEnum):
    """Why a phone is being told something; the app fetches the details over the API."""

    TASK_ASSIGNED = "task_assigned"  # -> executor
    REVIEW_REQUESTED = "review_requested"  # transcript ready -> assistant
    DRAFT_REVIEWED = "draft_reviewed"  # reviewed draft back -> executive
    APPROVAL_REQUESTED = "approval_requested"  # -> approver
    TASK_COMPLETED = "task_completed"  # -> resolution author
    DEADLINE_AHEAD = "deadline_ahead"  # due in `days` days (the organization's reminder days) -> executor
    DEADLINE_SOON = "deadline_soon"  # due tomorrow -> executor
    DEADLINE_TODAY = "deadline_today"  # due today -> executor
    DEADLINE_PASSED = "deadline_passed"  # overdue -> executor
    TRANSCRIPTION_FAILED = "transcription_failed"  # recording not transcribed -> executive
    REPORT_SUBMITTED = "report_submitted"  # a report to accept -> controller (or responsible executor)
    REPORT_ACCEPTED = "report_accepted"  # -> executor
    REPORT_RETURNED = "report_returned"  # back for rework -> executor
    EXTENSION_REQUESTED = "extension_requested"  # a later deadline asked -> controller
    EXTENSION_DECIDED = "extension_decided"  # approved or rejected -> executor
    RESOLUTION_WITHDRAWN = "resolution_withdrawn"  # taken off control -> executors
    DRAFT_PREPARED = "draft_prepared"  # an assistant's draft to issue -> executive
    DRAFT_REJECTED = "draft_rejected"  # the executive turned it down -> the assistant who wrote it
    ISSUED_FOR_YOU = "issued_for_you"  # an assistant issued in the executive's name -> executive
    OVERDUE_DIGEST = "overdue_digest"  # once a day: the tasks that became overdue (`count`) -> controller
    REPORT_TRANSCRIBED = "report_transcribed"  # a dictated report's transcript to correct and send -> executor
    REPORT_DICTATION_SENT = "report_dictation_sent"  # a dictated report sent as transcribed -> executor
    REPORT_TRANSCRIPTION_FAILED = "report_transcription_failed"  # its recording not recognised -> executor


# Tasks and approvals wake the phone at once; the rest may wait for a convenient moment.
HIGH_PRIORITY = frozenset(
    {Event.TASK_ASSIGNED, Event.APPROVAL_REQUESTED, Event.DEADLINE_SOON, Event.DEADLINE_TODAY,
     Event.DEADLINE_PASSED, Event.REPORT_RETURNED}
)

DEFAULT_LANGUAGE = "en"
_RESERVED_KEYS = frozenset({"event", "event_id", "from", "notification", "message_type"})
SHORT_TITLE_MAX = 60

# (title, body) per event and language. No document text here: it is added only on request.
TEXTS: dict[str, dict[Event, tuple[str, str]]] = {
    "en": {
        Event.TASK_ASSIGNED: ("New task", "You have been assigned a task."),
        Event.REVIEW_REQUESTED: (
            "Draft for review",
            "A dictated resolution is ready for your review.",
        ),
        Event.DRAFT_REVIEWED: ("Draft reviewed", "Your resolution draft has been reviewed."),
        Event.APPROVAL_REQUESTED: ("Approval requested", "A document awaits your approval."),
        Event.TASK_COMPLETED: ("Task completed", "A task under your resolution is done."),
        Event.DEADLINE_AHEAD: ("Deadline approaching", "A task is due in {days} days."),
        Event.DEADLINE_SOON: ("Deadline tomorrow", "A task is due tomorrow."),
        Event.DEADLINE_TODAY: ("Deadline today", "A task is due today."),
        Event.DEADLINE_PASSED: ("Task overdue", "The deadline of a task has passed."),
        Event.TRANSCRIPTION_FAILED: (
            "Dictation not recognised",
            "Your recording could not be transcribed. Please type the resolution or record it again.",
        ),
        Event.REPORT_SUBMITTED: ("Report to accept", "An executor has reported on a task."),
        Event.REPORT_ACCEPTED: ("Report accepted", "Your report has been accepted; the task is done."),
        Event.REPORT_RETURNED: ("Report returned", "Your report has been returned for rework."),
        Event.EXTENSION_REQUESTED: ("Extension requested", "An executor asks for a later deadline."),
        Event.EXTENSION_DECIDED: ("Extension decided", "Your request for a later deadline has been decided."),
        Event.RESOLUTION_WITHDRAWN: ("Taken off control", "A resolution has been withdrawn; its task is closed."),
        Event.DRAFT_PREPARED: ("Draft to issue", "Your assistant has prepared a resolution draft for you."),
        Event.DRAFT_REJECTED: ("Draft rejected", "A resolution draft you prepared has been rejected."),
        Event.ISSUED_FOR_YOU: ("Issued on your behalf", "Your assistant has issued a resolution in your name."),
        Event.OVERDUE_DIGEST: ("Overdue tasks", "Tasks under your control newly overdue: {count}."),
        Event.REPORT_TRANSCRIBED: ("Report transcribed", "Your dictated report is ready: check the text and send it."),
        Event.REPORT_DICTATION_SENT: ("Report sent", "Your dictated report has been transcribed and sent."),
        Event.REPORT_TRANSCRIPTION_FAILED: (
            "Report not recognised",
            "Your recorded report could not be transcribed. Please type it or record it again.",
        ),
    },
    "ru": {
        Event.TASK_ASSIGNED: ("Новое поручение", "Вам назначено поручение."),
        Event.REVIEW_REQUESTED: (
            "Проект на проверку",
            "Надиктованная резолюция готова к проверке.",
        ),
        Event.DRAFT_REVIEWED: ("Проект проверен", "Проект вашей резолюции проверен."),
        Event.APPROVAL_REQUESTED: (
            "Требуется согласование",
            "Документ ожидает вашего согласования.",
        ),
        Event.TASK_COMPLETED: ("Поручение исполнено", "Поручение по вашей резолюции исполнено."),
        Event.DEADLINE_AHEAD: ("Приближается срок", "До срока исполнения поручения осталось дней: {days}."),
        Event.DEADLINE_SOON: ("Срок истекает", "Срок исполнения поручения истекает завтра."),
        Event.DEADLINE_TODAY: ("Срок истекает сегодня", "Срок исполнения поручения истекает сегодня."),
        Event.DEADLINE_PASSED: ("Поручение просрочено", "Срок исполнения поручения истёк."),
        Event.TRANSCRIPTION_FAILED: (
            "Запись не распознана",
            "Не удалось распознать вашу запись. Введите резолюцию текстом или запишите её снова.",
        ),
        Event.REPORT_SUBMITTED: ("Отчёт на приёмку", "Исполнитель отчитался о поручении."),
        Event.REPORT_ACCEPTED: ("Отчёт принят", "Ваш отчёт принят, поручение исполнено."),
        Event.REPORT_RETURNED: ("Отчёт возвращён", "Ваш отчёт возвращён на доработку."),
        Event.EXTENSION_REQUESTED: ("Запрос продления срока", "Исполнитель просит продлить срок."),
        Event.EXTENSION_DECIDED: ("Решение о продлении", "По вашему запросу о продлении срока принято решение."),
        Event.RESOLUTION_WITHDRAWN: ("Снято с контроля", "Резолюция снята с контроля, поручение закрыто."),
        Event.DRAFT_PREPARED: ("Проект резолюции", "Помощник подготовил для вас проект резолюции."),
        Event.DRAFT_REJECTED: ("Проект отклонён", "Подготовленный вами проект резолюции отклонён."),
        Event.ISSUED_FOR_YOU: ("Резолюция от вашего имени", "Помощник выпустил резолюцию от вашего имени."),
        Event.OVERDUE_DIGEST: ("Просроченные поручения", "Новых просроченных поручений на вашем контроле: {count}."),
        Event.REPORT_TRANSCRIBED: ("Отчёт распознан", "Надиктованный отчёт готов: проверьте текст и отправьте его."),
        Event.REPORT_DICTATION_SENT: ("Отчёт отправлен", "Надиктованный отчёт распознан и отправлен."),
        Event.REPORT_TRANSCRIPTION_FAILED: (
            "Отчёт не распознан",
            "Не удалось распознать запись отчёта. Введите отчёт текстом или запишите его снова.",
        ),
    },
    "tt": {
        Event.TASK_ASSIGNED: ("Яңа йөкләмә", "Сезгә йөкләмә бирелде."),
        Event.REVIEW_REQUESTED: (
            "Тикшерү өчен проект",
            "Әйтеп язылган резолюция тикшерүгә әзер.",
        ),
        Event.DRAFT_REVIEWED: ("Проект тикшерелде", "Сезнең резолюция проекты тикшерелде."),
        Event.APPROVAL_REQUESTED: ("Килештерү сорала", "Документ сезнең килештерүне көтә."),
        Event.TASK_COMPLETED: ("Йөкләмә үтәлде", "Сезнең резолюция буенча йөкләмә үтәлде."),
        Event.DEADLINE_AHEAD: ("Срок якынлаша", "Йөкләмәне үтәү срогына калган көннәр: {days}."),
        Event.DEADLINE_SOON: ("Срок якынлаша", "Йөкләмәне үтәү срогы иртәгә чыга."),
        Event.DEADLINE_TODAY: ("Срок бүген чыга", "Йөкләмәне үтәү срогы бүген чыга."),
        Event.DEADLINE_PASSED: ("Срок узды", "Йөкләмәне үтәү срогы чыкты."),
        Event.TRANSCRIPTION_FAILED: (
            "Язма танылмады",
            "Сезнең язманы танып булмады. Резолюцияне текст белән языгыз яки яңадан яздырыгыз.",
        ),
        Event.REPORT_SUBMITTED: ("Кабул итү өчен хисап", "Башкаручы йөкләмә буенча хисап бирде."),
        Event.REPORT_ACCEPTED: ("Хисап кабул ителде", "Сезнең хисап кабул ителде, йөкләмә үтәлде."),
        Event.REPORT_RETURNED: ("Хисап кайтарылды", "Сезнең хисап эшләп бетерү өчен кайтарылды."),
        Event.EXTENSION_REQUESTED: ("Срокны озайту соравы", "Башкаручы срокны озайтуны сорый."),
        Event.EXTENSION_DECIDED: ("Озайту турында карар", "Срокны озайту соравыгыз буенча карар кабул ителде."),
        Event.RESOLUTION_WITHDRAWN: ("Контрольдән алынды", "Резолюция контрольдән алынды, йөкләмә ябылды."),
        Event.DRAFT_PREPARED: ("Резолюция проекты", "Ярдәмчегез сезнең өчен резолюция проектын әзерләде."),
        Event.DRAFT_REJECTED: ("Проект кире кагылды", "Сез әзерләгән резолюция проекты кире кагылды."),
        Event.ISSUED_FOR_YOU: ("Сезнең исемнән резолюция", "Ярдәмчегез сезнең исемнән резолюция чыгарды."),
        Event.OVERDUE_DIGEST: ("Срогы узган йөкләмәләр", "Сезнең контрольдәге яңа срогы узган йөкләмәләр: {count}."),
        Event.REPORT_TRANSCRIBED: ("Хисап танылды", "Әйтеп язылган хисап әзер: текстны тикшерегез һәм җибәрегез."),
        Event.REPORT_DICTATION_SENT: ("Хисап җибәрелде", "Әйтеп язылган хисап танылды һәм җибәрелде."),
        Event.REPORT_TRANSCRIPTION_FAILED: (
            "Хисап танылмады",
            "Хисап язмасын танып булмады. Хисапны текст белән языгыз яки яңадан яздырыгыз.",
        ),
    },
}

# The numbers a text may show, taken from the data payload.
COUNTED = ("days", "count")

# How a document is named when the organization allows it: registration number, short title.
DOCUMENT_LINE = {"en": "No. {reg}", "ru": "№ {reg}", "tt": "№ {reg}"}


def language_of(locale: str | None) -> str:
    """The supported language for a locale such as 'ru-RU' or 'tt_RU', else English."""
    prefix = (locale or "").replace("_", "-").split("-")[0].lower()
    return prefix if prefix in TEXTS else DEFAULT_LANGUAGE


def localized_text(
    event: Event,
    locale: str | None,
    reg_number: str | None = None,
    short_title: str | None = None,
    numbers: Mapping[str, str] | None = None,
) -> tuple[str, str]:
    """Title and body for the event in the device's language, with document details if given; a text
    that counts (`{days}`, `{count}`) takes its number from `numbers` (the data payload)."""
    language = language_of(locale)
    title, body = TEXTS[language][Event(event)]
    if "{" in body:
        body = body.format_map({key: (numbers or {}).get(key, "?") for key in COUNTED})
    details = []
    if reg_number:
        details.append(DOCUMENT_LINE[language].format(reg=reg_number))
    if short_title:
        details.append(_shorten(short_title))
    if details:
        body = f"{body}\n{' · '.join(details)}"
    return title, body


def _shorten(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= SHORT_TITLE_MAX else text[: SHORT_TITLE_MAX - 1].rstrip() + "…"


def build_message(
    token: str,
    platform: str,
    locale: str | None,
    event: Event,
    ids: Mapping[str, str],
    badge: int,
    reg_number: str | None = None,
    short_title: str | None = None,
    *,
    urgent: bool = False,
    event_id: str | None = None,
) -> messaging.Message:
    """One FCM message for one device; document text only if the caller passes it.

    `event_id` names the event (the same for every device and every resend of it): it travels as
    data `event_id`, for the app to drop a copy it has seen, and as the collapse tag, so a resend
    replaces the notification already shown instead of adding a second one.
    """
    event = Event(event)
    reserved = [key for key in ids if key in _RESERVED_KEYS or key.startswith(("google.", "gcm."))]
    if reserved:
        raise ValueError(f"FCM reserves data keys {reserved}")
    title, body = localized_text(event, locale, reg_number, short_title, {k: str(v) for k, v in ids.items()})
    data = {"event": event.value, **{key: str(value) for key, value in ids.items()}}
    if event_id is not None:
        data["event_id"] = str(event_id)
    high = urgent or event in HIGH_PRIORITY
    # One slot per event: a resend of it replaces the copy already shown. Threads group by document.
    collapse = f"event-{event_id}" if event_id is not None else None
    document_id = ids.get("document_id")
    thread = f"doc-{document_id}" if document_id else None
    notification = messaging.Notification(title=title, body=body)
    message = messaging.Message(data=data, notification=notification)
    # firebase-admin 7.7 deprecates `token` for `fid`, but the apps register FCM registration
    # tokens (POST /devices), and Google warns against mixing the two schemes on one device.
    # Setting the attribute targets the token without the constructor's per-call warning.
    message.token = token
    if platform == "android":
        message.android = messaging.AndroidConfig(
            priority="high" if high else "normal",
            collapse_key=collapse,
            notification=messaging.AndroidNotification(
                tag=collapse, notification_count=badge, default_sound=urgent or None
            ),
        )
    elif platform == "ios":
        headers = {"apns-priority": "10" if high else "5"}
        if collapse:
            headers["apns-collapse-id"] = collapse
        message.apns = messaging.APNSConfig(
            headers=headers,
            payload=messaging.APNSPayload(
                aps=messaging.Aps(
                    badge=badge, sound="default" if urgent else None, thread_id=thread
                )
            ),
        )
    elif platform == "web":
        message.webpush = messaging.WebpushConfig(
            headers={"Urgency": "high" if high else "normal"},
            notification=messaging.WebpushNotification(tag=collapse),
        )
    else:
        raise ValueError(f"unknown platform {platform!r}")
    return message
