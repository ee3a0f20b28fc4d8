"""import_images / `dossierkit import-images` on real DICOM: folders, DICOMDIR
media (pydicom's DCMTK-made set, one made here with dcmmkdir), zips."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import threading
import time
import zipfile
from pathlib import Path

import pytest

from dossierkit.errors import InputError
from dossierkit.fsutil import NewFile
from dossierkit.gather import import_images, media_dicomdir_references
from dossierkit.workspace import Workspace

from conftest import need_tool, open_files_under, run_cli
from images_fixtures import (DATA_STORE, DICOMDIR_SET, OTHER_PATIENT_DICOM, PYDICOM_FILES, SAMPLE_CD, make_dicom,
                             real_file)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tree_state(folder: Path) -> dict[str, tuple[str, int]]:
    return {str(p): (sha(p), p.stat().st_mtime_ns) for p in sorted(folder.rglob("*")) if p.is_file()}


def test_pydicom_and_pydicom_data_files_import_bit_exact(empty_ws, tmp_path):
    src = tmp_path / "mixed"
    shutil.copytree(PYDICOM_FILES, src / "pydicom", ignore=shutil.ignore_patterns("dicomdirtests"))
    shutil.copytree(DATA_STORE, src / "data_store")
    before = tree_state(src)
    report = import_images(empty_ws, [src])
    assert tree_state(src) == before  # sources never modified
    index = empty_ws.images_index()
    by_source = {d["source"]: d for d in index["instances"]}
    assert report.imported == len(index["instances"])
    for d in index["instances"]:
        copy = empty_ws.root / d["path"]
        assert re.fullmatch(r"images/IMG\d{6}\.dcm", d["path"])
        assert sha(copy) == d["sha256"] == sha(Path(d["source"])) and copy.stat().st_size == d["size"]
    problems = {Path(p["file"]).name: p for p in report.problems}
    # every .dcm shipped is imported, a byte-identical duplicate of an imported file, or a named problem
    copies = {d["sha256"] for d in index["instances"]}
    dcm = list(src.rglob("*.dcm"))
    for f in dcm:
        assert str(f) in by_source or f.name in problems or sha(f) in copies, f
    assert report.imported + report.duplicates + len(problems) == len(dcm)
    for name in ("MR_truncated.dcm", "rtplan_truncated.dcm", "emri_small_jpeg_2k_lossless_too_short.dcm"):
        assert problems[name]["kind"] == "corrupt" and "truncated" in problems[name]["reason"]
    assert problems["no_meta.dcm"]["kind"] == "corrupt" and "stray byte" in problems["no_meta.dcm"]["reason"]
    # pydicom's files reuse UIDs across transfer syntaxes: real conflicts, each naming both files
    conflict = problems["MR_small_RLE.dcm"]
    assert conflict["kind"] == "uid-conflict" and conflict["kept"].startswith("images/IMG")
    assert Path(conflict["kept_source"]).name.startswith("MR_small")
    assert report.skipped["json"] == 2 and report.skipped["gz"] == 1
    no_meta = {Path(d["source"]).name for d in index["instances"] if not d["has_meta"]}
    assert {"ExplVR_BigEndNoMeta.dcm", "OT-PAL-8-face.dcm", "rtstruct.dcm"} <= no_meta
    assert report.exit_code == 1


def test_cli_reports_corrupt_files_by_name_without_traceback(empty_ws, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for name in ("CT_small.dcm", "MR_truncated.dcm", "rtplan_truncated.dcm"):
        shutil.copy(real_file(name), src / name)
    (src / "random.dcm").write_bytes(b"\0" * 128 + b"DICM" + bytes(range(256)) * 8)
    r = run_cli("import-images", empty_ws.root, src)
    assert r.returncode == 1 and "Traceback" not in r.stderr + r.stdout
    for name in ("MR_truncated.dcm", "rtplan_truncated.dcm", "random.dcm"):
        assert name in r.stdout
    r = run_cli("import-images", empty_ws.root, src, "--json")
    data = json.loads(r.stdout)
    assert r.returncode == 1 and data["duplicates"] == 1 and data["errors"] == 3
    assert sorted(Path(p["path"]).name for p in data["problems"]) == ["MR_truncated.dcm", "random.dcm",
                                                                      "rtplan_truncated.dcm"]
    # `file` is the medium's own name (what may reach a package), `path` the sender's (this output only)
    assert sorted(p["file"] for p in data["problems"]) == [f"source #1 (folder): {n}" for n in (
        "MR_truncated.dcm", "random.dcm", "rtplan_truncated.dcm")]


def test_missing_source_exits_2_and_writes_nothing(empty_ws, tmp_path):
    r = run_cli("import-images", empty_ws.root, SAMPLE_CD, tmp_path / "nowhere", "--json")
    assert r.returncode == 2 and r.stdout == "" and "nowhere" in r.stderr and "Traceback" not in r.stderr
    assert empty_ws.images() == [] and list(empty_ws.images_dir.iterdir()) == []


def test_patient_cd_json_summary(empty_ws):
    r = run_cli("import-images", empty_ws.root, SAMPLE_CD, "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert (data["imported"], data["duplicates"], data["patients"], data["studies"], data["series"]) == (14, 0, 1, 2, 2)
    assert data["skipped"] == {"total": 4, "by_type": {"DICOMDIR": 1, "exe": 1, "htm": 1, "inf": 1}}
    assert data["problems"] == [] and data["exit_code"] == 0
    assert data["sources"][0]["dicomdirs"] == 1
    # no patient data in what the import created: names, and the JSON for scripts
    names = [p.name for p in empty_ws.images_dir.iterdir()]
    assert all(re.fullmatch(r"IMG\d{6}\.dcm", n) for n in names)
    assert "LEFEVRE" not in r.stdout.upper() and "19580314" not in r.stdout
    again = run_cli("import-images", empty_ws.root, SAMPLE_CD, "--json")
    assert json.loads(again.stdout)["duplicates"] == 14 and again.returncode == 0


def test_importing_again_restores_copies_gone_or_altered(empty_ws, tmp_path):
    """What IMG-COPY-MISSING tells a secretary ("import the images again")
    works: a copy deleted, one cut short and one replaced by a link are
    copied again from the same bytes, to their indexed names; the index is
    left as it was. A different file under the same UID is not a repair."""
    assert run_cli("import-images", empty_ws.root, SAMPLE_CD, "--json").returncode == 0
    index_before = (empty_ws.root / "index" / "images.json").read_text()
    records = {i.path: i for i in empty_ws.images()}
    gone, cut, linked = (empty_ws.root / p for p in sorted(records)[:3])
    gone.unlink()
    cut.write_bytes(cut.read_bytes()[:100])
    outside = tmp_path / "outside.dcm"
    shutil.copyfile(linked, outside)
    linked.unlink()
    linked.symlink_to(outside)
    broken = run_cli("check", empty_ws.root, "--json")
    assert sum(f["code"] == "IMG-COPY-MISSING" for f in json.loads(broken.stdout)["findings"]) == 3

    r = run_cli("import-images", empty_ws.root, SAMPLE_CD, "--json")
    data = json.loads(r.stdout)
    assert r.returncode == 0, r.stderr
    assert (data["imported"], data["restored"], data["duplicates"]) == (0, 3, 11)
    for copy in (gone, cut, linked):
        assert not copy.is_symlink() and sha(copy) == records[copy.relative_to(empty_ws.root).as_posix()].sha256
    index_after = json.loads((empty_ws.root / "index" / "images.json").read_text())
    assert index_after["instances"] == json.loads(index_before)["instances"]
    assert index_after["imports"][-1]["restored"] == 3
    assert outside.read_bytes() == (empty_ws.root / sorted(records)[2]).read_bytes()  # the link's target untouched
    assert not any(f["code"] == "IMG-COPY-MISSING"
                   for f in json.loads(run_cli("check", empty_ws.root, "--json").stdout)["findings"])
    human = run_cli("import-images", empty_ws.root, SAMPLE_CD)
    assert "Restored" not in human.stdout  # nothing left to restore: all duplicates


def test_a_different_file_under_a_missing_copys_uid_is_a_conflict_not_a_repair(empty_ws, tmp_path):
    make_dicom(tmp_path / "a" / "IM1", uid_seed="same")
    assert import_images(empty_ws, [tmp_path / "a"]).imported == 1
    (copy,) = empty_ws.images()
    (empty_ws.root / copy.path).unlink()
    make_dicom(tmp_path / "b" / "IM1", uid_seed="same", StudyDescription="autre contenu")
    report = import_images(empty_ws, [tmp_path / "b"])
    assert report.restored == 0 and [p["kind"] for p in report.problems] == ["uid-conflict"]
    assert not (empty_ws.root / copy.path).exists()
    assert list(empty_ws.images_dir.iterdir()) == []  # its staging copy removed too


def test_duplicates_and_uid_conflicts(empty_ws, tmp_path):
    a = make_dicom(tmp_path / "a" / "IM1", uid_seed="same")
    shutil.copy(a, tmp_path / "b.dcm")  # same UID, same bytes
    make_dicom(tmp_path / "c" / "IM1", uid_seed="same", InstanceNumber=9)  # same UID, other bytes
    report = import_images(empty_ws, [tmp_path / "a", tmp_path / "b.dcm", tmp_path / "c"])
    assert (report.imported, report.duplicates) == (1, 1)
    (conflict,) = report.problems
    assert conflict["kind"] == "uid-conflict"
    assert conflict["path"] == str(tmp_path / "c" / "IM1") and conflict["kept_source"] == str(a)
    assert conflict["file"] == "source #3 (folder): IM1"
    assert conflict["kept"] in conflict["reason"] and "source #1 (folder): IM1" in conflict["reason"]
    assert str(tmp_path) not in conflict["reason"]
    assert report.exit_code == 1


def test_non_dicom_files_are_skipped_and_counted(empty_ws, tmp_path):
    src = tmp_path / "cd"
    make_dicom(src / "DICOM" / "IM000001")
    (src / "Thumbs.db").write_bytes(b"\xd0\xcf\x11\xe0" + b"\0" * 60)
    (src / ".DS_Store").write_bytes(b"\0\0\0\x01Bud1")
    (src / "autorun.inf").write_text("[autorun]\n")
    (src / "viewer").mkdir()
    (src / "viewer" / "viewer.exe").write_bytes(b"MZ" + b"\0" * 100)
    (src / "viewer" / "dcmtk.dll").write_bytes(b"MZ" + b"\0" * 100)
    (src / "report.pdf").write_bytes(b"%PDF-1.4\n")
    (src / "index.html").write_text("<html></html>")
    (src / "LISEZMOI").write_text("Lisez-moi\n")
    report = import_images(empty_ws, [src])
    assert report.imported == 1 and report.exit_code == 0
    assert report.skipped == {"Thumbs.db": 1, ".DS_Store": 1, "inf": 1, "exe": 1, "dll": 1, "pdf": 1, "html": 1,
                              "(no extension)": 1}


def test_dicomdir_made_by_dcmtk_imports_every_referenced_instance(empty_ws):
    """pydicom's dicomdirtests/DICOMDIR was written by DCMTK dcmmkdir: 3 patients."""
    with open(DICOMDIR_SET / "DICOMDIR", "rb") as fh:
        refs = media_dicomdir_references(fh, "DICOMDIR")
    report = import_images(empty_ws, [DICOMDIR_SET / "DICOMDIR"])
    assert report.imported == len(refs) == 31 and report.problems == []
    imported = {Path(d.source).relative_to(DICOMDIR_SET).parts for d in empty_ws.images()}
    assert imported == {tuple(r.components) for r in refs}
    # two patient records in the DICOMDIR, two identities in the files (98892001/98892003 are one patient)
    assert report.totals["patients"] == 2 and report.sources[0]["kind"] == "dicomdir"


