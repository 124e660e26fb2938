"""Refusals a client can act on: raised by the rules, rendered by the web layer as problem+json."""


class ApiError(Exception):
    """A refusal a client can act on: raised anywhere, rendered as problem+json."""

    def __init__(self, status: int, code: str, detail: str, errors: dict | None = None, headers: dict | None = None):
        super().__init__(detail)
        self.status, self.code, self.detail, self.errors, self.headers = status, code, detail, errors, headers


def not_found(what: str = "resource") -> ApiError:
    return ApiError(404, "not_found", f"No such {what}.")


class ConfigError(RuntimeError):
    """A setting a process needs is missing or unsafe: it stops at start-up, never mid-run."""
