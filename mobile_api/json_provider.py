"""JSON answers encoded by orjson: the polled lists spent more on encoding than on their statements.

Same output as Flask's own provider (compact, UTF-8 rather than \\u escapes, keys in the order
given, Flask's `default` for dates, decimals and the rest); only the encoder is faster. Anything
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
