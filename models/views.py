"""The phone's list views, each condition written once: the partial index of each view (models.documents,
models.resolutions) takes it as its predicate, the lists' statements (domain.lists) repeat it, and the
API's arguments name the views from it (mobile_api.schemas).

A condition is SQL with constants rather than parameters, so that every plan, generic or not, may use
the view's index; `{t}` stands where a column's table goes: nothing in an index's predicate, the
table's name and a dot in a statement that joins other tables with columns of the same names.
"""

# The kinds that ask the user to act: the inbox's "action" view.
ACTION_KINDS = ("review", "resolution", "approval", "task", "report", "extension")

INBOX_VIEWS = {
    "all": "NOT {t}removed",
    "unread": "{t}unread AND NOT {t}removed",
    "action": "{t}kind IN (" + ", ".join(f"'{kind}'" for kind in ACTION_KINDS) + ") AND NOT {t}removed",
    # Lines that fall due at all; the overdue view adds "before now".
    "overdue": "{t}due_at IS NOT NULL AND NOT {t}removed",
}

TASK_VIEWS = {
    # Not done: open, or reported and waiting for acceptance.
    "open": "{t}status <> 'done' AND NOT {t}removed",
    # Not-done tasks that have a deadline; the overdue view adds "before now".
    "overdue": "{t}status <> 'done' AND {t}deadline IS NOT NULL AND NOT {t}removed",
    "done": "{t}status = 'done' AND NOT {t}removed",
}


def condition(views: dict[str, str], view: str, table: str = "") -> str:
    """A view's condition as SQL, its columns named with `table` (bare, as an index's predicate has them)."""
    return views[view].format(t=f"{table}." if table else "")
