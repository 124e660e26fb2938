"""Device lifecycle: registering, moving a token to another user, twin registrations, deleting."""

from __future__ import annotations

import threading

import sqlalchemy as sa

from domain.notify import notify
from models import Device, db
from tests.push.test_push_dispatch import register, sent


def test_registering_a_token_again_updates_it(login):
    api = login("employee1")
    first = register(api, "tok-1", "android", "ru-RU")
    again = register(api, "tok-1", "android", "en-GB")

    assert again == first
    [device] = db.session.scalars(sa.select(Device))
    assert device.locale == "en-GB"


def test_a_token_registered_by_another_user_moves_to_them(login, demo, dispatcher, fake_fcm):
    old_owner, new_owner = login("employee1"), login("employee2")
    device_id = register(old_owner, "shared-tablet", "android", "ru-RU")
    assert register(new_owner, "shared-tablet", "android", "ru-RU") == device_id

    assert db.session.get(Device, int(device_id)).user_id == demo["employee2"].id
    assert old_owner.delete(f"/devices/{device_id}").status_code == 404
    # The previous owner's notifications no longer reach the tablet.
    dispatcher.drain()
    notify("task_assigned", demo["employee1"].id, None, task_id=1)
    db.session.commit()
    dispatcher.drain()
    assert sent(fake_fcm, "shared-tablet") == []
    assert new_owner.delete(f"/devices/{device_id}").status_code == 204
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Device)) == 0


def test_a_twin_registration_committing_first_is_not_an_error(app, login, demo):
    """The same token registered from two requests at once: one row, no 500."""
    api = login("employee1")
    twin = db.engine.connect()
    twin_tx = twin.begin()
    twin.execute(sa.insert(Device).values(user_id=demo["employee2"].id, token="twin-token", platform="ios",
                                          created_at=sa.func.now(), updated_at=sa.func.now()))
    # The twin commits while our request waits on the token's unique index (PostgreSQL) or on
    # the write lock (SQLite).
    timer = threading.Timer(0.5, twin_tx.commit)
    timer.start()
    try:
        resp = api.post("/devices", json={"token": "twin-token", "platform": "android", "locale": "ru"})
    finally:
        timer.join()
        twin.close()

    assert resp.status_code == 201, resp.get_json()
    [device] = db.session.scalars(sa.select(Device))
    assert str(device.id) == resp.get_json()["id"]
    assert (device.user_id, device.platform) == (demo["employee1"].id, "android")


def test_only_the_owner_deletes_a_device(login):
    owner, other = login("employee1"), login("employee2")
    device_id = register(owner, "tok-own")

    assert other.delete(f"/devices/{device_id}").status_code == 404
    assert owner.delete(f"/devices/{device_id}").status_code == 204
    assert owner.delete(f"/devices/{device_id}").status_code == 404
