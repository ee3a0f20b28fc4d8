"""Establishment certificates (X.509, IGC-Santé style): a detached CMS
(PKCS#7) signature of some bytes, and its verification against a CA.

Signing uses ``cryptography``'s PKCS#7 builder (DetachedSignature, Binary:
the exact bytes, no MIME canonicalisation; SHA-256; the signed attributes
contentType, signingTime, messageDigest are added by the builder); the
signer's certificate and any chain certificates of the PEM file are
embedded. ``openssl cms -verify -binary -inform DER -in SIG.P7S -content
DATA -CAfile ca.pem`` verifies the result without dossierkit.

Verification (``cryptography`` has no CMS verifier: the SignedData is read
here with a small strict DER reader, bounded to :data:`MAX_P7S_BYTES`):

1. one SignerInfo, digest SHA-256, signed attributes present; its
   ``messageDigest`` equals SHA-256 of the data and ``contentType`` is
   id-data; the signature (ECDSA-SHA256 or RSA PKCS#1 v1.5-SHA256) over
   the DER of the signed attributes verifies with the signer certificate's
   key — the signature is over the *exact* bytes;
2. the signer certificate chains to a certificate of the CA file
   (``cryptography.x509.verification``, at the time of verification, like
   openssl) and is valid now; its ``signingTime`` falls within its validity;
3. purpose, as openssl's ``smimesign``: Key Usage present with
   digitalSignature or nonRepudiation; Extended Key Usage absent, or
   holding emailProtection (or anyExtendedKeyUsage).

Errors are IntegrityError (one line naming what failed); a bad CA file or
certificate/key file is InputError.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from dossierkit.errors import InputError, IntegrityError
from dossierkit.trust.keys import home_dir

if TYPE_CHECKING:
    from cryptography import x509

# cryptography's X.509 and PKCS#7 modules are a noticeable share of a
# command's start-up (docs/performance.md, "Imports kept out of start-up") and
# only a package with an establishment certificate needs them: the functions
# below import them, so pack without --signing-cert and verify of a package
# without MANIFEST.P7S do not pay it.

MAX_P7S_BYTES = 256 * 1024
CA_FILE_NAME = "establishment-ca.pem"  # the configured CA: $DOSSIERKIT_HOME/establishment-ca.pem


def load_ca(ca_file: str | os.PathLike | None = None) -> list[x509.Certificate] | None:
    """The CA certificates MANIFEST.P7S must chain to: *ca_file*, else
    ``$DOSSIERKIT_HOME/establishment-ca.pem`` when it exists, else None."""
    if ca_file is None:
        default = home_dir() / CA_FILE_NAME
        if not default.is_file():
            return None
        ca_file = default
    return load_certificates(ca_file, what="CA file")
MAX_PEM_BYTES = 1024 * 1024

# DER contents of the object identifiers used (no OID arithmetic needed).
_OID_SIGNED_DATA = bytes.fromhex("2a864886f70d010702")
_OID_DATA = bytes.fromhex("2a864886f70d010701")
_OID_CONTENT_TYPE = bytes.fromhex("2a864886f70d010903")
_OID_MESSAGE_DIGEST = bytes.fromhex("2a864886f70d010904")
_OID_SIGNING_TIME = bytes.fromhex("2a864886f70d010905")
_OID_SHA256 = bytes.fromhex("608648016503040201")
_OID_ECDSA_SHA256 = bytes.fromhex("2a8648ce3d040302")
_OID_RSA = bytes.fromhex("2a864886f70d010101")
_OID_RSA_SHA256 = bytes.fromhex("2a864886f70d01010b")


# ---------------------------------------------------------------------------
# signing


@dataclass(frozen=True)
class CertSigner:
    """An establishment's certificate (plus chain) and its private key."""

    certificate: x509.Certificate
    key: Any  # ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
    chain: tuple[x509.Certificate, ...] = ()


def _read(path: Path, what: str) -> bytes:
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_PEM_BYTES + 1)
    except OSError as exc:
        raise InputError(f"cannot read the {what} ({exc.strerror})", path=path) from exc
    if len(data) > MAX_PEM_BYTES:
        raise InputError(f"the {what} is larger than any PEM file needs", path=path)
    return data


