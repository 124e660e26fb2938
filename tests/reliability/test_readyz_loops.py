"""/readyz watches every loop, not just every process: a dead or hung loop turns it 503 within seconds."""

from __future__ import annotations

import ctypes
import dataclasses
import threading
import time

import pytest
import sqlalchemy as sa

from domain.notify import notify
from models import Device, OutboxMessage, db
from models.queue import beat
from push.dispatcher import Dispatcher
from push.dispatcher import Settings as PushSettings
from push.fcm import FcmSender
from push.log_sender import LogSender
from tests.fakes.fcm_server import FakeFcm, generate_key, write_service_account
from transcription.worker import Settings, Worker, load_models

FAST = dict(silence_s=1.0, beat_s=0.2, poll_s=0.2)


@pytest.fixture(scope="module")
def speech_models():
    import vosk

    vosk.SetLogLevel(-1)
    return load_models("", "ko")


def wait_for_readyz(client, want_status: int, contains: str = "", timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        db.session.rollback()
        last = client.get("/readyz")
        text = last.get_data(as_text=True)
        if last.status_code == want_status and contains in text:
            return last
        time.sleep(0.1)
    pytest.fail(f"/readyz never answered {want_status} with {contains!r}; last: {last.status_code} "
                f"{last.get_data(as_text=True)}")


def end_thread(thread: threading.Thread) -> None:
    """Make a Python thread die as a bug would: an exception no handler catches, raised inside it."""
    done = ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread.ident), ctypes.py_object(SystemExit))
    assert done == 1


def run_in_app(app, target) -> threading.Thread:
    def body():
        with app.app_context():
            target()
    thread = threading.Thread(target=body, daemon=True)
    thread.start()
    return thread


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")  # the thread we end
def test_a_dead_worker_loop_makes_readyz_503_with_its_name(app, client, speech_models):
    db.session.execute(sa.update(OutboxMessage).values(status="done"))
    db.session.commit()
    settings = dataclasses.replace(Settings.from_config(app.config, threads=2), **FAST)
    worker = Worker(app, speech_models, settings, name="worker-under-test")
    dispatcher = Dispatcher(LogSender(), PushSettings(poll_s=0.2, silence_s=1.0, beat_s=0.2), name="push-under-test")
    worker_thread = threading.Thread(target=worker.run, daemon=True)
    worker_thread.start()
    push_thread = run_in_app(app, dispatcher.run)
    try:
        ready = wait_for_readyz(client, 200)
        assert ready.get_json()["checks"] == {"database": "ok", "worker": "ok", "push": "ok"}

        end_thread(worker.loops["worker-under-test/transcribe-0"].thread)

        gone = wait_for_readyz(client, 503, "transcribe-0")
        detail = gone.get_json()["detail"]
        assert "worker loop stalled or dead" in detail and "thread ended" in detail
        assert "transcribe-1" not in detail and "push" not in detail  # the others are fine and say so
        assert gone.headers["Retry-After"]
    finally:
        worker.stop()
        dispatcher.stop()
        worker_thread.join(30)
        push_thread.join(30)
    # Stopped cleanly: gone, not stalled.
    assert "worker not seen recently" in wait_for_readyz(client, 503, "worker not seen").get_json()["detail"]


class HangingFcm(FakeFcm):
    """An FCM that holds each answer for `delay` seconds: the dispatcher's loop hangs in send_each."""

    delay = 4.0

    def _answer_send(self, project, headers, body):
        time.sleep(self.delay)
        return super()._answer_send(project, headers, body)


@pytest.mark.slow
def test_a_hung_dispatcher_loop_makes_readyz_503_until_it_moves_again(app, client, demo, tmp_path, monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    db.session.execute(sa.update(OutboxMessage).values(status="done"))
    employee = demo["employee1"]
    db.session.add(Device(user_id=employee.id, token="phone-1", platform="android", locale="ru"))
    notify("task_assigned", employee.id, None, task_id=1)
    db.session.commit()
    beat("worker-elsewhere", "worker", silence_s=600)  # a healthy worker on another machine
    key = generate_key()
    with HangingFcm(key.public_key()) as fcm:
        account = write_service_account(tmp_path / "sa.json", key, fcm.token_uri)
        with FcmSender.from_credentials(str(account), endpoint=fcm.url, timeout=30) as sender:
            dispatcher = Dispatcher(sender, PushSettings(poll_s=0.2, stall_s=1.0, silence_s=1.0, beat_s=0.2),
                                    name="push-under-test")
            thread = run_in_app(app, dispatcher.run)
            try:
                stalled = wait_for_readyz(client, 503, "push-under-test/dispatch")
                assert "sending a batch of 1" in stalled.get_json()["detail"]
                # FCM answers at last: the loop moves on and readiness comes back by itself.
                wait_for_readyz(client, 200)
                assert [r.body["message"]["token"] for r in fcm.sends()] == ["phone-1"]
            finally:
                dispatcher.stop()
                thread.join(30)
