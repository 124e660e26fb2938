"""Signature verifications per second: our `signing.cms.verify` against `openssl cms -verify`, same 20 signatures.

Run from the repository root: ``python -m benchmarks.signing_verify [--key p256|gost256|gost512]
[--signatures 20] [--rounds 20]``. GOST keys are made and used by OpenSSL's GOST engine (libengine-gost-openssl).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from tqdm import tqdm

from signing import cms
from signing.ca import create_ca
from signing.canonical import decision_bytes
from signing.csr import issue_certificate, load_csr
from tests.support.gost_tablet import GostTablet, gost_engine
from tests.support.tablet import Tablet


def make_signatures(count: int, key: str = "p256") -> tuple[x509.Certificate, list[tuple[bytes, bytes]]]:
    """A CA and `count` (content, p7s) pairs from as many simulated tablets with `key` keys."""
    ca = create_ca("Benchmark Agency")
    now = datetime.now(timezone.utc)
    signed = []
    for index in tqdm(range(count), desc="signing", unit="sig"):
        tablet = Tablet() if key == "p256" else GostTablet(int(key[4:]))
        cert = issue_certificate(ca, load_csr(tablet.csr_pem()), user_id=f"u-{index}",
                                 user_name=f"Пользователь {index}")
        content = decision_bytes(
            document_id=f"doc-{index}", version_hash=f"{index:064x}", decision="approve",
            comment="Согласовано", signer=f"u-{index}", signed_at=now,
        )
        data_to_sign = cms.signed_attributes(content, cert, now)
        signature = tablet.sign(cms.to_be_signed(data_to_sign, cert))
        signed.append((content, cms.assemble(data_to_sign, signature, cert, [ca.certificate])))
    return ca.certificate, signed


def bench_ours(ca: x509.Certificate, signed: list[tuple[bytes, bytes]], rounds: int) -> float:
    """Verifications per second of signing.cms.verify, in process."""
    started = time.perf_counter()
    for _ in tqdm(range(rounds), desc="ours", unit="round"):
        for content, p7s in signed:
            result = cms.verify(p7s, content, [ca], {})
            if not result.valid:
                raise SystemExit(f"our verify refused a good signature: {result.reason} ({result.detail})")
    elapsed = time.perf_counter() - started
    return rounds * len(signed) / elapsed


def bench_openssl(openssl: str, ca: x509.Certificate, signed: list[tuple[bytes, bytes]], engine: list[str]) -> float:
    """Verifications per second of one `openssl cms -verify` process per signature file."""
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
        for index, (content, p7s) in enumerate(signed):
            (root / f"{index}.json").write_bytes(content)
            (root / f"{index}.p7s").write_bytes(p7s)
        started = time.perf_counter()
        for index in tqdm(range(len(signed)), desc="openssl", unit="file"):
            command = [
                openssl, "cms", "-verify", *engine, "-inform", "DER", "-binary", "-in", f"{index}.p7s",
                "-content", f"{index}.json", "-CAfile", "ca.pem", "-purpose", "any", "-out", f"{index}.out",
            ]
            done = subprocess.run(command, cwd=root, capture_output=True, timeout=60)
            if done.returncode != 0:
                raise SystemExit(f"openssl refused signature {index}: {done.stderr.decode(errors='replace')}")
        elapsed = time.perf_counter() - started
    return len(signed) / elapsed


def main() -> None:
    """Make the signatures, time both verifiers on them, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--key", choices=["p256", "gost256", "gost512"], default="p256")
    parser.add_argument("--signatures", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=20, help="passes of our verify over the signatures")
    args = parser.parse_args()
    openssl = shutil.which("openssl")
    if openssl is None:
        raise SystemExit("openssl is not on PATH")

    engine = [] if args.key == "p256" else ["-engine", "gost"]
    if engine:
        gost_engine()
    print(f"making {args.signatures} {args.key} signatures from simulated tablets ...")
    ca, signed = make_signatures(args.signatures, args.key)
    print(f"verifying with signing.cms.verify ({args.rounds} rounds) ...")
    ours = bench_ours(ca, signed, args.rounds)
    print("verifying with openssl cms -verify (one process per file) ...")
    theirs = bench_openssl(openssl, ca, signed, engine)
    version = subprocess.run([openssl, "version"], capture_output=True, text=True).stdout.strip()
    print(f"signing.cms.verify : {ours:8.1f} verifications/s")
    print(f"openssl cms -verify: {theirs:8.1f} verifications/s  ({version}, process start included)")
    print(f"ratio              : {ours / theirs:8.1f}x")


if __name__ == "__main__":
    main()
