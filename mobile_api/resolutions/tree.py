"""The execution tree's answer, dumped from its plain rows (domain.execution.tree_rows) by plans compiled
from its schemas: marshmallow's per-field dump of a tree cost more than reading it."""
from domain.execution import REQUEST_LINE, TREE_RESOLUTION, TREE_TASK, Tree

from ..fastdump import compile_rows
from ..schemas import (
    ExecutionResolutionBrief,
    ExecutionTaskBrief,
    ExtensionRequestSchema,
    TaskReportSchema,
    UserRef,
)

# A report as TaskReportSchema reads it: `files` holds its files' rows (ReportFileSchema's fields).
_REPORT = ("id", "text", "created_at", "outcome", "comment", "decided_at", "files", "voice_note_id", "transcript",
           "recording_file_id")
_resolution = compile_rows(ExecutionResolutionBrief(), TREE_RESOLUTION)
_author = compile_rows(UserRef(), TREE_RESOLUTION, prefix="author_")
_controller = compile_rows(UserRef(), TREE_RESOLUTION, prefix="controller_")
_task = compile_rows(ExecutionTaskBrief(), TREE_TASK)
_executor = compile_rows(UserRef(), TREE_TASK, prefix="executor_")
_report = compile_rows(TaskReportSchema(), _REPORT)
_request = compile_rows(ExtensionRequestSchema(), REQUEST_LINE)
_PARENT_TASK, _RESOLUTION_OF = TREE_RESOLUTION.index("parent_task_id"), TREE_TASK.index("resolution_id")


def dump_tree(tree: Tree) -> dict:
    """What ExecutionSchema dumps for the tree: each resolution with its tasks, each task with its reports,
    extension requests and the sub-resolutions written on it."""
    by_task = {row[0]: {"task": _task(row), "executor": _executor(row), "reports": [], "extension_requests": [],
                        "resolutions": []} for row in tree.tasks}
    for task_id, report in _reports(tree.reports):
        by_task[task_id]["reports"].append(_report(report))
    for row in tree.requests:
        by_task[row[1]]["extension_requests"].append(_request(row))
    nodes = {row[0]: {"resolution": _resolution(row), "author": _author(row), "controller": _controller(row),
                      "tasks": []} for row in tree.resolutions}
    for row in tree.tasks:
        nodes[row[_RESOLUTION_OF]]["tasks"].append(by_task[row[0]])
    root, *below = tree.resolutions
    for row in below:
        by_task[row[_PARENT_TASK]]["resolutions"].append(nodes[row[0]])
    return nodes[root[0]]


def _reports(rows: list[tuple]) -> list[tuple[int, tuple]]:
    """Each report's task and its _REPORT row, from TREE_REPORT rows (one per file, by report and file)."""
    reports: list[tuple[int, tuple]] = []
    files: list[tuple] = []
    for i, (report_id, task_id, text, created_at, outcome, comment, decided_at, voice_note_id, transcript,
            recording_sha256, file_id, name, mime, size, sha256) in enumerate(rows):
        if file_id is not None:
            files.append((file_id, name, mime, size, sha256))
        if i + 1 < len(rows) and rows[i + 1][0] == report_id:
            continue
        # A dictated report's recording is the first of its files with the recording's hash.
        recording = None if recording_sha256 is None else next(
            (f[0] for f in files if f[4] == recording_sha256), None)
        reports.append((task_id, (report_id, text, created_at, outcome, comment, decided_at,
                                  [f[:4] for f in files], voice_note_id, transcript, recording)))
        files = []
    return reports
