"""Establishment certificates (X.509, IGC-Santé style): pack --signing-cert
writes DOSSIER/MANIFEST.P7S, a detached CMS signature of MANIFEST.JSON;
verify --ca-file checks it. Every case is cross-checked with
`openssl cms -verify` on the extracted files: the same verdict."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dossierkit.errors import InputError, IntegrityError
from dossierkit.package import layout
from dossierkit.package.pack import pack
from dossierkit.package.verify import verify_package
from dossierkit.trust.cms import load_ca, load_cert_signer, sign_detached, verify_detached
from dossierkit.trust.store import SenderPolicy
from tests.conftest import need_tool, run_cli
from tests.pkg_fixtures import full_workspace
from tests.reliability import craft
from tests.x509_fixtures import make_pki

PASSWORD = "tulipe-orage-cadran-mesure-violon-24"
KEY = Ed25519PrivateKey.generate()  # never trusted here: the certificate must make the sender known
REFUSED = {"expired": "expired", "foreign": "not issued under the CA", "wrong-purpose": "wrong purpose"}


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("x509")
    pki = make_pki(tmp / "pki")
    ws = full_workspace(tmp / "ws")
    res = pack(ws, tmp / "signed.zip", signing_key=KEY, password=PASSWORD,
               cert_signer=load_cert_signer(*pki.certs["good"]))
    (tmp / "pw.txt").write_text(PASSWORD + "\n")
    return tmp, pki, res


def _openssl(p7s: bytes, manifest: bytes, ca: Path, folder: Path) -> subprocess.CompletedProcess:
    (folder / "MANIFEST.P7S").write_bytes(p7s)
    (folder / "MANIFEST.JSON").write_bytes(manifest)
    return subprocess.run([need_tool("openssl"), "cms", "-verify", "-binary", "-inform", "DER",
                           "-in", folder / "MANIFEST.P7S", "-content", folder / "MANIFEST.JSON", "-CAfile", ca,
                           "-out", "/dev/null"], capture_output=True, text=True)


def test_pack_writes_p7s_after_the_seal_and_openssl_verifies_it(env, tmp_path):
    tmp, pki, res = env
    items = craft.entries(res.package, "password", password=PASSWORD)
    assert [n for n, _ in items[:4]] == [*layout.SEAL_FILES, layout.CMS_SIGNATURE]
    d = dict(items)
    r = _openssl(d[layout.CMS_SIGNATURE], d[layout.MANIFEST], pki.ca, tmp_path)
    assert r.returncode == 0 and "Verification successful" in r.stderr, r.stderr
    # the exact bytes: one byte more in the manifest and openssl refuses too
    r = _openssl(d[layout.CMS_SIGNATURE], d[layout.MANIFEST] + b" ", pki.ca, tmp_path)
    assert r.returncode != 0
    # the P7S is in neither the manifest nor SHA256SUMS (it signs the manifest: docs/package-format.md)
    assert layout.CMS_SIGNATURE.encode() not in d[layout.MANIFEST] + d[layout.SUMS]


def test_verify_with_the_ca_names_the_establishment(env):
    _tmp, pki, res = env
    rep = verify_package(res.package, password=PASSWORD, ca=load_ca(pki.ca), senders=SenderPolicy())
    assert rep.ok, rep.failures
    assert rep.signer.basis == "certificate" and rep.signer.name == "CHU de Nantes"
    assert rep.certificate.chained and rep.certificate.issuer.startswith("CN=Test AC")
    # no CA: the CMS signature is still checked, but the key stays unknown (exit 6)
    rep = verify_package(res.package, password=PASSWORD, senders=SenderPolicy())
    assert rep.verdict == "untrusted" and rep.certificate is not None and not rep.certificate.chained


@pytest.mark.parametrize("which", sorted(REFUSED))
def test_bad_certificates_are_refused_by_verify_and_by_openssl(env, tmp_path, which):
    tmp, pki, res = env
    items = craft.entries(res.package, "password", password=PASSWORD)
    d = dict(items)
    cert, key = pki.certs[which]
    signer = load_cert_signer(cert, key) if which != "expired" else _expired_signer(cert, key)
    p7s = sign_detached(signer, d[layout.MANIFEST])
    forged = craft.write_package(tmp_path / f"{which}.zip", "password",
                                 [(n, p7s if n == layout.CMS_SIGNATURE else x) for n, x in items], password=PASSWORD)
    rep = verify_package(forged, password=PASSWORD, ca=load_ca(pki.ca), senders=SenderPolicy())
    assert rep.verdict == "altered" and rep.exit_code == 3
    (fail,) = [f for f in rep.failures if f.check == "certificate"]
    assert REFUSED[which] in fail.message or (which == "expired" and "outside the certificate" in fail.message), \
        fail.message
    r = _openssl(p7s, d[layout.MANIFEST], pki.ca, tmp_path)
    assert r.returncode != 0 and "Verification successful" not in r.stderr, r.stderr
    r = run_cli("verify", forged, "--password-file", tmp / "pw.txt", "--ca-file", pki.ca, "--json")
    assert r.returncode == 3 and "certificate" in {f["check"] for f in json.loads(r.stdout)["failures"]}, r.stderr


def _expired_signer(cert: Path, key: Path):
    """load_cert_signer refuses an expired certificate at pack time; an
    attacker's tool would not: build the signer by hand."""
    with pytest.raises(InputError, match="not valid today"):
        load_cert_signer(cert, key)
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    from dossierkit.trust.cms import CertSigner

    return CertSigner(x509.load_pem_x509_certificate(cert.read_bytes()),
                      serialization.load_pem_private_key(key.read_bytes(), None))


