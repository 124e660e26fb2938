"""An evidence zip that lets anyone check a document's signatures with stock OpenSSL."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from signing import timestamp
from signing.cms import gost_key, signing_time, timestamp_token

# Names become paths inside the zip and words in a shell command: keep both safe.
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
# A fixed entry time makes the same evidence produce the same zip bytes.
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class SignedItem:
    """One signature to export: its file name stem, the exact signed bytes, the .p7s and the signer."""

    name: str
    content: bytes
    p7s: bytes
    signer: str
    certificate: x509.Certificate


def _checked(name: str, what: str) -> str:
    """The name, if it is safe as a file name and a shell word."""
    if not _SAFE_NAME.fullmatch(name):
        raise ValueError(f"{what} {name!r} must be 1-100 of A-Z a-z 0-9 . _ - and start with a letter or digit")
    return name


def _pem(certificates: Sequence[x509.Certificate]) -> bytes:
    """Certificates as concatenated PEM, each once, in the given order."""
    seen: dict[bytes, bytes] = {}
    for certificate in certificates:
        pem = certificate.public_bytes(serialization.Encoding.PEM)
        seen.setdefault(certificate.fingerprint(hashes.SHA256()), pem)
    return b"".join(seen.values())


def verify_command(item: SignedItem, ca_chain: Sequence[x509.Certificate] = ()) -> str:
    """The OpenSSL command, run inside the unpacked zip, that verifies one signature at its signing time."""
    # -attime: judge the certificates when the signature was made, so the check still passes after they expire.
    # A time-stamped signature (CAdES-T) is judged at the TSA's genTime rather than the signer's own clock.
    token = timestamp_token(item.p7s)
    moment = int((timestamp.token_info(token).gen_time if token else signing_time(item.p7s)).timestamp())
    # A GOST R 34.10-2012 signature needs OpenSSL's GOST engine (Debian: libengine-gost-openssl).
    gost = any(gost_key(certificate) is not None for certificate in [item.certificate, *ca_chain])
    engine = " -engine gost" if gost else ""
    return (
        f"openssl cms -verify{engine} -inform DER -binary -in signatures/{item.name}.p7s"
        f" -content content/{item.name}.json -CAfile certs/ca.pem -purpose any -attime {moment}"
    )


def timestamp_command(item: SignedItem) -> str | None:
    """The OpenSSL command that checks a signature's time-stamp token (None: the signature has none).

    -digest is the hash of the signature value inside the .p7s, which the token's imprint must equal."""
    token = timestamp_token(item.p7s)
    if token is None:
        return None
    info = timestamp.token_info(token)
    engine = " -engine gost" if info.hash_algorithm == timestamp.STREEBOG_256 else ""
    return (
        f"openssl ts -verify{engine} -token_in -in timestamps/{item.name}.tsr -digest {info.hashed_message.hex()}"
        f" -CAfile certs/tsa.pem -attime {int(info.gen_time.timestamp())}"
    )


