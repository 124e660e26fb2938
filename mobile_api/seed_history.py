"""A year of execution control, as domain.control would have left it: the seeded resolutions, their
tasks, reports, returns and extension requests, and the inbox lines they leave.

Each task's life is drawn first (reported and accepted on time or late, returned and reported again,
an extension asked and approved, rejected or still waiting, a report waiting for the reviewer, still
open and perhaps late), then written as the rows each transition writes: a report accepted is a
`task_reports` row with its outcome and a done task whose `reported_at` is that report's; a return
leaves the task open, `returned`, with its line back unread; an approved extension moves the task's
deadline and keeps the old one in its request. A controlled resolution whose tasks are all done is
executed (closed when the last was accepted); a withdrawn one ended its undone tasks as withdrawn,
cancelled their pending requests and closed their waiting reports. Tasks for information are
acknowledged or still open. An executor of a task sometimes delegates it by a sub-resolution of their
own, which they control. What /control/summary will count is tallied as it is drawn (`expected`).
"""
import random
from collections import Counter
from datetime import datetime, timedelta

from domain.execution import DUE_SOON_DAYS

RESOLUTION_COLUMNS = ("id", "document_id", "author_id", "status", "text", "deadline", "created_at", "updated_at",
                      "issued_at", "control", "controller_id", "withdraw_reason", "closed_at", "parent_task_id")
TASK_COLUMNS = ("id", "resolution_id", "document_id", "executor_id", "text", "deadline", "status", "report",
                "created_at", "completed_at", "removed", "seq", "control", "responsible", "controller_id",
                "reviewer_id", "reported_at", "returned", "withdrawn", "organization_id")
REPORT_COLUMNS = ("id", "task_id", "author_id", "text", "created_at", "outcome", "decided_by_id", "decided_at",
                  "comment")
REQUEST_COLUMNS = ("id", "task_id", "requester_id", "decider_id", "reason", "old_deadline", "deadline", "status",
                   "new_deadline", "comment", "created_at", "decided_at")
CONTROLLED = "Подготовить ответ в установленный срок"
FOR_INFORMATION = "Принять к сведению и руководству в работе"
DELEGATED = "Подготовить проект ответа и представить мне"
REPORTS = ("Ответ направлен заявителю", "Информация представлена", "Исполнено, копия ответа прилагается",
           "Проект согласован с юридическим отделом", "Мероприятия проведены в срок")
RETURNS = ("Доработать: нет расчётов", "Не указаны сроки исполнения", "Приложите копию ответа")
REASONS = ("Ожидаем сведения от муниципальных районов", "Требуется дополнительное согласование",
           "Большой объём проверки")
HOUR = timedelta(hours=1)


def _between(rng: random.Random, start: datetime, end: datetime, low: float = 0.0, high: float = 1.0) -> datetime:
    if end <= start:
        return start
    return start + (end - start) * rng.uniform(low, high)


