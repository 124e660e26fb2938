"""Long-term evidence checked offline by its own verify.sh (plain OpenSSL, no network): a certificate revoked
after the signature's time keeps the signature valid, one revoked before does not, and the server's verdict
(judged from the same CRL) agrees. P-256 and GOST R 34.10-2012, each under a CA of its own kind."""

import io
import subprocess
import zipfile
from datetime import timedelta

import pytest
from asn1crypto import cms as asn1_cms

from signing import cms, revocation
from signing.ca import create_ca
from signing.csr import issue_certificate, load_csr
from signing.evidence import SignedItem, build_evidence, time_stamp_time
from tests.fakes.tsa_server import FakeTsa, TsaPki
from tests.signing.signer import NOW
from tests.support.gost_tablet import GostTablet, gost_engine
from tests.support.tablet import Tablet

# The signatures' time; the certificates were issued before it, the revocations happened around it.
SIGNED = NOW - timedelta(days=1)
KINDS = {"p256": ("p256", Tablet), "gost": ("gost2012-256", lambda: GostTablet(256, "A"))}


@pytest.fixture(scope="module", autouse=True)
def engine():
    gost_engine()


def _scenario(kind: str, with_revoked_before: bool = True):
    """Three signers at SIGNED: never revoked, revoked an hour after, revoked an hour before (signing anyway,
    as a stolen key would, with the claimed time). Returns the zip, the current CRL and the items."""
    algorithm, tablet_kind = KINDS[kind]
    ca = create_ca("Министерство цифрового развития", algorithm=algorithm, now=NOW - timedelta(days=30))
    content = '{"decision":"approve","document_id":"doc-1"}'.encode()
    items = []
    serials = {}
    people = ["valid", "revoked-after"] + (["revoked-before"] if with_revoked_before else [])
    for name in people:
        tablet = tablet_kind()
        certificate = issue_certificate(ca, load_csr(tablet.csr_pem()), user_id=name, user_name=name,
                                        now=NOW - timedelta(days=2), crl_url="http://127.0.0.1:9/crl")
        attributes = cms.signed_attributes(content, certificate, SIGNED)
        p7s = cms.assemble(attributes, tablet.sign(cms.to_be_signed(attributes, certificate)), certificate,
                           [ca.certificate])
        items.append(SignedItem(name, content, p7s, name, certificate))
        serials[name] = certificate.serial_number
    before = [(serials["revoked-before"], SIGNED - timedelta(hours=1))] if with_revoked_before else []
    after = [(serials["revoked-after"], SIGNED + timedelta(hours=1))]
    # The CA's CRLs as kept: one issued at the revocation before signing (current at SIGNED), one issued at the
    # revocation after it (the newest, showing the state when exported).
    then = revocation.issue_crl(ca, before, number=1, this_update=SIGNED - timedelta(minutes=59))
    newest = revocation.issue_crl(ca, before + after, number=2, this_update=SIGNED + timedelta(hours=1))
    lists = {"ca-then.crl": then, "ca-newest.crl": newest}
    items = [SignedItem(i.name, i.content, i.p7s, i.signer, i.certificate, crl="ca-then.crl",
                        current_crl="ca-newest.crl") for i in items]
    return build_evidence("doc-1", items, [ca.certificate], crls=lists), ca, newest, items


def _run_verify_sh(tmp_path, zipped: bytes) -> subprocess.CompletedProcess:
    with zipfile.ZipFile(io.BytesIO(zipped)) as archive:
        archive.extractall(tmp_path)
    return subprocess.run(["sh", str(tmp_path / "verify.sh")], capture_output=True, timeout=60, text=True,
                          cwd="/")  # it finds its own folder


def _verdicts(output: str) -> dict[str, str]:
    return {line.split()[1].rstrip(":"): line.split()[0] for line in output.splitlines()
            if line.startswith(("VALID", "INVALID"))}


@pytest.mark.parametrize("kind", list(KINDS))
def test_verify_sh_keeps_a_signature_revoked_after_and_refuses_one_revoked_before(tmp_path, kind):
    zipped, ca, newest, items = _scenario(kind)

    done = _run_verify_sh(tmp_path, zipped)

    assert done.returncode == 1, done.stdout + done.stderr
    assert _verdicts(done.stdout) == {"valid": "VALID", "revoked-after": "VALID", "revoked-before": "INVALID"}
    assert "certificate revoked" in done.stdout  # OpenSSL's own reason, under the refused signature
    # Only the signature whose certificate was revoked after it is noted so, right under its verdict.
    lines = done.stdout.splitlines()
    noted = [lines[i - 1].split()[1] for i, line in enumerate(lines) if "was revoked later" in line]
    assert noted == ["revoked-after:"], done.stdout
    assert "2 of 3 signatures valid" in done.stdout
    # The server, judging from the same newest CRL at the same moment, says the same of each signature.
    revoked = revocation.load_crl(newest).revoked
    server = {item.name: cms.verify(item.p7s, item.content, [ca.certificate], revoked, at=SIGNED) for item in items}
    assert {name: "VALID" if result.valid else "INVALID" for name, result in server.items()} == _verdicts(done.stdout)
    assert server["revoked-before"].reason is cms.Reason.CERTIFICATE_REVOKED
    assert "after this signature was made" in server["revoked-after"].note