def test_folder_with_root_dicomdir_also_imports_unreferenced_files(empty_ws, tmp_path):
    media = tmp_path / "media"
    shutil.copytree(DICOMDIR_SET, media, ignore=shutil.ignore_patterns("TINY_ALPHA"))
    make_dicom(media / "EXTRA" / "IM000001", patient=OTHER_PATIENT_DICOM)
    report = import_images(empty_ws, [media])
    assert report.imported == 32 and report.sources[0]["dicomdirs"] == 1
    assert report.skipped["DICOMDIR"] == 7  # the DICOMDIR and its six variants, never imported as images


def _dcmmkdir_media(root: Path) -> Path:
    dcmmkdir = need_tool("dcmmkdir")
    for i in range(3):
        make_dicom(root / "DICOM" / "ST1" / "SE1" / f"IM{i:06d}", uid_seed=f"mk{i}")
    make_dicom(root / "DICOM" / "ST2" / "SE1" / "IM000001", uid_seed="mk-lacking", study_seed="s2",
               series_seed="s2", drop=("StudyID", "StudyTime", "SeriesNumber"))
    subprocess.run([dcmmkdir, "-q", "--invent", "+r", "+id", str(root), "+D", str(root / "DICOMDIR"), "DICOM"],
                   check=True)
    return root / "DICOMDIR"


