"""Settings from environment variables, with safe defaults for the embedded run."""
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class ConfigError(RuntimeError):
    """A setting production needs is missing or unsafe."""


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    try:
        return int(raw) if raw else default
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None


def from_env() -> dict:
    """Read the configuration; raise ConfigError when production settings are missing."""
    env = os.environ.get("APP_ENV", "development")
    data_dir = Path(os.environ.get("DATA_DIR", ROOT / "var")).resolve()
    cfg = {
        "APP_ENV": env,
        "DATA_DIR": str(data_dir),
        "SECRET_KEY": os.environ.get("SECRET_KEY", "dev-only-key-never-use-in-production"),
        "SQLALCHEMY_DATABASE_URI": _database_url(os.environ.get("DATABASE_URL"), data_dir),
        "ACCESS_TOKEN_TTL": _int("ACCESS_TOKEN_TTL", 900),
        "REFRESH_TOKEN_TTL": _int("REFRESH_TOKEN_TTL", 30 * 24 * 3600),
        "LOGIN_RATE_LIMIT": os.environ.get("LOGIN_RATE_LIMIT", "5 per minute;30 per hour"),
        "RATELIMIT_STORAGE_URI": os.environ.get("RATELIMIT_STORAGE_URI", "memory://"),
        # Uploads (documents, recordings) may be large; JSON bodies never need to be.
        "MAX_CONTENT_LENGTH": _int("MAX_UPLOAD_BYTES", 50 * 1024 * 1024),
        "MAX_JSON_BYTES": _int("MAX_JSON_BYTES", 64 * 1024),
        "DEMO_PASSWORD": os.environ.get("DEMO_PASSWORD", "demo"),
        "READY_MAX_SILENCE_S": _int("READY_MAX_SILENCE_S", 120),
    }
    if env == "production":
        missing = [n for n in ("SECRET_KEY", "DATABASE_URL") if not os.environ.get(n)]
        if missing:
            raise ConfigError(f"APP_ENV=production needs {', '.join(missing)}")
        if len(cfg["SECRET_KEY"]) < 32:
            raise ConfigError("SECRET_KEY must be at least 32 characters in production")
    return cfg


def _database_url(url: str | None, data_dir: Path) -> str:
    if not url:
        return f"sqlite:///{data_dir / 'mobile.db'}"
    # Heroku-style URLs name the old driver; we use psycopg 3.
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url