def load_certificates(path: str | os.PathLike, *, what: str = "certificate file") -> list[x509.Certificate]:
    """Every certificate of a PEM file (at least one)."""
    from cryptography import x509  # X.509's start-up cost: see the note at the top

    path = Path(path)
    try:
        certs = x509.load_pem_x509_certificates(_read(path, what))
    except ValueError as exc:
        raise InputError(f"the {what} holds no valid PEM certificate", path=path) from exc
    return certs


def load_cert_signer(cert_path: str | os.PathLike, key_path: str | os.PathLike | None = None) -> CertSigner:
    """The certificate (first of *cert_path*; the others are its chain) and
    its unencrypted PEM private key (*key_path*, default: *cert_path*
    itself, for a combined PEM). Only RSA and EC keys sign CMS here."""
    certs = load_certificates(cert_path, what="signing certificate")
    kpath = Path(key_path or cert_path)
    try:
        key = serialization.load_pem_private_key(_read(kpath, "certificate's private key"), password=None)
    except (ValueError, TypeError) as exc:
        raise InputError("not an unencrypted PEM private key (the certificate's key)", path=kpath,
                         hint="give it with --signing-cert-key KEY.pem") from exc
    if not isinstance(key, (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey)):
        raise InputError("the certificate's key must be an RSA or EC key", path=kpath)
    pub = serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(serialization.Encoding.DER, pub) != \
            certs[0].public_key().public_bytes(serialization.Encoding.DER, pub):
        raise InputError("this private key does not belong to the signing certificate", path=kpath)
    now = dt.datetime.now(dt.timezone.utc)
    if not certs[0].not_valid_before_utc <= now <= certs[0].not_valid_after_utc:
        raise InputError(f"the signing certificate is not valid today (valid {certs[0].not_valid_before_utc:%Y-%m-%d} "
                         f"to {certs[0].not_valid_after_utc:%Y-%m-%d})", path=cert_path,
                         hint="renew it with your certification authority")
    return CertSigner(certs[0], key, tuple(certs[1:]))


def sign_detached(signer: CertSigner, data: bytes) -> bytes:
    """DER detached CMS SignedData of *data* (module docstring)."""
    from cryptography.hazmat.primitives.serialization import pkcs7  # start-up cost: see the note at the top

    builder = pkcs7.PKCS7SignatureBuilder().set_data(data).add_signer(signer.certificate, signer.key,
                                                                       hashes.SHA256())
    for cert in signer.chain:
        builder = builder.add_certificate(cert)
    return builder.sign(serialization.Encoding.DER, [pkcs7.PKCS7Options.DetachedSignature,
                                                      pkcs7.PKCS7Options.Binary])


# ---------------------------------------------------------------------------
# a strict, bounded DER reader (definite lengths only)


def _tlv(buf: bytes, pos: int, end: int) -> tuple[int, int, int]:
    """(tag, value start, value end) of the element at *pos*."""
    if pos + 2 > end:
        raise ValueError("truncated")
    tag, first = buf[pos], buf[pos + 1]
    if tag & 0x1F == 0x1F:
        raise ValueError("multi-byte tags are not used in CMS")
    pos += 2
    if first < 0x80:
        length = first
    else:
        n = first & 0x7F
        if n == 0 or n > 4 or pos + n > end:
            raise ValueError("indefinite or oversized length")
        length = int.from_bytes(buf[pos:pos + n], "big")
        pos += n
    if pos + length > end:
        raise ValueError("length past the end")
    return tag, pos, pos + length


def _children(buf: bytes, start: int, end: int) -> list[tuple[int, int, int, int]]:
    """The elements inside [start, end): (tag, value start, value end, element start)."""
    out = []
    pos = start
    while pos < end:
        tag, vs, ve = _tlv(buf, pos, end)
        out.append((tag, vs, ve, pos))
        pos = ve
        if len(out) > 64:
            raise ValueError("too many elements")
    return out


@dataclass(frozen=True)
class CertificateInfo:
    """The establishment certificate that signed, once verified."""

    subject: str
    organization: str | None
    issuer: str
    serial: str
    not_after: str
    sha256: str  # of the certificate's DER
    signing_time: str | None
    chained: bool  # verified against a CA file

    @property
    def name(self) -> str:
        return self.organization or self.subject

    def to_dict(self) -> dict[str, Any]:
        return {"subject": self.subject, "organization": self.organization, "issuer": self.issuer,
                "serial": self.serial, "not_after": self.not_after, "sha256": self.sha256,
                "signing_time": self.signing_time, "chained_to_ca": self.chained}


