"""A test PKI made with `cryptography`, IGC-Santé style: a root CA and
establishment signing certificates (good, expired, from another CA, wrong
purpose), written as PEM files."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

NOW = dt.datetime.now(dt.timezone.utc)


def _name(cn: str, org: str = "Test IGC-Santé") -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_ca(cn: str = "Test AC Établissements"):
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(_name(cn)).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(NOW - dt.timedelta(days=365)).not_valid_after(NOW + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    return cert, key


def make_leaf(ca, ca_key, cn: str = "CHU de Nantes — signature", *, expired: bool = False,
              purpose: str = "signing"):
    key = ec.generate_private_key(ec.SECP256R1())
    start, end = (NOW - dt.timedelta(days=800), NOW - dt.timedelta(days=30)) if expired else \
        (NOW - dt.timedelta(days=1), NOW + dt.timedelta(days=730))
    signing = purpose == "signing"
    builder = (x509.CertificateBuilder().subject_name(_name(cn, cn.split(" — ")[0])).issuer_name(ca.subject).public_key(key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(start).not_valid_after(end)
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=signing, content_commitment=signing,
                                            key_encipherment=not signing, data_encipherment=False,
                                            key_agreement=False, key_cert_sign=False, crl_sign=False,
                                            encipher_only=False, decipher_only=False), critical=True)
               .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION if signing
                                                     else ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                              critical=False))
    return builder.sign(ca_key, hashes.SHA256()), key


@dataclass
class Pki:
    ca: Path
    other_ca: Path
    certs: dict[str, tuple[Path, Path]]  # name -> (cert.pem, key.pem)


def _write(folder: Path, name: str, cert, key=None) -> tuple[Path, Path | None]:
    c = folder / f"{name}.pem"
    c.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    if key is None:
        return c, None
    k = folder / f"{name}.key"
    k.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()))
    return c, k


def make_pki(folder: Path) -> Pki:
    folder.mkdir(parents=True, exist_ok=True)
    ca, ca_key = make_ca()
    other, other_key = make_ca("Autre AC (not ours)")
    certs = {"good": make_leaf(ca, ca_key), "expired": make_leaf(ca, ca_key, expired=True),
             "foreign": make_leaf(other, other_key, "Établissement inconnu"),
             "wrong-purpose": make_leaf(ca, ca_key, "CHU de Nantes — serveur TLS", purpose="tls")}
    written = {n: _write(folder, n, c, k) for n, (c, k) in certs.items()}
    return Pki(_write(folder, "ca", ca)[0], _write(folder, "other-ca", other)[0], written)  # type: ignore[arg-type]