def test_dicomdir_written_by_dcmmkdir_here(empty_ws, tmp_path):
    dicomdir = _dcmmkdir_media(tmp_path / "cd")
    report = import_images(empty_ws, [dicomdir])
    assert report.imported == 4 and report.problems == []
    assert {i.study_id for i in empty_ws.images()} == {"7", None}  # the copy is not "fixed": no invented StudyID


def test_dicomdir_lenient_resolution_and_missing_files(empty_ws, tmp_path):
    dicomdir = _dcmmkdir_media(tmp_path / "cd")
    # a CD copied by a tool that lower-cased names, and one file lost
    for p in sorted((tmp_path / "cd" / "DICOM").rglob("*"), key=lambda p: -len(p.parts)):
        p.rename(p.with_name(p.name.lower()))
    (tmp_path / "cd" / "DICOM").rename(tmp_path / "cd" / "dicom")
    (tmp_path / "cd" / "dicom" / "st1" / "se1" / "im000002").unlink()
    report = import_images(empty_ws, [dicomdir])
    assert report.imported == 3
    (missing,) = report.problems
    assert missing["kind"] == "dicomdir-missing-file" and "DICOM/ST1/SE1/IM000002" in missing["reason"]
    assert report.exit_code == 0  # a media warning; every image found was imported


