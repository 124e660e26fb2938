"""The API's blueprints: flask-smorest's, with query strings read more cheaply than webargs reads them.

webargs wraps a query string in a proxy built per request, which walks the schema's fields to learn
which take a list, and whose lookups of each absent argument raise and catch werkzeug's
`BadRequestKeyError` inside. Phones send most of their requests to a few polled lists with two or
three optional arguments, and that wrapping was 2.5% of a polled page's instructions.

And a phone polls the same query string all day (most often none at all): the schema's load of it,
4% of a polled page's instructions, gives the same arguments every time, so its answer is kept.
"""
import weakref

import flask
from flask_smorest import Blueprint as _Blueprint
from marshmallow import Schema, fields
from webargs.core import _UNKNOWN_DEFAULT_PARAM
from webargs.flaskparser import FlaskParser
from webargs.multidictproxy import MultiDictProxy

# Distinct query strings whose arguments are kept, and the longest kept (a phone's are short).
KEPT_QUERIES, KEPT_QUERY_LENGTH = 4096, 512
# Fields whose value is a container other than the lists webargs reads (`_list_fields`).
_CONTAINERS = (fields.Dict, fields.Nested)


class QueryParser(FlaskParser):
    """webargs' Flask parser, giving the schema a query string as a plain dict: each argument's value,
    or all of its values for a field that takes a list (which fields those are is found once per
    schema, as webargs finds them). A query string's arguments are loaded once, for a schema whose
    load is a function of the query string alone (`_same_every_time`)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._lists = weakref.WeakKeyDictionary()
        self._pure = weakref.WeakKeyDictionary()
        self._parsed: dict[tuple, dict] = {}

    def load_querystring(self, req, schema):
        args = req.args
        lists = self._list_fields(schema)
        return {key: args.getlist(key) if key in lists else value for key, value in args.items()}

    def parse(self, argmap, req=None, *, location=None, unknown=_UNKNOWN_DEFAULT_PARAM, validate=None, **kwargs):
        if location != "query" or validate is not None or not self._same_every_time(argmap):
            return super().parse(argmap, req, location=location, unknown=unknown, validate=validate, **kwargs)
        query = (req if req is not None else flask.request).environ.get("QUERY_STRING", "")
        key = (argmap, unknown, query)
        parsed = self._parsed.get(key)
        if parsed is None:  # refused arguments raise here, and are never kept
            parsed = super().parse(argmap, req, location=location, unknown=unknown, **kwargs)
            if len(query) <= KEPT_QUERY_LENGTH:
                if len(self._parsed) >= KEPT_QUERIES:
                    self._parsed.clear()  # crude, and enough: polls come back to a few strings
                self._parsed[key] = parsed
        return dict(parsed)  # the view's own copy; the values are plain strings and numbers

    def _list_fields(self, schema) -> frozenset:
        lists = self._lists.get(schema)
        if lists is None:
            lists = self._lists[schema] = frozenset(MultiDictProxy({}, schema).multiple_keys)
        return lists

    def _same_every_time(self, argmap) -> bool:
        """A schema whose load depends on the query string alone and gives plain values: no hooks, no
        default computed at load time (a clock's, say), no field whose value is a container (a view
        could change it in the copy every later request gets)."""
        pure = self._pure.get(argmap) if isinstance(argmap, Schema) else False
        if pure is None:
            loaded = argmap.fields.values()
            pure = self._pure[argmap] = (not any(argmap._hooks.values())
                                         and not any(callable(f.load_default) for f in loaded)
                                         and not any(isinstance(f, _CONTAINERS) for f in loaded)
                                         and not self._list_fields(argmap))
        return pure


class Blueprint(_Blueprint):
    ARGUMENTS_PARSER = QueryParser()
