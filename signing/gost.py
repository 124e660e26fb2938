"""GOST R 34.10-2012 keys and signatures, with GOST R 34.11-2012 (Streebog) hashes, as OpenSSL's GOST engine
and CryptoPro encode them.

Streebog and the curves' parameters are gostcrypto's; the verification's point arithmetic is done here in
Jacobian coordinates, as gostcrypto's affine one costs half a second for a 512-bit key. This module also knows
the encodings: a public key is an OCTET STRING of X then Y,
each little-endian; a digest enters the signature as a little-endian number; a signature is s then r,
each big-endian (RFC 4491, RFC 9215).
"""

from __future__ import annotations

import functools
import hashlib
import secrets
from dataclasses import dataclass, field

from asn1crypto import core, parser
from gostcrypto import gosthash
from gostcrypto.gostsignature import gost_34_10_2012 as gost_signature

KEY_256 = "1.2.643.7.1.1.1.1"  # id-tc26-gost3410-12-256
KEY_512 = "1.2.643.7.1.1.1.2"  # id-tc26-gost3410-12-512
STREEBOG_256 = "1.2.643.7.1.1.2.2"  # id-tc26-gost3411-12-256
STREEBOG_512 = "1.2.643.7.1.1.2.3"  # id-tc26-gost3411-12-512
SIGN_WITH_256 = "1.2.643.7.1.1.3.2"  # id-tc26-signwithdigest-gost3410-12-256
SIGN_WITH_512 = "1.2.643.7.1.1.3.3"  # id-tc26-signwithdigest-gost3410-12-512

_CURVES = gost_signature.CURVES_R_1323565_1_024_2019
# The standard parameter sets, by the OIDs keys name them with, to gostcrypto's curve (R 1323565.1.024-2019
# renamed the CryptoPro sets: CryptoPro-A is tc26 256 B, CryptoPro-B is C, CryptoPro-C is D).
PARAMETER_SETS: dict[str, tuple[int, str, str]] = {
    "1.2.643.2.2.35.1": (256, "CryptoPro-A", "id-tc26-gost-3410-2012-256-paramSetB"),
    "1.2.643.2.2.35.2": (256, "CryptoPro-B", "id-tc26-gost-3410-2012-256-paramSetC"),
    "1.2.643.2.2.35.3": (256, "CryptoPro-C", "id-tc26-gost-3410-2012-256-paramSetD"),
    "1.2.643.2.2.36.0": (256, "CryptoPro-XchA", "id-tc26-gost-3410-2012-256-paramSetB"),
    "1.2.643.2.2.36.1": (256, "CryptoPro-XchB", "id-tc26-gost-3410-2012-256-paramSetD"),
    "1.2.643.7.1.2.1.1.1": (256, "TC26-256-A", "id-tc26-gost-3410-2012-256-paramSetA"),
    "1.2.643.7.1.2.1.1.2": (256, "TC26-256-B", "id-tc26-gost-3410-2012-256-paramSetB"),
    "1.2.643.7.1.2.1.1.3": (256, "TC26-256-C", "id-tc26-gost-3410-2012-256-paramSetC"),
    "1.2.643.7.1.2.1.1.4": (256, "TC26-256-D", "id-tc26-gost-3410-2012-256-paramSetD"),
    "1.2.643.7.1.2.1.2.1": (512, "TC26-512-A", "id-tc26-gost-3410-12-512-paramSetA"),
    "1.2.643.7.1.2.1.2.2": (512, "TC26-512-B", "id-tc26-gost-3410-12-512-paramSetB"),
    "1.2.643.7.1.2.1.2.3": (512, "TC26-512-C", "id-tc26-gost-3410-2012-512-paramSetC"),
}


class _Parameters(core.Sequence):
    _fields = [
        ("public_key_param_set", core.ObjectIdentifier),
        ("digest_param_set", core.ObjectIdentifier, {"optional": True}),
        ("encryption_param_set", core.ObjectIdentifier, {"optional": True}),
    ]


