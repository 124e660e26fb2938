"""The organization CA: its certificate, and its key stored encrypted."""

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from signing.ca import WrongPassphrase, create_ca, dump_certificate, dump_key, load_ca


def test_ca_certificate_is_a_p256_ca_naming_the_organization():
    ca = create_ca("Минздрав")
    cert = ca.certificate
    assert cert.subject == cert.issuer
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "Минздрав"
    assert ca.organization == "Минздрав"
    assert cert.public_key().curve.name == "secp256r1"
    constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign and usage.crl_sign and not usage.digital_signature
    cert.verify_directly_issued_by(cert)


def test_key_round_trips_encrypted():
    ca = create_ca("Org")
    key_pem = dump_key(ca, b"correct horse")
    assert b"ENCRYPTED PRIVATE KEY" in key_pem
    loaded = load_ca(key_pem, dump_certificate(ca), b"correct horse")
    assert loaded.certificate == ca.certificate
    assert loaded.key.private_numbers() == ca.key.private_numbers()


@pytest.mark.parametrize("passphrase", [b"wrong", b""])
def test_wrong_passphrase_is_a_clear_error(passphrase):
    ca = create_ca("Org")
    with pytest.raises(WrongPassphrase, match="passphrase"):
        load_ca(dump_key(ca, b"right"), dump_certificate(ca), passphrase)


def test_an_empty_passphrase_is_refused_when_storing():
    with pytest.raises(ValueError):
        dump_key(create_ca("Org"), b"")


def test_a_key_from_another_ca_is_refused():
    one, two = create_ca("One"), create_ca("Two")
    with pytest.raises(ValueError, match="does not belong"):
        load_ca(dump_key(one, b"p"), dump_certificate(two), b"p")
