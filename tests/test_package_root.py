"""The media root as a plain folder, judged by tools dossierkit did not write:
coreutils sha256sum, DCMTK dcmdump, dicom3tools dciodvfy/dcdirdmp, pydicom's
FileSet, headless chromium."""

from __future__ import annotations

import hashlib
import json
import re
import struct
import subprocess
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydicom import dcmread
from pydicom.fileset import FileSet

from dossierkit.check import run_checks
from dossierkit.errors import IntegrityError
from dossierkit.model import ImageInstance, Patient
from dossierkit.package.dicomdir import build_dicomdir, parse_package_dicomdir
from dossierkit.package.layout import (INDEX, MANIFEST, README, SIGNATURE, SUMS, is_dicom_file_id, is_safe_entry_path,
                                      plan_layout)
from dossierkit.package.manifest import (completeness_problems, completeness_record, parse_manifest)
from dossierkit.package.root import MediaRoot, build_root
from dossierkit.package.seal import check_seal
from dossierkit.package.sums import format_sums, parse_sums
from tests.conftest import need_tool
from tests.pkg_fixtures import PHI_FORMS, STRIPPED, add_documents, add_images, full_workspace, new_workspace

KEY = Ed25519PrivateKey.generate()


def write_root_to_folder(root: MediaRoot, folder: Path) -> Path:
    """The root as a plain folder, to inspect it with the tools a receiving hospital has."""
    for entry in root.entries:
        target = folder / entry.path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(entry.data if entry.data is not None else Path(entry.source).read_bytes())
    return folder


def _root(ws, tmp_path: Path, name="root"):
    report = run_checks(ws)
    root = build_root(ws, signing_key=KEY, completeness=completeness_record(report, waived=not report.complete,
                                                                            reason="test"),
                      container="password")
    return root, write_root_to_folder(root, tmp_path / name)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("root")
    ws = full_workspace(tmp / "ws")
    root, folder = _root(ws, tmp)
    return ws, root, folder


def test_layout_names_are_neutral_file_ids(built):
    _ws, root, folder = built
    paths = [e.path for e in root.entries]
    assert paths[:3] == [MANIFEST, SUMS, SIGNATURE]
    for p in paths:
        assert is_safe_entry_path(p), p
    images = [p for p in paths if p.startswith("DICOM/")]
    assert images and all(is_dicom_file_id(p) for p in images)
    assert sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()) == sorted(paths)
    # the fiche RCP comes first
    assert root.manifest["documents"][0]["kind"] == "rcp"
    assert not is_safe_entry_path("../ETC/PASSWD") and not is_safe_entry_path("/ABS")
    assert not is_dicom_file_id("DICOM/TOOLONGNAME") and not is_dicom_file_id("DICOM/im1.dcm")


def test_sha256sum_checks_the_root(built):
    tool = need_tool("sha256sum")
    _ws, _root_, folder = built
    r = subprocess.run([tool, "-c", "DOSSIER/SHA256SUMS"], cwd=folder, capture_output=True, text=True, errors="replace")
    assert r.returncode == 0, r.stdout + r.stderr
    listed = set(parse_sums((folder / SUMS).read_bytes()))
    on_disk = {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}
    assert on_disk - listed == {SUMS, SIGNATURE}


def _run(argv, cwd):
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, errors="replace", timeout=120)


def test_dicomdir_accepted_by_dcmtk_and_dicom3tools(built):
    _ws, _r, folder = built
    r = _run([need_tool("dcmdump"), "-q", "DICOMDIR"], folder)
    assert r.returncode == 0 and "E:" not in r.stderr, r.stderr
    r = _run([need_tool("dciodvfy"), "DICOMDIR"], folder)
    out = r.stdout + r.stderr
    assert r.returncode == 0 and "Error" not in out and "Warning" not in out, out
    r = _run([need_tool("dcdirdmp"), "DICOMDIR"], folder)
    out = r.stdout + r.stderr
    assert r.returncode == 0 and "Error" not in out, out
    refs = re.findall(r"-> (\S+)", out)
    images = [e.path for e in built[1].entries if e.path.startswith("DICOM/")]
    assert sorted(x.replace("\\", "/") for x in refs) == sorted(images)


