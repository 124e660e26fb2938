"""Push-notification devices of the signed-in user."""
import sqlalchemy as sa
from flask import g
from flask_smorest import Blueprint

from models import Device, db

from ..auth.tokens import authenticate
from ..errors import not_found
from ..idempotency import idempotent
from ..schemas import DeviceIn, DeviceOut

blp = Blueprint("devices", __name__, description="Push devices")
blp.before_request(authenticate)


@blp.route("/devices", methods=["POST"])
@idempotent
@blp.arguments(DeviceIn)
@blp.response(201, DeviceOut)
def register(body):
    """Register an FCM token; the same token again updates it (and may move to a new user)."""
    device = db.session.scalar(sa.select(Device).where(Device.token == body["token"]))
    if device is None:
        device = Device(token=body["token"])
        db.session.add(device)
    device.user_id, device.platform = g.user.id, body["platform"]
    device.locale = body.get("locale") or g.user.locale
    device.app_version = body.get("app_version")
    db.session.flush()
    return device


@blp.route("/devices/<id:device_id>", methods=["DELETE"])
@blp.response(204)
def unregister(device_id):
    """Forget a device: it gets no more pushes."""
    device = db.session.get(Device, device_id)
    if device is None or device.user_id != g.user.id:
        raise not_found("device")
    db.session.delete(device)
    db.session.commit()
