"""Issue #13: what real-world DICOM broke, case by case — one definition of
an acceptable image (import = check = pack), `remove-images`, vendor DIRFILE
media, objects without standard pixel data, encapsulated framing, no sender
path in the package, cross-patient studies."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from dossierkit.errors import InputError
from dossierkit.gather import import_images
from dossierkit.gather.dicomfile import CorruptDicomError, is_valid_uid, read_header
from dossierkit.gather.image_removal import remove_images
from dossierkit.package.pack import pack
from dossierkit.package.unpack import unpack_package
from dossierkit.trace import flows
from dossierkit.trace.secrets import open_secrets

from conftest import need_tool, run_cli
from images_fixtures import SAMPLE_CD, make_dicom, make_encapsulated, real_file
from pkg_fixtures import add_documents, new_workspace, trust_sender
from pkg_fixtures import findings_by_code as codes

KEY = Ed25519PrivateKey.generate()
PASSWORD = "tulipe-orage-cadran-mesure-violon-24"


@pytest.fixture(scope="module", autouse=True)
def _sender_trusted():
    trust_sender(KEY)  # the receiver's trust store knows this module's sender


@pytest.fixture
def ws(tmp_path):
    w = new_workspace(tmp_path / "ws")
    add_documents(w)
    return w


# ---------------------------------------------------------------------------
# 1. One definition of an acceptable image; remove-images


def test_uid_definition():
    assert is_valid_uid("1.2.840.10008.5.1.4.1.1.2") and is_valid_uid("1.2.03.4")  # leading zero: tolerated
    for bad in ("", "1..2", ".1", "1.", "1.2a", "1" * 65, None, "dccc9599087131742838cc1162a630fe"):
        assert not is_valid_uid(bad), bad


def test_bad_uid_file_is_refused_at_import_not_at_pack(ws, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(real_file("bad_sequence.dcm"), src / "bad_sequence.dcm")
    make_dicom(src / "IM1")
    report = import_images(ws, [src])
    assert report.imported == 1
    (p,) = report.problems
    assert p["kind"] == "invalid" and "not a valid DICOM UID" in p["reason"]
    found = codes(ws)
    (f,) = found["IMG-CORRUPT"]
    assert f.level == "error" and f.file == "source #1 (folder): bad_sequence.dcm" and "PACS" in f.message
    # pack never meets it: the image index holds only acceptable images
    res = pack(ws, tmp_path / "out" / "d.zip", signing_key=KEY, password=PASSWORD, allow_incomplete=True,
               reason="test")
    assert res.completeness == "incomplete"


def test_an_index_holding_a_bad_uid_is_an_error_with_the_way_out(ws, tmp_path):
    """An index written before import refused such files: check says so and
    names the command that takes the image out; afterwards pack works."""
    make_dicom(tmp_path / "in" / "IM1")
    make_dicom(tmp_path / "in" / "IM2", uid_seed="second")
    import_images(ws, [tmp_path / "in"])
    index = ws.images_index()
    index["instances"][1]["sop_instance_uid"] = "dccc9599087131742838cc1162a630fea87ba9bf61ac09bf"
    ws.save_images_index(index)
    (f,) = codes(ws)["IMG-NOT-ACCEPTABLE"]
    assert f.level == "error" and "remove-images DIR IMG000002" in f.message and f.file == "images/IMG000002.dcm"
    r = run_cli("remove-images", ws.root, "IMG2", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["removed"][0]["id"] == "IMG000002"
    assert "IMG-NOT-ACCEPTABLE" not in codes(ws)
    assert not (ws.root / "images" / "IMG000002.dcm").exists() and len(ws.images()) == 1


def test_remove_images_by_id_series_and_study(ws, tmp_path):
    for i in range(3):
        make_dicom(tmp_path / "a" / f"IM{i}", uid_seed=f"a{i}", series_seed="s1")
    make_dicom(tmp_path / "a" / "IM9", uid_seed="b", series_seed="s2")
    make_dicom(tmp_path / "a" / "IMX", uid_seed="c", study_seed="other", series_seed="s3")
    import_images(ws, [tmp_path / "a"])
    by_path = {i.path: i for i in ws.images()}
    assert len(by_path) == 5
    with pytest.raises(InputError, match="no image IMG000042"):
        remove_images(ws, ["IMG000042", "IMG1"])
    assert len(ws.images()) == 5  # all or nothing
    series = next(i.series_instance_uid for i in by_path.values() if i.instance_number == 1 and
                  i.sop_instance_uid == read_header(tmp_path / "a" / "IM9").sop_instance_uid)
    rep = remove_images(ws, series=[series])
    assert rep.to_dict()["count"] == 1
    study = read_header(tmp_path / "a" / "IMX").study_instance_uid
    r = run_cli("remove-images", ws.root, "--study", study)
    assert r.returncode == 0 and "removed 1 image" in r.stderr
    r = run_cli("remove-images", ws.root, "--study", "1.2.3.4")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    rep = remove_images(ws, ["IMG000001", "images/IMG000002.dcm"])
    assert [x["id"] for x in rep.removed] == ["IMG000001", "IMG000002"]
    assert [i.path for i in ws.images()] == ["images/IMG000003.dcm"]
    assert sorted(p.name for p in ws.images_dir.iterdir()) == ["IMG000003.dcm"]


# ---------------------------------------------------------------------------
# 3. Objects without standard pixel data; 5. encapsulated framing


def test_private_pixel_and_no_pixel_objects_are_kept_with_a_finding(ws, tmp_path):
    src = tmp_path / "in"
    # an Elscint-like CT: pixels in a private element (07A1,100A), no (7FE0,0010)
    elscint = make_dicom(src / "ELSCINT", uid_seed="elscint", drop=("PixelData",))
    from pydicom import dcmread
    ds = dcmread(elscint)
    ds.private_block(0x07A1, "ELSCINT1", create=True).add_new(0x0A, "OW", b"\x01\x02" * 4096)
    ds.save_as(elscint, enforce_file_format=True)
    make_dicom(src / "NOPIX", uid_seed="nopix", drop=("PixelData",))
    make_dicom(src / "GOOD", uid_seed="good")
    report = import_images(ws, [src])
    assert report.imported == 3 and report.problems == [], report.problems
    states = {i.origin.rsplit(" ", 1)[-1]: i.pixel_data for i in ws.images()}
    assert states == {"ELSCINT": "private", "NOPIX": "none", "GOOD": "native"}
    # bit-exact copies
    for inst in ws.images():
        assert (ws.root / inst.path).read_bytes() == (src / inst.origin.rsplit(" ", 1)[-1]).read_bytes()
    found = codes(ws)
    (priv,) = found["IMG-PRIVATE-PIXELS"]
    (none,) = found["IMG-NO-PIXELS"]
    assert priv.level == "info" and none.level == "warning" and "compare" in none.message
    # dcmdump reads both as the complete files they are
    for name in ("ELSCINT", "NOPIX"):
        assert subprocess.run([need_tool("dcmdump"), "-q", str(src / name)], capture_output=True).returncode == 0


def test_truncated_files_stay_corrupt(ws, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    for name in ("MR_truncated.dcm", "rtplan_truncated.dcm", "emri_small_jpeg_2k_lossless_too_short.dcm"):
        shutil.copy(real_file(name), src / name)
    report = import_images(ws, [src])
    assert report.imported == 0 and {p["kind"] for p in report.problems} == {"corrupt"}


def test_encapsulated_framing_is_checked_like_dcmdump(tmp_path):
    dcmdump = need_tool("dcmdump")
    jpeg = b"\xff\xd8" + b"\x00" * 60 + b"\xff\xd9"
    cases = {
        "good": ([b"", jpeg], True, None),
        "bot-odd": ([b"\x00\x00\x00", jpeg], True, "Basic Offset Table"),
        "no-fragment": ([b""], True, "without any fragment"),
        "not-encapsulated": ([b"", jpeg], False, "not encapsulated"),
    }
    for name, (items, undefined, error) in cases.items():
        path = make_encapsulated(tmp_path / name, items, undefined=undefined)
        if error is None:
            assert read_header(path).pixel_data == "encapsulated"
            assert subprocess.run([dcmdump, "-q", str(path)], capture_output=True).returncode == 0
        else:
            with pytest.raises(CorruptDicomError, match=error):
                read_header(path)
    # pydicom's SC_rgb_jpeg.dcm: dcmdump fails ("Unknown Tag & Data (4544,4952)") and so does import
    sc = real_file("SC_rgb_jpeg.dcm")
    r = subprocess.run([dcmdump, str(sc)], capture_output=True, text=True)
    assert r.returncode != 0 and "(4544,4952)" in r.stderr
    with pytest.raises(CorruptDicomError, match="Implicit VR but its transfer syntax 1.2.840.10008.1.2.4.50"):
        read_header(sc)


# ---------------------------------------------------------------------------
# 2. Vendor media: a DICOMDIR referencing DICOMDIR-format directory files


def _directory_file(path: Path, records: list[tuple[list[str], str, str]]) -> Path:
    """A DICOMDIR-format file whose records reference *records* (file ID,
    SOP class, SOP instance), written with pydicom (offsets are not needed
    by a reader that takes the records in order, as vendor importers do)."""
    ds = Dataset()
    ds.FileSetID = "VENDOR"
    ds.OffsetOfTheFirstDirectoryRecordOfTheRootDirectoryEntity = 0
    ds.OffsetOfTheLastDirectoryRecordOfTheRootDirectoryEntity = 0
    ds.FileSetConsistencyFlag = 0
    seq = []
    for file_id, cls, inst in records:
        rec = Dataset()
        rec.OffsetOfTheNextDirectoryRecord = 0
        rec.RecordInUseFlag = 0xFFFF
        rec.OffsetOfReferencedLowerLevelDirectoryEntity = 0
        rec.DirectoryRecordType = "PRIVATE" if cls == "1.2.840.10008.1.3.10" else "IMAGE"
        rec.ReferencedFileID = file_id
        rec.ReferencedSOPClassUIDInFile = cls
        rec.ReferencedSOPInstanceUIDInFile = inst
        seq.append(rec)
    ds.DirectoryRecordSequence = Sequence(seq)
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.1.3.10"
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def _vendor_media(root: Path, *, studies: int = 2, images: int = 3) -> Path:
    """Philips-like: root DICOMDIR -> per-study DIRFILE -> per-series DIRFILE -> images."""
    dir_class = "1.2.840.10008.1.3.10"
    study_refs = []
    for s in range(studies):
        series_dir = ["DICOM", f"ST{s:06d}", "SE000000"]
        image_refs = []
        for i in range(images):
            img = make_dicom(root.joinpath(*series_dir, f"IM{i:06d}"), uid_seed=f"v{s}-{i}", study_seed=f"vs{s}",
                             series_seed=f"vse{s}")
            hdr = read_header(img)
            image_refs.append(([*series_dir, f"IM{i:06d}"], hdr.sop_class_uid, hdr.sop_instance_uid))
        _directory_file(root.joinpath(*series_dir, "DIRFILE"), image_refs)
        _directory_file(root / "DICOM" / f"ST{s:06d}" / "DIRFILE",
                        [([*series_dir, "DIRFILE"], dir_class, generate_uid())])
        study_refs.append((["DICOM", f"ST{s:06d}", "DIRFILE"], dir_class, generate_uid()))
    return _directory_file(root / "DICOMDIR", study_refs)


def test_vendor_dirfile_media_imports_every_image(ws, tmp_path):
    dicomdir = _vendor_media(tmp_path / "cd")
    report = import_images(ws, [dicomdir])
    assert report.imported == 6 and report.problems == [] and report.exit_code == 0
    assert report.sources[0]["dicomdirs"] == 5  # the root, 2 study and 2 series directory files
    assert {i.origin for i in ws.images()} >= {"source #1 (dicomdir): DICOM/ST000001/SE000000/IM000002"}


def test_dirfile_media_with_nothing_found_says_why(ws, tmp_path):
    dicomdir = _vendor_media(tmp_path / "cd", studies=3, images=1)
    for p in (tmp_path / "cd" / "DICOM").glob("ST*/DIRFILE"):
        p.unlink()
    r = run_cli("import-images", ws.root, dicomdir)
    assert r.returncode == 1
    assert "references 3 directory file(s), none found on the media" in r.stderr
    (f,) = codes(ws)["IMG-MEDIA"][-1:]
    assert "none found" in f.message


def test_directory_files_stay_inside_the_medium_and_loops_end(ws, tmp_path):
    outside = _vendor_media(tmp_path / "elsewhere", studies=1, images=1)
    cd = tmp_path / "cd"
    make_dicom(cd / "DICOM" / "IM1", uid_seed="inside")
    (cd / "DICOM" / "LINKDIR").symlink_to(outside.parent / "DICOM" / "ST000000" / "DIRFILE")
    dir_class = "1.2.840.10008.1.3.10"
    _directory_file(cd / "DICOM" / "LOOP", [(["DICOM", "LOOP"], dir_class, generate_uid()),
                                            (["DICOM", "IM1"], "1.2.840.10008.5.1.4.1.1.2",
                                             read_header(cd / "DICOM" / "IM1").sop_instance_uid)])
    dicomdir = _directory_file(cd / "DICOMDIR", [(["DICOM", "LINKDIR"], dir_class, generate_uid()),
                                                 (["DICOM", "LOOP"], dir_class, generate_uid())])
    report = import_images(ws, [dicomdir])
    assert report.imported == 1
    (p,) = report.problems
    assert "outside the media" in p["reason"]


# ---------------------------------------------------------------------------
# 7. One study under several PatientIDs


def test_cross_patient_study_is_reported(ws, tmp_path):
    make_dicom(tmp_path / "in" / "IM1", uid_seed="x1")
    patient = {"PatientName": "LEFEVRE^HELENE^MARIE", "PatientID": "", "PatientBirthDate": "19580314"}
    make_dicom(tmp_path / "in" / "IM2", uid_seed="x2", patient=patient, series_seed="other")
    import_images(ws, [tmp_path / "in"])
    (f,) = codes(ws)["IMG-STUDY-SPLIT"]
    assert f.level == "warning" and "1 PatientID(s) and images with none" in f.message
    assert "as 2 separate studies" in f.message


# ---------------------------------------------------------------------------
# 4. No path of the sending machine anywhere in the package or the receipt


def test_no_sender_path_in_the_package_nor_the_receipt(ws, tmp_path):
    src = tmp_path / "Dossiers patients" / "M. Garçon Noël" / "CD patient"
    shutil.copytree(SAMPLE_CD, src)
    # what makes findings name files: a file the DICOMDIR lists but lost, a corrupt file, a UID conflict
    victim = sorted((src / "DICOM").rglob("IM*"))[-1]
    victim.unlink()
    shutil.copy(real_file("MR_truncated.dcm"), src / "DICOM" / "broken.dcm")
    tampered = bytearray(sorted((src / "DICOM").rglob("IM*"))[0].read_bytes())
    tampered[-1] ^= 1
    (tmp_path / "Dossiers patients" / "M. Garçon Noël" / "conflict").mkdir()
    (tmp_path / "Dossiers patients" / "M. Garçon Noël" / "conflict" / "IM1").write_bytes(bytes(tampered))
    import_images(ws, [src / "DICOMDIR", tmp_path / "Dossiers patients" / "M. Garçon Noël" / "conflict"])
    import_images(ws, [src])
    found = codes(ws)
    assert found["IMG-MEDIA"] and found["IMG-CORRUPT"] and found["IMG-UID-CONFLICT"]
    # the workspace keeps the sender's paths for the sender
    assert str(src) in (ws.root / "index" / "images.json").read_text(encoding="utf-8")

    res = pack(ws, tmp_path / "out" / "dossier.zip", signing_key=KEY, password=PASSWORD, allow_incomplete=True,
               reason="images in progress")
    dest = tmp_path / "unpacked"
    unpack_package(res.package, dest, password=PASSWORD)
    (tmp_path / "pw.txt").write_text(PASSWORD + "\n")
    issued = flows.receipt_for_package(res.package, channel="usb-patient", out=tmp_path / "rc", key=KEY,
                                       journal_file=tmp_path / "j.jsonl",
                                       secrets=open_secrets(res.package, password_file=tmp_path / "pw.txt"))
    components = [c for c in src.parts if len(c) > 5 and c not in ("DICOMDIR",)]
    components += ["Garçon", "Noël", "Dossiers patients", str(src)]
    forms = {f for c in components for f in (c.encode("utf-8"), c.encode("latin-1", "ignore"),
                                             json.dumps(c).strip('"').encode())}
    files = [p for p in dest.rglob("*") if p.is_file()] + [issued.json_path, issued.pdf_path]
    assert len(files) > 20
    from pypdf import PdfReader
    receipt_text = " ".join(p.extract_text() for p in PdfReader(issued.pdf_path).pages).encode()
    for path in files:
        data = path.read_bytes()
        for form in forms:
            assert form not in data, (path.name, form)
    for form in forms:
        assert form not in receipt_text
    manifest = (dest / "DOSSIER" / "MANIFEST.JSON").read_text(encoding="utf-8")
    assert "source #1 (dicomdir): DICOM/" in manifest  # the medium's own names are what findings carry


# ---------------------------------------------------------------------------
# 6. DICOMDIR records that match their files; the broad real set


def _records(dicomdir: Path) -> list:
    from pydicom import dcmread
    return list(dcmread(dicomdir).DirectoryRecordSequence)


def broad_sources() -> list[Path]:
    """Every real-world DICOM set available offline: pydicom's test files and
    pydicom-data, pydicom's character-set files (ISO 2022 Japanese and Korean
    names, Arabic, Hebrew, Greek, Russian…) and colour palettes, pynetdicom's
    test files (big endian, deflated, RT image, a bad meta header) and
    dicom3tools' example (when the distribution kept /usr/share/doc)."""
    import os

    import pynetdicom
    import pydicom
    from images_fixtures import DATA_STORE, PYDICOM_FILES

    pydicom_data = Path(os.path.dirname(pydicom.__file__)) / "data"
    sources = [PYDICOM_FILES, DATA_STORE, pydicom_data / "charset_files", pydicom_data / "palettes",
               Path(os.path.dirname(pynetdicom.__file__)) / "tests" / "dicom_files"]
    dicom3tools = Path("/usr/share/doc/dicom3tools/examples")
    return [p for p in sources if p.is_dir()] + ([dicom3tools] if dicom3tools.is_dir() else [])