def test_pydicom_reads_it_back_and_every_reference_resolves(built):
    _ws, root, folder = built
    fs = FileSet(folder / "DICOMDIR")
    assert len(fs) == root.layout.instance_count
    for inst in fs:
        ds = dcmread(inst.path, stop_before_pixels=True)
        assert ds.SOPInstanceUID == inst.ReferencedSOPInstanceUIDInFile
        assert ds.SOPClassUID == inst.ReferencedSOPClassUIDInFile
        assert ds.file_meta.TransferSyntaxUID == inst.ReferencedTransferSyntaxUIDInFile
    ours = parse_package_dicomdir((folder / "DICOMDIR").read_bytes())
    assert {e.file_id for e in ours} == {p.path for p in root.layout.instances()}


def test_stand_ins_fill_records_never_the_images(built):
    ws, root, folder = built
    stand = root.manifest["dicomdir"]["stand_ins"]
    # 4 CT images lack StudyTime/StudyID/SeriesNumber/InstanceNumber (one study, one series)
    assert stand == {"IMAGE.InstanceNumber": 4, "SERIES.SeriesNumber": 1, "STUDY.StudyID": 1,
                     "STUDY.StudyTime": 1}
    ds = dcmread(folder / "DICOMDIR")
    studies = [r for r in ds.DirectoryRecordSequence if r.DirectoryRecordType == "STUDY"]
    assert sorted(r.StudyID for r in studies)[0].startswith("DKSTUDY") or any(
        r.StudyID.startswith("DKSTUDY") for r in studies)
    assert any(r.StudyTime == "000000" for r in studies)
    numbers = [int(r.InstanceNumber) for r in ds.DirectoryRecordSequence if r.DirectoryRecordType == "IMAGE"]
    assert all(n >= 1 for n in numbers)
    # the copies are bit-exact and still lack the attributes
    for pi in root.layout.instances():
        assert hashlib.sha256((folder / pi.path).read_bytes()).hexdigest() == pi.record.sha256
        img = dcmread(folder / pi.path)
        if img.Modality == "CT":
            assert not any(k in img for k in STRIPPED)


def test_complete_images_need_no_stand_in(tmp_path):
    ws = new_workspace(tmp_path / "ws")
    add_documents(ws)
    add_images(ws, strip_ct=False)
    root, _folder = _root(ws, tmp_path)
    assert root.manifest["dicomdir"]["stand_ins"] == {}


def _patient(family: str, given: list[str]) -> Patient:
    import datetime as dt
    return Patient(family_name=family, given_names=given, birth_date=dt.date(1958, 3, 14), sex="F")


@pytest.mark.parametrize("family,given,charset", [("Martin", ["Claire"], None),
                                                  ("Lefèvre", ["Hélène"], "ISO_IR 100"),
                                                  ("Wałęsa", ["Łucja"], "ISO_IR 192")])
def test_patient_record_character_set(built, family, given, charset):
    """The PATIENT record carries the images' name (issue #13: as a reader
    matching records to files sees it), in the character set it needs."""
    import copy
    import io
    _ws, root, _folder = built
    layout = copy.deepcopy(root.layout)
    for pi in layout.instances():
        pi.record.patient_name = f"{family}^{given[0]}"
    data = build_dicomdir(_patient("Other", ["Name"]), layout).data
    ds = dcmread(io.BytesIO(data))
    pat = ds.DirectoryRecordSequence[0]
    assert pat.DirectoryRecordType == "PATIENT"
    assert pat.get("SpecificCharacterSet") == charset
    pat.decode()
    assert str(pat.PatientName) == f"{family}^{given[0]}"


def _records(data: bytes):
    """(offset of each item, value offset of its 'next' and 'lower' UL) by scanning."""
    out = []
    pos = data.find(b"\xfe\xff\x00\xe0")
    while pos != -1:
        out.append(pos)
        length = struct.unpack_from("<I", data, pos + 4)[0]
        pos = data.find(b"\xfe\xff\x00\xe0", pos + 8 + length)
    return out