def _time(buf: bytes, tag: int) -> dt.datetime:
    text = buf.decode("ascii")
    fmt = "%y%m%d%H%M%SZ" if tag == 0x17 else "%Y%m%d%H%M%SZ"
    return dt.datetime.strptime(text, fmt).replace(tzinfo=dt.timezone.utc)


def _purpose_ku(_policy, _cert, ext) -> None:
    if ext is None or not (ext.digital_signature or ext.content_commitment):
        raise ValueError("its Key Usage does not allow signing (digitalSignature / nonRepudiation)")


def _purpose_eku(_policy, _cert, ext) -> None:
    from cryptography.x509.oid import ExtendedKeyUsageOID  # loaded by then (verify_detached)

    if ext is not None and ExtendedKeyUsageOID.EMAIL_PROTECTION not in ext \
            and ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE not in ext:
        raise ValueError("its Extended Key Usage is not for signing (emailProtection)")


def verify_detached(p7s: bytes, data: bytes, ca: list[x509.Certificate] | None, *, what: str = "signature",
                    now: dt.datetime | None = None) -> CertificateInfo:
    """Check the detached CMS *p7s* over *data*; with *ca*, the chain and
    purpose too (module docstring). Raises IntegrityError naming *what*."""
    from cryptography import x509  # X.509's start-up cost: see the note at the top
    from cryptography.x509 import verification
    from cryptography.x509.oid import NameOID

    if len(p7s) > MAX_P7S_BYTES:
        raise IntegrityError(f"{what}: larger than any CMS signature needs")
    try:
        signer_cert, others, info = _parse_and_check(p7s, data)
    except (ValueError, IndexError, UnicodeDecodeError) as exc:
        raise IntegrityError(f"{what}: not a valid detached CMS signature ({exc})") from exc
    except InvalidSignature as exc:
        raise IntegrityError(f"{what}: the CMS signature does not match the signed content (altered)") from exc
    signing_time = info.get("signing_time")
    if signing_time is not None and not (signer_cert.not_valid_before_utc <= signing_time
                                         <= signer_cert.not_valid_after_utc):
        raise IntegrityError(f"{what}: signed on {signing_time:%Y-%m-%d}, outside the certificate's validity")
    if ca is not None:
        when = now or dt.datetime.now(dt.timezone.utc)
        ee = (verification.ExtensionPolicy.permit_all()
              .require_present(x509.KeyUsage, verification.Criticality.AGNOSTIC, _purpose_ku)
              .may_be_present(x509.ExtendedKeyUsage, verification.Criticality.AGNOSTIC, _purpose_eku))
        verifier = (verification.PolicyBuilder().store(verification.Store(ca)).time(when)
                    .extension_policies(ca_policy=verification.ExtensionPolicy.webpki_defaults_ca(), ee_policy=ee)
                    .build_client_verifier())
        try:
            verifier.verify(signer_cert, others)
        except verification.VerificationError as exc:
            raise IntegrityError(f"{what}: the certificate {_cn(signer_cert)!r} is not accepted: "
                                 f"{_why(str(exc), signer_cert, when)}") from exc
    org = signer_cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    return CertificateInfo(
        subject=signer_cert.subject.rfc4514_string(), organization=str(org[0].value) if org else None,
        issuer=signer_cert.issuer.rfc4514_string(), serial=format(signer_cert.serial_number, "x"),
        not_after=signer_cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
        sha256=hashlib.sha256(signer_cert.public_bytes(serialization.Encoding.DER)).hexdigest(),
        signing_time=signing_time.strftime("%Y-%m-%dT%H:%M:%SZ") if signing_time else None, chained=ca is not None)


def _cn(cert: x509.Certificate) -> str:
    from cryptography.x509.oid import NameOID  # loaded by then (verify_detached)

    cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(cn[0].value) if cn else cert.subject.rfc4514_string()


def _why(message: str, cert: x509.Certificate, when: dt.datetime) -> str:
    if not cert.not_valid_before_utc <= when <= cert.not_valid_after_utc:
        return f"expired or not yet valid (valid {cert.not_valid_before_utc:%Y-%m-%d} to " \
               f"{cert.not_valid_after_utc:%Y-%m-%d})"
    if "candidates exhausted" in message:
        return "not issued under the CA file given (unknown or revoked establishment)"
    if "validator failed" in message:
        return "wrong purpose — " + message.split("ValueError: ", 1)[-1].split(" (encountered", 1)[0]
    return message.split(" (encountered", 1)[0]