def how_to_verify(document_id: str, items: Sequence[SignedItem], ca_chain: Sequence[x509.Certificate] = (),
                  tsa_chain: Sequence[x509.Certificate] = ()) -> str:
    """The English and Russian instructions, with one command per signature (and per time-stamp, given the
    TSA's trust anchor)."""
    commands = "\n".join(verify_command(item, ca_chain) for item in items)
    stamps = [command for command in map(timestamp_command, items) if command] if tsa_chain else []
    if stamps:
        commands += "\n" + "\n".join(stamps)
    english = f"Document {document_id}: signatures and how to verify them"
    russian = f"Документ {document_id}: подписи и их проверка"
    return f"""{english}
{"=" * len(english)}

content/<name>.json     the exact bytes that were signed (canonical JSON, UTF-8)
signatures/<name>.p7s   the detached CMS signature (DER) over that file
certs/<signer>.pem      the signer's certificate(s)
certs/ca.pem            the organization's CA certificate (the trust anchor)

Verify every signature with OpenSSL 1.1 or later, from the folder where this zip was unpacked.
Each command must print "CMS Verification successful" (the signed JSON is printed first).
-attime checks the certificates at the moment of signing. Revocation is not part of this check:
the system's signature report states whether and when a certificate was revoked.
A command with -engine gost checks a GOST R 34.10-2012 signature: it needs OpenSSL's GOST engine
(Debian and Ubuntu: the libengine-gost-openssl package).
A time-stamped signature (CAdES-T) also has timestamps/<name>.tsr, the TSA's RFC 3161 token over the
signature value; its "openssl ts -verify" command must print "Verification: OK". The -digest is the
hash of the signature value in the .p7s, and -attime the token's own time (genTime), at which the
signature's command judges the certificates too. certs/tsa.pem is the TSA's trust anchor.

{russian}
{"=" * len(russian)}

content/<name>.json     ровно те байты, которые были подписаны (канонический JSON, UTF-8)
signatures/<name>.p7s   отсоединённая подпись CMS (DER) к этому файлу
certs/<signer>.pem      сертификат(ы) подписанта
certs/ca.pem            сертификат удостоверяющего центра организации (доверенный корень)

Проверьте каждую подпись с помощью OpenSSL 1.1 или новее, находясь в папке с распакованным архивом.
Каждая команда должна вывести "CMS Verification successful" (сначала выводится подписанный JSON).
-attime проверяет сертификаты на момент подписания. Отзыв сертификатов этой командой не проверяется:
отчёт системы о подписях показывает, был ли сертификат отозван и когда.
Команда с -engine gost проверяет подпись ГОСТ Р 34.10-2012: для неё нужен модуль GOST для OpenSSL
(в Debian и Ubuntu пакет libengine-gost-openssl).
У подписи со штампом времени (CAdES-T) есть timestamps/<name>.tsr — штамп времени RFC 3161 над
значением подписи; его команда "openssl ts -verify" должна вывести "Verification: OK". -digest — хэш
значения подписи из .p7s, -attime — время штампа (genTime), на которое проверяются и сертификаты
подписи. certs/tsa.pem — доверенный корень службы штампов времени.

Commands / Команды
------------------
{commands}
"""


def build_evidence(document_id: str, items: Sequence[SignedItem], ca_chain: Sequence[x509.Certificate],
                   tsa_chain: Sequence[x509.Certificate] = ()) -> bytes:
    """The evidence zip for a document, built in memory; a time-stamped signature's token goes to
    timestamps/<name>.tsr, checked against tsa_chain (certs/tsa.pem)."""
    names = [_checked(item.name, "signature name") for item in items]
    if len(set(names)) != len(names):
        raise ValueError("two signatures share a name")
    by_signer: dict[str, list[x509.Certificate]] = {}
    for item in items:
        by_signer.setdefault(_checked(item.signer, "signer"), []).append(item.certificate)
    if by_signer.keys() & {"ca", "tsa"}:
        raise ValueError("a signer may not be called 'ca' or 'tsa': certs/ca.pem and certs/tsa.pem are trust anchors")

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:

        def add(path: str, data: bytes) -> None:
            archive.writestr(zipfile.ZipInfo(path, _ZIP_TIME), data, zipfile.ZIP_DEFLATED)

        add("HOW-TO-VERIFY.txt", how_to_verify(document_id, items, ca_chain, tsa_chain).encode("utf-8"))
        for item in items:
            add(f"content/{item.name}.json", item.content)
            add(f"signatures/{item.name}.p7s", item.p7s)
            token = timestamp_token(item.p7s)
            if token is not None:
                add(f"timestamps/{item.name}.tsr", token)
        for signer, certificates in by_signer.items():
            add(f"certs/{signer}.pem", _pem(certificates))
        add("certs/ca.pem", _pem(ca_chain))
        if tsa_chain and any(timestamp_token(item.p7s) is not None for item in items):
            add("certs/tsa.pem", _pem(tsa_chain))
    return buffer.getvalue()
