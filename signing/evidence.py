"""An evidence zip that lets anyone check a document's signatures with stock OpenSSL."""

from __future__ import annotations

import io
import re
import shlex
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from asn1crypto import cms as asn1_cms
from asn1crypto import tsp as asn1_tsp
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from signing import timestamp as rfc3161
from signing.cms import gost_key, signature_value, signing_time, timestamp_token

# Names become paths inside the zip and words in a shell command: keep both safe.
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
# A fixed entry time makes the same evidence produce the same zip bytes.
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
# The document's pages with the signatures' marks, for people (signing/mark.py).
VIEW_NAME = "document-with-signature-marks.pdf"


@dataclass(frozen=True)
class SignedItem:
    """One signature to export: its file name stem, the exact signed bytes, the .p7s and the signer."""

    name: str
    content: bytes
    p7s: bytes
    signer: str
    certificate: x509.Certificate
    # Long-term evidence: the CAs between the signer and the anchor, the crls/ file current at the signature's
    # time and the newest crls/ file (the state when exported), and an RFC 3161 token (or the reply around it)
    # when the signature's time-stamp is not in its .p7s.
    chain: tuple[x509.Certificate, ...] = ()
    crl: str | None = None
    current_crl: str | None = None
    timestamp: bytes | None = None


def token_of(reply_or_token: bytes) -> bytes:
    """The DER time-stamp token of an RFC 3161 reply, or the token itself."""
    try:
        return asn1_tsp.TimeStampResp.load(reply_or_token, strict=True)["time_stamp_token"].dump()
    except (ValueError, TypeError, KeyError):
        return asn1_cms.ContentInfo.load(reply_or_token, strict=True).dump()


def _token(item: SignedItem) -> bytes | None:
    """The item's time-stamp token (what timestamps/<name>.tsr holds): the one given, else the one in its .p7s."""
    if item.timestamp is not None:
        return token_of(item.timestamp)
    return timestamp_token(item.p7s)


def time_stamp_time(reply_or_token: bytes) -> datetime:
    """The genTime of a time-stamp token (or of the token in a reply)."""
    return rfc3161.token_info(token_of(reply_or_token)).gen_time.astimezone(timezone.utc)


def signed_moment(p7s: bytes, token: bytes | None = None) -> datetime:
    """When a signature counts as made: its time-stamp's genTime when it has one, else its signing-time
    attribute (the moment the report judges it at, too)."""
    token = token or timestamp_token(p7s)
    return time_stamp_time(token) if token is not None else signing_time(p7s)


def _moment(item: SignedItem) -> datetime:
    return signed_moment(item.p7s, item.timestamp)


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


def _needs_gost(item: SignedItem, ca_chain: Sequence[x509.Certificate]) -> bool:
    # A GOST R 34.10-2012 signature needs OpenSSL's GOST engine (Debian: libengine-gost-openssl).
    return any(gost_key(certificate) is not None for certificate in [item.certificate, *item.chain, *ca_chain])


def verify_command(item: SignedItem, ca_chain: Sequence[x509.Certificate] = (), ca_file: str = "certs/ca.pem") -> str:
    """The OpenSSL command, run inside the unpacked zip, that verifies one signature at its time (the
    time-stamp's, else the signing time). verify.sh adds -crl_check with a CA file that holds the CRL too
    (`openssl cms` takes CRLs only from its trust store)."""
    # -attime: judge the certificates when the signature was made, so the check still passes after they expire.
    moment = int(_moment(item).timestamp())
    engine = " -engine gost" if _needs_gost(item, ca_chain) else ""
    return (
        f"openssl cms -verify{engine} -inform DER -binary -in signatures/{item.name}.p7s"
        f" -content content/{item.name}.json -CAfile {ca_file} -purpose any -attime {moment}"
    )


def _ts_engine(token: bytes, tsa_certificates: Sequence[x509.Certificate]) -> str:
    """-engine gost when the token's imprint is a Streebog hash or the TSA's certificates are GOST ones."""
    gost = rfc3161.token_info(token).hash_algorithm == rfc3161.STREEBOG_256 or any(
        gost_key(certificate) is not None for certificate in tsa_certificates)
    return " -engine gost" if gost else ""


