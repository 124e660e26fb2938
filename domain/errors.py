"""Refusals a client can act on: raised by the rules, rendered by the web layer as problem+json."""


class ApiError(Exception):
    """A refusal a client can act on: raised anywhere, rendered as problem+json."""

    def __init__(self, status: int, code: str, detail: str, errors: dict | None = None, headers: dict | None = None,
                 extra: dict | None = None):
        super().__init__(detail)
        self.status, self.code, self.detail, self.errors, self.headers = status, code, detail, errors, headers
        self.extra = extra  # further members of the problem body, e.g. the current state on a 409


def not_found(what: str = "resource") -> ApiError:
    return ApiError(404, "not_found", f"No such {what}.")


def conflict(code: str, detail: str, state: str) -> ApiError:
    """409: the request lost a race or came too late; `state` is what the thing is now, so the app
    can show it (the problem's own `status` member is the HTTP status, RFC 9457)."""
    return ApiError(409, code, detail, extra={"state": state})


class ConfigError(RuntimeError):
    """A setting a process needs is missing or unsafe: it stops at start-up, never mid-run."""