def test_reader_rejects_broken_offsets(built):
    _ws, _root_, folder = built
    good = (folder / "DICOMDIR").read_bytes()
    assert parse_package_dicomdir(good)
    items = _records(good)
    # a lower-level offset pointing into the middle of a record
    bad = bytearray(good)
    struct.pack_into("<I", bad, items[0] + 38, items[1] + 2)
    with pytest.raises(IntegrityError, match="points to no record"):
        parse_package_dicomdir(bytes(bad))
    # a loop: the second image's "next" points back to the first image
    images = [i for i in items if b"IMAGE" in good[i:i + 60]]
    bad = bytearray(good)
    struct.pack_into("<I", bad, images[1] + 16, images[0])
    with pytest.raises(IntegrityError, match="twice"):
        parse_package_dicomdir(bytes(bad))
    # cutting a sibling chain leaves records unreachable
    bad = bytearray(good)
    struct.pack_into("<I", bad, images[0] + 16, 0)
    with pytest.raises(IntegrityError, match="not reachable"):
        parse_package_dicomdir(bytes(bad))
    with pytest.raises(IntegrityError):
        parse_package_dicomdir(b"not a dicomdir" * 20)


def test_duplicate_sop_instance_uid_is_refused(built):
    _ws, root, _folder = built
    first = next(root.layout.instances())
    second = list(root.layout.instances())[1]
    saved = second.record.sop_instance_uid
    second.record.sop_instance_uid = first.record.sop_instance_uid
    try:
        with pytest.raises(IntegrityError, match="appears twice"):
            build_dicomdir(_patient("Martin", ["Claire"]), root.layout)
    finally:
        second.record.sop_instance_uid = saved


@pytest.mark.slow  # a wall-clock bound: not a unit test (issue #11)
def test_dicomdir_of_thousands_of_records_is_linear(tmp_path):
    def layout(n):
        insts = [ImageInstance(sop_instance_uid=f"1.2.3.{i}", sop_class_uid="1.2.840.10008.5.1.4.1.1.2",
                               study_instance_uid=f"1.2.4.{i // 1000}", series_instance_uid=f"1.2.5.{i // 250}",
                               path=f"images/{i}", sha256="0" * 64, size=1, modality="CT") for i in range(n)]
        return plan_layout([], insts)

    p = _patient("Martin", ["Claire"])
    t0 = time.perf_counter()
    data = build_dicomdir(p, layout(4000)).data
    elapsed = time.perf_counter() - t0
    assert len(parse_package_dicomdir(data)) == 4000
    # dcmmkdir does 2 000 files in ~2 s; the index-only writer must be far below (measured ~0.1 s)
    assert elapsed < 2.0, elapsed


def test_sums_format_and_parse():
    entries = [("README.TXT", "a" * 64), ("DICOM/ST000001/SE000001/IM000001", "b" * 64)]
    data = format_sums(entries)
    assert data == f"{'a' * 64}  README.TXT\n{'b' * 64}  DICOM/ST000001/SE000001/IM000001\n".encode()
    assert parse_sums(data) == dict(entries)
    for bad in (data + data, data.replace(b"  README", b"  ../README"), data[:-1], b"zz  README.TXT\n"):
        with pytest.raises(IntegrityError):
            parse_sums(bad)


def test_manifest_parse_validates(built):
    _ws, root, folder = built
    data = (folder / MANIFEST).read_bytes()
    view = parse_manifest(data)
    assert set(view.files) == {e.path for e in root.entries[3:]}
    raw = json.loads(data)
    raw["documents"][0]["path"] = "../../ETC/PASSWD"
    with pytest.raises(IntegrityError, match="not a package path"):
        parse_manifest(json.dumps(raw).encode())
    raw = json.loads(data)
    raw["schema"] = 99
    with pytest.raises(IntegrityError, match="newer"):
        parse_manifest(json.dumps(raw).encode())
    raw = json.loads(data)
    raw["studies"][0]["series"][0]["instances"][0]["sha256"] = "x"
    with pytest.raises(IntegrityError, match="sha256"):
        parse_manifest(json.dumps(raw).encode())
    raw = json.loads(data)
    assert view.dossier_id == raw["dossier_id"] and view.counts()["instances"] == raw["totals"]["instances"]
    raw["totals"] = [1, 2]  # signed by nobody we trust, but verify still reports instead of crashing
    assert set(parse_manifest(json.dumps(raw).encode()).counts().values()) == {0}


