"""Query strings are read as webargs reads them, through the API's own (cheaper) parser."""
from flask import Flask
from flask_smorest import Api
from marshmallow import Schema, fields, validate

from mobile_api.blueprint import Blueprint


class Args(Schema):
    view = fields.String(load_default="all", validate=validate.OneOf(["all", "unread"]))
    limit = fields.Integer(load_default=25, validate=validate.Range(1, 100))
    tag = fields.List(fields.String())


def client():
    app = Flask(__name__)
    app.config.update(API_TITLE="t", API_VERSION="1", OPENAPI_VERSION="3.0.3")
    blp = Blueprint("q", __name__)

    @blp.route("/q")
    @blp.arguments(Args(), location="query")
    def echo(args):
        return args

    api = Api(app)
    api.register_blueprint(blp)
    return app.test_client()


def test_query_arguments_parse_as_the_schema_says():
    c = client()
    assert c.get("/q").json == {"view": "all", "limit": 25}  # absent: the defaults
    assert c.get("/q?view=unread&limit=5&other=x").json == {"view": "unread", "limit": 5}  # unknown: left out
    assert c.get("/q?view=unread&view=all").json["view"] == "unread"  # repeated, for one value: the first
    assert c.get("/q?tag=a&tag=b&tag=a").json["tag"] == ["a", "b", "a"]  # a list takes every value
    assert c.get("/q?tag=a").json["tag"] == ["a"]


def test_bad_query_arguments_are_refused_with_what_is_wrong():
    c = client()
    for query, field in (("limit=0", "limit"), ("limit=x", "limit"), ("view=old", "view")):
        answer = c.get(f"/q?{query}")
        assert answer.status_code == 422, query
        assert field in answer.json["errors"]["query"], query
