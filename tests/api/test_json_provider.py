"""JSON answers are encoded by orjson, and read exactly as Flask's own encoder wrote them."""
import datetime
import decimal
import uuid

from flask import Flask
from flask.json.provider import DefaultJSONProvider

from mobile_api.json_provider import OrjsonProvider

VALUES = [
    {"id": "17", "title": "О ходе исполнения «поручения» \"в кавычках\" \\ и\nстрока", "unread": True,
     "due_at": None, "count": 3, "ratio": 0.1, "items": [1, 2.5, -0.0, 1e16], "pair": (1, 2)},
    {"date": datetime.date(2026, 12, 4), "time": datetime.datetime(2026, 12, 4, 9, 30, 5, 120),
     "amount": decimal.Decimal("10.50"), "uuid": uuid.UUID(int=7), 5: "an int key"},
    {"huge": 2**70},  # beyond orjson's 64 bits: Flask's encoder writes it
    "\u2028 and \U0001f4c4",
]


def test_answers_are_the_bytes_flasks_encoder_wrote():
    app = Flask(__name__)
    flask_json = DefaultJSONProvider(app)
    flask_json.ensure_ascii, flask_json.sort_keys = False, False
    ours = OrjsonProvider(app)
    for value in VALUES:
        assert ours.dumps(value) == flask_json.dumps(value, separators=(",", ":")), value
    with app.test_request_context():
        for value in VALUES:  # the body as orjson wrote it, or as Flask's encoder did where orjson cannot
            answer = ours.response(value)
            assert answer.mimetype == "application/json"
            assert answer.get_data() == flask_json.response(value).get_data(), value
        app.debug = True  # indented, as Flask indents in debug mode
        assert ours.response(VALUES[0]).get_data() == flask_json.response(VALUES[0]).get_data()


def test_the_api_answers_through_it(app):
    assert isinstance(app.json, OrjsonProvider)