def test_unreadable_dicomdir_falls_back_to_the_folder(empty_ws, tmp_path):
    cd = tmp_path / "cd"
    make_dicom(cd / "IMAGES" / "IM1")
    (cd / "DICOMDIR").write_bytes(b"\0" * 128 + b"DICM" + b"\x02\x00\x10\x00UI\x04\x00oops")
    report = import_images(empty_ws, [cd / "DICOMDIR"])
    assert report.imported == 1 and [p["kind"] for p in report.problems] == ["dicomdir-unreadable"]


def test_zip_source_with_junk_and_a_damaged_entry(empty_ws, tmp_path):
    zpath = tmp_path / "export.zip"
    good = make_dicom(tmp_path / "g" / "IM1")
    other = make_dicom(tmp_path / "g" / "IM2", uid_seed="z2")
    with zipfile.ZipFile(zpath, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(good, "PATIENT/IM1")
        zf.write(other, "PATIENT/IM2")
        zf.writestr("viewer/Viewer.exe", b"MZ" + b"\0" * 50)
        zf.writestr("PATIENT/", b"")
    report = import_images(empty_ws, [zpath])
    assert report.imported == 2 and report.skipped == {"exe": 1} and report.sources[0]["kind"] == "zip"
    for d in empty_ws.images():
        assert d.source.startswith(f"{zpath}!PATIENT/")
        assert sha(empty_ws.root / d.path) == d.sha256 == sha(tmp_path / "g" / d.source.rsplit("/", 1)[1])
    # flip one byte of a stored entry's data: the CRC check names it
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad, "w", zipfile.ZIP_STORED) as zf:
        zf.write(good, "IM1")
        zf.write(other, "IM2")
    data = bytearray(bad.read_bytes())
    with zipfile.ZipFile(bad) as zf:
        info = zf.getinfo("IM2")
    data[info.header_offset + 30 + len("IM2") + 500] ^= 0xFF
    bad.write_bytes(bytes(data))
    report = import_images(empty_ws, [bad], reset=True)
    assert report.imported == 1
    (problem,) = report.problems
    assert problem["path"] == f"{bad}!IM2" and problem["kind"] == "corrupt"
    assert problem["file"] == "source #1 (zip): IM2"
    assert not [p for p in empty_ws.images_dir.iterdir() if p.name.startswith(".dk-tmp-")]


