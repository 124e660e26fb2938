"""Long-term evidence of a document with 10 signatures: its size, and what its verify.sh costs against the bare
`openssl cms -verify` commands for the same signatures.

Everything goes through the real domain code on a throwaway SQLite database (the approvers of
benchmarks/approval_evidence.py enrol simulated tablets, sign and approve; a few then revoke their keys, so
the evidence carries two CRLs and verify.sh notes the later revocations). The zip is unpacked once; each round
runs `sh verify.sh` (time-stamp checks when present, CRL store, `-crl_check`, verdicts) and, as its baseline in
the same round, the bare commands of HOW-TO-VERIFY.txt one after another (certificates at the signing time, no
revocation check). The figure is the median of the rounds' ratios.

Run from the repository root: ``python -m benchmarks.evidence [--signatures 10] [--rounds 15]``.
"""

from __future__ import annotations

import argparse
import io
import shlex
import shutil
import subprocess
import tempfile
import zipfile
from collections import Counter
from pathlib import Path

from flask_migrate import upgrade

from benchmarks.approval_evidence import make_document
from domain import signatures
from mobile_api import create_app
from models import db
from models.signing import SigningKey
from tests.support.timing import paired, timed


def sizes(zipped: bytes) -> Counter:
    """Uncompressed bytes per top folder of the zip (and the zip itself, compressed)."""
    parts: Counter = Counter()
    with zipfile.ZipFile(io.BytesIO(zipped)) as archive:
        for info in archive.infolist():
            parts[info.filename.split("/")[0] if "/" in info.filename else info.filename] += info.file_size
    return parts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--signatures", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--revoked", type=int, default=3, help="approvers who revoke their key after signing")
    args = parser.parse_args()
    openssl = shutil.which("openssl")
    if openssl is None:
        raise SystemExit("openssl is not on PATH")
    with tempfile.TemporaryDirectory() as data:
        app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{data}/bench.db", "DATA_DIR": data,
                          "PUBLIC_URL": "https://docs.example.gov"})
        with app.app_context():
            print("migrating a throwaway SQLite database ...")
            upgrade(revision="heads")
            print(f"{args.signatures} approvers enrol, sign and approve ...")
            doc = make_document(args.signatures)
            for key in db.session.scalars(db.select(SigningKey).order_by(SigningKey.id).limit(args.revoked)):
                signatures.revoke(key.user, key)
            db.session.commit()
            zipped = signatures.evidence(doc)
            db.engine.dispose()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        with zipfile.ZipFile(io.BytesIO(zipped)) as archive:
            archive.extractall(root)
        text = (root / "HOW-TO-VERIFY.txt").read_text(encoding="utf-8")
        commands = [[openssl, *shlex.split(line)[1:], "-out", "/dev/null"] for line in text.splitlines()
                    if line.startswith("openssl cms -verify")]

        def script() -> float:
            def run() -> None:
                done = subprocess.run(["sh", "verify.sh"], cwd=root, capture_output=True, timeout=120)
                if done.returncode != 0:
                    raise SystemExit(f"verify.sh failed:\n{done.stdout.decode()}")
            return timed(run)

        def bare() -> float:
            def run() -> None:
                for command in commands:
                    done = subprocess.run(command, cwd=root, capture_output=True, timeout=60)
                    if done.returncode != 0:
                        raise SystemExit(f"openssl refused {command}: {done.stderr.decode(errors='replace')}")
            return timed(run)

        verdicts = subprocess.run(["sh", "verify.sh"], cwd=root, capture_output=True, text=True).stdout
        print(f"timing {args.rounds} rounds of verify.sh and of the bare commands ...")
        result = paired(script, bare, args.rounds)
    version = subprocess.run([openssl, "version"], capture_output=True, text=True).stdout.strip()
    parts = sizes(zipped)
    print(verdicts.strip().splitlines()[-1])
    print(f"evidence zip, {len(commands)} signatures: {len(zipped)} bytes compressed; uncompressed by part: "
          + ", ".join(f"{name} {size}" for name, size in sorted(parts.items())))
    print(f"verify.sh (CRL check, verdicts)        : {result.median('subject') * 1000:8.1f} ms (median of "
          f"{args.rounds} rounds)")
    print(f"bare openssl cms -verify x{len(commands)}          : {result.median('baseline') * 1000:8.1f} ms")
    print(f"ratio verify.sh / bare (median of paired): {result.ratio():8.2f}x   ({version})")


if __name__ == "__main__":
    main()
