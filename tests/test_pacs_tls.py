"""PACS over TLS, against a real Orthanc (tests/orthanc_fixtures.py) whose DICOM port speaks DICOM TLS only
(``DicomTlsEnabled``, mutual: our client certificate must chain to ``DicomTlsTrustedCertificates``), and its
DICOMweb over HTTPS through stunnel in front of its HTTP port — the way Orthanc is commonly deployed, and the
only way here: Orthanc's own HTTPS (``SslEnabled``) crashes in Debian 12 on the first TLS connection (civetweb
1.15 with OpenSSL 3 calls a NULL function pointer in its worker thread: gdb backtrace in docs/pacs.md). A CA,
the server's certificate (127.0.0.1 / localhost) and our client certificate are made here with
`cryptography`; a second CA, unrelated, plays the wrong one.

With the right CA in pacs.toml (``tls = true``, ``tls_ca``, ``tls_cert``, ``tls_key`` for DIMSE; an https URL
and ``tls_ca`` for DICOMweb) echo, find, gather and deliver succeed; with the wrong CA each is one line naming
the certificate problem, exit 7, nothing gathered or sent (docs/pacs.md "TLS")."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import secrets
import ssl
import subprocess
import time
import urllib.request
from pathlib import Path

import pydicom
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from conftest import need_tool
from images_fixtures import readable_third_party_files
from orthanc_fixtures import OUR_AE, PATIENT, Orthanc, pacs_ns, pacs_toml, run_in_ns  # noqa: F401
from pkg_fixtures import add_documents, new_workspace
from x509_fixtures import make_ca

pytestmark = pytest.mark.interop

NOW = dt.datetime.now(dt.timezone.utc)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"), x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _leaf(ca, ca_key, cn: str, *, server: bool):
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(ca.subject).public_key(key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(NOW - dt.timedelta(days=1))
               .not_valid_after(NOW + dt.timedelta(days=30))
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                                     ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                              critical=False))
    if server:
        builder = builder.add_extension(x509.SubjectAlternativeName([
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]), critical=False)
    return builder.sign(ca_key, hashes.SHA256()), key


def _pem(cert) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption())


def _write(path: Path, data: bytes, mode: int = 0o644) -> str:
    path.write_bytes(data)
    os.chmod(path, mode)
    return str(path)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("tls-pki")
    ca, ca_key = make_ca("dossierkit test CA")
    wrong, _ = make_ca("Some other CA")
    server, server_key = _leaf(ca, ca_key, "orthanc-tls", server=True)
    client, client_key = _leaf(ca, ca_key, "DOSSIERKIT client", server=False)
    return {"ca": _write(d / "ca.pem", _pem(ca)), "wrong_ca": _write(d / "wrong-ca.pem", _pem(wrong)),
            "server": _write(d / "server.pem", _pem(server)),
            "server_key": _write(d / "server.key", _key_pem(server_key), 0o600),
            "server_both": _write(d / "server-both.pem", _pem(server) + _key_pem(server_key), 0o600),
            "client": _write(d / "client.pem", _pem(client)),
            "client_key": _write(d / "client.key", _key_pem(client_key), 0o600)}


HTTPS_PORT = 8446


@pytest.fixture(scope="module")
def tls_orthanc(pacs_ns, pki, tmp_path_factory):
    """One Orthanc, DICOM TLS (mutual) on 4246, HTTP on 8046 behind stunnel's HTTPS on 8446, loaded with patient
    ID1's files."""
    need_tool("stunnel")
    folder = tmp_path_factory.mktemp("orthanc-tls")
    srv = Orthanc(pacs_ns, folder, "TLSPACS", 8046, 4246, extra={
        "DicomTlsEnabled": True, "DicomTlsCertificate": pki["server"], "DicomTlsPrivateKey": pki["server_key"],
        "DicomTlsTrustedCertificates": pki["ca"], "DicomTlsRemoteCertificateRequired": True})
    srv.start()
    conf = folder / "stunnel.conf"
    conf.write_text(f"foreground = yes\npid =\ndebug = 4\n[dicomweb]\naccept = 127.0.0.1:{HTTPS_PORT}\n"
                    f"connect = 127.0.0.1:8046\ncert = {pki['server']}\nkey = {pki['server_key']}\n")
    log = open(folder / "stunnel.log", "ab")
    tunnel = subprocess.Popen([*pacs_ns.prefix(), "stunnel", str(conf)], stdout=log, stderr=log)
    log.close()
    try:
        _wait_https(pacs_ns, pki["ca"], tunnel)
        files = [f for f in readable_third_party_files()
                 if str(pydicom.dcmread(f, stop_before_pixels=True, force=True).get("PatientID", "")) == PATIENT]
        assert srv.upload(files) > 10
        srv.loaded = _instances(srv)
        yield srv
    finally:
        tunnel.terminate()
        tunnel.wait(timeout=10)
        srv.stop()


def _wait_https(ns, ca: str, tunnel: subprocess.Popen) -> None:
    context = ssl.create_default_context(cafile=ca)
    deadline = time.monotonic() + 30
    while True:
        if tunnel.poll() is not None:
            raise RuntimeError(f"stunnel exited ({tunnel.returncode})")
        try:
            with ns.entered(), urllib.request.urlopen(f"https://127.0.0.1:{HTTPS_PORT}/system", timeout=5,
                                                      context=context):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@pytest.fixture
