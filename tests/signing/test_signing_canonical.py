"""The canonical signed form: exact bytes, normalisation, and the document version hash."""

import hashlib
import unicodedata
from datetime import date, datetime, timedelta, timezone

import pytest

from signing.canonical import (
    canonical_json,
    decision_bytes,
    resolution_bytes,
    version_hash,
)

AT = datetime(2026, 11, 25, 9, 30, 0, tzinfo=timezone.utc)
HASH = "ab" * 32


def test_decision_bytes_are_exactly_the_documented_form():
    signed = decision_bytes(
        document_id="doc-1", version_hash=HASH, decision="approve", comment="Согласовано", signer="u-1", signed_at=AT
    )
    assert signed == (
        '{"comment":"Согласовано","decision":"approve","document_id":"doc-1",'
        '"signed_at":"2026-11-25T09:30:00Z","signer":"u-1","type":"decision","v":1,'
        f'"version_hash":"{HASH}"}}'
    ).encode("utf-8")


def test_resolution_bytes_are_exactly_the_documented_form():
    signed = resolution_bytes(
        resolution_id="r-1",
        document_id="doc-1",
        text='Подготовить "ответ"\nдо пятницы',
        executors=["u-3", "u-2"],
        deadline=date(2026, 12, 1),
        signer="u-1",
        signed_at=AT,
    )
    assert signed == (
        '{"deadline":"2026-12-01","document_id":"doc-1","executors":["u-3","u-2"],"resolution_id":"r-1",'
        '"signed_at":"2026-11-25T09:30:00Z","signer":"u-1","text":"Подготовить \\"ответ\\"\\nдо пятницы",'
        '"type":"resolution","v":1}'
    ).encode("utf-8")


def test_strings_are_nfc_so_both_spellings_sign_the_same_bytes():
    composed, decomposed = "Ёлка", unicodedata.normalize("NFD", "Ёлка")
    assert composed != decomposed
    assert canonical_json({"t": decomposed, decomposed: 1}) == canonical_json({"t": composed, composed: 1})


def test_times_become_utc_with_z_to_the_second():
    moscow = timezone(timedelta(hours=3))
    assert canonical_json(datetime(2026, 11, 25, 12, 30, 0, 999, tzinfo=moscow)) == b'"2026-11-25T09:30:00Z"'


@pytest.mark.parametrize("value", [1.5, datetime(2026, 1, 1), {1: "x"}, {"x": object()}, float("nan")])
def test_values_without_one_canonical_text_are_refused(value):
    with pytest.raises((TypeError, ValueError)):
        canonical_json(value)


def test_a_decision_is_approve_or_reject():
    with pytest.raises(ValueError):
        decision_bytes(document_id="d", version_hash=HASH, decision="maybe", comment=None, signer="u", signed_at=AT)


def test_version_hash_is_sha256_of_the_canonical_metadata_and_attachments():
    files = [hashlib.sha256(b"scan.pdf").hexdigest(), hashlib.sha256(b"annex.docx").hexdigest()]
    metadata = {"title": "О бюджете", "reg_number": "01-12/345"}
    expected = hashlib.sha256(
        canonical_json({"attachments": files, "metadata": metadata})
    ).hexdigest()
    assert version_hash(metadata, files) == expected
    assert version_hash(dict(reversed(metadata.items())), [f.upper() for f in files]) == expected


def test_version_hash_changes_with_attachment_order_and_metadata():
    a, b = "a" * 64, "b" * 64
    base = version_hash({"title": "x"}, [a, b])
    assert version_hash({"title": "x"}, [b, a]) != base
    assert version_hash({"title": "y"}, [a, b]) != base
    with pytest.raises(ValueError):
        version_hash({}, ["not-a-hash"])
