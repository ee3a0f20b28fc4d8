"""The recipients container (age wrapping a plain zip), judged by the age CLI,
Python's zipfile, 7-Zip and sha256sum."""

from __future__ import annotations

import subprocess
import zipfile

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dossierkit.errors import DecryptionError, IntegrityError
from dossierkit.identity import fold
from dossierkit.package.layout import SEAL_FILES
from dossierkit.archive import generate_identity, identity_file_text, load_identities
from dossierkit.package.pack import pack
from dossierkit.package.unpack import unpack_package
from dossierkit.package.verify import verify_package
from tests.conftest import need_tool
from tests.pkg_fixtures import PHI_FORMS, full_workspace, trust_sender

KEY = Ed25519PrivateKey.generate()


@pytest.fixture(scope="module", autouse=True)
def _sender_trusted():
    trust_sender(KEY)  # the receiver's trust store knows this module's sender


@pytest.fixture(scope="module")
def packed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("age")
    secret, public = generate_identity()
    (tmp / "key.txt").write_text(identity_file_text(secret))
    ws = full_workspace(tmp / "ws")
    res = pack(ws, tmp / "out" / "dossier.age", signing_key=KEY, recipients=[public])
    return tmp, res


def test_age_cli_decrypts_and_the_inner_zip_checks(packed, tmp_path):
    tmp, res = packed
    inner = tmp_path / "inner.zip"
    r = subprocess.run([need_tool("age"), "-d", "-i", str(tmp / "key.txt"), "-o", str(inner), str(res.package)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    with zipfile.ZipFile(inner) as zf:
        assert zf.testzip() is None  # every CRC-32 holds
        assert zf.namelist()[:3] == list(SEAL_FILES)
        zf.extractall(tmp_path / "x")
    r = subprocess.run([need_tool("sha256sum"), "-c", "DOSSIER/SHA256SUMS"], cwd=tmp_path / "x", capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stdout
    r = subprocess.run([need_tool("7zz"), "t", str(inner)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout


def test_verify_and_unpack_with_the_identity(packed, tmp_path):
    tmp, res = packed
    ids = load_identities(tmp / "key.txt")
    rep = verify_package(res.package, identities=ids, expect_signer=res.signer_fingerprint)
    assert rep.ok and rep.container == "recipients" and rep.package_sha256 == res.sha256
    out = unpack_package(res.package, tmp_path / "dest", identities=ids)
    assert (out.destination / "DICOMDIR").is_file() and out.report.ok


def test_wrong_key_is_one_clear_error_and_nothing_is_written(packed, tmp_path):
    _tmp, res = packed
    other, _pub = generate_identity()
    (tmp_path / "other.txt").write_text(identity_file_text(other))
    ids = load_identities(tmp_path / "other.txt")
    with pytest.raises(DecryptionError, match="wrong key"):
        verify_package(res.package, identities=ids)
    with pytest.raises(DecryptionError):
        unpack_package(res.package, tmp_path / "dest", identities=ids)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.txt"]
    with pytest.raises(DecryptionError, match="--identity"):
        verify_package(res.package, password="a password is not a key")


def test_no_patient_data_in_cleartext(packed):
    _tmp, res = packed
    blob = res.package.read_bytes()
    forms = set(PHI_FORMS) | {f.upper() for f in PHI_FORMS} | {fold(f) for f in PHI_FORMS}
    for form in forms:
        for enc in ("utf-8", "latin-1", "utf-16-le"):
            try:
                assert form.encode(enc) not in blob, (form, enc)
            except UnicodeEncodeError:
                pass
    # the age header names no entry: not even the neutral names are visible
    assert b"DICOM" not in blob and b"MANIFEST" not in blob


@pytest.mark.parametrize("where", ["start", "middle", "end"])
def test_flipped_or_truncated_payload_fails(packed, tmp_path, where):
    tmp, res = packed
    data = bytearray(res.package.read_bytes())
    header_end = data.index(b"\n---") + 60
    pos = {"start": header_end + 40, "middle": len(data) // 2, "end": len(data) - 5}[where]
    data[pos] ^= 0x20
    p = tmp_path / "bad.age"
    p.write_bytes(bytes(data))
    ids = load_identities(tmp / "key.txt")
    rep = None
    try:
        rep = verify_package(p, identities=ids)
    except DecryptionError as exc:  # the first zip entry cannot be told from a wrong key
        assert "MANIFEST" in str(exc) or "age" in str(exc)
    if rep is not None:
        assert not rep.ok and rep.failures[0].check == "container"
        assert "age payload" in rep.failures[0].message
    p.write_bytes(res.package.read_bytes()[:-1000])
    rep = verify_package(p, identities=ids)
    assert not rep.ok and "truncated" in rep.failures[0].message
    with pytest.raises(IntegrityError, match="does not verify"):
        unpack_package(p, tmp_path / "dest", identities=ids)
    assert not (tmp_path / "dest").exists()


def test_age_package_has_only_the_recipients_asked_for(packed):
    """pack's read-back compares bytes: no extra (read-back) recipient stanza."""
    _tmp, res = packed
    with open(res.package, "rb") as fh:
        header = fh.read(4096).split(b"\n---")[0]
    assert header.count(b"\n-> X25519 ") == 1
