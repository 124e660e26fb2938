"""The console's words in Russian (the default) and English: a small catalogue, no gettext toolchain.

Some sixty strings in two languages do not pay for Flask-Babel's extraction and compilation steps; a
missing key fails loudly in the tests (KeyError) rather than showing a raw identifier.
"""
LANGUAGES = ("ru", "en")
DEFAULT = "ru"

MESSAGES = {
    "title": ("Консоль помощника", "Assistant's console"),
    "sign_in": ("Войти", "Sign in"),
    "sign_out": ("Выйти", "Sign out"),
    "username": ("Имя пользователя", "Username"),
    "password": ("Пароль", "Password"),
    "bad_login": ("Неверное имя пользователя или пароль.", "Wrong username or password."),
    "switch": ("English", "Русский"),
    "queue": ("Очередь на проверку", "Review queue"),
    "queue_empty": ("Нет проектов, ожидающих проверки.", "No drafts wait for review."),
    "to_issue": ("Проекты резолюций на подпись", "Drafts to issue"),
    "to_issue_empty": ("Нет проектов, готовых к выдаче.", "No drafts are ready to issue."),
    "document": ("Документ", "Document"),
    "executive": ("Руководитель", "Executive"),
    "duration": ("Длительность", "Duration"),
    "flagged": ("Слов на проверку", "Flagged words"),
    "waiting": ("Ожидает с", "Waiting since"),
    "status": ("Статус", "Status"),
    "more": ("Дальше", "More"),
    "attachments": ("Вложения", "Attachments"),
    "transcript": ("Распознанный текст", "Transcript"),
    "pages": ("Страницы документа", "The document's pages"),
    "page": ("страница", "page"),
    "pages_processing": ("страницы готовятся…", "pages are being prepared…"),
    "text": ("Текст резолюции", "Resolution text"),
    "executors": ("Исполнители", "Executors"),
    "executors_hint": ("Начните вводить фамилию", "Start typing a surname"),
    "deadline": ("Срок", "Deadline"),
    "save": ("Сохранить", "Save"),
    "saved": ("Сохранено", "Saved"),
    "mark_reviewed": ("Проверено", "Mark reviewed"),
    "issue": ("Выдать резолюцию", "Issue"),
    "issued": ("Резолюция выдана", "Issued"),
    "revisions": ("Правки", "Revisions"),
    "no_revisions": ("Правок ещё не было.", "No edits yet."),
    "original": ("исходный текст", "original transcript"),
    "remove": ("Убрать", "Remove"),
    "undo_correction": ("Вернуть услышанное", "Undo the automatic correction"),
    "corrected_from": ("Исправлено автоматически; распознано: ", "Corrected automatically; heard: "),
    "keys": ("Клавиши: Esc — пуск/пауза, F1/F2 — назад/вперёд на 3 с, F3/F4 — медленнее/быстрее, "
             "F8 — следующее сомнительное слово, Ctrl+S — сохранить",
             "Keys: Esc play/pause, F1/F2 back/forward 3 s, F3/F4 slower/faster, F8 next flagged word, "
             "Ctrl+S save"),
    "speed": ("Скорость", "Speed"),
    "signed_on_tablet": ("В вашей организации резолюции выдаются с подписью: выдайте эту на планшете, "
                         "вашим ключом.",
                         "Your organization has resolutions issued signed: issue this one on the tablet, "
                         "with your key."),
    "no_audio": ("Резолюция набрана, а не надиктована.", "This resolution was typed, not dictated."),
    "error": ("Ошибка", "Error"),
    "not_found": ("Не найдено.", "Not found."),
    "back": ("К очереди", "Back to the queue"),
    "csrf": ("Форма устарела: обновите страницу и повторите.", "The form has expired: reload the page and retry."),
    "signature_required": ("В вашей организации резолюции выдаются с подписью: выдайте резолюцию на планшете.",
                           "Your organization has resolutions issued signed: issue it on the tablet."),
    "self_review": ("Автор не отмечает свой проект проверенным: выдайте или исправьте его.",
                    "The author does not mark their own draft reviewed: issue or edit it."),
    "too_many": ("Слишком много попыток, попробуйте позже.", "Too many attempts; try again later."),
    "st_awaiting_review": ("ждёт проверки", "awaiting review"),
    "st_reviewed": ("проверен", "reviewed"),
    "st_issued": ("выдана", "issued"),
    "st_draft": ("черновик", "draft"),
    "st_transcribing": ("распознаётся", "transcribing"),
    "st_failed": ("не распознана", "failed"),
    "st_executed": ("исполнена", "executed"),
    "st_withdrawn": ("снята с контроля", "withdrawn"),
    "by": ("правка", "edit by"),
    "failed_request": ("Не удалось: ", "Failed: "),
}
assert all(len(v) == len(LANGUAGES) for v in MESSAGES.values())


def translate(key: str, lang: str) -> str:
    return MESSAGES[key][LANGUAGES.index(lang if lang in LANGUAGES else DEFAULT)]