def timestamp_command(item: SignedItem, tsa_certificates: Sequence[x509.Certificate] = ()) -> str | None:
    """The OpenSSL command that checks a signature's time-stamp token, timestamps/<name>.tsr (None: the
    signature has none). -digest is the hash of the signature value inside the .p7s, which the token's imprint
    must equal; -attime the token's genTime, so the TSA's certificate is judged when it stamped."""
    token = _token(item)
    if token is None:
        return None
    info = rfc3161.token_info(token)
    return (
        f"openssl ts -verify{_ts_engine(token, tsa_certificates)} -token_in -in timestamps/{item.name}.tsr"
        f" -digest {info.hashed_message.hex()} -CAfile certs/tsa.pem -attime {int(info.gen_time.timestamp())}"
    )


def _imprint_lines(token: bytes) -> list[str]:
    """verify.sh lines that hash signatures/$name.sig for a Streebog imprint: `openssl ts -verify -data` cannot
    (OpenSSL 3 fetches its digest from providers, and Streebog lives in the GOST engine), `openssl dgst` can."""
    if rfc3161.token_info(token).hash_algorithm != rfc3161.STREEBOG_256:
        return []
    return ["digest=$($OPENSSL dgst -engine gost -md_gost12_256 -r signatures/$name.sig 2>/dev/null | cut -d' ' -f1)"]


def _imprint_option(token: bytes) -> str:
    if rfc3161.token_info(token).hash_algorithm == rfc3161.STREEBOG_256:
        return '-digest "$digest"'
    return "-data signatures/$name.sig"


def _openssl_serial(serial: int) -> str:
    """A serial number as `openssl crl -text` prints it: upper-case hex, whole bytes."""
    text = format(serial, "X")
    return text if len(text) % 2 == 0 else f"0{text}"