def test_completeness_consistency():
    ok = {"status": "complete", "findings": [{"level": "warning", "code": "W"}], "waived": [], "reason": None}
    assert completeness_problems(ok) == []
    waived = {"status": "incomplete", "findings": [{"level": "error", "code": "RCP-MISSING"}],
              "waived": [{"code": "RCP-MISSING"}], "reason": "pas de RCP"}
    assert completeness_problems(waived) == []
    assert completeness_problems({**waived, "reason": " "})
    assert completeness_problems({**waived, "waived": []})
    assert completeness_problems({**ok, "findings": [{"level": "error", "code": "X"}]})


def test_seal_binds_manifest_and_sums(built):
    _ws, _root_, folder = built
    m, s, sig = ((folder / p).read_bytes() for p in (MANIFEST, SUMS, SIGNATURE))
    info = check_seal(sig, m, s)
    with pytest.raises(IntegrityError, match="MANIFEST.JSON"):
        check_seal(sig, m.replace(b'"schema": 1', b'"schema": 1 '), s)
    with pytest.raises(IntegrityError, match="SHA256SUMS"):
        check_seal(sig, m, s[:-2] + b"\n\n")
    with pytest.raises(IntegrityError, match="expected signer"):
        check_seal(sig, m, s, expect_signer="00" * 32)
    check_seal(sig, m, s, expect_signer=info.fingerprint)
    forged = json.loads(sig)
    forged["signed"][MANIFEST] = "0" * 64
    with pytest.raises(IntegrityError, match="altered"):
        check_seal(json.dumps(forged).encode(), m, s)


def test_readme_is_bilingual_and_phi_free(built):
    _ws, _root_, folder = built
    text = (folder / README).read_bytes().decode("utf-8")
    assert "\r\n" in text and "sha256sum -c DOSSIER/SHA256SUMS" in text and "7-Zip" in text
    assert "FRANÇAIS" in text and "ENGLISH" in text and "DICOMDIR" in text and "age -d" in text
    for form in PHI_FORMS:
        assert form.lower() not in text.lower(), form


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links, self.tags, self.srcs = [], set(), []

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        for k, v in attrs:
            if k == "href":
                self.links.append(v)
            if k == "src":
                self.srcs.append(v)