def test_not_a_zip_nor_dicom_file_source(empty_ws, tmp_path):
    pdf = tmp_path / "x.pdf"
    pdf.write_bytes(b"%PDF-1.4\n")
    report = import_images(empty_ws, [pdf])
    assert report.imported == 0 and report.skipped == {"pdf": 1} and report.exit_code == 1


def test_interrupted_import_keeps_what_was_done(empty_ws, tmp_path, monkeypatch):
    src = tmp_path / "src"
    for i in range(30):
        make_dicom(src / f"IM{i:03d}", uid_seed=f"int{i}")

    class StopAfter:
        def __init__(self):
            self.n = 0

        def start(self, *a, **k):
            pass

        def advance(self, amount=1):
            self.n += 1
            if self.n == 12:
                raise KeyboardInterrupt

        def finish(self):
            pass

    real_write = NewFile.write

    def slow_write(self, data):  # the worker behind the reader: copies begun, not closed, when it stops
        time.sleep(0.01)
        real_write(self, data)

    monkeypatch.setattr(NewFile, "write", slow_write)
    with pytest.raises(KeyboardInterrupt):
        import_images(empty_ws, [src], progress=StopAfter(), workers=2)
    monkeypatch.undo()
    assert open_files_under(empty_ws.root) == []  # the copies begun: closed (and removed below)
    assert not [p for p in empty_ws.images_dir.iterdir() if p.name.startswith(".dk-tmp-")]
    index = empty_ws.images_index()
    assert index["imports"][-1]["status"] == "interrupted"
    done = index["instances"]
    assert 0 < len(done) < 30
    for d in done:
        assert sha(empty_ws.root / d["path"]) == d["sha256"]
    report = import_images(empty_ws, [src])
    assert report.imported + report.duplicates == 30 and report.problems == []
    assert len(empty_ws.images()) == 30 and len(list(empty_ws.images_dir.iterdir())) == 30
    assert empty_ws.images_index()["imports"][-1]["status"] == "complete"