@pytest.fixture(scope="module")
def broad(tmp_path_factory):
    """Every readable file of :func:`broad_sources` in one workspace, packed and unpacked."""
    tmp = tmp_path_factory.mktemp("broad")
    w = new_workspace(tmp / "ws")
    add_documents(w)
    report = import_images(w, broad_sources())
    res = pack(w, tmp / "out" / "d.zip", signing_key=KEY, password=PASSWORD, allow_incomplete=True,
               reason="broad set")
    dest = tmp / "unpacked"
    unpack_package(res.package, dest, password=PASSWORD)
    return w, report, dest


def test_broad_set_imports_and_packs(broad):
    w, report, dest = broad
    assert report.imported > 130 and len(w.images()) == report.imported
    kinds = {p["kind"] for p in report.problems}
    assert kinds <= {"corrupt", "invalid", "uid-conflict", "dicomdir-missing-file", "dicomdir-mismatch"}, kinds
    assert len(list((dest / "DICOM").rglob("IM*"))) == report.imported


def test_broad_set_dicomdir_records_match_their_files(broad):
    w, _report, dest = broad
    records = _records(dest / "DICOMDIR")
    patients = [r for r in records if r.DirectoryRecordType == "PATIENT"]
    images = w.images()
    expected = {((i.patient_id or "").strip(), (i.patient_name or "").strip().rstrip("=")) for i in images
                if (i.patient_id or "").strip()}  # (a PN's trailing empty component groups are not kept)
    found = {(str(r.PatientID), str(r.PatientName)) for r in patients}
    assert expected <= found and len(patients) >= len(expected) > 5
    by_uid = {i.sop_instance_uid: i for i in images}
    types = {str(r.ReferencedSOPInstanceUIDInFile): r.DirectoryRecordType for r in records
             if "ReferencedSOPInstanceUIDInFile" in r}
    ecg = [u for u, i in by_uid.items() if i.sop_class_uid == "1.2.840.10008.5.1.4.1.1.9.1.1"]
    assert ecg and all(types[u] == "WAVEFORM" for u in ecg)
    sr = [u for u, i in by_uid.items() if i.sop_class_uid.startswith("1.2.840.10008.5.1.4.1.1.88.")]
    assert sr and all(types[u] == "SR DOCUMENT" for u in sr)


