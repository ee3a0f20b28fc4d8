"""Ed25519 signatures over canonical JSON (manifest, receipts, acks, journal).

Canonical serialisation (docs/signatures.md): RFC 8785 (JSON Canonicalization
Scheme), computed by the ``rfc8785`` package — UTF-8, keys sorted by their
UTF-16 code units, no insignificant white space — over a subset without
floats (values are strings, integers within ±(2**53 − 1), booleans, null,
lists and objects), so any JCS implementation recomputes the same bytes.
Documents read back go through :mod:`dossierkit.strictjson` first:
duplicate keys, NaN, out-of-range numbers, lone surrogates and NUL never
reach the signature check.

A signed JSON document carries a ``signature`` member::

    {"alg": "Ed25519", "public_key": "<base64 raw 32 bytes>",
     "fingerprint": "<hex SHA-256 of the raw public key>", "value": "<base64 64 bytes>"}

computed over the canonical bytes of the document *without* its
``signature`` member. The embedded public key makes a document checkable on
its own; trust comes from comparing the fingerprint with one known out of
band (``--expect-signer``).
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import Any

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from dossierkit.errors import IntegrityError, UsageError

ALG = "Ed25519"


def canonical_json(obj: Any) -> bytes:
    """The RFC 8785 (JCS) bytes of *obj* (see module docstring); ValueError
    for what JCS or this subset refuses (floats, integers beyond ±(2**53 − 1),
    lone surrogates)."""
    _reject_floats(obj)
    return rfc8785.dumps(obj)


def _reject_floats(obj: Any) -> None:
    if isinstance(obj, float):
        raise ValueError("floats are not allowed in signed documents (use strings or integers)")
    if isinstance(obj, dict):
        for k, v in obj.items():
            if not isinstance(k, str):
                raise ValueError("object keys must be strings")
            _reject_floats(v)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            _reject_floats(v)


def raw_public_bytes(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def fingerprint(public_key: Ed25519PublicKey | bytes) -> str:
    """Hex SHA-256 of the raw 32-byte public key (64 hex digits)."""
    raw = public_key if isinstance(public_key, bytes) else raw_public_bytes(public_key)
    return hashlib.sha256(raw).hexdigest()


def short_fingerprint(fp: str) -> str:
    """Human form: first 16 hex digits in groups of 4 (``ab12 cd34 …``)."""
    return " ".join(fp[i:i + 4] for i in range(0, 16, 4))


def spaced_fingerprint(fp: str) -> str:
    """The full fingerprint in 16 groups of 4 hex digits, to read aloud and
    compare (``1d65 a3f0 … 9c2e``): what receipts print and what ``trust
    add`` and ``--expect-signer`` take (spaces optional)."""
    return " ".join(fp[i:i + 4] for i in range(0, len(fp), 4))


def parse_fingerprint(text: str, *, what: str = "a signer fingerprint") -> str:
    """A full fingerprint as typed by a person: 64 hex digits, spaces,
    colons and case ignored. A prefix is a usage error: 16 hex digits are
    only 64 bits, within reach of a determined forger."""
    digits = "".join(text.split()).replace(":", "").lower()
    if len(digits) != 64 or any(c not in "0123456789abcdef" for c in digits):
        raise UsageError(f"{what} must be the full fingerprint: 64 hex digits (spaces allowed), "
                         f"got {len(digits)} characters",
                         hint="copy all 16 groups of 4 from the sender's receipt or `dossierkit keys show`")
    return digits


def fingerprint_matches(fp: str, expected: str) -> bool:
    """Compare a full fingerprint with an expected one, given in full
    (spaces, colons and case ignored; a prefix is a UsageError)."""
    return fp.lower() == parse_fingerprint(expected, what="the expected signer")


@dataclass(frozen=True)
class SignerInfo:
    public_key_b64: str
    fingerprint: str


def sign_bytes(key: Ed25519PrivateKey, data: bytes) -> dict[str, str]:
    pub = key.public_key()
    return {
        "alg": ALG,
        "public_key": base64.b64encode(raw_public_bytes(pub)).decode("ascii"),
        "fingerprint": fingerprint(pub),
        "value": base64.b64encode(key.sign(data)).decode("ascii"),
    }


def verify_bytes(envelope: Any, data: bytes, *, what: str = "signature") -> SignerInfo:
    """Check a signature envelope over *data*; raise IntegrityError naming *what*."""
    if not isinstance(envelope, dict) or envelope.get("alg") != ALG:
        raise IntegrityError(f"{what}: missing or not an {ALG} signature")
    try:
        raw = base64.b64decode(envelope["public_key"], validate=True)
        sig = base64.b64decode(envelope["value"], validate=True)
        pub = Ed25519PublicKey.from_public_bytes(raw)
    except (KeyError, ValueError, TypeError) as exc:
        raise IntegrityError(f"{what}: malformed signature ({exc.__class__.__name__})") from exc
    fp = fingerprint(raw)
    if envelope.get("fingerprint") and envelope["fingerprint"] != fp:
        raise IntegrityError(f"{what}: the fingerprint does not belong to the embedded public key")
    try:
        pub.verify(sig, data)
    except InvalidSignature as exc:
        raise IntegrityError(f"{what}: signature does not match the signed content (altered)") from exc
    return SignerInfo(envelope["public_key"], fp)


def sign_document(doc: dict[str, Any], key: Ed25519PrivateKey) -> dict[str, Any]:
    """Return a copy of *doc* with a ``signature`` member over its canonical form."""
    body = {k: v for k, v in doc.items() if k != "signature"}
    return {**body, "signature": sign_bytes(key, canonical_json(body))}


def verify_document(doc: Any, *, what: str = "document", expect_signer: str | None = None) -> SignerInfo:
    if not isinstance(doc, dict) or "signature" not in doc:
        raise IntegrityError(f"{what}: not signed (no signature member)")
    body = {k: v for k, v in doc.items() if k != "signature"}
    try:
        data = canonical_json(body)
    except ValueError as exc:
        raise IntegrityError(f"{what}: not in canonical form ({exc})") from exc
    info = verify_bytes(doc["signature"], data, what=what)
    if expect_signer and not fingerprint_matches(info.fingerprint, expect_signer):
        raise IntegrityError(f"{what}: signed by {spaced_fingerprint(info.fingerprint)}, "
                             f"not by the expected signer {spaced_fingerprint(parse_fingerprint(expect_signer))}")
    return info
