"""A schema's dump, compiled for plain rows: for the phones' polled lists, marshmallow's per-field
bookkeeping costs more than the database query. The plan is read off the schema itself (keys,
attributes and each field's kind), so the schema stays the single description of the view."""
from typing import Callable, Sequence

from marshmallow import Schema, fields

from models.raw import utc_text

from .fields import Id, UtcTime

# How a field's value is written, as an expression of the column's value `{v}`: the dump is generated
# as one dict display (below), so that a line costs no Python call for the fields that need none.
_SAME = "{v}"


def _converter(field: fields.Field) -> Callable | str:
    if isinstance(field, fields.List) and isinstance(field.inner, fields.Nested):
        # A list of nested objects: the column holds their rows, in the nested schema's field order.
        nested = field.inner.schema
        dump = compile_rows(nested, [f.attribute or name for name, f in nested.dump_fields.items()])
        return lambda rows: [dump(row) for row in rows]
    if isinstance(field, fields.Function):
        return _SAME  # the statement computes what the function would
    if isinstance(field, fields.Date):
        return lambda v: v if v is None or isinstance(v, str) else v.isoformat()  # SQLite gives the text
    if isinstance(field, Id):
        return "(None if {v} is None else str({v}))"
    if isinstance(field, UtcTime):
        return utc_text
    if isinstance(field, fields.Boolean):
        return "(None if {v} is None else bool({v}))"  # SQLite gives 0 and 1
    if type(field) in (fields.String, fields.Integer):
        return _SAME
    raise ValueError(f"{type(field).__name__}: not a field plain rows can fill")


def compile_rows(schema: Schema, columns: Sequence[str], prefix: str = "") -> Callable[[tuple], dict]:
    """A function from a row of plain values, named by `columns`, to what `schema.dump` gives for the
    object the row describes. A field's attribute names its column with dots as underscores
    (`document.reg_number` is `document_reg_number`); a Nested field's fields are prefixed likewise
    (and a Nested field that allows none is null when its first column is). A field whose metadata says
    `omit_null` is left out where null."""
    index = {name: i for i, name in enumerate(columns)}
    entries, functions = [], {}
    for name, field in schema.dump_fields.items():
        column = prefix + (field.attribute or name).replace(".", "_")
        if isinstance(field, fields.Nested):
            value, convert = "row", compile_rows(field.schema, columns, column + "_")
            if field.allow_none:  # null when its first column is
                first = column + "_" + next(iter(field.schema.dump_fields))
                nested = convert
                convert = lambda row, first=index[first], nested=nested: (  # noqa: E731
                    None if row[first] is None else nested(row))
        else:
            value, convert = f"row[{index[column]}]", _converter(field)
        if callable(convert):
            functions[f"f{len(functions)}"] = convert
            convert = f"f{len(functions) - 1}({{v}})"
        entries.append(f"{field.data_key or name!r}: {convert.format(v=value)}")
    # Generated from the schema's own keys and our own expressions, never from input.
    dump = eval(f"lambda row: {{{', '.join(entries)}}}", functions)  # noqa: S307
    omitted = _omitted(schema)
    if not omitted:
        return dump

    def dump_omitting(row: tuple) -> dict:
        data = dump(row)
        for key in omitted:
            if data[key] is None:
                del data[key]
        return data

    return dump_omitting


def _omitted(schema: Schema) -> list[str]:
    """The keys of the fields marked `omit_null`: left out of a dump where null."""
    return [field.data_key or name for name, field in schema.dump_fields.items() if field.metadata.get("omit_null")]


def omit_nulls(schema: Schema, data: dict) -> dict:
    """What marshmallow's dump gives, with the fields marked `omit_null` left out where null (a schema's
    post_dump, so that its dump and the compiled one agree)."""
    for key in _omitted(schema):
        if key in data and data[key] is None:
            del data[key]
    return data