class _Algorithm(core.Sequence):
    _fields = [("algorithm", core.ObjectIdentifier), ("parameters", core.Any, {"optional": True})]


class _PublicKeyInfo(core.Sequence):
    _fields = [("algorithm", _Algorithm), ("public_key", core.OctetBitString)]


@dataclass(frozen=True)
class GostKey:
    """A GOST R 34.10-2012 public key: its size, parameter set and point."""

    bits: int
    parameter_set: str
    x: int
    y: int
    spki_der: bytes
    key_bits: bytes  # the subjectPublicKey's content, what a key identifier hashes

    @property
    def algorithm(self) -> str:
        """The name signing sessions answer with."""
        return f"gost3410-2012-{self.bits}"

    @property
    def digest_oid(self) -> str:
        return STREEBOG_256 if self.bits == 256 else STREEBOG_512

    @property
    def key_oid(self) -> str:
        return KEY_256 if self.bits == 256 else KEY_512

    @property
    def name(self) -> str:
        return f"GOST R 34.10-2012 {self.bits} bits, {PARAMETER_SETS[self.parameter_set][1]}"

    def hash(self, data: bytes) -> bytes:
        """Streebog of the data, as wide as the key."""
        return streebog(data, self.bits)

    def verify(self, signature: bytes, digest: bytes) -> bool:
        """Whether signature (s then r) signs digest (Streebog, as it is printed) with this key."""
        size = self.bits // 8
        if len(signature) != 2 * size or len(digest) != size:
            return False
        s, r = int.from_bytes(signature[:size], "big"), int.from_bytes(signature[size:], "big")
        return _verify(_curve(PARAMETER_SETS[self.parameter_set][2]), (self.x, self.y),
                       int.from_bytes(digest, "little"), r, s)


@dataclass(frozen=True)
class _Curve:
    """A curve in short Weierstrass form and its base point of order q."""

    p: int
    a: int
    b: int
    q: int
    gx: int
    gy: int


@functools.cache
def _curve(name: str) -> _Curve:
    """gostcrypto's parameters of a standard set, the twisted Edwards ones already in Weierstrass form."""
    mode = gost_signature.MODE_256 if "256" in name else gost_signature.MODE_512
    curve = gost_signature.new(mode, _CURVES[name])
    # gostcrypto keeps the converted form only in its object's attributes.
    return _Curve(curve._p, curve._a, curve._b, curve._q, curve._x, curve._y)


# Jacobian coordinates (X, Y, Z) stand for (X/Z², Y/Z³); None is the point at infinity. gostcrypto's own
# verify works in affine coordinates with an inversion per step, 20-40 times slower than this.
_Point = tuple[int, int, int] | None


def _double(c: _Curve, point: _Point) -> _Point:
    if point is None or point[1] == 0:
        return None
    x, y, z = point
    yy = y * y % c.p
    s = 4 * x * yy % c.p
    m = (3 * x * x + c.a * pow(z, 4, c.p)) % c.p
    x3 = (m * m - 2 * s) % c.p
    return x3, (m * (s - x3) - 8 * yy * yy) % c.p, 2 * y * z % c.p


def _add(c: _Curve, one: _Point, two: _Point) -> _Point:
    if one is None:
        return two
    if two is None:
        return one
    x1, y1, z1 = one
    x2, y2, z2 = two
    z1z1, z2z2 = z1 * z1 % c.p, z2 * z2 % c.p
    u1, u2 = x1 * z2z2 % c.p, x2 * z1z1 % c.p
    s1, s2 = y1 * z2 * z2z2 % c.p, y2 * z1 * z1z1 % c.p
    if u1 == u2:
        return _double(c, one) if s1 == s2 else None
    h, r = (u2 - u1) % c.p, (s2 - s1) % c.p
    hh = h * h % c.p
    hhh, v = h * hh % c.p, u1 * hh % c.p
    x3 = (r * r - hhh - 2 * v) % c.p
    return x3, (r * (v - x3) - s1 * hhh) % c.p, h * z1 * z2 % c.p


