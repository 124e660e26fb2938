"""Signatures, per signature: our verifier against `openssl cms -verify`, and the signing round trip with and
without a time-stamp authority.

1. Verification. For P-256, GOST 256 and GOST 512, `--signatures` CAdES-T signatures (simulated tablets, a real
   TSA: `openssl ts -reply` on 127.0.0.1, tests/fakes/tsa_server.py). Each round verifies every file with
   `signing.cms.verify` in process (its time-stamp checked too) and with one `openssl cms -verify [-engine gost]`
   process per file; the figure is the median over rounds of the paired ratio openssl / ours (above 1: ours is
   faster). OpenSSL's figure includes its process start, which is how the evidence's reader runs it.
2. Round trip. A live gunicorn (1 worker) on a demo database; exec1's tablet opens a signing session for its
   decision, signs `data_to_sign` and posts the signature: three requests, one signature. The same client
   alternates, round by round, between a server without TSA_URL and one with it (the TSA on 127.0.0.1), and the
   figure is the median ratio with / without.

Run from the repository root: ``python -m benchmarks.signatures [--signatures 5] [--rounds 15] [--trips 10]``.
Needs openssl and OpenSSL's GOST engine (installed from Debian's archive when missing).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from signing import cms, timestamp
from signing.ca import create_ca
from signing.canonical import decision_bytes
from signing.csr import issue_certificate, load_csr
from tests.fakes.tsa_server import FakeTsa, TsaPki
from tests.support.gost_tablet import GostTablet, gost_engine
from tests.support.live import Gunicorn, demo_database
from tests.support.tablet import Tablet
from tests.support.timing import paired, timed

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "bench-pass"
KEYS = ("p256", "gost256", "gost512")


def make_signatures(count: int, key: str, tsa: FakeTsa, anchors) -> tuple[x509.Certificate, list]:
    """A CA of the key's kind and `count` time-stamped (content, p7s) pairs from as many tablets."""
    ca = create_ca("Benchmark Agency", algorithm="p256" if key == "p256" else f"gost2012-{key[4:]}")
    now = datetime.now(timezone.utc).replace(microsecond=0)
    signed = []
    for index in range(count):
        tablet = Tablet() if key == "p256" else GostTablet(int(key[4:]))
        cert = issue_certificate(ca, load_csr(tablet.csr_pem()), user_id=f"u-{index}",
                                 user_name=f"Пользователь {index}")
        content = decision_bytes(document_id=f"doc-{index}", version_hash=f"{index:064x}", decision="approve",
                                 comment="Согласовано", signer=f"u-{index}", signed_at=now)
        data_to_sign = cms.signed_attributes(content, cert, now)
        p7s = cms.assemble(data_to_sign, tablet.sign(cms.to_be_signed(data_to_sign, cert)), cert, [ca.certificate])
        token = timestamp.fetch(tsa.url, cms.signature_value(p7s), anchors, gost_signature=key != "p256", timeout=5)
        signed.append((content, cms.with_timestamp(p7s, token.der)))
    return ca.certificate, signed


def bench_verification(key: str, count: int, rounds: int, tsa: FakeTsa, anchors) -> dict:
    ca, signed = make_signatures(count, key, tsa, anchors)
    engine = [] if key == "p256" else ["-engine", "gost"]
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
        for index, (content, p7s) in enumerate(signed):
            (root / f"{index}.json").write_bytes(content)
            (root / f"{index}.p7s").write_bytes(p7s)

        def ours() -> float:
            started = time.perf_counter()
            for content, p7s in signed:
                result = cms.verify(p7s, content, [ca], {}, tsa_trusted=anchors)
                if not (result.valid and result.timestamped_at):
                    raise SystemExit(f"our verify refused a good signature: {result.reason} ({result.detail})")
            return (time.perf_counter() - started) / len(signed)

        def openssl() -> float:
            started = time.perf_counter()
            for index in range(len(signed)):
                done = subprocess.run(["openssl", "cms", "-verify", *engine, "-inform", "DER", "-binary", "-in",
                                       f"{index}.p7s", "-content", f"{index}.json", "-CAfile", "ca.pem", "-purpose",
                                       "any", "-out", os.devnull], cwd=root, capture_output=True, timeout=60)
                if done.returncode != 0:
                    raise SystemExit(f"openssl refused signature {index}: {done.stderr.decode(errors='replace')}")
            return (time.perf_counter() - started) / len(signed)

        result = paired(ours, openssl, rounds)
    return {"key": key, "ours_ms": 1000 * result.median("subject"), "openssl_ms": 1000 * result.median("baseline"),
            "openssl_over_ours": 1 / result.ratio()}


def call(base: str, method: str, path: str, token: str | None = None, body: dict | None = None) -> dict:
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    request = urllib.request.Request(base + path, data=None if body is None else json.dumps(body).encode(),
                                     method=method, headers=headers)
    with urllib.request.urlopen(request, timeout=60) as answer:
        text = answer.read()
    return json.loads(text) if text else {}