def tls_home(tmp_path, pki, tls_orthanc, monkeypatch):
    home = tmp_path / "home"
    dimse = {"ae_title": "TLSPACS", "host": "127.0.0.1", "port": 4246, "calling_ae": OUR_AE, "timeout": 10,
             "tls": True, "tls_ca": pki["ca"], "tls_cert": pki["client"], "tls_key": pki["client_key"]}
    web = {"dicomweb": f"https://127.0.0.1:{HTTPS_PORT}/dicom-web", "timeout": 10, "tls_ca": pki["ca"]}
    pacs_toml(home, tls_orthanc, tls_orthanc, **{
        "tls-dimse": dimse, "tls-web": web,
        "wrong-dimse": {**dimse, "tls_ca": pki["wrong_ca"]}, "wrong-web": {**web, "tls_ca": pki["wrong_ca"]},
        "plain-dimse": {k: v for k, v in dimse.items() if not k.startswith("tls")}})
    monkeypatch.setenv("DOSSIERKIT_HOME", str(home))
    assert run_in_ns(tls_orthanc.ns, "keys", "generate").returncode == 0
    return home


def _instances(srv: Orthanc) -> int:
    return len(srv.get("/instances"))


def test_echo_find_gather_deliver_over_tls(pacs_ns, tls_orthanc, tls_home, tmp_path):
    for name in ("tls-dimse", "tls-web"):
        r = run_in_ns(pacs_ns, "pacs", "echo", name)
        assert r.returncode == 0 and "answers" in r.stdout, r.stderr
        r = run_in_ns(pacs_ns, "pacs", "find", name, "--patient-id", PATIENT, "--json")
        assert r.returncode == 0, r.stderr
        assert sum(s["instances"] for s in json.loads(r.stdout)["studies"]) == tls_orthanc.loaded
    packages = {}
    for name in ("tls-dimse", "tls-web"):  # gather: C-GET over DICOM TLS, WADO-RS over HTTPS
        ws = new_workspace(tmp_path / f"ws-{name}")
        add_documents(ws)
        r = run_in_ns(pacs_ns, "import-images", ws.root, "--pacs", name, "--patient-id", PATIENT, "--json")
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["imported"] == tls_orthanc.loaded == len(ws.images())
        pw = tmp_path / f"pw-{name}"
        _write(pw, (secrets.token_urlsafe(24) + "\n").encode(), 0o600)
        out = tmp_path / f"out-{name}" / "p.zip"
        r = run_in_ns(pacs_ns, "pack", ws.root, "-o", out, "--password-file", pw, "--allow-incomplete", "--reason",
                      "test")
        assert r.returncode == 0, r.stderr
        packages[name] = (out, pw)
    expected = {i["MainDicomTags"]["SOPInstanceUID"] for i in tls_orthanc.get("/instances?expand")}
    for name, (out, pw) in packages.items():  # deliver: C-STORE over DICOM TLS, STOW-RS over HTTPS
        tls_orthanc.clear()
        r = run_in_ns(pacs_ns, "deliver", out, "--pacs", name, "--password-file", pw, "--json")
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["stored"] == len(expected)
        assert tls_orthanc.instance_uids() == expected


def test_wrong_ca_or_no_tls_is_one_line_exit_7_and_nothing_moves(pacs_ns, tls_orthanc, tls_home, tmp_path):
    for name in ("wrong-dimse", "wrong-web"):
        for args in (["pacs", "echo", name], ["pacs", "find", name, "--patient-id", PATIENT]):
            r = run_in_ns(pacs_ns, *args)
            assert r.returncode == 7, (args, r.stderr)
            assert r.stderr.count("\n") == 1, r.stderr
            assert "certificate" in r.stderr and "tls_ca" in r.stderr, r.stderr
        ws = new_workspace(tmp_path / f"ws-{name}")
        r = run_in_ns(pacs_ns, "import-images", ws.root, "--pacs", name, "--patient-id", PATIENT)
        assert r.returncode == 7 and r.stderr.count("\n") == 1 and "certificate" in r.stderr, r.stderr
        assert not ws.images()
    # C-MOVE to ourselves would bring the images back in clear: refused before anything is asked
    r = run_in_ns(pacs_ns, "import-images", tmp_path / "ws-wrong-dimse", "--pacs", "tls-dimse", "--patient-id",
                  PATIENT, "--move-to-self")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "tls = true" in r.stderr, r.stderr
    # a plain association to the TLS-only port: refused, one line, exit 7
    r = run_in_ns(pacs_ns, "pacs", "echo", "plain-dimse")
    assert r.returncode == 7 and r.stderr.count("\n") == 1, r.stderr
    # deliver with the wrong CA: nothing reaches the PACS
    ws = new_workspace(tmp_path / "ws-src")
    add_documents(ws)
    assert run_in_ns(pacs_ns, "import-images", ws.root, "--pacs", "tls-dimse", "--patient-id", PATIENT).returncode == 0
    pw = tmp_path / "pw"
    _write(pw, b"correct-horse-battery-staple-41\n", 0o600)
    out = tmp_path / "out" / "p.zip"
    assert run_in_ns(pacs_ns, "pack", ws.root, "-o", out, "--password-file", pw, "--allow-incomplete",
                     "--reason", "t").returncode == 0
    tls_orthanc.clear()
    for name in ("wrong-dimse", "wrong-web"):
        r = run_in_ns(pacs_ns, "deliver", out, "--pacs", name, "--password-file", pw)
        assert r.returncode == 7 and r.stderr.count("\n") == 1 and "certificate" in r.stderr, r.stderr
        assert _instances(tls_orthanc) == 0
