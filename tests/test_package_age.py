"""The recipients container (age wrapping a plain zip), judged by the age CLI,
Python's zipfile, 7-Zip and sha256sum."""

from __future__ import annotations

import hashlib
import io
import struct
import subprocess
import threading
import types
import zipfile
import zlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dossierkit.errors import DecryptionError, IntegrityError
from dossierkit.identity import fold
from dossierkit.package.layout import SEAL_FILES
from dossierkit.archive import generate_identity, identity_file_text, load_identities
from dossierkit.archive import zipreader
from dossierkit.archive.agefile import age_reader, age_writer
from dossierkit.package.pack import pack
from dossierkit.package.unpack import unpack_package
from dossierkit.package import verify as verify_module
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


def _with_wrong_crc(package, ids, recipient: str, out, entry: str, *, content: bool = False):
    """*package* re-encrypted for *recipient* with *entry*'s CRC-32 changed in
    both its local header and its central record (its bytes, its SHA-256 and
    the zip's structure otherwise intact). ``content``: flip the entry's last
    byte instead and give it the CRC-32 of its new bytes — only the SHA-256
    the manifest signs then tells."""
    with open(package, "rb") as fh, age_reader(fh, ids) as plain:
        inner = bytearray(plain.read())
    with zipfile.ZipFile(io.BytesIO(bytes(inner))) as zf:
        info = zf.getinfo(entry)
        local, start_dir = info.header_offset, zf.start_dir
    crc = info.CRC ^ 0x1
    if content:
        nlen, xlen = struct.unpack("<HH", inner[local + 26:local + 30])
        start = local + 30 + nlen + xlen
        inner[start + info.file_size - 1] ^= 0x01
        crc = zlib.crc32(inner[start:start + info.file_size])
    inner[local + 14:local + 18] = struct.pack("<I", crc)
    pos = start_dir
    while inner[pos:pos + 4] == b"PK\x01\x02":
        nlen, xlen, clen = struct.unpack("<HHH", inner[pos + 28:pos + 34])
        if bytes(inner[pos + 46:pos + 46 + nlen]).decode() == entry:
            inner[pos + 16:pos + 20] = struct.pack("<I", crc)
        pos += 46 + nlen + xlen + clen
    with open(out, "wb") as fh, age_writer(fh, [recipient]) as w:
        w.write(inner)
    return out


@pytest.mark.parametrize("entry", ["DOSSIER/MANIFEST.JSON", "last image"])
def test_a_wrong_crc_inside_age_is_the_failure_named(packed, tmp_path, entry):
    """verify hashes a recipients package's files on its worker and compares
    them a few entries later: a CRC-32 that does not hold still fails the
    package, on the entry that carries it (#18)."""
    tmp, res = packed
    ids = load_identities(tmp / "key.txt")
    public = str(ids[0].recipient())
    with open(res.package, "rb") as fh, age_reader(fh, ids) as plain, zipfile.ZipFile(io.BytesIO(plain.read())) as zf:
        names = zf.namelist()
    name = [n for n in names if n.startswith("DICOM/")][-1] if entry == "last image" else entry
    bad = _with_wrong_crc(res.package, ids, public, tmp_path / "bad.age", name)
    rep = verify_package(bad, identities=ids, expect_signer=res.signer_fingerprint)
    assert not rep.ok
    [failure] = [f for f in rep.failures if f.check == "container"]
    assert "CRC-32" in failure.message and failure.file == name, failure


@pytest.mark.parametrize("bound", [None, 1])
@pytest.mark.parametrize("which", ["first image", "last image"])
def test_altered_content_inside_age_is_named_after_the_deferred_comparison(packed, tmp_path, monkeypatch, which,
                                                                             bound):
    """A file whose bytes differ from the manifest's SHA-256 (its CRC-32
    made to match) fails "files" on that file, whether its hash is compared
    a few entries later or only at the end of the pass (#18); also when at
    most one entry may wait for its hash (the bound that keeps verify's
    memory flat: the oldest is then waited for)."""
    if bound is not None:
        monkeypatch.setattr(verify_module, "_UNSETTLED_MAX", bound)
    tmp, res = packed
    ids = load_identities(tmp / "key.txt")
    public = str(ids[0].recipient())
    with open(res.package, "rb") as fh, age_reader(fh, ids) as plain, zipfile.ZipFile(io.BytesIO(plain.read())) as zf:
        images = [i.filename for i in zf.infolist() if i.filename.startswith("DICOM/") and i.file_size]
    name = images[0] if which == "first image" else images[-1]
    bad = _with_wrong_crc(res.package, ids, public, tmp_path / "bad.age", name, content=True)
    rep = verify_package(bad, identities=ids, expect_signer=res.signer_fingerprint)
    assert not rep.ok
    assert [(f.check, f.file) for f in rep.failures] == [("files", name)], rep.failures
    assert "SHA-256" in rep.failures[0].message
    assert rep.status("container") == "ok"


def test_verify_hashes_a_recipients_package_on_its_worker(packed, monkeypatch):
    """Every file's SHA-256 of an age package is computed on verify's worker
    thread, not on the reading thread, which decrypts and checks the
    CRC-32s (issue #18: the worker had only the package's hash to do). Fails
    if an entry's hash is fed on the reading thread."""
    tmp, res = packed
    ids = load_identities(tmp / "key.txt")
    fed: list[set[str]] = []  # per entry hash: the threads that fed it

    class Spy:
        def __init__(self):
            self._sha = hashlib.sha256()
            self._threads: set[str] = set()
            fed.append(self._threads)

        def update(self, data):
            self._threads.add(threading.current_thread().name)
            self._sha.update(data)

        def hexdigest(self):
            return self._sha.hexdigest()

    monkeypatch.setattr(zipreader, "hashlib", types.SimpleNamespace(sha256=Spy))
    rep = verify_package(res.package, identities=ids, expect_signer=res.signer_fingerprint)
    assert rep.ok, rep.failures
    with open(res.package, "rb") as fh, age_reader(fh, ids) as plain, zipfile.ZipFile(io.BytesIO(plain.read())) as zf:
        entries = len(zf.namelist())
    assert len(fed) == entries
    assert set().union(*fed) == {"dk-verify"}, fed