def test_broad_set_dicomdir_by_dicom3tools_and_dcmmkdir(broad, tmp_path):
    w, _report, dest = broad
    r = subprocess.run([need_tool("dciodvfy"), "DICOMDIR"], cwd=dest, capture_output=True, text=True,
                       errors="replace")
    errors = [line for line in (r.stdout + r.stderr).splitlines() if line.startswith("Error")]
    # the only errors are values copied from the source images (pydicom's 999.999… test UIDs)
    assert all("Illegal root for UID" in e and "999.999." in e for e in errors), errors
    r = subprocess.run([need_tool("dcdirdmp"), "DICOMDIR"], cwd=dest, capture_output=True, text=True,
                       errors="replace")
    assert r.returncode == 0 and "Error" not in r.stdout + r.stderr
    # dcmmkdir +U on a copy, every file (no transfer-syntax/encoding/resolution refusal). Strict: nothing added.
    before, after = _dcmmkdir_update(dest, tmp_path / "strict")
    assert len(after) == len(before)
    # --invent: dcmmkdir finds each image where it looks (its PatientID's record, else its PatientName's),
    # except an object with neither, which no record can match (DCMTK compares no empty value): it gets a
    # patient, study, series and instance record of its own — and nothing else is added.
    from collections import Counter
    refused: set[str] = set()
    before, after = _dcmmkdir_update(dest, tmp_path / "invent", "+I", refused=refused)
    uid_of = {"/".join(r.ReferencedFileID): str(r.ReferencedSOPInstanceUIDInFile) for r in before
              if "ReferencedFileID" in r}
    anonymous = {i.sop_instance_uid for i in w.images()
                 if not (i.patient_id or "").strip() and not (i.patient_name or "").strip()}
    anonymous -= {uid_of[f] for f in refused}  # dcmmkdir refuses these files (e.g. no meta header): adds nothing
    assert anonymous  # the broad set holds two (an enhanced MR and a secondary capture of pydicom's)
    refs = Counter(str(r.ReferencedSOPInstanceUIDInFile) for r in after if "ReferencedFileID" in r)
    assert {u for u, n in refs.items() if n > 1} == anonymous and len(refs) == len(w.images())
    ours = Counter((pid, name) for pid, name, _uids in _patients(before))
    added = []  # the PATIENT records dcmmkdir added: (PatientID, instances below)
    for pid, name, uids in _patients(after):
        if ours[(pid, name)]:
            ours[(pid, name)] -= 1
        else:
            added.append((pid, uids))
    assert sorted(uid for pid, uids in added if pid.startswith("DCMTKPAT") for uid in uids) == sorted(anonymous)
    # anything else it added references no file: the start of a tree for a file it then failed on (a
    # pydicom-data CT whose every element is VR UN: dcmmkdir finds no PatientID, SOP Class or Instance UID)
    others = [uids for pid, uids in added if not pid.startswith("DCMTKPAT")]
    assert not any(others) and (not others or refused)
    # --invent-patient-id (a new ID when a PatientID comes with another PatientName): nothing added either
    before, after = _dcmmkdir_update(dest, tmp_path / "invent-id", "+Ipi")
    assert len(after) == len(before)


