"""The API's blueprints: flask-smorest's, with query strings read more cheaply than webargs reads them.

webargs wraps a query string in a proxy built per request, which walks the schema's fields to learn
which take a list, and whose lookups of each absent argument raise and catch werkzeug's
`BadRequestKeyError` inside. Phones send most of their requests to a few polled lists with two or
three optional arguments, and that wrapping was 2.5% of a polled page's instructions.
"""
import weakref

from flask_smorest import Blueprint as _Blueprint
from webargs.flaskparser import FlaskParser
from webargs.multidictproxy import MultiDictProxy


class QueryParser(FlaskParser):
    """webargs' Flask parser, giving the schema a query string as a plain dict: each argument's value,
    or all of its values for a field that takes a list (which fields those are is found once per
    schema, as webargs finds them)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._lists = weakref.WeakKeyDictionary()

    def load_querystring(self, req, schema):
        args = req.args
        lists = self._list_fields(schema)
        return {key: args.getlist(key) if key in lists else value for key, value in args.items()}

    def _list_fields(self, schema) -> frozenset:
        lists = self._lists.get(schema)
        if lists is None:
            lists = self._lists[schema] = frozenset(MultiDictProxy({}, schema).multiple_keys)
        return lists


class Blueprint(_Blueprint):
    ARGUMENTS_PARSER = QueryParser()