def _parse_and_check(p7s: bytes, data: bytes) -> tuple[x509.Certificate, list[x509.Certificate], dict[str, Any]]:
    from cryptography import x509  # loaded by then (verify_detached)

    tag, s, e = _tlv(p7s, 0, len(p7s))
    if tag != 0x30 or e != len(p7s):
        raise ValueError("not one DER SEQUENCE")
    ci = _children(p7s, s, e)
    if len(ci) != 2 or ci[0][0] != 0x06 or p7s[ci[0][1]:ci[0][2]] != _OID_SIGNED_DATA or ci[1][0] != 0xA0:
        raise ValueError("not a CMS SignedData")
    (sd,) = _children(p7s, ci[1][1], ci[1][2])
    parts = _children(p7s, sd[1], sd[2])
    # version, digestAlgorithms, encapContentInfo, [0] certificates, [1] crls?, signerInfos
    encap = _children(p7s, parts[2][1], parts[2][2])
    if p7s[encap[0][1]:encap[0][2]] != _OID_DATA or len(encap) != 1:
        raise ValueError("the content is not detached id-data")
    certs = [x509.load_der_x509_certificate(p7s[t[3]:t[2]]) for p in parts[3:-1] if p[0] == 0xA0
             for t in _children(p7s, p[1], p[2])]
    signer_infos = _children(p7s, parts[-1][1], parts[-1][2])
    if parts[-1][0] != 0x31 or len(signer_infos) != 1:
        raise ValueError("exactly one signer expected")
    si = _children(p7s, signer_infos[0][1], signer_infos[0][2])
    sid = _children(p7s, si[1][1], si[1][2])
    issuer_der, serial = p7s[sid[0][3]:sid[0][2]], int.from_bytes(p7s[sid[1][1]:sid[1][2]], "big", signed=True)
    signer = [c for c in certs if c.serial_number == serial and c.issuer.public_bytes() == issuer_der]
    if not signer:
        raise ValueError("the signer's certificate is not embedded")
    digest_alg = _children(p7s, si[2][1], si[2][2])
    if p7s[digest_alg[0][1]:digest_alg[0][2]] != _OID_SHA256:
        raise ValueError("digest is not SHA-256")
    if si[3][0] != 0xA0:
        raise ValueError("no signed attributes")
    attrs: dict[bytes, tuple[int, bytes]] = {}
    for a in _children(p7s, si[3][1], si[3][2]):
        oid, values = _children(p7s, a[1], a[2])
        (value,) = _children(p7s, values[1], values[2])
        if p7s[oid[1]:oid[2]] in attrs:
            raise ValueError("a signed attribute appears twice")
        attrs[p7s[oid[1]:oid[2]]] = (value[0], p7s[value[1]:value[2]])
    if attrs.get(_OID_CONTENT_TYPE) != (0x06, _OID_DATA):
        raise ValueError("contentType attribute is not id-data")
    if attrs.get(_OID_MESSAGE_DIGEST) != (0x04, hashlib.sha256(data).digest()):
        raise InvalidSignature("messageDigest differs from the content's SHA-256")
    signed = b"\x31" + p7s[si[3][3] + 1:si[3][2]]  # [0] IMPLICIT → SET OF, as signed
    sig_alg = p7s[_children(p7s, si[4][1], si[4][2])[0][1]:_children(p7s, si[4][1], si[4][2])[0][2]]
    signature = p7s[si[5][1]:si[5][2]]
    pub = signer[0].public_key()
    if isinstance(pub, ec.EllipticCurvePublicKey) and sig_alg == _OID_ECDSA_SHA256:
        pub.verify(signature, signed, ec.ECDSA(hashes.SHA256()))
    elif isinstance(pub, rsa.RSAPublicKey) and sig_alg in (_OID_RSA, _OID_RSA_SHA256):
        pub.verify(signature, signed, padding.PKCS1v15(), hashes.SHA256())
    else:
        raise ValueError("unsupported signature algorithm (ECDSA-SHA256 or RSA-SHA256 expected)")
    info: dict[str, Any] = {}
    if _OID_SIGNING_TIME in attrs:
        info["signing_time"] = _time(attrs[_OID_SIGNING_TIME][1], attrs[_OID_SIGNING_TIME][0])
    return signer[0], [c for c in certs if c is not signer[0]], info