@pytest.mark.parametrize("kind", list(KINDS))
def test_verify_sh_passes_evidence_whose_signatures_all_hold_and_fails_a_changed_byte(tmp_path, kind):
    zipped, *_ = _scenario(kind, with_revoked_before=False)

    done = _run_verify_sh(tmp_path / "good", zipped)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 of 2 signatures valid" in done.stdout

    content = tmp_path / "good" / "content" / "valid.json"
    content.write_bytes(content.read_bytes().replace(b"approve", b"reject!"))
    done = subprocess.run(["sh", "verify.sh"], cwd=tmp_path / "good", capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and _verdicts(done.stdout)["valid"] == "INVALID", done.stdout


def test_a_crl_is_refused_unless_its_issuer_signed_it():
    ca, other = create_ca("Министерство", now=NOW), create_ca("Министерство", now=NOW)
    der = revocation.issue_crl(ca, [], number=1, this_update=NOW)
    assert revocation.signed_by(der, ca.certificate) and not revocation.signed_by(der, other.certificate)
    with pytest.raises(revocation.FetchError, match="not signed by"):
        revocation.fetch("http://crl.example/ca.crl", other.certificate, NOW, get=lambda url: der)
    assert revocation.fetch("http://crl.example/ca.crl", ca.certificate, NOW, get=lambda url: der).number == 1


def test_an_unreachable_or_stale_crl_gives_unknown_never_good():
    ca = create_ca("Министерство", now=NOW - timedelta(days=30))
    stale = revocation.load_crl(revocation.issue_crl(ca, [], number=1, this_update=NOW - timedelta(days=8)))
    missing = revocation.status(None, 5, NOW, NOW)
    old = revocation.status(stale, 5, NOW - timedelta(days=7, hours=12), NOW)
    assert (missing.state, old.state) == ("unknown", "unknown")
    assert "статус отзыва неизвестен" in old.ru and "revocation status unknown" in old.en
    # A CRL current now that lists the certificate revoked before the moment is conclusive even so.
    current = revocation.load_crl(revocation.issue_crl(ca, [(5, NOW - timedelta(days=2))], number=2,
                                                       this_update=NOW - timedelta(hours=1)))
    assert revocation.status(current, 5, NOW - timedelta(days=1), NOW).state == "revoked"
    assert revocation.status(current, 6, NOW - timedelta(days=1), NOW).state == "good"


def _stamp(pki: TsaPki, signature_value: bytes) -> bytes:
    """The test TSA's answer (`openssl ts -reply`, as tests/fakes/tsa_server.py serves it) for the value."""
    data = pki.folder / "data"
    data.write_bytes(signature_value)
    query = subprocess.run(["openssl", "ts", "-query", "-data", str(data), "-sha256", "-cert"],
                           check=True, capture_output=True).stdout
    return FakeTsa(pki).reply(query, pki.tsa, pki.folder / "ts-sha.cnf")


def test_with_time_stamps_verify_sh_checks_them_and_judges_revocation_at_the_time_stamp(tmp_path):
    ca = create_ca("Министерство цифрового развития", now=NOW - timedelta(days=30))
    (tmp_path / "tsa").mkdir()
    pki = TsaPki(tmp_path / "tsa")
    content = '{"decision":"approve","document_id":"doc-1"}'.encode()
    items, serials = [], {}
    for name in ("stamped", "backdated"):
        tablet = Tablet()
        certificate = issue_certificate(ca, load_csr(tablet.csr_pem()), user_id=name, user_name=name,
                                        now=NOW - timedelta(days=3))
        # "backdated" claims a signing time before its key's revocation; its time-stamp says otherwise.
        attributes = cms.signed_attributes(content, certificate, SIGNED)
        p7s = cms.assemble(attributes, tablet.sign(attributes), certificate, [ca.certificate])
        value = asn1_cms.ContentInfo.load(p7s)["content"]["signer_infos"][0]["signature"].native
        items.append(SignedItem(name, content, p7s, name, certificate, timestamp=_stamp(pki, value)))
        serials[name] = certificate.serial_number
    stamped_at = time_stamp_time(items[0].timestamp)
    revoked = [(serials["backdated"], stamped_at - timedelta(hours=1))]
    lists = {"ca.crl": revocation.issue_crl(ca, revoked, number=2, this_update=stamped_at - timedelta(minutes=59))}
    items = [SignedItem(i.name, i.content, i.p7s, i.signer, i.certificate, crl="ca.crl", current_crl="ca.crl",
                        timestamp=i.timestamp) for i in items]
    zipped = build_evidence("doc-1", items, [ca.certificate], crls=lists, tsa_certificates=[pki.ca])

    done = _run_verify_sh(tmp_path / "evidence", zipped)

    assert _verdicts(done.stdout) == {"stamped": "VALID", "backdated": "INVALID"}, done.stdout + done.stderr
    assert f"{stamped_at:%Y-%m-%dT%H:%M}" in done.stdout and "(time-stamp" in done.stdout
    assert "certificate revoked" in done.stdout
    # The server judges at the time-stamp's time too, and so agrees.
    server = [cms.verify(i.p7s, i.content, [ca.certificate], dict(revoked), at=stamped_at).valid for i in items]
    assert server == [True, False]

    # A time-stamp token that does not cover the signature fails the signature, whatever else holds: another
    # signature's token, or a .sig file swapped to match it.
    evidence = tmp_path / "evidence"
    (evidence / "timestamps" / "stamped.tsr").write_bytes((evidence / "timestamps" / "backdated.tsr").read_bytes())
    done = subprocess.run(["sh", "verify.sh"], cwd=evidence, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and _verdicts(done.stdout)["stamped"] == "INVALID", done.stdout
    assert "time-stamp token does not verify" in done.stdout
    (evidence / "signatures" / "stamped.sig").write_bytes((evidence / "signatures" / "backdated.sig").read_bytes())
    done = subprocess.run(["sh", "verify.sh"], cwd=evidence, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and _verdicts(done.stdout)["stamped"] == "INVALID", done.stdout
    assert "stamped.sig is not the signature value" in done.stdout