def test_a_ca_without_p7s_leaves_the_sender_to_the_trust_store_and_an_altered_p7s_fails(env, tmp_path):
    tmp, pki, res = env
    items = craft.entries(res.package, "password", password=PASSWORD)
    without = craft.write_package(tmp_path / "without.zip", "password",
                                  [(n, x) for n, x in items if n != layout.CMS_SIGNATURE], password=PASSWORD)
    # the P7S removed: MANIFEST.SIG still proves the manifest; with the CA alone the sender is unknown (exit 6)
    rep = verify_package(without, password=PASSWORD, ca=load_ca(pki.ca), senders=SenderPolicy())
    assert rep.verdict == "untrusted" and [f.check for f in rep.failures] == ["sender"], rep.failures
    assert rep.certificate is None
    # a sender known by its key is accepted with a CA configured as well (most senders sign without one)
    rep = verify_package(without, password=PASSWORD, ca=load_ca(pki.ca),
                         senders=SenderPolicy(expected=res.signer_fingerprint))
    assert rep.verdict == "intact" and rep.ok, rep.failures
    d = dict(items)
    bad = bytearray(d[layout.CMS_SIGNATURE])
    bad[-5] ^= 1  # inside the signature value
    altered = craft.write_package(tmp_path / "altered.zip", "password",
                                  [(n, bytes(bad) if n == layout.CMS_SIGNATURE else x) for n, x in items],
                                  password=PASSWORD)
    rep = verify_package(altered, password=PASSWORD, senders=SenderPolicy())
    assert rep.verdict == "altered" and [f.check for f in rep.failures if f.check != "sender"] == ["certificate"]
    with pytest.raises(IntegrityError, match="not a valid detached CMS"):
        verify_detached(b"\x30\x03\x02\x01\x01", b"x", None)


def test_cli_pack_with_certificate_and_default_ca_in_home(tmp_path):
    pki = make_pki(tmp_path / "pki")
    ws = full_workspace(tmp_path / "ws")
    home = tmp_path / "home"
    env = {"DOSSIERKIT_HOME": str(home), "DOSSIERKIT_JOURNAL": ""}
    assert run_cli("keys", "generate", env=env).returncode == 0
    (tmp_path / "pw.txt").write_text(PASSWORD + "\n")
    cert, key = pki.certs["good"]
    r = run_cli("pack", ws.root, "-o", tmp_path / "d.zip", "--password-file", tmp_path / "pw.txt",
                "--signing-cert", cert, "--signing-cert-key", key, "--json", env=env)
    assert r.returncode == 0, r.stderr
    r = run_cli("pack", ws.root, "-o", tmp_path / "e.zip", "--password-file", tmp_path / "pw.txt",
                "--signing-cert", pki.certs["expired"][0], "--signing-cert-key", pki.certs["expired"][1], env=env)
    assert r.returncode == 2 and "not valid today" in r.stderr and not (tmp_path / "e.zip").exists(), r.stderr
    # a receiving side whose only trust is the CA (configured in $DOSSIERKIT_HOME)
    recv = {"DOSSIERKIT_HOME": str(tmp_path / "recv"), "DOSSIERKIT_JOURNAL": ""}
    r = run_cli("verify", tmp_path / "d.zip", "--password-file", tmp_path / "pw.txt", env=recv)
    assert r.returncode == 6, r.stderr
    (tmp_path / "recv").mkdir(exist_ok=True)
    (tmp_path / "recv" / "establishment-ca.pem").write_bytes(pki.ca.read_bytes())
    r = run_cli("verify", tmp_path / "d.zip", "--password-file", tmp_path / "pw.txt", "--json", env=recv)
    assert r.returncode == 0, r.stdout + r.stderr
    assert json.loads(r.stdout)["signer"]["name"] == "CHU de Nantes"
    r = run_cli("unpack", tmp_path / "d.zip", tmp_path / "dest", "--password-file", tmp_path / "pw.txt", env=recv)
    assert r.returncode == 0 and (tmp_path / "dest" / layout.CMS_SIGNATURE).is_file(), r.stderr
    # ack judges the sender as verify does: the CA names it (it used to say "UNKNOWN key", exit 6)
    assert run_cli("keys", "generate", env=recv).returncode == 0
    r = run_cli("ack", tmp_path / "d.zip", "-o", tmp_path / "acks", "--password-file", tmp_path / "pw.txt",
                "--json", env=recv)
    assert r.returncode == 0, r.stdout + r.stderr
    ack = json.loads(Path(json.loads(r.stdout)["json"]).read_text(encoding="utf-8"))
    assert ack["verification"]["sender"]["name"] == "CHU de Nantes", ack["verification"]
    r = run_cli("ack", tmp_path / "d.zip", "-o", tmp_path / "acks2", "--password-file", tmp_path / "pw.txt",
                "--ca-file", tmp_path / "nowhere.pem", env=recv)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and not (tmp_path / "acks2").exists(), r.stderr