def test_the_caller_reads_hashes_and_parses_while_the_worker_writes_the_copies(empty_ws, tmp_path, monkeypatch):
    """The split the A/Bs chose (docs/performance-history.md, "Fifth
    session on issue #18"): the kernel's share of a copy is mostly in its writes, on
    dk-import; reading, SHA-256 and the header parse stay on the caller
    (SHA-256 on the worker was slower)."""
    from dossierkit import fsutil
    from dossierkit.gather import importer

    src = tmp_path / "src"
    for i in range(10):
        make_dicom(src / f"IM{i:03d}", uid_seed=f"split{i}", private_bytes=300_000)
    writes, parses = [], []
    real_write, real_parse = NewFile.write, importer.parse_header

    def write(self, data):
        writes.append(threading.current_thread().name)
        real_write(self, data)

    def parse(*a, **k):
        parses.append(threading.current_thread().name)
        return real_parse(*a, **k)

    hashed: list[str] = []

    class Sha256:  # hashlib.sha256, noting the thread of each update
        def __init__(self, *a):
            self._h = hashlib.sha256(*a)

        def update(self, data):
            hashed.append(threading.current_thread().name)
            self._h.update(data)

        def hexdigest(self):
            return self._h.hexdigest()

    class Hashlib:
        sha256 = Sha256

        def __getattr__(self, name):
            return getattr(hashlib, name)

    monkeypatch.setattr(NewFile, "write", write)
    monkeypatch.setattr(importer, "parse_header", parse)
    monkeypatch.setattr(fsutil, "hashlib", Hashlib())  # the copy's hashing: fsutil.hash_and_write
    report = import_images(empty_ws, [src])
    assert report.imported == 10
    caller = threading.current_thread().name
    assert len(writes) >= 10 and set(writes) == {"dk-import"}
    assert parses == [caller] * 10
    assert len(hashed) >= 10 and set(hashed) == {caller}
    for inst in empty_ws.images():
        assert sha(empty_ws.root / inst.path) == inst.sha256


def test_reset_and_orphans(empty_ws, tmp_path):
    import_images(empty_ws, [SAMPLE_CD])
    orphan = empty_ws.images_dir / "IMG999999.dcm"
    orphan.write_bytes(b"left by a crash")
    (empty_ws.images_dir / ".dk-tmp-abc.part").write_bytes(b"x")
    stale_stage = empty_ws.images_dir / ".dk-tmp-99999-w1"  # a killed import's staging folder
    stale_stage.mkdir()
    (stale_stage / "7.dcm").write_bytes(b"half a copy")
    report = import_images(empty_ws, [SAMPLE_CD])
    assert report.duplicates == 14 and not orphan.exists()
    report = import_images(empty_ws, [make_dicom(tmp_path / "one.dcm")], reset=True)
    assert report.imported == 1 and len(empty_ws.images()) == 1
    assert [p.name for p in empty_ws.images_dir.iterdir()] == ["IMG000001.dcm"]


def test_no_source_is_a_usage_error(empty_ws):
    with pytest.raises(InputError):
        import_images(empty_ws, [])
    assert isinstance(empty_ws, Workspace)


def test_a_source_without_images_is_exit_1_named_once_in_json_and_words(empty_ws, tmp_path):
    """No DICOM image in the sources: exit 1, ``nothing_found`` in the JSON and
    one error line; the same source imported again (all already there) is not that."""
    empty, one = tmp_path / "empty", tmp_path / "one"
    empty.mkdir()
    one.mkdir()
    (empty / "notes.txt").write_text("no image here\n")
    shutil.copy(real_file("CT_small.dcm"), one / "CT_small.dcm")
    r = run_cli("import-images", empty_ws.root, empty, "--json")
    data = json.loads(r.stdout)
    assert r.returncode == 1 == data["exit_code"] and data["nothing_found"] is True and data["errors"] == 0
    r = run_cli("import-images", empty_ws.root, empty)
    assert r.returncode == 1 and "no DICOM image found in the sources" in r.stderr and "Traceback" not in r.stderr
    assert run_cli("import-images", empty_ws.root, one).returncode == 0
    r = run_cli("import-images", empty_ws.root, one, "--json")
    data = json.loads(r.stdout)
    assert r.returncode == 0 and data["duplicates"] == 1 and data["nothing_found"] is False
    r = run_cli("import-images", empty_ws.root, one)
    assert r.returncode == 0 and "no DICOM image found" not in r.stderr