def prepare(base: str, key: str) -> tuple[str, str, Tablet | GostTablet, str]:
    """exec1 with an enrolled tablet, and an approval on a new document of clerk1 where exec1 is due."""
    def login(username: str) -> str:
        return call(base, "POST", "/api/v1/auth/login", body={"username": username, "password": PASSWORD})[
            "access_token"]

    clerk, exec1 = login("clerk1"), login("exec1")
    boundary = "benchmark-boundary"
    office = call(base, "GET", "/api/v1/directory/units", clerk)
    unit = next(u["id"] for u in office["items"] if u["short_name"] == "Аппарат")
    meta = json.dumps({"title": "О замере подписей", "correspondent": "ГКУ «ЦИТ»", "addressees": [unit]})
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"metadata\"\r\n\r\n{meta}\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n"
            f"Content-Type: text/plain\r\n\r\nПроект\r\n--{boundary}--\r\n").encode()
    request = urllib.request.Request(base + "/api/v1/documents", data=body, method="POST", headers={
        "Authorization": f"Bearer {clerk}", "Content-Type": f"multipart/form-data; boundary={boundary}"})
    with urllib.request.urlopen(request, timeout=60) as answer:
        document = json.loads(answer.read())["id"]
    exec1_id = call(base, "GET", "/api/v1/me", exec1)["id"]
    approval = call(base, "PUT", f"/api/v1/documents/{document}/approval-route", clerk,
                    {"stages": [{"mode": "sequential", "approvers": [exec1_id]}]})["id"]
    tablet = Tablet() if key == "p256" else GostTablet(int(key[4:]))
    key_id = call(base, "POST", "/api/v1/keys", exec1, {"csr": tablet.csr_pem()})["id"]
    return exec1, approval, tablet, key_id


def round_trip(base: str, token: str, approval: str, tablet, key_id: str, expect_token: bool) -> None:
    session = call(base, "POST", "/api/v1/signing-sessions", token, {
        "subject": {"type": "approval", "id": approval}, "key_id": key_id, "decision": "approve"})
    signature = base64.b64encode(tablet.sign(base64.b64decode(session["data_to_sign"]))).decode()
    signed = call(base, "POST", f"/api/v1/signing-sessions/{session['id']}/signature", token,
                  {"signature": signature})
    if (signed.get("timestamped_at") is not None) != expect_token:
        raise SystemExit(f"unexpected timestamped_at {signed.get('timestamped_at')!r}")


def bench_round_trip(key: str, rounds: int, trips: int, tsa: FakeTsa, pki: TsaPki, folder: Path) -> dict:
    url = f"sqlite:///{folder}/bench-{key}.db"
    data_dir = folder / f"data-{key}"
    demo_database(url, data_dir, PASSWORD, "s" * 40)
    settings = {"DATABASE_URL": url, "DATA_DIR": str(data_dir), "SECRET_KEY": "s" * 40, "DEMO_PASSWORD": PASSWORD,
                "MAX_REQUESTS": "0", "NO_PROXY": "127.0.0.1", "PYTHONPATH": str(ROOT)}
    with Gunicorn(settings, workers=1, threads=2) as plain, Gunicorn(
            {**settings, "TSA_URL": tsa.url, "TSA_CA_FILE": str(pki.ca_file)}, workers=1, threads=2) as stamped:
        plain_side, stamped_side = prepare(plain.url, key), prepare(stamped.url, key)

        def trip(server: Gunicorn, side, expect: bool):
            def run() -> float:
                started = time.perf_counter()
                for _ in range(trips):
                    round_trip(server.url, *side, expect_token=expect)
                return (time.perf_counter() - started) / trips
            return run

        for _ in range(2):  # warm both
            trip(plain, plain_side, False)()
            trip(stamped, stamped_side, True)()
        result = paired(trip(stamped, stamped_side, True), trip(plain, plain_side, False), rounds)
    return {"key": key, "without_ms": 1000 * result.median("baseline"), "with_ms": 1000 * result.median("subject"),
            "with_over_without": result.ratio()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--signatures", type=int, default=5, help="signatures per key")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--trips", type=int, default=10, help="round trips per side and round")
    parser.add_argument("--keys", default=",".join(KEYS))
    parser.add_argument("--skip-round-trip", action="store_true")
    args = parser.parse_args()
    if shutil.which("openssl") is None:
        raise SystemExit("openssl is not on PATH")
    gost_engine()
    os.environ["NO_PROXY"] = "127.0.0.1"
    keys = [k for k in args.keys.split(",") if k]
    pki = TsaPki()
    anchors = timestamp.load_tsa_anchors(pki.ca_file)
    with FakeTsa(pki) as tsa, tempfile.TemporaryDirectory() as folder:
        print(f"verification, per signature (CAdES-T; median of {args.rounds} rounds of {args.signatures} files)")
        for key in keys:
            row = bench_verification(key, args.signatures, args.rounds, tsa, anchors)
            print(f"  {key:8} ours {row['ours_ms']:7.2f} ms   openssl cms -verify {row['openssl_ms']:7.2f} ms   "
                  f"openssl/ours {row['openssl_over_ours']:5.2f}x")
        if args.skip_round_trip:
            return
        fetch = [timed(lambda: timestamp.fetch(tsa.url, os.urandom(64), anchors, gost_signature=False, timeout=5))
                 for _ in range(args.rounds)]
        print(f"the test TSA alone (request, openssl ts -reply, checks): {1000 * statistics.median(fetch):.1f} ms")
        print(f"signing-session round trip on gunicorn (open, sign on the tablet, post; median of {args.rounds} "
              f"rounds of {args.trips})")
        for key in ("p256", "gost256"):
            row = bench_round_trip(key, args.rounds, args.trips, tsa, pki, Path(folder))
            print(f"  {key:8} without TSA {row['without_ms']:7.1f} ms   with TSA {row['with_ms']:7.1f} ms   "
                  f"with/without {row['with_over_without']:5.2f}x")


if __name__ == "__main__":
    main()
