"""Through the API: the organization CA's certificates name its CRL, served without sign-in and issued again on
a revocation; the evidence of a document carries the CRL current at each signature's time and its verify.sh,
run from the unpacked zip with no server anywhere, keeps a signature whose key was revoked afterwards valid,
as the server's report does. For a P-256 CA with a P-256 tablet and a GOST CA with a GOST tablet."""
import io
import subprocess
import zipfile

import pytest
from cryptography import x509

from models import db
from models.signing import OrganizationCA
from signing import revocation
from tests.approvals.conftest import Signer
from tests.support.gost_tablet import GostTablet, gost_engine
from tests.support.tablet import Tablet


@pytest.fixture(scope="module", autouse=True)
def engine():
    gost_engine()


def _use_ca(app, demo, algorithm: str) -> None:
    """The demo organization's CA made again with this algorithm, as `flask ca init` makes one."""
    organization_id = demo["exec1"].organization_id
    db.session.delete(db.session.get(OrganizationCA, organization_id))
    db.session.commit()
    app.config["CA_ALGORITHM"] = algorithm
    made = app.test_cli_runner().invoke(args=["ca", "init", "--organization", str(organization_id)])
    assert made.exit_code == 0, made.output


@pytest.mark.parametrize("algorithm", ["p256", "gost2012-256"])
def test_the_evidence_verifies_offline_and_a_later_revocation_keeps_the_signature(app, demo, client, login, route,
                                                                                  users, document, tmp_path,
                                                                                  algorithm):
    _use_ca(app, demo, algorithm)
    tablets = {"exec1": GostTablet(256) if algorithm != "p256" else Tablet(), "employee1": Tablet()}
    signers = {}
    for name, tablet in tablets.items():
        api = login(name)
        resp = api.post("/keys", json={"csr": tablet.csr_pem()})
        assert resp.status_code == 201, resp.get_json()
        signers[name] = Signer(api, tablet, resp.get_json())
    exec1 = signers["exec1"]
    certificate = x509.load_pem_x509_certificate(exec1.key["certificate"].encode())
    ca = x509.load_pem_x509_certificate(db.session.get(OrganizationCA, demo["exec1"].organization_id)
                                        .certificate_pem.encode())
    # The certificate names where its CA's CRL is, and anyone (no sign-in) gets it there, signed by the CA.
    [url] = revocation.distribution_urls(certificate)
    assert url.endswith(f"/api/v1/ca/{demo['exec1'].organization_id}/crl")
    served = client.get(url.replace("http://localhost", ""))
    assert served.status_code == 200 and served.mimetype == "application/pkix-crl"
    assert revocation.signed_by(served.data, ca)
    assert certificate.serial_number not in revocation.load_crl(served.data).revoked

    approval = route(("parallel", [users["exec1"], users["employee1"]]))
    assert exec1.approve(approval["id"]).status_code == 200
    assert signers["employee1"].approve(approval["id"]).status_code == 200
    assert exec1.api.delete(f"/keys/{exec1.key['id']}").status_code == 204
    # The revocation is on the CRL at once.
    listed = revocation.load_crl(client.get(url.replace("http://localhost", "")).data).revoked
    assert certificate.serial_number in listed

    report = exec1.api.get(f"/documents/{document}/signatures").get_json()["items"]
    by_signer = {item["signer"]["id"]: item for item in report}
    assert by_signer[users["exec1"]]["valid"] is True
    assert "after this signature was made" in by_signer[users["exec1"]]["revocation"]["detail"]
    assert "после подписания" in by_signer[users["exec1"]]["revocation"]["detail_ru"]

    with zipfile.ZipFile(io.BytesIO(exec1.api.get(f"/documents/{document}/evidence").data)) as archive:
        archive.extractall(tmp_path)
        names = archive.namelist()
    crls = [name for name in names if name.startswith("crls/")]
    assert len(crls) == 2  # the CRL current when the two signed, and the newest, which lists the revocation
    done = subprocess.run(["sh", "verify.sh"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("VALID    ") == 2 and "2 of 2 signatures valid" in done.stdout
    assert "was revoked later" in done.stdout