def verify_script(items: Sequence[SignedItem], ca_chain: Sequence[x509.Certificate],
                  tsa_certificates: Sequence[x509.Certificate] = ()) -> str:
    """verify.sh: POSIX sh and plain OpenSSL, offline. Per signature: the time-stamp token (if any) against
    certs/tsa.pem, then `openssl cms -verify -attime <its time> -crl_check` against the CRL current then;
    prints a verdict per signature (noting a revocation after the signature's time) and exits 1 on any failure."""
    # Each CRL is read once: a trust store (the anchors and the CRL, PEM) per CRL current at a signature's time,
    # the text of each newest CRL, where a later revocation is looked up.
    stores = {name: f"$tmp/store-{i}.pem" for i, name in enumerate(sorted({i.crl for i in items if i.crl}))}
    texts = {name: f"$tmp/crl-{i}.txt" for i, name in enumerate(sorted({i.current_crl for i in items
                                                                       if i.current_crl and i.current_crl != i.crl}))}
    prepare = [f"{{ cat certs/ca.pem; $OPENSSL crl -inform DER -in crls/{name} -outform PEM; }} >\"{store}\""
               for name, store in stores.items()]
    for i, (name, text) in enumerate(texts.items()):
        prepare += [f'$OPENSSL crl -inform DER -in crls/{name} -noout -text >"{text}" 2>/dev/null',
                    f"listed{i}=\" $(sed -n 's/^ *Serial Number: //p' \"{text}\" | tr '\\n' ' ')\""]
    listed = {name: f"$listed{i}" for i, name in enumerate(texts)}
    blocks = []
    for item in items:
        moment = _moment(item)
        token = _token(item)
        stamped = token is not None
        source = "time-stamp / метка времени" if stamped else "signing time / время подписания"
        when = f"{moment:%Y-%m-%dT%H:%M:%SZ} ({source})"
        who = item.certificate.subject.rfc4514_string()
        lines = [f"# {item.name}", f"name={item.name}", "ok=1", "why=", "later="]
        if stamped:
            lines += [
                # The token must cover this very signature: signatures/<name>.sig is the .p7s's signature value
                # (the only OCTET STRING at depth 5: ContentInfo, [0], SignedData, signerInfos, SignerInfo).
                "value=$($OPENSSL asn1parse -inform DER -in signatures/$name.p7s"
                " | sed -n 's/.*:d=5 .*prim: OCTET STRING *\\[HEX DUMP\\]://p' | head -n 1)",
                "if [ \"$value\" != \"$(od -An -v -tx1 signatures/$name.sig | tr -d ' \\n' | tr a-f A-F)\" ]; then",
                '    ok=0; why="signatures/$name.sig is not the signature value of its .p7s / файл .sig не совпадает '
                'со значением подписи"',
                "fi",
                # The same token file as HOW-TO-VERIFY's command (-token_in), hashed here from the .sig itself.
                *_imprint_lines(token),
                f"if [ $ok = 1 ] && ! $OPENSSL ts -verify{_ts_engine(token, tsa_certificates)} -token_in"
                f" -in timestamps/$name.tsr {_imprint_option(token)} -CAfile certs/tsa.pem"
                f" -attime {int(moment.timestamp())} >\"$log\" 2>&1; then",
                '    ok=0; why="the time-stamp token does not verify / метка времени не проверяется: $(reason)"',
                "fi",
            ]
        if item.crl is None:
            lines += ['if [ $ok = 1 ]; then ok=0; why="no revocation list current at the signature\'s time is '
                      'included / нет списка отзыва, действовавшего на момент подписи"; fi']
        else:
            command = verify_command(item, ca_chain, f'"{stores[item.crl]}"')[len("openssl "):]
            lines += [
                f'if [ $ok = 1 ] && ! $OPENSSL {command} -crl_check -out /dev/null >"$log" 2>&1; then',
                '    ok=0; why="$(reason)"',
                "fi",
            ]
        if item.current_crl and item.current_crl != item.crl:
            serial = _openssl_serial(item.certificate.serial_number)
            lines += [
                f'case "{listed[item.current_crl]}" in *" {serial} "*)',
                f"    later=$(grep -A1 'Serial Number: {serial}$' \"{texts[item.current_crl]}\""
                " | sed -n 's/.*Revocation Date: //p');;",
                "esac",
            ]
        lines += [f"verdict {shlex.quote(who)} {shlex.quote(when)}"]
        blocks.append("\n".join(lines))
    body = "\n\n".join(blocks)
    return f"""#!/bin/sh
# Verifies every signature of this evidence offline with plain OpenSSL (1.1 or later; GOST signatures need
# its GOST engine: Debian and Ubuntu package libengine-gost-openssl). Run: sh verify.sh
# Проверяет все подписи этого архива без сети средствами OpenSSL. Запуск: sh verify.sh
cd "$(dirname "$0")" || exit 2
OPENSSL=${{OPENSSL:-openssl}}
log=$(mktemp) || exit 2
tmp=$(mktemp -d) || exit 2
trap 'rm -rf "$log" "$tmp"' EXIT
total=0
failed=0

reason() {{
    found=$(grep -o 'Verify error:.*' "$log" | head -n 1)
    [ -n "$found" ] || found=$(grep -v -e '^Engine ' -e '^(gost)' "$log" | grep -i -e error -e fail | head -n 1)
    [ -n "$found" ] || found=$(tail -n 1 "$log")
    printf '%s' "$found"
}}

verdict() {{
    total=$((total + 1))
    if [ $ok = 1 ]; then
        echo "VALID    $name: signed by $1 at $2 / подпись действительна"
        if [ -n "$later" ]; then
            echo "         the certificate was revoked later, on $later, after the signature's time: the signature"
            echo "         stays valid / сертификат отозван позже ($later), после подписания: подпись действительна"
        fi
    else
        failed=$((failed + 1))
        echo "INVALID  $name: signed by $1 at $2 / подпись недействительна"
        echo "         $why"
    fi
}}

{chr(10).join(prepare)}

{body}

echo "$((total - failed)) of $total signatures valid / действительных подписей: $((total - failed)) из $total"
[ $failed = 0 ] || exit 1
"""