class History:
    """Rows of resolutions, tasks, reports and extension requests, made document by document."""

    def __init__(self, load, rng: random.Random, now: datetime):
        self.load, self.rng, self.now = load, rng, now
        self.resolutions, self.executors, self.tasks, self.reports, self.requests = [], [], [], [], []
        self.states: Counter = Counter()  # what was drawn, for the seed's summary
        self.expected: dict[int, Counter] = {}  # per organization: what /control/summary counts

    def flush(self) -> dict:
        """Write the rows made so far; returns their counts."""
        put = self.load.put
        put("resolutions", RESOLUTION_COLUMNS, self.resolutions)
        put("resolution_executors", ("resolution_id", "user_id", "position"), self.executors)
        put("tasks", TASK_COLUMNS, self.tasks)
        put("task_reports", REPORT_COLUMNS, self.reports)
        put("extension_requests", REQUEST_COLUMNS, self.requests)
        made = {"resolutions": len(self.resolutions), "tasks": len(self.tasks), "task_reports": len(self.reports),
                "extension_requests": len(self.requests)}
        self.resolutions, self.executors, self.tasks, self.reports, self.requests = [], [], [], [], []
        return made

    def _deadline(self, value: datetime) -> datetime:
        """Never within an hour of the moments that divide the summary's states (now, now + 3 days): a
        count taken a few minutes after the seed finds each task where the seed put it."""
        for edge in (self.now, self.now + timedelta(days=DUE_SOON_DAYS)):
            if abs(value - edge) < HOUR:
                value = edge + 2 * HOUR
        return value

    # --- one document ----------------------------------------------------------------------------

    def document(self, org_id: int, doc_id: int, author: int, head: int, people: list[int], issued: datetime,
                 k: int, seq: int, line) -> list[int]:
        """A resolution on the document by `author` to some of `people` (the first responsible), perhaps
        delegated further by its responsible executor; `line(user, kind, at, due, unread, removed)` adds
        an inbox line. Returns the resolution's authors (whose own resolution line is done with)."""
        rng = self.rng
        controlled = rng.random() < 0.75
        n = min(len(people), rng.choices((1, 2, 3), (25, 45, 30))[0])
        first = rng.randrange(len(people))
        chosen = [people[(first + i) % len(people)] for i in range(n)]
        controller = head if controlled and k % 4 == 0 else author
        deadline = self._deadline(issued + timedelta(days=rng.randint(5, 30), hours=rng.randint(0, 8))) \
            if controlled else None
        withdrawn = controlled and rng.random() < 0.03
        top_tasks = self._resolution(org_id, doc_id, author, controller, chosen, issued, deadline, withdrawn, seq,
                                     None, line)
        authors = [author]
        rest = [p for p in people if p not in chosen]
        if rest and controlled and not withdrawn and rng.random() < 0.2:
            # The responsible executor delegates their task: a sub-resolution they control.
            parent_id, delegate = top_tasks[0]
            sub_issued = issued + timedelta(hours=rng.randint(2, 30))
            if sub_issued < self.now:
                sub = [rest[(k + i) % len(rest)] for i in range(min(len(rest), rng.choice((1, 2))))]
                sub_deadline = self._deadline(max(sub_issued + timedelta(days=2), deadline - timedelta(days=2)))
                self._resolution(org_id, doc_id, delegate, delegate, sub, sub_issued, sub_deadline, False, seq,
                                 parent_id, line, DELEGATED)
                authors.append(delegate)
        return authors

    def _resolution(self, org_id, doc_id, author, controller, chosen, issued, deadline, withdrawn, seq, parent, line,
                    text=None) -> list[tuple[int, int]]:
        rng, now = self.rng, self.now
        controlled = deadline is not None
        res_id = self.load.ids("resolutions", 1)
        text = text or (CONTROLLED if controlled else FOR_INFORMATION)
        # A withdrawal comes some time after issue: the tasks lived until then.
        until = _between(rng, issued, now, 0.3, 0.9) if withdrawn else now
        rows, waiting_for, deciding = [], {}, {}
        for pos, executor in enumerate(chosen):
            self.executors.append((res_id, executor, pos))
            task_id = self.load.ids("tasks", 1)
            reviewer = controller if pos == 0 else chosen[0]
            if controlled:
                row = self._controlled(task_id, res_id, executor, controller, reviewer, issued, deadline, until)
            else:
                row = self._informed(issued, until)
            if withdrawn and row["status"] != "done":
                for report in row["reports"]:
                    if report[5] is None:
                        report[5], report[7] = "withdrawn", until
                for request in row["requests"]:
                    if request[7] == "pending":
                        request[7], request[9], request[11] = "cancelled", "Снято с контроля", until
                row.update(status="done", withdrawn=True, completed_at=until, returned=row["returned"])
            self.reports.extend((self.load.ids("task_reports", 1), task_id, executor, *r[3:]) for r in row["reports"])
            self.requests.extend((self.load.ids("extension_requests", 1), task_id, executor, *r[3:])
                                 for r in row["requests"])
            done = row["status"] == "done"
            self.tasks.append((task_id, res_id, doc_id, executor, text, row["deadline"], row["status"],
                               row.get("report"), issued, row.get("completed_at"), False, seq, controlled, pos == 0,
                               controller if controlled else None, row.get("reviewer"), row.get("reported_at"),
                               row["returned"], row.get("withdrawn", False), org_id))
            line(executor, "task", issued, row["deadline"], not done, done)
            if row["status"] == "reported":
                waiting_for[reviewer] = max(waiting_for.get(reviewer, issued), row["reported_at"])
            if any(r[7] == "pending" for r in row["requests"]):
                deciding[controller] = max(deciding.get(controller, issued), row["requests"][-1][10])
            rows.append((task_id, executor))
            self._count(org_id, row, controlled)
        for reviewer, at in waiting_for.items():
            line(reviewer, "report", at, deadline, True, False)
        for decider, at in deciding.items():
            line(decider, "extension", at, deadline, True, False)
        statuses = [t[6] for t in self.tasks[-len(chosen):]]
        status, closed = "issued", None
        if withdrawn and not any(t[18] for t in self.tasks[-len(chosen):]):
            withdrawn = False  # every task was accepted before: the last accept executed it
        if withdrawn:
            status, closed = "withdrawn", until
            self.states["resolution withdrawn"] += 1
        elif controlled and all(s == "done" for s in statuses):
            status, closed = "executed", max(t[9] for t in self.tasks[-len(chosen):])
            self.states["resolution executed"] += 1
        self.resolutions.append((res_id, doc_id, author, status, text, deadline, issued, closed or issued, issued,
                                 controlled, controller, "Снято с контроля" if withdrawn else None, closed, parent))
        return rows

    def _count(self, org_id: int, row: dict, controlled: bool) -> None:
        """The state /control/summary gives the task (domain.summary's rule), and the life drawn."""
        self.states[row["life"]] += 1
        if not controlled or row.get("withdrawn"):
            return
        deadline = row["deadline"]
        if row["status"] == "done":
            done_at = row.get("reported_at") or row["completed_at"]
            state = "done_on_time" if done_at <= deadline else "done_late"
        elif deadline < self.now:
            state = "overdue"
        elif deadline < self.now + timedelta(days=DUE_SOON_DAYS):
            state = "due_soon"
        else:
            state = "open"
        self.expected.setdefault(org_id, Counter())[state] += 1

    def _informed(self, issued: datetime, until: datetime) -> dict:
        """A task for information: acknowledged within days, or (recent ones mostly) still open."""
        rng = self.rng
        seen = issued + timedelta(hours=rng.randint(1, 120))
        if seen < until and rng.random() < 0.85:
            return {"life": "acknowledged", "status": "done", "completed_at": seen, "deadline": None,
                    "returned": False, "reports": [], "requests": []}
        return {"life": "information open", "status": "open", "deadline": None, "returned": False, "reports": [],
                "requests": []}

    def _controlled(self, task_id, res_id, executor, controller, reviewer, issued, deadline, until) -> dict:
        """A controlled task's life up to `until`: its reports ([_, _, _, text, at, outcome, by, decided_at,
        comment]) and extension requests ([_, _, _, decider, reason, old, asked, status, new, comment,
        created_at, decided_at]), and where it stands."""
        rng = self.rng
        reports, requests = [], []
        start = issued + HOUR
        row = {"reports": reports, "requests": requests, "returned": False, "deadline": deadline}
        # An extension asked early: approved (the deadline moves) or rejected.
        if rng.random() < 0.15 and start < min(deadline, until):
            asked_at = _between(rng, start, min(deadline, until), 0.1, 0.5)
            decided = _between(rng, asked_at, min(deadline, until), 0.1, 0.4)
            wanted = self._deadline(deadline + timedelta(days=rng.randint(5, 20)))
            if rng.random() < 0.75:
                requests.append([None, None, None, controller, rng.choice(REASONS), deadline, wanted, "approved",
                                 wanted, None, asked_at, decided])
                deadline = row["deadline"] = wanted
                row["extended"] = True
            else:
                requests.append([None, None, None, controller, rng.choice(REASONS), deadline, wanted, "rejected",
                                 None, "Срок не продлевается", asked_at, decided])
            start = decided + HOUR
        late = deadline < until
        r = rng.random()
        if late:
            life = ("done on time" if r < 0.52 else "done late" if r < 0.70 else "returned, then done" if r < 0.78
                    else "late, open" if r < 0.87 else "reported" if r < 0.94 else "returned")
        else:
            life = ("open" if r < 0.40 else "reported" if r < 0.60 else "returned" if r < 0.67
                    else "open, extension asked" if r < 0.77 else "done on time")
        row["life"] = life + (" (extended)" if row.get("extended") else "")
        if start >= until:
            life = row["life"] = "open"
        if life in ("done on time", "done late", "returned, then done", "reported", "returned"):
            if life == "done late":
                at = _between(rng, deadline, until, 0.02, 0.5)
            elif late and life in ("reported", "returned"):
                at = _between(rng, start, until, 0.3, 0.95)
            else:
                at = _between(rng, start, min(deadline, until), 0.2, 0.9)
            if life == "returned, then done":
                back = _between(rng, at, min(deadline, until), 0.1, 0.3)
                reports.append([None, None, None, rng.choice(REPORTS), at, "returned", reviewer, back,
                                rng.choice(RETURNS)])
                at = _between(rng, back, until, 0.1, 0.6)
            text = rng.choice(REPORTS)
            row.update(reported_at=at, reviewer=reviewer, report=text)
            if life == "reported":
                reports.append([None, None, None, text, at, None, None, None, None])
                row["status"] = "reported"
                return row
            decided = _between(rng, at, until, 0.05, 0.3)
            if life == "returned":
                reports.append([None, None, None, text, at, "returned", reviewer, decided, rng.choice(RETURNS)])
                row.update(status="open", returned=True)
                return row
            reports.append([None, None, None, text, at, "accepted", reviewer, decided, None])
            row.update(status="done", completed_at=decided)
            return row
        row["status"] = "open"
        if life in ("open, extension asked", "late, open") and rng.random() < (1 if "asked" in life else 0.3) \
                and not any(q[7] == "pending" for q in requests):
            asked_at = _between(rng, start, until, 0.3, 0.95)
            requests.append([None, None, None, controller, rng.choice(REASONS), deadline,
                             self._deadline(max(deadline, self.now) + timedelta(days=rng.randint(5, 20))), "pending",
                             None, None, asked_at, None])
        return row
