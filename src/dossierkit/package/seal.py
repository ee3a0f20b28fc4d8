"""``DOSSIER/MANIFEST.SIG``: the Ed25519 signature over MANIFEST.JSON and SHA256SUMS.

A signed JSON document (dossierkit.trust.signing, docs/signatures.md)::

    {"format": "dossierkit-manifest-signature", "version": 1,
     "signed": {"DOSSIER/MANIFEST.JSON": "<sha256>", "DOSSIER/SHA256SUMS": "<sha256>"},
     "signature": {"alg": "Ed25519", "public_key": …, "fingerprint": …, "value": …}}

The signature covers the canonical JSON of everything but ``signature``, so
both hashes — hence both files, hence every file SHA256SUMS lists — are
bound to the signer. The embedded public key makes the package checkable on
its own; ``--expect-signer`` pins who that must be.
"""

from __future__ import annotations

import hashlib
import json

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dossierkit import strictjson
from dossierkit.errors import IntegrityError
from dossierkit.package.layout import MANIFEST, SIGNATURE, SUMS
from dossierkit.trust.signing import SignerInfo, sign_document, verify_document

SEAL_FORMAT = "dossierkit-manifest-signature"
SEAL_VERSION = 1
MAX_SEAL_BYTES = 64 * 1024


def make_seal(key: Ed25519PrivateKey, manifest: bytes | None, sums: bytes, *, manifest_sha256: str | None = None) -> bytes:
    """MANIFEST.SIG for these two files; *manifest_sha256* instead of the
    manifest's bytes when pack hashed them as they were encoded."""
    digest = manifest_sha256 if manifest is None else hashlib.sha256(manifest).hexdigest()
    doc = {"format": SEAL_FORMAT, "version": SEAL_VERSION,
           "signed": {MANIFEST: digest, SUMS: hashlib.sha256(sums).hexdigest()}}
    return (json.dumps(sign_document(doc, key), indent=1, sort_keys=True) + "\n").encode("ascii")


def check_seal(seal: bytes, manifest: bytes, sums: bytes, *, expect_signer: str | None = None) -> SignerInfo:
    """Verify the signature and that it signs these exact two files."""
    if len(seal) > MAX_SEAL_BYTES:
        raise IntegrityError(f"{SIGNATURE}: too large to be a signature")
    doc = strictjson.loads(seal, what=SIGNATURE, max_bytes=MAX_SEAL_BYTES)
    if not isinstance(doc, dict) or doc.get("format") != SEAL_FORMAT:
        raise IntegrityError(f"{SIGNATURE}: not a dossierkit manifest signature")
    if doc.get("version") != SEAL_VERSION:
        raise IntegrityError(f"{SIGNATURE}: unsupported version {doc.get('version')!r}")
    info = verify_document(doc, what=SIGNATURE, expect_signer=expect_signer)
    signed = doc.get("signed")
    if not isinstance(signed, dict):
        raise IntegrityError(f"{SIGNATURE}: names no signed files")
    for name, data in ((MANIFEST, manifest), (SUMS, sums)):
        if signed.get(name) != hashlib.sha256(data).hexdigest():
            raise IntegrityError(f"{name}: differs from the signed version (altered after signing)")
    return info
