"""pack / verify / unpack with the password container, judged by 7-Zip,
coreutils and pyzipper, plus tampering, wrong password, atomicity, PHI."""

from __future__ import annotations

import datetime as dt

import hashlib
import json
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dossierkit import localtime
from dossierkit.errors import DecryptionError, IncompleteError, IntegrityError, OutputError, UsageError
from dossierkit.identity import fold
from dossierkit.package.layout import DICOMDIR, MANIFEST, SEAL_FILES, SIGNATURE, SUMS, is_safe_entry_path
from dossierkit.package.pack import pack
from dossierkit.package.unpack import unpack_package
from dossierkit.package.verify import verify_package
from dossierkit.archive.zipaes import open_writer
from dossierkit.workspace import Workspace
from tests.conftest import need_tool
from tests.pkg_fixtures import PHI_FORMS, derivation_threads, full_workspace, trust_sender

PASSWORD = "tulipe-orage-cadran-mesure-violon-24"
KEY = Ed25519PrivateKey.generate()


@pytest.fixture(scope="module", autouse=True)
def _sender_trusted():
    trust_sender(KEY)  # the receiver's trust store knows this module's sender


@pytest.fixture(scope="module")
def packed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pack")
    ws = full_workspace(tmp / "ws")
    res = pack(ws, tmp / "out" / "dossier.zip", signing_key=KEY, password=PASSWORD)
    return ws, res


def _copy(res, tmp_path: Path) -> Path:
    p = tmp_path / "copy.zip"
    shutil.copyfile(res.package, p)
    return p


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def _data_offset(path: Path, name: str) -> tuple[int, int]:
    """(offset of the entry's encrypted data, its length) from the zip headers."""
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(name)
    raw = path.read_bytes()
    start = info.header_offset
    nlen, xlen = int.from_bytes(raw[start + 26:start + 28], "little"), int.from_bytes(raw[start + 28:start + 30],
                                                                                   "little")
    return start + 30 + nlen + xlen, info.compress_size


def test_pack_result_and_json_have_no_phi(packed):
    _ws, res = packed
    d = res.to_dict()
    assert d["container"] == "password" and d["verified"] and d["completeness"] == "complete"
    assert d["counts"]["documents"] == 7 and d["counts"]["instances"] == 7
    assert len(d["package_sha256"]) == 64 and len(d["signer_fingerprint"]) == 64
    text = json.dumps(d, ensure_ascii=False)
    for form in PHI_FORMS:
        assert form not in text
    assert res.readme and res.readme.name == "LISEZMOI-README.TXT"