def _verify(c: _Curve, key: tuple[int, int], digest: int, r: int, s: int) -> bool:
    """GOST R 34.10-2012, 6.2: C = z1·P + z2·Q with z1 = s/e, z2 = -r/e; valid when C's x is r (mod q)."""
    if not (0 < r < c.q and 0 < s < c.q):
        return False
    e = digest % c.q or 1
    v = pow(e, -1, c.q)
    z1, z2 = s * v % c.q, -r * v % c.q
    g, q = (c.gx, c.gy, 1), (key[0], key[1], 1)
    both = _add(c, g, q)
    point: _Point = None
    for bit in range(max(z1.bit_length(), z2.bit_length()) - 1, -1, -1):  # Shamir's trick: one pass for both
        point = _double(c, point)
        pick = (z1 >> bit & 1, z2 >> bit & 1)
        if pick == (1, 1):
            point = _add(c, point, both)
        elif pick == (1, 0):
            point = _add(c, point, g)
        elif pick == (0, 1):
            point = _add(c, point, q)
    if point is None:
        return False
    x, _, z = point
    return x * pow(z * z, -1, c.p) % c.p % c.q == r


def _multiply(c: _Curve, k: int, point: tuple[int, int]) -> tuple[int, int]:
    """k·point in affine coordinates (k > 0, less than q)."""
    base: _Point = (point[0], point[1], 1)
    result: _Point = None
    for bit in range(k.bit_length() - 1, -1, -1):
        result = _double(c, result)
        if k >> bit & 1:
            result = _add(c, result, base)
    assert result is not None
    x, y, z = result
    zi = pow(z, -1, c.p)
    return x * zi * zi % c.p, y * zi * zi * zi % c.p


