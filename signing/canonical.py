"""The canonical bytes that a signer signs.

Form (version 1), chosen so anyone can rebuild the bytes from the record with any JSON library:

* one JSON object, UTF-8, no BOM, no insignificant whitespace (separators ``,`` and ``:``);
* object keys sorted by Unicode code point, at every level;
* every string (keys too) normalised to Unicode NFC; non-ASCII characters are written as
  themselves, not as ``\\u`` escapes; ``"``, ``\\`` and control characters are escaped as
  JSON requires (``\\n``, ``\\u001f``, ...);
* numbers are integers only (no floats, whose text form varies between libraries);
  ``true``, ``false`` and ``null`` as in JSON;
* times are RFC 3339 in UTC, to the second, with ``Z``: ``2026-11-25T09:30:00Z``
  (fractions of a second are dropped); dates are ``YYYY-MM-DD``;
* lists keep their order (the order of executors and attachments is meaningful);
* every object carries ``"type"`` (``"decision"`` or ``"resolution"``) and ``"v": 1``, so the
  bytes of one kind can never be passed off as the other.

A decision::

    {"comment":"...","decision":"approve","document_id":"...","signed_at":"2026-11-25T09:30:00Z",
     "signer":"<user id>","type":"decision","v":1,"version_hash":"<64 hex>"}

A resolution issue::

    {"deadline":"2026-12-01"|null,"document_id":"...","executors":["<user id>",...],
     "resolution_id":"...","signed_at":"...","signer":"<user id>","text":"...","type":"resolution","v":1}

``version_hash`` is the hex SHA-256 of ``{"attachments":[<hex sha256>,...],"metadata":{...}}`` in
this same form, attachments' hashes in lower case and in the document's order.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timezone
from typing import Literal

FORM_VERSION = 1
_SHA256_HEX = re.compile(r"[0-9a-fA-F]{64}")

Decision = Literal["approve", "reject"]


def rfc3339(moment: datetime) -> str:
    """A timezone-aware time as RFC 3339 UTC to the second with 'Z'."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("a naive datetime is ambiguous; give it a timezone")
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _normalise(value: object) -> object:
    """The value with strings in NFC, times as text, and anything non-canonical refused."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, str):
        return unicodedata.normalize("NFC", value)
    if isinstance(value, datetime):  # before date: a datetime is a date too
        return rfc3339(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        items = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"object keys must be strings, not {type(key).__name__}")
            name = unicodedata.normalize("NFC", key)
            if name in items:
                raise ValueError(f"two keys become {name!r} once normalised")
            items[name] = _normalise(item)
        return items
    if isinstance(value, list | tuple):
        return [_normalise(item) for item in value]
    raise TypeError(f"{type(value).__name__} has no canonical form (floats are refused on purpose)")


def canonical_json(value: object) -> bytes:
    """The canonical UTF-8 JSON bytes of a value (see the module docstring)."""
    return json.dumps(
        _normalise(value), ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False
    ).encode("utf-8")


def version_hash(metadata: Mapping[str, object], attachment_sha256s: Sequence[str]) -> str:
    """Hex SHA-256 naming one version of a document: its metadata and its attachments in order."""
    for digest in attachment_sha256s:
        if not _SHA256_HEX.fullmatch(digest):
            raise ValueError(f"not a hex SHA-256: {digest!r}")
    form = {"attachments": [digest.lower() for digest in attachment_sha256s], "metadata": dict(metadata)}
    return hashlib.sha256(canonical_json(form)).hexdigest()


def decision_bytes(
    *,
    document_id: str,
    version_hash: str,
    decision: Decision,
    comment: str | None,
    signer: str,
    signed_at: datetime,
    acting_for: str | None = None,
) -> bytes:
    """The bytes signed for an approval decision on one version of a document. A deputy's decision in
    a principal's name carries ``"acting_for": "<principal's user id>"`` (absent otherwise)."""
    if decision not in ("approve", "reject"):
        raise ValueError(f"decision must be 'approve' or 'reject', not {decision!r}")
    if not _SHA256_HEX.fullmatch(version_hash):
        raise ValueError(f"not a hex SHA-256 version hash: {version_hash!r}")
    return canonical_json(
        {
            "type": "decision",
            "v": FORM_VERSION,
            "document_id": document_id,
            "version_hash": version_hash.lower(),
            "decision": decision,
            "comment": comment,
            "signer": signer,
            "signed_at": signed_at,
            **({"acting_for": acting_for} if acting_for is not None else {}),
        }
    )


def resolution_bytes(
    *,
    resolution_id: str,
    document_id: str,
    text: str,
    executors: Sequence[str],
    deadline: date | datetime | None,
    signer: str,
    signed_at: datetime,
    acting_for: str | None = None,
) -> bytes:
    """The bytes signed when a resolution is issued (by a deputy: with ``"acting_for"``, as a decision)."""
    return canonical_json(
        {
            "type": "resolution",
            "v": FORM_VERSION,
            "resolution_id": resolution_id,
            "document_id": document_id,
            "text": text,
            "executors": list(executors),
            "deadline": deadline,
            "signer": signer,
            "signed_at": signed_at,
            **({"acting_for": acting_for} if acting_for is not None else {}),
        }
    )
