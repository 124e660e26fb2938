"""Push-notification devices of the signed-in user."""
import sqlalchemy as sa
from flask import g
from sqlalchemy.exc import IntegrityError

from models import Device, db

from ..auth.tokens import authenticate
from ..blueprint import Blueprint
from ..errors import not_found
from ..idempotency import idempotent
from ..schemas import DeviceIn, DeviceOut

blp = Blueprint("devices", __name__, description="Push devices")
blp.before_request(authenticate)


@blp.route("/devices", methods=["POST"])
@idempotent
@blp.arguments(DeviceIn())
@blp.response(201, DeviceOut)
def register(body):
    """Register an FCM token; the same token again updates it (and may move to a new user)."""
    device = _device_with_token(body["token"], body["platform"])
    device.user_id, device.platform = g.user.id, body["platform"]
    device.locale = body.get("locale") or g.user.locale
    device.app_version = body.get("app_version")
    db.session.flush()
    return device


def _device_with_token(token: str, platform: str) -> Device:
    """The device row of `token`, created if new; a concurrent twin registration is not an error."""
    if db.session.get_bind().dialect.name == "sqlite":
        # Take SQLite's write lock before reading: a transaction that read first and then must wait
        # for another writer fails with "database is locked" instead of waiting (its snapshot is stale).
        db.session.execute(sa.update(Device).where(sa.false()).values(token=Device.token))
    device = db.session.scalar(sa.select(Device).where(Device.token == token))
    if device is not None:
        return device
    try:
        # A savepoint, so that losing the race undoes only this insert (on PostgreSQL a failed
        # statement would otherwise poison the whole transaction).
        with db.session.begin_nested():
            device = Device(token=token, user_id=g.user.id, platform=platform)
            db.session.add(device)
    except IntegrityError:
        device = db.session.scalar(sa.select(Device).where(Device.token == token))
        if device is None:
            raise
    return device


@blp.route("/devices/<id:device_id>", methods=["DELETE"])
@blp.response(204)
def unregister(device_id):
    """Forget a device: it gets no more pushes."""
    device = db.session.get(Device, device_id)
    if device is None or device.user_id != g.user.id:
        raise not_found("device")
    db.session.delete(device)