@dataclass(frozen=True)
class GostPrivateKey:
    """A GOST R 34.10-2012 private key d and its public key d·P."""

    d: int = field(repr=False)  # never in a log line or a traceback
    public: GostKey

    def sign(self, digest: bytes) -> bytes:
        """The signature of a Streebog digest, s then r (GOST R 34.10-2012, 6.1, with a fresh random k)."""
        c = _curve(PARAMETER_SETS[self.public.parameter_set][2])
        size = self.public.bits // 8
        e = int.from_bytes(digest, "little") % c.q or 1
        while True:
            k = secrets.randbelow(c.q - 1) + 1
            r = _multiply(c, k, (c.gx, c.gy))[0] % c.q
            s = (r * self.d + k * e) % c.q
            if r and s:
                return s.to_bytes(size, "big") + r.to_bytes(size, "big")

    def private_bytes(self) -> bytes:
        """DER of the parameter set and d (little-endian, as GOST tools keep it); to be stored encrypted."""
        return _PrivateKey({"parameter_set": self.public.parameter_set,
                            "d": self.d.to_bytes(self.public.bits // 8, "little")}).dump()


class _PrivateKey(core.Sequence):
    _fields = [("parameter_set", core.ObjectIdentifier), ("d", core.OctetString)]


def encode_public_key(bits: int, parameter_set: str, x: int, y: int) -> bytes:
    """The DER SubjectPublicKeyInfo of a GOST key (RFC 9215): X then Y, little-endian, in an OCTET STRING."""
    size = bits // 8
    point = core.OctetString(x.to_bytes(size, "little") + y.to_bytes(size, "little")).dump()
    parameters = _Parameters({"public_key_param_set": parameter_set})
    return _PublicKeyInfo({"algorithm": {"algorithm": KEY_256 if bits == 256 else KEY_512,
                                         "parameters": core.Any.load(parameters.dump())},
                           "public_key": point}).dump()


def generate_private_key(bits: int, parameter_set: str) -> GostPrivateKey:
    """A fresh key of the given size on a standard parameter set."""
    if PARAMETER_SETS.get(parameter_set, (None,))[0] != bits:
        raise ValueError(f"{parameter_set} is not a parameter set of {bits}-bit keys")
    c = _curve(PARAMETER_SETS[parameter_set][2])
    d = secrets.randbelow(c.q - 1) + 1
    return _private_key(bits, parameter_set, d)


def load_private_key(data: bytes) -> GostPrivateKey:
    """The key `GostPrivateKey.private_bytes` wrote."""
    stored = _PrivateKey.load(data, strict=True)
    parameter_set = stored["parameter_set"].dotted
    bits = PARAMETER_SETS[parameter_set][0]
    if len(stored["d"].native) != bits // 8:
        raise ValueError("the GOST key's size does not match its parameter set")
    return _private_key(bits, parameter_set, int.from_bytes(stored["d"].native, "little"))


def _private_key(bits: int, parameter_set: str, d: int) -> GostPrivateKey:
    c = _curve(PARAMETER_SETS[parameter_set][2])
    x, y = _multiply(c, d, (c.gx, c.gy))
    return GostPrivateKey(d, public_key(encode_public_key(bits, parameter_set, x, y)))


class NotGost(ValueError):
    """The key is not a GOST R 34.10-2012 key at all."""


class UnknownParameterSet(ValueError):
    """A GOST key on a curve that is not one of the standard parameter sets."""


def algorithm_oid(algorithm_der: bytes) -> str:
    """The OID of a DER AlgorithmIdentifier."""
    return _Algorithm.load(algorithm_der)["algorithm"].dotted


def streebog(data: bytes, bits: int) -> bytes:
    """GOST R 34.11-2012 of the data, 256 or 512 bits."""
    return bytes(gosthash.new("streebog256" if bits == 256 else "streebog512", data=data).digest())


def digest_bits(oid: str) -> int | None:
    """256 or 512 for a Streebog OID, else None."""
    return {STREEBOG_256: 256, STREEBOG_512: 512}.get(oid)


def _on_curve(curve_name: str, x: int, y: int) -> bool:
    c = _curve(curve_name)
    p, a, b = c.p, c.a, c.b
    return 0 < x < p and 0 < y < p and (y * y - x * x * x - a * x - b) % p == 0


def public_key(spki_der: bytes) -> GostKey:
    """The GOST key of a DER SubjectPublicKeyInfo; NotGost for other algorithms, ValueError if damaged or
    not on its curve or of a parameter set we do not know."""
    info = _PublicKeyInfo.load(spki_der, strict=True)
    oid = info["algorithm"]["algorithm"].dotted
    if oid not in (KEY_256, KEY_512):
        raise NotGost(oid)
    bits = 256 if oid == KEY_256 else 512
    parameters = _Parameters.load(info["algorithm"]["parameters"].dump())
    parameter_set = parameters["public_key_param_set"].dotted
    if parameter_set not in PARAMETER_SETS or PARAMETER_SETS[parameter_set][0] != bits:
        raise UnknownParameterSet(f"a GOST key of the unknown parameter set {parameter_set} for a {bits}-bit GOST key")
    key_bits = info["public_key"].native
    point = core.OctetString.load(key_bits).native
    size = bits // 8
    if len(point) != 2 * size:
        raise ValueError("the GOST public key is not a point of the right size")
    x, y = int.from_bytes(point[:size], "little"), int.from_bytes(point[size:], "little")
    if not _on_curve(PARAMETER_SETS[parameter_set][2], x, y):
        raise ValueError("the GOST public key is not a point of its curve")
    return GostKey(bits, parameter_set, x, y, info.dump(), key_bits)


def key_identifier(key: GostKey) -> bytes:
    """RFC 5280's method 1: SHA-1 of the subjectPublicKey, as for any other key."""
    return hashlib.sha1(key.key_bits).digest()  # noqa: S324 - an identifier, not a security hash


def elements(der: bytes) -> list[bytes]:
    """The DER elements of a SEQUENCE, each whole (header and content)."""
    contents = parser.parse(der)[4]
    out = []
    while contents:
        _, _, _, header, body, trailer = parser.parse(contents, strict=False)
        size = len(header) + len(body) + len(trailer)
        out.append(contents[:size])
        contents = contents[size:]
    return out


def sequence(parts: list[bytes]) -> bytes:
    """A DER SEQUENCE of already encoded elements."""
    return core.Sequence(contents=b"".join(parts)).dump()