def test_7zip_extracts_and_sha256sum_checks(packed, tmp_path):
    seven = need_tool("7zz")
    _ws, res = packed
    r = subprocess.run([seven, "x", f"-p{PASSWORD}", f"-o{tmp_path / 'x'}", str(res.package)], capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    r = subprocess.run([need_tool("sha256sum"), "-c", "DOSSIER/SHA256SUMS"], cwd=tmp_path / "x", capture_output=True,
                       text=True)
    assert r.returncode == 0 and r.stdout.count(": OK") == 17 + 1 + 1, r.stdout  # + IHE_XDM/SUBSET01/METADATA.XML
    r = subprocess.run([seven, "t", "-pwrong-password", str(res.package)], capture_output=True, text=True)
    assert r.returncode != 0


def test_pyzipper_reads_every_entry(packed):
    import pyzipper

    _ws, res = packed
    with pyzipper.AESZipFile(res.package) as zf:
        zf.setpassword(PASSWORD.encode())
        names = zf.namelist()
        assert names[:3] == list(SEAL_FILES)
        manifest = json.loads(zf.read(MANIFEST))
        assert all(i.flag_bits & 0x1 for i in zf.infolist())  # every entry encrypted
        digests = {n: hashlib.sha256(zf.read(n)).hexdigest() for n in names}
    assert manifest["format"] == "dossierkit-package-manifest" and manifest["container"] == "password"
    for f in manifest["documents"] + manifest["files"]:
        assert digests[f["path"]] == f["sha256"]


def test_no_patient_data_in_any_cleartext_byte(packed):
    _ws, res = packed
    blobs = {"package": res.package.read_bytes(), "readme": res.readme.read_bytes()}
    forms = set(PHI_FORMS) | {f.upper() for f in PHI_FORMS} | {fold(f) for f in PHI_FORMS}
    for where, blob in blobs.items():
        for form in forms:
            for enc in ("utf-8", "latin-1", "utf-16-le"):
                try:
                    needle = form.encode(enc)
                except UnicodeEncodeError:
                    continue
                assert needle not in blob, (where, form, enc)
    # and the zip's cleartext metadata: neutral names, no comment, one date for
    # every entry — the pack time, which the package file's own date shows
    # anyway (extracted files are dated the pack day, not 1980: issue #15)
    with zipfile.ZipFile(res.package) as zf:
        assert zf.comment == b""
        stamps = {info.date_time for info in zf.infolist()}
        assert all(is_safe_entry_path(info.filename) for info in zf.infolist())
        assert len(stamps) == 1
        (stamp,) = stamps
        packed_at = dt.datetime(*stamp)  # in the establishment's zone (Paris by default), as README says it
        here = dt.datetime.now(localtime.zone()[1]).replace(tzinfo=None)
        assert abs(here - packed_at) < dt.timedelta(minutes=10), (stamp, here)


def test_verify_reports_every_check(packed):
    _ws, res = packed
    rep = verify_package(res.package, password=PASSWORD, expect_signer=res.signer_fingerprint)
    assert rep.ok, rep.failures
    assert rep.package_sha256 == res.sha256 and rep.manifest_sha256 == res.manifest_sha256
    assert all(v == "ok" for v in rep.to_dict()["checks"].values())
    rep = verify_package(res.package, password=PASSWORD, expect_signer="ab" * 32)
    assert not rep.ok and rep.verdict == "untrusted" and rep.exit_code == 6
    assert rep.failures[0].check == "sender" and "not the expected signer" in rep.failures[0].message
    for short in ("abcd", res.signer_fingerprint[:16]):
        with pytest.raises(UsageError, match="full fingerprint"):
            verify_package(res.package, password=PASSWORD, expect_signer=short)


def test_wrong_password_is_one_clear_error_and_unpack_writes_nothing(packed, tmp_path):
    _ws, res = packed
    with pytest.raises(DecryptionError, match="wrong password"):
        verify_package(res.package, password="not-the-password")
    with pytest.raises(DecryptionError):
        unpack_package(res.package, tmp_path / "dest", password="not-the-password")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("where", ["image", "document", "dicomdir"])
def test_flipped_byte_in_an_entry_is_named(packed, tmp_path, where):
    _ws, res = packed
    p = _copy(res, tmp_path)
    name = {"image": "DICOM/ST000001/SE000001/IM000002", "document": "IHE_XDM/SUBSET01/DOC0003.PDF",
            "dicomdir": DICOMDIR}[where]
    off, length = _data_offset(p, name)
    _flip(p, off + length // 2)
    rep = verify_package(p, password=PASSWORD)
    assert not rep.ok
    assert rep.failures[0].check == "container" and name in rep.failures[0].message
    assert "HMAC" in rep.failures[0].message or "altered" in rep.failures[0].message


@pytest.mark.parametrize("where", ["image", "document"])
def test_flipped_mac_byte_is_a_container_failure_naming_its_entry(packed, tmp_path, where):
    """The content is intact, only the stored HMAC differs: 7-Zip would
    refuse the entry, so verify must too. Its MAC verdict is collected while
    later entries are read, yet the failure names the altered entry."""
    _ws, res = packed
    p = _copy(res, tmp_path)
    name = {"image": "DICOM/ST000001/SE000001/IM000002", "document": "IHE_XDM/SUBSET01/DOC0003.PDF"}[where]
    off, length = _data_offset(p, name)
    _flip(p, off + length - 1)  # the last byte of the 10-byte authentication code
    rep = verify_package(p, password=PASSWORD)
    assert not rep.ok
    (fail,) = [f for f in rep.failures if f.check == "container"]
    assert fail.file == name and name in fail.message and "HMAC" in fail.message
    assert not any(f.check == "files" for f in rep.failures)  # the content itself is intact


def test_flipped_byte_in_the_manifest_entry_fails(packed, tmp_path):
    _ws, res = packed
    p = _copy(res, tmp_path)
    off, length = _data_offset(p, MANIFEST)
    _flip(p, off + length // 2)
    # the first entry failing its MAC cannot be told from a wrong password
    # (the 2-byte password check passes 1 in 65 536): named, non-zero exit
    with pytest.raises((DecryptionError, IntegrityError), match="MANIFEST.JSON"):
        rep = verify_package(p, password=PASSWORD)
        assert not rep.ok
        raise IntegrityError(rep.failures[0].message)


def test_flipped_byte_in_the_central_directory_fails(packed, tmp_path):
    _ws, res = packed
    p = _copy(res, tmp_path)
    raw = p.read_bytes()
    cd = raw.rfind(b"PK\x01\x02")  # last central record
    for offset in (cd + 10, cd + 46 + 3):  # method field, a name byte
        q = tmp_path / f"cd{offset}.zip"
        q.write_bytes(raw)
        _flip(q, offset)
        rep = verify_package(q, password=PASSWORD)
        assert not rep.ok and rep.failures[0].check == "container"
        assert "central directory" in rep.failures[0].message


def _rezip(src_dir: Path, out: Path, names: list[str]) -> None:
    with open(out, "wb") as fh, open_writer(fh, password=PASSWORD.encode()) as zw:
        for n in names:
            zw.add_file(n, src_dir / n)


def _extract(res, tmp_path) -> tuple[Path, list[str]]:
    import pyzipper

    d = tmp_path / "x"
    with pyzipper.AESZipFile(res.package) as zf:
        zf.setpassword(PASSWORD.encode())
        zf.extractall(d)
        names = zf.namelist()
    return d, names


def test_edited_manifest_rezipped_fails_the_signature(packed, tmp_path):
    _ws, res = packed
    d, names = _extract(res, tmp_path)
    m = d / MANIFEST
    original = m.read_bytes()
    assert b"Fiche RCP thoracique" in original
    m.write_bytes(original.replace(b"Fiche RCP thoracique", b"Fiche RCP thoraciqu\xc3\xa9"))
    out = tmp_path / "edited.zip"
    _rezip(d, out, names)
    rep = verify_package(out, password=PASSWORD)
    assert not rep.ok
    assert rep.failures[0].check == "signature" and "MANIFEST.JSON" in rep.failures[0].message


def test_swapped_added_and_removed_files_are_named(packed, tmp_path):
    _ws, res = packed
    d, names = _extract(res, tmp_path)
    a, b = "IHE_XDM/SUBSET01/DOC0001.PDF", "IHE_XDM/SUBSET01/DOC0002.PDF"
    tmp = (d / a).read_bytes()
    (d / a).write_bytes((d / b).read_bytes())
    (d / b).write_bytes(tmp)
    (d / "EXTRA.TXT").write_bytes(b"hello")
    kept = [n for n in names if n != "DICOM/ST000002/SE000001/IM000003"]
    out = tmp_path / "swapped.zip"
    _rezip(d, out, kept)
    rep = verify_package(out, password=PASSWORD)
    msgs = [(f.check, f.file, f.message) for f in rep.failures]
    for swapped in (a, b):  # a size or a content mismatch, named
        assert any(c == "files" and f == swapped for c, f, _m in msgs), msgs
    assert any(f[1] == "DICOM/ST000002/SE000001/IM000003" and "missing" in f[2] for f in msgs)
    assert not rep.ok
    # An entry the manifest does not list stops the pass there (issue #14:
    # memory bounded by the manifest's count): what follows is not judged.
    added = kept[:5] + ["EXTRA.TXT"] + kept[5:]
    _rezip(d, out, added)
    rep = verify_package(out, password=PASSWORD)
    msgs = [(f.check, f.file, f.message) for f in rep.failures]
    assert msgs[-1][:2] == ("files", "EXTRA.TXT") and "not listed" in msgs[-1][2] and "stopped" in msgs[-1][2]
    assert not any("missing" in m for _c, _f, m in msgs) and rep.status("container") == "not checked"


def test_unpack_extracts_verified_tree_and_refuses_existing(packed, tmp_path):
    _ws, res = packed
    dest = tmp_path / "dest"
    out = unpack_package(res.package, dest, password=PASSWORD)
    assert out.report.ok
    files = sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file())
    assert files == sorted([MANIFEST, SUMS, SIGNATURE, *_manifest_paths(dest)])
    assert not any(p.is_symlink() for p in dest.rglob("*"))
    with pytest.raises(OutputError, match="already exists"):
        unpack_package(res.package, dest, password=PASSWORD)
    unpack_package(res.package, dest, password=PASSWORD, force=True)
    assert [p.name for p in tmp_path.iterdir()] == ["dest"]


def _manifest_paths(root: Path) -> list[str]:
    m = json.loads((root / MANIFEST).read_bytes())
    out = [f["path"] for f in m["files"]] + [d["path"] for d in m["documents"]]
    out += [i["path"] for st in m["studies"] for se in st["series"] for i in se["instances"]]
    return out


def test_unpack_of_a_tampered_package_leaves_nothing(packed, tmp_path):
    _ws, res = packed
    p = _copy(res, tmp_path)
    off, length = _data_offset(p, "DICOM/ST000002/SE000001/IM000003")
    _flip(p, off + 5)
    with pytest.raises(IntegrityError, match="does not verify"):
        unpack_package(p, tmp_path / "dest", password=PASSWORD)
    assert sorted(x.name for x in tmp_path.iterdir()) == ["copy.zip"]


def test_refuses_incomplete_dossier_unless_waived_with_reason(tmp_path):
    ws = full_workspace(tmp_path / "ws")
    docs = [d for d in ws.documents() if d.kind != "rcp"]
    ws.save_documents(docs)
    out = tmp_path / "out.zip"
    with pytest.raises(IncompleteError, match="RCP-MISSING"):
        pack(ws, out, signing_key=KEY, password=PASSWORD)
    with pytest.raises(UsageError, match="--reason"):
        pack(ws, out, signing_key=KEY, password=PASSWORD, allow_incomplete=True)
    assert not out.exists()
    res = pack(ws, out, signing_key=KEY, password=PASSWORD, allow_incomplete=True, reason="RCP à venir le 12/12")
    assert res.completeness == "incomplete" and "RCP-MISSING" in res.waived
    rep = verify_package(out, password=PASSWORD)
    assert rep.ok and rep.completeness["status"] == "incomplete" and "RCP-MISSING" in rep.completeness["waived"]
    assert rep.completeness["reason"] == "RCP à venir le 12/12"


def test_refuses_to_overwrite_unless_forced(packed, tmp_path):
    ws, res = packed
    out = _copy(res, tmp_path)
    before = out.read_bytes()
    with pytest.raises(OutputError, match="already exists"):
        pack(ws, out, signing_key=KEY, password=PASSWORD)
    assert out.read_bytes() == before
    pack(ws, out, signing_key=KEY, password=PASSWORD, force=True)
    assert out.read_bytes() != before


def test_changed_workspace_file_aborts_and_leaves_nothing(tmp_path):
    ws = full_workspace(tmp_path / "ws")
    img = ws.images()[2]
    p = ws.path(img.path)
    data = bytearray(p.read_bytes())
    data[-10] ^= 0xFF  # same size, different content
    p.write_bytes(bytes(data))
    outdir = tmp_path / "out"
    outdir.mkdir()
    with pytest.raises(IntegrityError, match="differs from the workspace index"):
        pack(ws, outdir / "p.zip", signing_key=KEY, password=PASSWORD)
    assert list(outdir.iterdir()) == []


class _Interrupt:
    def __init__(self, after: int):
        self.after, self.seen = after, 0

    def start(self, *a, **k):
        pass

    def advance(self, n=1):
        self.seen += n
        if self.seen > self.after:
            raise KeyboardInterrupt

    def finish(self):
        pass


def test_interrupted_pack_leaves_no_file(packed, tmp_path):
    ws, _res = packed
    outdir = tmp_path / "out"
    outdir.mkdir()
    with pytest.raises(KeyboardInterrupt):
        pack(Workspace(ws.root), outdir / "p.zip", signing_key=KEY, password=PASSWORD, progress=_Interrupt(50_000))
    assert list(outdir.iterdir()) == []


def test_readback_catches_an_inconsistent_dicomdir(tmp_path, monkeypatch):
    """A packer bug (a DICOMDIR missing an image) must not produce a package."""
    from dossierkit.package import root as root_mod
    from dossierkit.package.dicomdir import build_dicomdir as real

    ws = full_workspace(tmp_path / "ws")
    monkeypatch.setattr(root_mod, "build_dicomdir", lambda p, lay, **kw: _without_last(real, p, lay, **kw))
    out = tmp_path / "out" / "p.zip"
    with pytest.raises(IntegrityError, match="no DICOMDIR record references it"):
        pack(ws, out, signing_key=KEY, password=PASSWORD)
    assert not out.exists()


def _without_last(real, patient, layout, **kw):
    import copy

    lay = copy.copy(layout)
    lay.studies = copy.deepcopy(layout.studies)
    lay.studies[-1].series[-1].instances.pop()
    return real(patient, lay, **kw)


def test_pack_sha256_is_the_files_and_it_verifies(packed):
    """The package SHA-256 comes from the bytes as they were written: it must
    be the file's, and the file must verify end to end."""
    _ws, res = packed
    assert hashlib.sha256(res.package.read_bytes()).hexdigest() == res.sha256
    assert res.package.stat().st_size == res.size
    rep = verify_package(res.package, password=PASSWORD, expect_signer=res.signer_fingerprint)
    assert rep.ok and rep.package_sha256 == res.sha256


def _damaged_preadv(real, how: str):
    """os.preadv as a faulty disk would answer it: a flipped byte or a short read."""
    def preadv(fd, buffers, offset):
        got = real(fd, buffers, offset)
        if how == "flip":
            buffers[0][got // 2] ^= 0x01
            return got
        return got - 1
    return preadv


@pytest.mark.parametrize("damage", ["flip", "short", "truncate", "central"])
def test_byte_readback_refuses_what_the_disk_does_not_hold(tmp_path, monkeypatch, damage):
    """A window that reads back different or short, a file shorter on disk
    than what was written, or a central directory that disagrees with the
    entries written: each is caught before the rename, nothing is kept."""
    import os

    from dossierkit.package import pack as pack_mod
    from dossierkit.archive import readback

    if damage in ("flip", "short"):
        monkeypatch.setattr(readback.os, "preadv", _damaged_preadv(os.preadv, damage))
    else:
        real = pack_mod.read_back

        def damaged(tmp, sink, entries, **kw):
            if damage == "truncate":
                with open(tmp, "r+b") as fh:
                    fh.truncate(tmp.stat().st_size - 1)
            else:
                entries = [(n, off + 1, size) for n, off, size in entries]
            return real(tmp, sink, entries, **kw)

        monkeypatch.setattr(pack_mod, "read_back", damaged)
    ws = full_workspace(tmp_path / "ws")
    out = tmp_path / "out" / "p.zip"
    with pytest.raises(IntegrityError, match="does not read back"):
        pack(ws, out, signing_key=KEY, password=PASSWORD)
    assert list(out.parent.iterdir()) == []


def test_readback_sink_writes_hashes_and_compares_every_window(tmp_path, monkeypatch):
    """Across several windows and a partial last one, written in pieces of
    odd sizes (bytes, bytearray, memoryview), the file holds exactly the
    bytes written and the sink's SHA-256 is theirs; a flipped byte in any
    window read back — the last, partial one included — is refused."""
    import os

    from dossierkit.archive import readback

    block = os.urandom(300_007)
    pieces = [block, bytearray(b"x" * 5), memoryview(block)[7:70_000]] * 9

    def write_all(p):
        with open(p, "w+b") as fh:
            sink = readback.ReadBackSink(fh, label=p, window=1024 * 1024)
            try:
                for piece in pieces:
                    sink.write(piece)
                sink.close()
            finally:
                sink.abort()
        return sink

    p = tmp_path / "big.bin"
    sink = write_all(p)
    data = p.read_bytes()
    assert data == b"".join(bytes(x) for x in pieces)
    assert len(data) == sink.size > 2 * 1024 * 1024 and len(data) % (1024 * 1024)
    assert hashlib.sha256(data).hexdigest() == sink.hexdigest()
    readback.read_back(p, sink)

    real = os.preadv
    for victim in (0, len(data) // (1024 * 1024)):  # the first window, the last (partial) one
        def preadv(fd, buffers, offset, victim=victim):
            got = real(fd, buffers, offset)
            if offset == victim * 1024 * 1024:
                buffers[0][got - 1] ^= 0x80
            return got
        monkeypatch.setattr(readback.os, "preadv", preadv)
        with pytest.raises(IntegrityError, match="does not read back"):
            write_all(tmp_path / f"bad{victim}.bin")


def test_readback_sink_without_preadv(tmp_path, monkeypatch):
    """Where os.preadv is missing, the read-back reads with os.pread: same
    bytes, same refusal of a window that reads back different."""
    import os

    from dossierkit.archive import readback

    monkeypatch.delattr(readback.os, "preadv")
    data = os.urandom(3 * 65536 + 123)
    p = tmp_path / "f.bin"
    with open(p, "w+b") as fh:
        sink = readback.ReadBackSink(fh, window=65536)
        sink.write(data)
        sink.close()
    assert p.read_bytes() == data and sink.hexdigest() == hashlib.sha256(data).hexdigest()
    real = os.pread
    monkeypatch.setattr(readback.os, "pread", lambda fd, n, off: bytes(b ^ 1 for b in real(fd, n, off)))
    with open(tmp_path / "g.bin", "w+b") as fh:
        sink = readback.ReadBackSink(fh, window=65536)
        with pytest.raises(IntegrityError, match="does not read back"):
            try:
                sink.write(data)  # raises here once a window is waited for, or at close()
                sink.close()
            finally:
                sink.abort()


def test_readback_sink_reports_a_full_disk_as_the_write_error(tmp_path, monkeypatch):
    """An error of the sink thread (ENOSPC from pwrite) reaches the writer."""
    import errno
    import os

    from dossierkit.archive import readback

    def pwrite(*a):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(readback.os, "pwrite", pwrite)
    with open(tmp_path / "f.bin", "w+b") as fh:
        sink = readback.ReadBackSink(fh, window=64 * 1024)
        with pytest.raises(OSError) as err:
            try:
                for _ in range(10):
                    sink.write(b"y" * 50_000)
                sink.close()
            finally:
                sink.abort()
    assert err.value.errno == errno.ENOSPC


def test_verify_shares_the_keys_with_its_worker(packed, monkeypatch):
    """verify reads the package through its hashing wrapper: the reader must
    still see a seekable file, so that the flow's worker derives keys of the
    entries ahead (fails without the prefetch: every key then comes from
    the reading thread), and each entry's keys are derived once."""
    _ws, res = packed
    threads = derivation_threads(monkeypatch, slow_main=0.2)
    rep = verify_package(res.package, password=PASSWORD)
    assert rep.ok and rep.package_sha256 == res.sha256
    with zipfile.ZipFile(res.package) as zf:
        assert len(threads) == len(zf.infolist())  # one derivation per entry, none repeated
    assert "dk-verify" in threads, threads
