"""Refusals a client can act on: raised by the rules, rendered by the web layer as problem+json.

`PROBLEMS` is the one list of the stable codes a client may branch on, each with its HTTP status and
what it means. A view lists the codes it answers by name (`mobile_api.openapi.errors`), the published
contract is made from those lists, and a test holds every `ApiError` raised in the code to this table.
"""
from typing import NamedTuple


class Problem(NamedTuple):
    status: int
    title: str


PROBLEMS: dict[str, Problem] = {code: Problem(status, title) for status, code, title in (
    (400, "bad_request", "The request is malformed"),
    (400, "malformed_json", "The body is not valid JSON"),
    (400, "json_too_deep", "The JSON body is nested too deep"),
    (400, "invalid_cursor", "The cursor or sync token is not one the server gave"),
    (400, "invalid_idempotency_key", "Idempotency-Key is not 1-255 printable characters"),
    (401, "unauthorized", "No access token was sent"),
    (401, "invalid_token", "The token is not valid, or its session has ended"),
    (401, "token_expired", "The token has expired"),
    (401, "token_reused", "A spent refresh token came back: the session is closed"),
    (401, "account_disabled", "The account is disabled"),
    (401, "invalid_credentials", "Wrong username or password"),
    (403, "forbidden", "The user's role does not allow this"),
    (403, "self_review", "The author cannot review their own draft"),
    (403, "not_your_executive", "An assistant writes drafts only for an executive they serve"),
    (403, "not_your_assistant", "Rights are given only to an assistant who serves the caller"),
    (403, "csrf_failed", "The console form's token is missing or wrong"),
    (403, "not_acting_for", "The caller does not act for that person now (no running substitution)"),
    (404, "not_found", "No such thing, or not visible to this user"),
    (405, "method_not_allowed", "The path does not take this method"),
    (409, "conflict", "Conflict with the current state"),
    (409, "invalid_state", "Not possible in the thing's current state (`state` says which)"),
    (409, "idempotency_conflict", "The Idempotency-Key was used with another request"),
    (409, "idempotency_in_progress", "A request with this Idempotency-Key is still running"),
    (409, "extension_pending", "The task already has an extension request waiting for a decision"),
    (409, "approval_in_progress", "An approval round is running"),
    (409, "substitution_overlaps", "The principal already has a deputy for that scope in that period"),
    (409, "deputy_away", "The deputy is away themselves in that period"),
    (409, "approval_closed", "The approval round is closed"),
    (409, "not_due", "This approver's stage has not come yet"),
    (409, "stale_version", "The document changed since the signature was prepared"),
    (409, "session_used", "The signing session was used already"),
    (409, "signature_missing", "The signing session holds no signature"),
    (409, "signature_mismatch", "The signature was made for something else"),
    (409, "key_revoked", "The key is revoked"),
    (409, "key_expired", "The key's certificate has expired"),
    (409, "no_certificate_authority", "The organization has no certificate authority"),
    (409, "key_exists", "This certificate is enrolled already"),
    (409, "template_exists", "The organization already has this template"),
    (409, "too_many_templates", "The organization has as many templates as it may"),
    (410, "gone", "Gone"),
    (410, "session_expired", "The signing session has expired"),
    (413, "payload_too_large", "The body is over its limit"),
    (414, "uri_too_long", "The request line is over the server's limit"),
    (415, "unsupported_media_type", "The body is not of the type the operation takes"),
    (415, "unsupported_audio", "The recording cannot be read as audio"),
    (416, "range_not_satisfiable", "The range lies outside the file"),
    (422, "validation_failed", "The request did not pass validation (`errors` says where)"),
    (422, "signature_required", "The organization's policy wants this signed"),
    (422, "signing_session_mismatch", "The signing session is for something else"),
    (422, "comment_required", "A reject needs a comment"),
    (422, "out_of_vocabulary", "A phrase holds words the speech model does not know"),
    (422, "audio_too_long", "The recording is longer than the limit"),
    (422, "no_speech", "The recording holds no speech"),
    (422, "invalid_file", "The imported file has bad lines"),
    (422, "csr_malformed", "The certificate request cannot be read"),
    (422, "csr_bad_signature", "The certificate request's self-signature does not verify"),
    (422, "csr_unsupported_key", "The certificate request's key is not P-256"),
    (422, "digest_mismatch", "The signature covers other content"),
    (422, "bad_signature", "The signature does not verify"),
    (422, "untrusted_issuer", "The certificate is not from the organization's authority"),
    (422, "certificate_expired", "The certificate has expired"),
    (422, "certificate_revoked", "The certificate is revoked"),
    (422, "wrong_key_usage", "The certificate may not sign"),
    (422, "malformed", "The signature cannot be read"),
    (422, "bad_timestamp", "The signature's time-stamp token is not acceptable"),
    (422, "certificate_malformed", "The certificate cannot be read"),
    (422, "challenge_invalid", "The key-proof challenge is not one the server gave"),
    (422, "challenge_expired", "The key-proof challenge has expired"),
    (422, "proof_invalid", "The signature over the challenge does not verify with the certificate's key"),
    (422, "revocation_unknown", "The certificate's revocation status cannot be established now"),
    (429, "rate_limited", "Too many attempts; `Retry-After` says when to try again"),
    (431, "headers_too_large", "A request header is over the server's limit"),
    (500, "internal_error", "Something went wrong on the server"),
    (503, "unavailable", "Service unavailable"),
    (503, "database_unavailable", "The database is unreachable or busy; `Retry-After` says when to retry"),
    (503, "not_ready", "A background process is missing or stalled"),
)}


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
