"""JSON answers encoded by orjson: the polled lists spent more on encoding than on their statements.

Same output as Flask's own provider (compact, UTF-8 rather than \\u escapes, keys in the order
given, Flask's `default` for dates, decimals and the rest); only the encoder is faster, and an
answer's body is orjson's bytes as they come. Anything
orjson refuses (an integer beyond 64 bits, say) is encoded by Flask's provider, as before.
Pretty-printed or key-sorted output is left to Flask's provider too.
"""
import orjson
from flask.json.provider import DefaultJSONProvider

# Dates and dataclasses go through Flask's `default`, as they always have: orjson would write them its own way.
_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_NON_STR_KEYS


class OrjsonProvider(DefaultJSONProvider):
    ensure_ascii = False
    sort_keys = False

    def dumps(self, obj, **kwargs) -> str:
        if kwargs.get("indent") is not None or kwargs.get("sort_keys", self.sort_keys) or kwargs.get(
                "ensure_ascii", self.ensure_ascii):
            return super().dumps(obj, **kwargs)
        try:
            return orjson.dumps(obj, default=kwargs.get("default", self.default), option=_OPTIONS).decode()
        except orjson.JSONEncodeError:
            return super().dumps(obj, **{"separators": (",", ":"), **kwargs})  # compact, as orjson writes

    def response(self, *args, **kwargs):
        """As Flask's, but the body is orjson's bytes as they are: Flask's would decode them to text and
        encode the text again."""
        if (self.compact is None and self._app.debug) or self.compact is False:
            return super().response(*args, **kwargs)  # indented
        obj = self._prepare_response_obj(args, kwargs)
        try:
            body = orjson.dumps(obj, default=self.default, option=_OPTIONS | orjson.OPT_APPEND_NEWLINE)
        except orjson.JSONEncodeError:
            return super().response(*args, **kwargs)
        return self._app.response_class(body, mimetype=self.mimetype)
