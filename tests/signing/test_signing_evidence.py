"""The evidence zip: its layout, and stock `openssl cms -verify` accepting every signature in it."""

import io
import shlex
import shutil
import subprocess
import zipfile
from datetime import date, timedelta

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from signing.canonical import decision_bytes, resolution_bytes, version_hash
from signing.evidence import SignedItem, build_evidence
from tests.signing.signer import NOW

OPENSSL = shutil.which("openssl")


@pytest.fixture
def needs_openssl():
    """These tests are the proof that standard tools accept our signatures: without openssl they fail."""
    assert OPENSSL is not None, "openssl is not on PATH; the evidence cannot be checked"


@pytest.fixture
def items(enrol):
    """Three signatures on one document by two people, one of them with an older certificate."""
    anna, boris = enrol("u-1001", "Анна Смирнова"), enrol("u-1002", "Борис Кузнецов", now=NOW - timedelta(days=100))
    version = version_hash({"title": "О бюджете на 2027 год"}, ["0f" * 32])
    decisions = [
        (f"approval-{signer.user_id}", signer, decision_bytes(
            document_id="doc-1", version_hash=version, decision=decision, comment=comment,
            signer=signer.user_id, signed_at=NOW - timedelta(days=days),
        ), NOW - timedelta(days=days))
        for signer, decision, comment, days in [(anna, "approve", None, 0), (boris, "reject", "Нет сметы", 30)]
    ]
    resolution = resolution_bytes(
        resolution_id="r-9", document_id="doc-1", text="Подготовить ответ", executors=["u-1001"],
        deadline=date(2026, 12, 1), signer="u-1002", signed_at=NOW,
    )
    decisions.append(("resolution-r-9", boris, resolution, NOW))
    return [
        SignedItem(name, content, signer.sign(content, at=at), signer.user_id, signer.certificate)
        for name, signer, content, at in decisions
    ]


def _unpack(tmp_path, zipped: bytes):
    with zipfile.ZipFile(io.BytesIO(zipped)) as archive:
        archive.extractall(tmp_path)
        return sorted(archive.namelist())


def _commands(tmp_path) -> list[list[str]]:
    text = (tmp_path / "HOW-TO-VERIFY.txt").read_text(encoding="utf-8")
    return [shlex.split(line) for line in text.splitlines() if line.startswith("openssl cms -verify")]


def test_the_zip_holds_the_exact_signed_bytes_signatures_and_certificates(tmp_path, ca, items):
    zipped = build_evidence("doc-1", items, [ca.certificate])
    names = _unpack(tmp_path, zipped)
    assert names == sorted(
        ["HOW-TO-VERIFY.txt", "verify.sh", "certs/ca.pem", "certs/u-1001.pem", "certs/u-1002.pem"]
        + [f"content/{item.name}.json" for item in items]
        + [f"signatures/{item.name}.p7s" for item in items]
    )
    for item in items:
        assert (tmp_path / "content" / f"{item.name}.json").read_bytes() == item.content
        assert (tmp_path / "signatures" / f"{item.name}.p7s").read_bytes() == item.p7s
    assert (tmp_path / "certs" / "ca.pem").read_bytes() == ca.certificate.public_bytes(Encoding.PEM)
    assert (tmp_path / "certs" / "u-1002.pem").read_bytes() == items[1].certificate.public_bytes(Encoding.PEM)
    how_to = (tmp_path / "HOW-TO-VERIFY.txt").read_text(encoding="utf-8")
    assert "Verify every signature" in how_to and "Проверьте каждую подпись" in how_to
    assert len(_commands(tmp_path)) == len(items)
    assert build_evidence("doc-1", items, [ca.certificate]) == zipped  # reproducible bytes


@pytest.mark.usefixtures("needs_openssl")
def test_openssl_verifies_every_signature_with_the_documented_commands(tmp_path, ca, items):
    _unpack(tmp_path, build_evidence("doc-1", items, [ca.certificate]))
    commands = _commands(tmp_path)
    assert len(commands) == 3
    for command in commands:
        done = subprocess.run(command, cwd=tmp_path, capture_output=True, timeout=30)
        assert done.returncode == 0, done.stderr.decode()
        assert b"Verification successful" in done.stderr


@pytest.mark.usefixtures("needs_openssl")
def test_openssl_refuses_tampered_content(tmp_path, ca, items):
    _unpack(tmp_path, build_evidence("doc-1", items, [ca.certificate]))
    content = tmp_path / "content" / f"{items[0].name}.json"
    content.write_bytes(content.read_bytes().replace(b"approve", b"APPROVE"))
    done = subprocess.run(_commands(tmp_path)[0], cwd=tmp_path, capture_output=True, timeout=30)
    assert done.returncode != 0


@pytest.mark.usefixtures("needs_openssl")
def test_openssl_refuses_a_signer_from_another_ca(tmp_path, ca, other_ca, enrol):
    stranger = enrol("u-666", "Чужой", by=other_ca)
    content = b'{"x":1}'
    item = SignedItem("approval-x", content, stranger.sign(content), stranger.user_id, stranger.certificate)
    _unpack(tmp_path, build_evidence("doc-1", [item], [ca.certificate]))
    done = subprocess.run(_commands(tmp_path)[0], cwd=tmp_path, capture_output=True, timeout=30)
    assert done.returncode != 0


@pytest.mark.parametrize("name", ["../evil", "a/b", "", "-rf", "a b", "x;rm"])
def test_unsafe_names_are_refused(ca, items, name):
    bad = SignedItem(name, b"{}", items[0].p7s, "u-1", items[0].certificate)
    with pytest.raises(ValueError):
        build_evidence("doc-1", [bad], [ca.certificate])
    with pytest.raises(ValueError):
        build_evidence("doc-1", [SignedItem("ok", b"{}", items[0].p7s, name, items[0].certificate)], [ca.certificate])
