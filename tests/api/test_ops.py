"""Operations: health, readiness, metrics, and start-up refusing unsafe production settings."""
import pytest

from mobile_api import config
from models.queue import beat


def test_healthz_and_readyz(client, app):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    not_ready = client.get("/readyz")
    assert not_ready.status_code == 503 and not_ready.get_json()["code"] == "not_ready"
    assert "worker not seen recently" in not_ready.get_json()["detail"]
    beat("worker-1", "worker")
    beat("push-1", "push")
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.get_json()["checks"] == {"database": "ok", "worker": "ok", "push": "ok"}


def test_metrics_count_requests_and_read_queue_depths(login, client):
    api = login("exec1")
    tag = api.get("/inbox").headers["ETag"]
    api.get("/inbox")
    assert api.get("/inbox", headers={"If-None-Match": tag}).status_code == 304
    assert api.get("/inbox?limit=0").status_code == 422
    text = client.get("/metrics").get_data(as_text=True)
    for status, count in (("200", 2), ("304", 1), ("422", 1)):  # each answer counted under its own status
        assert f'mobile_http_requests_total{{endpoint="inbox.list_inbox",status="{status}"}} {count}.0' in text
    assert 'mobile_http_request_seconds_count{endpoint="inbox.list_inbox"} 4.0' in text
    # The demo's issued resolution owes notifications: the outbox depth shows them.
    assert 'mobile_outbox{status="queued"}' in text


def test_metrics_answer_this_machine_or_the_holder_of_the_metrics_token(app, client):
    from_afar = {"REMOTE_ADDR": "10.20.30.40"}
    refused = client.get("/metrics", environ_base=from_afar)
    assert refused.status_code == 403 and refused.mimetype == "application/problem+json"
    assert "mobile_http_requests_total" not in refused.get_data(as_text=True)
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "::ffff:127.0.0.1"}).status_code == 200
    app.config["METRICS_TOKEN"] = "scrape-me"
    assert client.get("/metrics").status_code == 401  # with a token set, even this machine sends it
    wrong = client.get("/metrics", environ_base=from_afar, headers={"Authorization": "Bearer guess"})
    assert wrong.status_code == 401 and wrong.headers["WWW-Authenticate"].startswith("Bearer")
    scraped = client.get("/metrics", environ_base=from_afar, headers={"Authorization": "Bearer scrape-me"})
    assert scraped.status_code == 200 and "mobile_http_requests_total" in scraped.get_data(as_text=True)


def test_production_refuses_to_start_without_its_settings(monkeypatch):
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    with pytest.raises(config.ConfigError, match="SECRET_KEY"):
        config.from_env()
    monkeypatch.setenv("SECRET_KEY", "short")
    monkeypatch.setenv("DATABASE_URL", "postgres://db/prod")
    monkeypatch.setenv("CA_PASSPHRASE", "a passphrase from the vault")
    with pytest.raises(config.ConfigError, match="at least 32"):
        config.from_env()


def test_database_urls_are_normalised_to_psycopg3(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://u@h/db")
    assert config.from_env()["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u@h/db"
