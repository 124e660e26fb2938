"""Evidence of a document with 20 signatures: time to build the zip against `openssl cms -verify` over its files.

Everything goes through the real domain code on a throwaway SQLite database: 20 approvers enrol simulated
tablets, sign their decisions in signing sessions and approve; then the evidence zip is built and unpacked,
and stock OpenSSL verifies every signature in it with the commands from HOW-TO-VERIFY.txt.

Run from the repository root: ``python -m benchmarks.approval_evidence [--signatures 20] [--rounds 20]``.
"""

from __future__ import annotations

import argparse
import io
import shlex
import shutil
import subprocess
import tempfile
import time
import zipfile
from pathlib import Path

from flask_migrate import upgrade
from tqdm import tqdm
from werkzeug.datastructures import FileStorage

from domain import approvals, documents, signatures
from mobile_api import create_app
from models import Document, Organization, Unit, User, db
from tests.support.tablet import Tablet


def make_document(count: int) -> Document:
    """An organization, a document and `count` approvers who each sign and approve it."""
    org = Organization(name="Министерство тестирования", short_name="Минтест", code="МТ")
    db.session.add(org)
    db.session.flush()
    signatures.init_ca(org)
    unit = Unit(organization_id=org.id, name="Аппарат", short_name="Аппарат")
    db.session.add(unit)
    db.session.flush()
    people = [User(organization_id=org.id, username=f"user{i}", password_hash="-", name=f"Согласующий {i}",
                   short_name=f"Согл. {i}", role_list="clerk" if i == 0 else "executive", units=[unit])
              for i in range(count + 1)]
    db.session.add_all(people)
    db.session.flush()
    clerk, approvers = people[0], people[1:]
    upload = FileStorage(io.BytesIO("Проект постановления".encode()), filename="Проект.txt", content_type="text/plain")
    meta = {"title": "О проекте постановления", "summary": "", "correspondent": "Аппарат", "addressees": [unit.id],
            "for_information": [], "urgent": False}
    doc = documents.register(clerk, meta, [upload])
    approval = approvals.put_route(clerk, doc, [{"mode": "parallel", "approvers": [u.id for u in approvers]}])
    for user in tqdm(approvers, desc="tablets sign", unit="sig"):
        tablet = Tablet()
        key = signatures.enrol(user, tablet.csr_pem())
        session = approvals.open_session(user, approval.id, key.id, "approve", None)
        signatures.sign(user, session.id, tablet.sign(session.data_to_sign))
        approvals.decide(user, approval.id, "approve", None, session.id)
    db.session.commit()
    return doc


def bench_build(doc: Document, rounds: int) -> tuple[float, bytes]:
    """Seconds per evidence zip, built from the database as the route does."""
    zipped = b""
    started = time.perf_counter()
    for _ in tqdm(range(rounds), desc="build evidence", unit="zip"):
        zipped = signatures.evidence(doc)
    return (time.perf_counter() - started) / rounds, zipped


def bench_openssl(openssl: str, zipped: bytes) -> tuple[float, int]:
    """Seconds for stock OpenSSL to verify every signature of the unpacked zip, and how many it verified."""
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        with zipfile.ZipFile(io.BytesIO(zipped)) as archive:
            archive.extractall(root)
        text = (root / "HOW-TO-VERIFY.txt").read_text(encoding="utf-8")
        commands = [shlex.split(line) for line in text.splitlines() if line.startswith("openssl cms -verify")]
        started = time.perf_counter()
        for command in tqdm(commands, desc="openssl verify", unit="sig"):
            done = subprocess.run([openssl, *command[1:], "-out", "/dev/null"], cwd=root, capture_output=True,
                                  timeout=60)
            if done.returncode != 0:
                raise SystemExit(f"openssl refused {command}: {done.stderr.decode(errors='replace')}")
        return time.perf_counter() - started, len(commands)


def main() -> None:
    """Make the document, time both sides, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--signatures", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=20, help="evidence zips to build for the average")
    args = parser.parse_args()
    openssl = shutil.which("openssl")
    if openssl is None:
        raise SystemExit("openssl is not on PATH")
    with tempfile.TemporaryDirectory() as data:
        app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{data}/bench.db", "DATA_DIR": data})
        with app.app_context():
            print("migrating a throwaway SQLite database ...")
            upgrade(revision="heads")
            print(f"{args.signatures} approvers enrol, sign and approve ...")
            doc = make_document(args.signatures)
            print(f"building the evidence zip ({args.rounds} rounds) ...")
            per_zip, zipped = bench_build(doc, args.rounds)
            print("verifying every signature in it with openssl cms -verify ...")
            verify_s, verified = bench_openssl(openssl, zipped)
            db.engine.dispose()
    version = subprocess.run([openssl, "version"], capture_output=True, text=True).stdout.strip()
    print(f"evidence zip ({verified} signatures, {len(zipped) / 1024:.1f} KiB): {per_zip * 1000:8.1f} ms to build")
    print(f"openssl cms -verify over the same files  : {verify_s * 1000:8.1f} ms "
          f"({verify_s / verified * 1000:.1f} ms per signature; {version}, process start included)")
    print(f"ratio (openssl / build)                  : {verify_s / per_zip:8.1f}x")


if __name__ == "__main__":
    main()
