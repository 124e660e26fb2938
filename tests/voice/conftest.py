"""Fixtures for voice resolutions: one real Vosk model per session, a worker, upload helpers."""
from __future__ import annotations

import ctypes
import json
from pathlib import Path

import pytest
import sqlalchemy as sa
import vosk

from domain import voice
from models import Job, Resolution, VoiceNote, db
from tests.support.vosk_loop import wav_words
from transcription.marks import N_BEST
from transcription.worker import Settings, Worker, load_models

AUDIO = Path(__file__).resolve().parents[1] / "fixtures" / "audio"
MANIFEST = json.loads((AUDIO / "manifest.json").read_text("utf-8"))
SEED = 20260101


@pytest.fixture(scope="session")
def models():
    """The configured models (the packaged Korean one), loaded once for the whole session."""
    vosk.SetLogLevel(-1)
    return load_models("", "ko")


@pytest.fixture
def worker(app, models):
    """drain(threads) runs a real worker in this process until the queue is empty."""

    def drain(threads: int = 1, name: str | None = None) -> int:
        db.session.commit()  # never hold a transaction the worker's sessions must wait for
        handled = Worker(app, models, Settings.from_config(app.config, threads), name=name).run(once=True)
        db.session.expire_all()
        return handled

    return drain


@pytest.fixture
def reseed():
    """Reset libc's rand(): Kaldi dithers MFCC input with it, so equal runs need equal seeds."""
    libc = ctypes.CDLL(None)
    return lambda: libc.srand(SEED)


def upload(api, document_id, path: Path, key: str | None = None, **fields):
    """POST a recording as the phone does."""
    with open(path, "rb") as f:
        data = {"audio": (f, path.name), **fields}
        headers = {"Idempotency-Key": key} if key else {}
        return api.post(f"/documents/{document_id}/voice-resolutions", data=data, headers=headers,
                        content_type="multipart/form-data")


def note_of(resolution_id: str) -> VoiceNote:
    res = db.session.get(Resolution, int(resolution_id))
    return db.session.get(VoiceNote, res.voice_note_id)


def jobs() -> list[Job]:
    """The transcription jobs (the demo's stored files have page jobs of their own)."""
    return list(db.session.scalars(sa.select(Job).where(Job.kind == voice.JOB_KIND).order_by(Job.id)))


def document_of(api) -> str:
    """A document the signed-in user may resolve: the first in their inbox."""
    items = api.get("/inbox").get_json()["items"]
    return next(i["document_id"] for i in items if i["kind"] == "resolution")


def bare_words(models, path: Path) -> list[tuple[str, float, float]]:
    """(word, start, end) of the bare Vosk loop over the wav, asked for the same n-best list as the worker."""
    return wav_words(models.get("ko").vosk_model, path, N_BEST)