def _view_lines(view: bool, view_note: tuple[str, str] | None) -> tuple[str, str]:
    """HOW-TO-VERIFY's words on the PDF view: what it is, or why there is none (English, Russian)."""
    if view:
        return (f"""{VIEW_NAME}
                        the document's pages with a mark per signature (certificate, owner, validity,
                        time-stamp): a view for people to read who signed. The signatures are over
                        content/<name>.json, not over this PDF: verify those, the PDF proves nothing itself
""", f"""{VIEW_NAME}
                        страницы документа с отметкой о каждой электронной подписи (сертификат, владелец,
                        срок действия, метка времени) — для чтения человеком. Подписи поставлены под
                        content/<name>.json, а не под этим PDF: проверяйте их; сам PDF ничего не доказывает
""")
    if view_note is None:
        return "", ""
    return (f"""{VIEW_NAME} is not included: {view_note[0]}
""", f"""{VIEW_NAME} не приложен: {view_note[1]}
""")


def how_to_verify(document_id: str, items: Sequence[SignedItem], ca_chain: Sequence[x509.Certificate] = (),
                  tsa_certificates: Sequence[x509.Certificate] = (), view: bool = False,
                  view_note: tuple[str, str] | None = None) -> str:
    """The English and Russian instructions, with one command per signature (and per time-stamp, given the
    TSA's trust anchors), and what the PDF view is (or why there is none)."""
    view_en, view_ru = _view_lines(view, view_note)
    commands = "\n".join(verify_command(item, ca_chain) for item in items)
    stamps = [timestamp_command(item, tsa_certificates) for item in items] if tsa_certificates else []
    if any(stamps):
        commands += "\n" + "\n".join(command for command in stamps if command)
    english = f"Document {document_id}: signatures and how to verify them"
    russian = f"Документ {document_id}: подписи и их проверка"
    return f"""{english}
{"=" * len(english)}

content/<name>.json     the exact bytes that were signed (canonical JSON, UTF-8)
signatures/<name>.p7s   the detached CMS signature (DER) over that file
certs/<signer>.pem      the signer's certificate(s) and any intermediate CA certificates
certs/ca.pem            the trust anchors: the organization's CA and any external CA a signer's certificate is from
certs/tsa.pem           the time-stamp authority's certificates (when signatures are time-stamped)
crls/*.crl              revocation lists (DER) of each issuer: the one current at each signature's time, kept
                        when it was issued, and the newest one, which shows any revocation since
timestamps/<name>.tsr   the RFC 3161 time-stamp token (DER) over the signature's value, signatures/<name>.sig
verify.sh               checks everything below offline and prints a verdict per signature: sh verify.sh
{view_en}
Verify every signature with OpenSSL 1.1 or later, from the folder where this zip was unpacked.
Each command must print "CMS Verification successful" (the signed JSON is printed first).
-attime checks the certificates at the signature's time (its time-stamp's, else its signing time).
verify.sh runs each command with -crl_check and a CA file that also holds the revocation list current at
that time (openssl cms reads CRLs from its trust store only): a certificate revoked after that time keeps
its signature valid, one revoked before does not. It also checks the time-stamps and names any revocation
made later.
A command with -engine gost checks a GOST R 34.10-2012 signature: it needs OpenSSL's GOST engine
(Debian and Ubuntu: the libengine-gost-openssl package).
A time-stamped signature (CAdES-T) also has its token in timestamps/<name>.tsr; its "openssl ts -verify
-token_in" command must print "Verification: OK". The -digest is the hash of the signature value in the .p7s
(verify.sh hashes signatures/<name>.sig after checking it is that value), and -attime the token's own time
(genTime), at which the signature's command judges the certificates too. certs/tsa.pem is the TSA's trust
anchor.

{russian}
{"=" * len(russian)}

content/<name>.json     ровно те байты, которые были подписаны (канонический JSON, UTF-8)
signatures/<name>.p7s   отсоединённая подпись CMS (DER) к этому файлу
certs/<signer>.pem      сертификат(ы) подписанта и промежуточных УЦ
certs/ca.pem            доверенные корни: УЦ организации и внешние УЦ сертификатов подписантов
certs/tsa.pem           сертификаты службы меток времени (если подписи снабжены метками)
crls/*.crl              списки отзыва (DER) каждого издателя: действовавший на момент каждой подписи и последний
timestamps/<name>.tsr   метка времени RFC 3161 к подписи (к её значению signatures/<name>.sig)
verify.sh               проверяет всё это без сети и выводит вывод по каждой подписи: sh verify.sh
{view_ru}
Проверьте каждую подпись с помощью OpenSSL 1.1 или новее, находясь в папке с распакованным архивом.
Каждая команда должна вывести "CMS Verification successful" (сначала выводится подписанный JSON).
-attime проверяет сертификаты на момент подписи (метки времени, иначе времени подписания). verify.sh
добавляет -crl_check и список отзыва, действовавший тогда: сертификат, отозванный позже, не лишает подпись
силы, отозванный раньше — лишает. Он же проверяет метки времени.
Команда с -engine gost проверяет подпись ГОСТ Р 34.10-2012: для неё нужен модуль GOST для OpenSSL
(в Debian и Ubuntu пакет libengine-gost-openssl).
У подписи с меткой времени (CAdES-T) есть timestamps/<name>.tsr — метка времени RFC 3161 к значению
подписи; её команда "openssl ts -verify -token_in" должна вывести "Verification: OK". -digest — хэш значения
подписи из .p7s (verify.sh хэширует signatures/<name>.sig, проверив, что это то самое значение), -attime —
время метки (genTime), на которое проверяются и сертификаты подписи. certs/tsa.pem — доверенный корень
службы меток времени.

Commands / Команды
------------------
{commands}
"""