def test_record_types_by_sop_class_agree_with_pydicom():
    """Our PS3.3 Annex F table against pydicom's FileSet table (a private
    member of pydicom: compared when present)."""
    from dossierkit.package.dicomdir import NON_IMAGE_RECORDS, RECORD_KEYS
    fileset = pytest.importorskip("pydicom.fileset")
    theirs = getattr(fileset, "_FOUR_LEVEL_SOP_CLASSES", None)
    if theirs is None:
        pytest.skip("pydicom no longer exposes its record-type table")
    assert {str(k): v for k, v in theirs.items()}.items() <= NON_IMAGE_RECORDS.items()
    assert set(NON_IMAGE_RECORDS.values()) <= set(RECORD_KEYS)
    assert NON_IMAGE_RECORDS["1.2.840.10008.5.1.4.1.1.9.1.1"] == "WAVEFORM"


def test_cross_patient_study_dicomdir_satisfies_dcmmkdir_and_dciodvfy(ws, tmp_path):
    """The study of case 7 sits under each patient its images name: dcmmkdir +U
    finds every file where it looks for it, dciodvfy finds nothing wrong."""
    make_dicom(tmp_path / "in" / "IM1", uid_seed="x1")
    make_dicom(tmp_path / "in" / "IM2", uid_seed="x2", series_seed="other",
               patient={"PatientName": "LEFEVRE^HELENE^MARIE", "PatientID": "IPP-77",
                        "PatientBirthDate": "19580314"})
    import_images(ws, [tmp_path / "in"])
    res = pack(ws, tmp_path / "out" / "d.zip", signing_key=KEY, password=PASSWORD, allow_incomplete=True,
               reason="test")
    dest = tmp_path / "unpacked"
    unpack_package(res.package, dest, password=PASSWORD)
    records = _records(dest / "DICOMDIR")
    assert [r.DirectoryRecordType for r in records].count("PATIENT") == 2
    assert [r.DirectoryRecordType for r in records].count("STUDY") == 2  # one study, under each patient
    r = subprocess.run([need_tool("dciodvfy"), "DICOMDIR"], cwd=dest, capture_output=True, text=True)
    assert "Error" not in r.stdout + r.stderr, r.stdout + r.stderr
    copy = tmp_path / "copy"
    shutil.copytree(dest, copy)
    r = subprocess.run([need_tool("dcmmkdir"), "+U", "+r", "-q", "+id", str(copy), "+D", str(copy / "DICOMDIR"),
                        "DICOM"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert len(_records(copy / "DICOMDIR")) == len(records)


def _patients(records: list) -> list[tuple[str, str, list[str]]]:
    """(PatientID, PatientName, SOP Instance UIDs below) of each PATIENT record, walking the offsets."""
    by_offset = {r.seq_item_tell: r for r in records}
    out = []

    def below(offset: int) -> list[str]:
        uids = []
        while offset:
            r = by_offset[offset]
            if "ReferencedSOPInstanceUIDInFile" in r:
                uids.append(str(r.ReferencedSOPInstanceUIDInFile))
            uids += below(r.OffsetOfReferencedLowerLevelDirectoryEntity)
            offset = r.OffsetOfTheNextDirectoryRecord
        return uids

    for r in records:
        if r.DirectoryRecordType == "PATIENT":
            out.append((str(r.PatientID), str(r.get("PatientName", "")),
                        below(r.OffsetOfReferencedLowerLevelDirectoryEntity)))
    return out


def _dcmmkdir_update(dest: Path, copy: Path, *options: str, refused: set | None = None) -> tuple[list, list]:
    """Records of *dest*'s DICOMDIR, and of a copy updated by `dcmmkdir +U`
    (every file: no transfer-syntax, encoding or resolution refusal). The
    file IDs dcmmkdir refuses (no meta header, a missing Type 1 key…) are
    added to *refused*."""
    import re

    shutil.copytree(dest, copy)
    r = subprocess.run([need_tool("dcmmkdir"), "+U", "+r", "-Nxc", "-Nec", "-Nrc", *options, "+id", str(copy),
                        "+D", str(copy / "DICOMDIR"), "DICOM"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    if refused is not None:
        refused.update(m.group(1) for line in r.stderr.splitlines() if line.startswith("E:")
                       for m in [re.search(r"(DICOM/ST\d+/SE\d+/IM\d+)", line)] if m)
    return _records(dest / "DICOMDIR"), _records(copy / "DICOMDIR")


def test_dcmmkdir_update_finds_images_without_patient_id(ws, tmp_path):
    """An image without PatientID is looked up by dcmmkdir under the first
    PATIENT record of its PatientName: it sits there. One with neither has
    nothing a record can match (DCMTK compares no empty value): dcmmkdir
    --invent gives it a patient of its own (docs/images.md), strict mode
    refuses it — and nothing else is added."""
    make_dicom(tmp_path / "in" / "IM1", uid_seed="a", study_seed="s1")
    make_dicom(tmp_path / "in" / "IM2", uid_seed="b", study_seed="s2", series_seed="se2", study_date="20260911",
               patient={"PatientName": "LEFEVRE^HELENE^MARIE", "PatientID": ""})
    make_dicom(tmp_path / "in" / "IM3", uid_seed="c", study_seed="s3", series_seed="se3", study_date="20260912",
               patient={"PatientName": "", "PatientID": ""})
    import_images(ws, [tmp_path / "in"])
    res = pack(ws, tmp_path / "out" / "d.zip", signing_key=KEY, password=PASSWORD, allow_incomplete=True,
               reason="test")
    dest = tmp_path / "unpacked"
    unpack_package(res.package, dest, password=PASSWORD)
    before, after = _dcmmkdir_update(dest, tmp_path / "strict")
    assert len(after) == len(before)
    patients = [r for r in before if r.DirectoryRecordType == "PATIENT"]
    assert [str(p.PatientID) for p in patients] == ["CHU-00482913", "2580375123456"]  # IM2 joined IM1's record
    before, after = _dcmmkdir_update(dest, tmp_path / "invent", "+I")
    from collections import Counter
    added = Counter(r.DirectoryRecordType for r in after) - Counter(r.DirectoryRecordType for r in before)
    assert added == {"PATIENT": 1, "STUDY": 1, "SERIES": 1, "IMAGE": 1}, added
    no_id = next(i for i in ws.images() if not i.patient_name)
    refs = Counter(str(r.ReferencedSOPInstanceUIDInFile) for r in after if "ReferencedFileID" in r)
    assert {u for u, n in refs.items() if n > 1} == {no_id.sop_instance_uid}
    assert [str(r.PatientID) for r in after if r.DirectoryRecordType == "PATIENT"][-1].startswith("DCMTKPAT")
