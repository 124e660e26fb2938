"""Query strings are read as webargs reads them, through the API's own (cheaper) parser."""
from datetime import datetime, timezone

from flask import Flask
from flask_smorest import Api
from marshmallow import Schema, fields, pre_load, validate

from mobile_api.blueprint import Blueprint


class Page(Schema):
    """Arguments of plain values whose load depends on the query string alone."""
    view = fields.String(load_default="all", validate=validate.OneOf(["all", "unread"]))
    limit = fields.Integer(load_default=25, validate=validate.Range(1, 100))


class Args(Page):
    tag = fields.List(fields.String())


class Since(Schema):
    """Arguments whose load depends on more than the query string."""
    since = fields.String(load_default=lambda: datetime.now(timezone.utc).isoformat())


class Trimmed(Schema):
    view = fields.String(load_default="all")

    @pre_load
    def trim(self, data, **kwargs):
        return {k: v.strip() for k, v in data.items()}


def client():
    app = Flask(__name__)
    app.config.update(API_TITLE="t", API_VERSION="1", OPENAPI_VERSION="3.0.3")
    blp = Blueprint("q", __name__)

    def echo(args):
        answer = {key: list(value) if isinstance(value, list) else value for key, value in args.items()}
        for key, value in args.items():  # what the view does to its arguments must not reach the next request's
            if isinstance(value, list):
                value.append("changed by the view")
            else:
                args[key] = "changed by the view"
        return answer

    for path, schema in (("/q", Args()), ("/page", Page()), ("/since", Since()), ("/trimmed", Trimmed())):
        blp.route(path, endpoint=path)(blp.arguments(schema, location="query")(echo))

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
    assert c.get("/q?tag=a").json["tag"] == ["a"]  # sent again: the list as the query gives it


def test_bad_query_arguments_are_refused_with_what_is_wrong():
    c = client()
    for query, field in (("limit=0", "limit"), ("limit=x", "limit"), ("view=old", "view")):
        answer = c.get(f"/q?{query}")
        assert answer.status_code == 422, query
        assert field in answer.json["errors"]["query"], query


def test_a_query_string_sent_again_gets_the_same_arguments_and_its_own_copy():
    c = client()
    for _ in range(3):  # the same string again: the same arguments, whatever a view did with the last ones
        assert c.get("/page?view=unread&limit=5").json == {"view": "unread", "limit": 5}
        assert c.get("/page").json == {"view": "all", "limit": 25}
        assert c.get("/page?limit=0").status_code == 422  # refused every time


def test_arguments_that_depend_on_more_than_the_query_string_are_loaded_every_time():
    c = client()
    first = c.get("/since").json["since"]
    assert c.get("/since").json["since"] != first  # a default computed at load time, computed again
    assert c.get("/trimmed?view=%20unread").json == {"view": "unread"}  # a schema with hooks still runs them