def build_evidence(document_id: str, items: Sequence[SignedItem], ca_chain: Sequence[x509.Certificate],
                   crls: Mapping[str, bytes] | None = None,
                   tsa_certificates: Sequence[x509.Certificate] = (), view: bytes | None = None,
                   view_note: tuple[str, str] | None = None) -> bytes:
    """The evidence zip for a document, built in memory; crls are DER CRLs by their file name in crls/. A
    time-stamped signature's token goes to timestamps/<name>.tsr, checked against tsa_certificates (certs/tsa.pem,
    the configured TSA trust anchors). view is the PDF of the pages with the signatures' marks, VIEW_NAME;
    view_note, in English and Russian, why there is none."""
    crls = crls or {}
    for name in crls:
        _checked(name, "CRL name")
    names = [_checked(item.name, "signature name") for item in items]
    if len(set(names)) != len(names):
        raise ValueError("two signatures share a name")
    by_signer: dict[str, list[x509.Certificate]] = {}
    for item in items:
        by_signer.setdefault(_checked(item.signer, "signer"), []).extend([item.certificate, *item.chain])
    if by_signer.keys() & {"ca", "tsa"}:
        raise ValueError("a signer may not be called 'ca' or 'tsa': certs/ca.pem and certs/tsa.pem are trust anchors")

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:

        def add(path: str, data: bytes) -> None:
            archive.writestr(zipfile.ZipInfo(path, _ZIP_TIME), data, zipfile.ZIP_DEFLATED)

        add("HOW-TO-VERIFY.txt", how_to_verify(document_id, items, ca_chain, tsa_certificates, view is not None,
                                               view_note).encode("utf-8"))
        if view is not None:
            add(VIEW_NAME, view)
        script = zipfile.ZipInfo("verify.sh", _ZIP_TIME)
        script.external_attr = 0o100755 << 16  # executable once unpacked
        archive.writestr(script, verify_script(items, ca_chain, tsa_certificates).encode("utf-8"),
                         zipfile.ZIP_DEFLATED)
        for item in items:
            add(f"content/{item.name}.json", item.content)
            add(f"signatures/{item.name}.p7s", item.p7s)
            token = _token(item)
            if token is not None:  # the bare token, as `openssl ts -verify -token_in` reads it
                add(f"signatures/{item.name}.sig", signature_value(item.p7s))
                add(f"timestamps/{item.name}.tsr", token)
        for signer, certificates in by_signer.items():
            add(f"certs/{signer}.pem", _pem(certificates))
        add("certs/ca.pem", _pem(ca_chain))
        if tsa_certificates:
            add("certs/tsa.pem", _pem(tsa_certificates))
        for name, der in sorted(crls.items()):
            add(f"crls/{name}", der)
    return buffer.getvalue()
