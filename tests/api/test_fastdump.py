"""The polled lists are dumped by plans compiled from their schemas (mobile_api.fastdump): a phone must
get exactly what marshmallow's own dump of the same object gives, whatever the values."""
from datetime import datetime, timezone
from types import SimpleNamespace as Obj

from domain import lists
from mobile_api.fastdump import compile_rows
from mobile_api.schemas import InboxItemSchema, TaskSchema

AT = datetime(2026, 11, 25, 9, 30, 7, 123456)
# A time in a row, as both databases give it to models.raw.fetch: text, UTC (PostgreSQL drops a zero fraction).
AT_TEXT, WHOLE_TEXT = "2026-11-25 09:30:07.123456", "2026-11-25 09:30:07"


def test_an_inbox_line_dumps_as_its_schema_dumps_it():
    dump = compile_rows(InboxItemSchema(), lists.INBOX_LINE)
    for due, unread, title, principal in ((AT, True, "Приказ № 12 «О порядке»", None), (None, False, "", None),
                                          (AT, 1, 'a "quoted" \\ one', (5, "Петров П. П."))):
        row = (9007199254740993, 42, "task", "01-02/345", title, "Минфин", AT_TEXT, due and WHOLE_TEXT, unread, 0,
               *(principal or (None, None)))
        line = Obj(**dict(zip(lists.INBOX_LINE, row)))
        line.received_at, line.due_at = (None if t is None else t.replace(microsecond=0, tzinfo=timezone.utc)
                                         for t in (AT, due))
        line.unread, line.urgent = bool(unread), False
        # A deputy's copy names the principal; the user's own line has "for": null.
        line.for_user = principal and Obj(id=principal[0], short_name=principal[1])
        assert dump(row) == InboxItemSchema().dump(line)
    assert list(dump(row)) == list(InboxItemSchema().dump(line))  # the same keys, in the same order


def test_a_task_dumps_as_its_schema_dumps_it_with_its_nested_author():
    dump = compile_rows(TaskSchema(), lists.TASK_LINE)
    utc = AT.replace(tzinfo=timezone.utc)
    returned_report = (11, "Сделано наполовину", AT_TEXT, "returned", "Доработать", AT_TEXT, [], None, None, None)
    pdf = (21, "Отчёт.pdf", "application/pdf", 1024)
    accepted_report = (12, "Исполнено", AT_TEXT, "accepted", None, AT_TEXT, [pdf], 31, "исполнено", 21)
    for report, done, reports in (("Исполнено", AT, [returned_report, accepted_report]), (None, None, [])):
        row = (7, 42, 5, "01-02/345", "Рассмотреть и доложить", 3, "Иванов И. И.", None, "done", report, AT_TEXT,
               done and AT_TEXT, bool(reports), True, True, False, done and AT_TEXT, reports)
        task = Obj(id=7, document_id=42, resolution_id=5, document=Obj(reg_number="01-02/345"),
                   text="Рассмотреть и доложить", resolution=Obj(author=Obj(id=3, short_name="Иванов И. И.")),
                   deadline=None, status="done", report=report, created_at=utc, completed_at=done and utc,
                   returned=bool(reports), responsible=True, control=True, withdrawn=False,
                   reported_at=done and utc,
                   reports=[Obj(id=r[0], text=r[1], created_at=utc, outcome=r[3], comment=r[4], decided_at=utc,
                                files=[Obj(id=f[0], name=f[1], mime=f[2], size=f[3]) for f in r[6]],
                                voice_note_id=r[7], transcript=r[8], recording_file_id=r[9])
                            for r in reports])
        assert dump(row) == TaskSchema().dump(task)
    # SQLite gives booleans as 0 and 1: the same answer.
    inbox = compile_rows(InboxItemSchema(), lists.INBOX_LINE)
    assert inbox((1, 2, "task", "n", "t", "s", "2026-11-25 09:30:07.123456", None, 1, 0, None, None))["received_at"] \
        == "2026-11-25T09:30:07Z"
