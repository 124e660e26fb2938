"""An organization CA with a GOST R 34.10-2012 key: stored encrypted, it certifies GOST and P-256 tablets, and
OpenSSL with the GOST engine accepts its certificates, the signatures under it and the evidence."""

import io
import shlex
import subprocess
import zipfile

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from signing import cms
from signing.ca import WrongPassphrase, create_ca, dump_certificate, dump_key, load_ca
from signing.csr import issue_certificate, load_csr
from signing.evidence import SignedItem, build_evidence
from tests.signing.signer import NOW
from tests.support.gost_tablet import GostTablet, gost_engine, openssl
from tests.support.tablet import Tablet

CONTENT = '{"decision":"approve","document_id":"doc-1"}'.encode()


@pytest.fixture(scope="module", autouse=True)
def engine():
    gost_engine()


@pytest.mark.parametrize("algorithm", ["gost2012-256", "gost2012-512"])
def test_a_gost_ca_certifies_gost_and_p256_tablets_and_openssl_agrees(tmp_path, algorithm):
    made = create_ca("Министерство цифрового развития", algorithm=algorithm, now=NOW)
    with pytest.raises(WrongPassphrase):
        load_ca(dump_key(made, b"passphrase"), dump_certificate(made), b"another")
    ca = load_ca(dump_key(made, b"passphrase"), dump_certificate(made), b"passphrase")
    bits = algorithm[-3:]
    assert cms.algorithm(ca.certificate) == f"gost3410-2012-{bits}"
    (tmp_path / "ca.pem").write_bytes(dump_certificate(ca))
    text = openssl("x509", "-in", str(tmp_path / "ca.pem"), "-noout", "-text").stdout.decode()
    assert f"GOST R 34.10-2012 with GOST R 34.11-2012 ({bits} bit)" in text

    items = []
    for name, tablet in (("gost", GostTablet(256, "B")), ("p256", Tablet())):
        certificate = issue_certificate(ca, load_csr(tablet.csr_pem()), user_id=name, user_name=name, now=NOW)
        (tmp_path / f"{name}.pem").write_bytes(certificate.public_bytes(Encoding.PEM))
        checked = openssl("verify", "-CAfile", str(tmp_path / "ca.pem"), "-attime", str(int(NOW.timestamp())),
                          str(tmp_path / f"{name}.pem"))
        assert checked.returncode == 0, checked.stderr.decode()
        attributes = cms.signed_attributes(CONTENT, certificate, NOW)
        p7s = cms.assemble(attributes, tablet.sign(cms.to_be_signed(attributes, certificate)), certificate,
                           [ca.certificate])
        assert cms.verify(p7s, CONTENT, [ca.certificate], {}).valid
        items.append(SignedItem(f"approval-{name}", CONTENT, p7s, name, certificate))

        # The same certificate with a byte of the CA's signature changed: no longer the CA's, for both.
        der = bytearray(certificate.public_bytes(Encoding.DER))
        der[-1] ^= 0x01
        (tmp_path / "forged.der").write_bytes(bytes(der))
        forged = cms.assemble(attributes, b"\x00", x509.load_der_x509_certificate(bytes(der)), [ca.certificate])
        assert cms.verify(forged, CONTENT, [ca.certificate], {}).reason == cms.Reason.UNTRUSTED_ISSUER
        refused = openssl("verify", "-CAfile", str(tmp_path / "ca.pem"), "-attime", str(int(NOW.timestamp())),
                          "-inform", "DER", str(tmp_path / "forged.der"))
        assert refused.returncode != 0

    # Another GOST CA of the same name does not vouch for these certificates.
    stranger = create_ca("Министерство цифрового развития", algorithm=algorithm, now=NOW)
    assert cms.verify(items[0].p7s, CONTENT, [stranger.certificate], {}).reason == cms.Reason.UNTRUSTED_ISSUER

    with zipfile.ZipFile(io.BytesIO(build_evidence("doc-1", items, [ca.certificate]))) as archive:
        archive.extractall(tmp_path / "evidence")
    text = (tmp_path / "evidence" / "HOW-TO-VERIFY.txt").read_text(encoding="utf-8")
    commands = [line for line in text.splitlines() if line.startswith("openssl cms -verify")]
    assert len(commands) == 2 and all("-engine gost" in line for line in commands)  # the CA is GOST for both
    for command in commands:
        done = subprocess.run(shlex.split(command), cwd=tmp_path / "evidence", capture_output=True)
        assert done.returncode == 0 and b"Verification successful" in done.stderr, (command, done.stderr)


def test_an_unknown_ca_algorithm_is_refused():
    with pytest.raises(ValueError, match="gost2012-256"):
        create_ca("Org", algorithm="gost2001")