def test_index_renders_in_chromium_and_every_link_resolves(built, tmp_path):
    chromium = need_tool("chromium")
    _ws, root, folder = built
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'p'}"]
    url = (folder / INDEX).as_uri()
    r = subprocess.run([chromium, *flags, "--dump-dom", url], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    dom = _Links()
    dom.feed(r.stdout)
    assert "script" not in dom.tags and not dom.srcs
    assert "LEFÈVRE" in r.stdout and "Second avis" in r.stdout and "Imagerie" in r.stdout
    pdfs = [d.path for d in root.layout.documents]
    assert [x for x in dom.links if x.endswith(".PDF")] == pdfs
    for link in dom.links:
        assert not re.match(r"^[a-z]+:", link), link  # relative only, no external resource
        if link.startswith("#"):  # in-page anchor: its target must exist
            assert f'id="{link[1:]}"' in r.stdout, link
            continue
        assert (folder / link).is_file(), link
    shot = tmp_path / "index.png"
    r = subprocess.run([chromium, *flags, "--window-size=1100,1400", f"--screenshot={shot}", url],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000


def test_non_image_instances_get_their_own_record_types(tmp_path):
    from tests.pkg_fixtures import add_non_image_instances

    ws = full_workspace(tmp_path / "ws")
    add_non_image_instances(ws)
    root, folder = _root(ws, tmp_path)
    r = _run([need_tool("dciodvfy"), "DICOMDIR"], folder)
    out = r.stdout + r.stderr
    assert r.returncode == 0 and "Error" not in out and "Warning" not in out, out
    r = _run([need_tool("dcdirdmp"), "DICOMDIR"], folder)
    out = r.stdout + r.stderr
    types = re.findall(r"^\t\t\t(\w[\w ]*?)(?: \d+)?$", out, re.M)
    assert sorted(set(types)) == ["IMAGE", "RT DOSE", "RT PLAN", "SR DOCUMENT"], out
    fs = FileSet(folder / "DICOMDIR")
    assert len(fs) == root.layout.instance_count
    for inst in fs:
        assert dcmread(inst.path, stop_before_pixels=True).SOPInstanceUID == inst.ReferencedSOPInstanceUIDInFile
    ours = parse_package_dicomdir((folder / "DICOMDIR").read_bytes())  # records with nested sequences
    assert {e.record_type for e in ours} == {"IMAGE", "RT DOSE", "RT PLAN", "SR DOCUMENT"}
    assert {e.file_id for e in ours} == {p.path for p in root.layout.instances()}
    # without headers to read (or an unreadable one) every instance still gets a valid IMAGE record
    data = build_dicomdir(_patient("Martin", ["Claire"]), root.layout).data
    import io
    ds = dcmread(io.BytesIO(data))
    assert {r.DirectoryRecordType for r in ds.DirectoryRecordSequence} == {"PATIENT", "STUDY", "SERIES", "IMAGE"}


def test_dossier_without_images_has_an_empty_valid_dicomdir(tmp_path):
    ws = new_workspace(tmp_path / "ws")
    add_documents(ws)
    root, folder = _root(ws, tmp_path)
    assert root.manifest["dicomdir"]["stand_ins"] == {} and root.layout.instance_count == 0
    assert parse_package_dicomdir((folder / "DICOMDIR").read_bytes()) == []
    r = _run([need_tool("dciodvfy"), "DICOMDIR"], folder)
    out = r.stdout + r.stderr
    assert r.returncode == 0 and "Error" not in out and "Warning" not in out, out
    assert len(FileSet(folder / "DICOMDIR")) == 0


def test_readmes_say_dossier_or_reply_and_list_images_only_when_there_are_some():
    from dossierkit.package.readme import beside_readme, root_readme

    args = dict(dossier_id="DK-20261202-3BA2DC4D", created="2026-12-02T05:00:00Z", version="1", documents=7,
                studies=2)
    sent = root_readme(**args, images=17).decode("utf-8")
    assert sent.startswith("DOSSIER MÉDICAL POUR UN SECOND AVIS — MEDICAL DOSSIER FOR A SECOND OPINION\r\n====")
    assert sent.count("DICOMDIR, DICOM/") == 2 and "$" not in sent
    reply = root_readme(**args, images=0, reply=True).decode("utf-8")
    assert reply.startswith("RÉPONSE DE SECOND AVIS — SECOND OPINION REPLY\r\n" + "=" * 45 + "\r\n")
    assert "DICOMDIR, DICOM/" not in reply and "$" not in reply
    beside = beside_readme().decode("utf-8")
    assert "Donnez-le vous-même à l'équipe qui vous reçoit" in beside and "préparé pour un second avis" in beside
    assert "réponse" not in beside and "$" not in beside and "\r\n" in beside
    assert "la réponse du second avis" in beside_readme(reply=True).decode("utf-8")


def test_modalities_in_words():
    from dossierkit.model import modality_in_words

    assert modality_in_words("CT") == "CT (scanner / CT)" and modality_in_words("mr") == "mr (IRM / MRI)"
    assert modality_in_words("PT") == "PT (TEP / PET)" and modality_in_words("OT") == "OT (autre / other)"
    assert modality_in_words("ZZ") == "ZZ" and modality_in_words(None) == "—" and modality_in_words("") == "—"
