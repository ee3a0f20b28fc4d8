"""Bad inputs: fuzzed dossier.toml through ``check``, fuzzed and hostile PDFs
through ``add``, fuzzed and unusual DICOM through the header reader and
``import-images``, and patient identity across character sets.

Contract: no uncaught exception; a refused input is one clear line and exit
2 (a corrupt image is recorded as a problem, the import exits 1)."""

from __future__ import annotations

import copy
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings, strategies as st
from pydicom import dcmread
from pydicom.data import get_charset_files, get_testdata_file
from pydicom.uid import generate_uid

from dossierkit.identity import compare_dicom_identity
from dossierkit.gather.dicomfile import CorruptDicomError, NotDicomError, parse_header, read_header
from dossierkit.model import Patient
from dossierkit.resources import samples_dir
from dossierkit.workspace import Workspace
from tests.conftest import REPO
from tests.pkg_fixtures import new_workspace
from tests.reliability import craft
from tests.reliability.measure import run as run_inprocess

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def assert_one_line_exit_2(code: int, err: str) -> str:
    lines = [x for x in err.splitlines() if x.strip()]
    assert code == 2, (code, err)
    assert lines and all(x.startswith("dossierkit: error:") for x in lines), err
    assert not any("internal error" in x or "Traceback" in x for x in lines), err
    return lines[0]


# ------------------------------------------------------------- dossier.toml

SAMPLE_TOML = (samples_dir() / "dossier.toml").read_text(encoding="utf-8")


@st.composite
def tomlish(draw):
    kind = draw(st.integers(0, 3))
    if kind == 0:
        return draw(st.binary(max_size=600))
    if kind == 1:
        return draw(st.text(max_size=400)).encode("utf-8", "surrogatepass")
    lines = SAMPLE_TOML.splitlines()
    if kind == 2:  # lines dropped, duplicated or swapped
        for _ in range(draw(st.integers(1, 6))):
            i = draw(st.integers(0, len(lines) - 1))
            op = draw(st.integers(0, 2))
            if op == 0:
                del lines[i]
            elif op == 1:
                lines.insert(i, lines[i])
            else:
                j = draw(st.integers(0, len(lines) - 1))
                lines[i], lines[j] = lines[j], lines[i]
        return "\n".join(lines).encode("utf-8")
    data = bytearray(SAMPLE_TOML.encode("utf-8"))  # characters overwritten
    for _ in range(draw(st.integers(1, 10))):
        data[draw(st.integers(0, len(data) - 1))] = draw(st.sampled_from(b'"=[]{}\n#.,0aZ\xc3\xff '))
    return bytes(data)


@pytest.fixture(scope="module")
def toml_ws(tmp_path_factory) -> Path:
    return new_workspace(tmp_path_factory.mktemp("toml") / "ws").root


@FUZZ
@given(data=tomlish())
def test_fuzzed_dossier_toml_through_check(toml_ws, data):
    (toml_ws / "dossier.toml").write_bytes(data)
    code, out, err = run_inprocess(["check", str(toml_ws), "--json"])
    if code in (0, 1):  # still a valid dossier: a normal checklist
        event("valid")
        assert json.loads(out)["status"] in ("complete", "incomplete")
    else:
        line = assert_one_line_exit_2(code, err)
        assert "dossier.toml" in line, line
        event(line.split(":")[-1].split("(")[0].strip()[:40])


def test_dossier_toml_that_is_a_folder_or_unreadable(toml_ws, tmp_path):
    p = toml_ws / "dossier.toml"
    p.unlink()
    p.mkdir()
    try:
        assert_one_line_exit_2(*run_inprocess(["check", str(toml_ws)])[::2])
    finally:
        p.rmdir()
    p.write_bytes(b"\xff\xfe\x00not utf-8")
    assert_one_line_exit_2(*run_inprocess(["check", str(toml_ws)])[::2])


# --------------------------------------------------------------------- PDFs

PDF_SAMPLE = (samples_dir() / "documents" / "02-anatomopathologie.pdf").read_bytes()


@st.composite
def pdf_mutation(draw):
    data = bytearray(PDF_SAMPLE)
    op = draw(st.integers(0, 3))
    if op == 0:  # bytes overwritten
        for _ in range(draw(st.integers(1, 12))):
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    elif op == 1:  # a slice removed (offsets shift: every xref entry lies)
        a = draw(st.integers(0, len(data) - 2))
        del data[a:a + draw(st.integers(1, 400))]
    elif op == 2:  # a slice duplicated
        a = draw(st.integers(0, len(data) - 2))
        data[a:a] = data[a:a + draw(st.integers(1, 400))]
    else:  # a key token damaged
        token = draw(st.sampled_from([b"/Type", b"/Pages", b"/Kids", b"/Count", b"/Root", b"obj", b"stream",
                                      b"endstream", b"xref", b"trailer", b"/Length", b"/Filter"]))
        data = bytearray(bytes(data).replace(token, draw(st.sampled_from([b"", b"/X", token[:-1]])), 1))
    return bytes(data)


@pytest.fixture(scope="module")
def pdf_ws(tmp_path_factory) -> Path:
    return new_workspace(tmp_path_factory.mktemp("pdf") / "ws").root


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=pdf_mutation())
def test_mutated_pdf_through_add(pdf_ws, tmp_path_factory, data):
    p = tmp_path_factory.getbasetemp() / "mutated.pdf"
    p.write_bytes(data)
    code, _out, err = run_inprocess(["add", str(pdf_ws), str(p), "--kind", "pathology", "--date", "2026-09-30",
                                     "--json"])
    if code == 0:  # pypdf repaired it and the page is there: a valid PDF
        event("accepted")
        docs = Workspace(pdf_ws).documents()
        Workspace(pdf_ws).save_documents([d for d in docs if d.sha256 != docs[-1].sha256])
    else:
        line = assert_one_line_exit_2(code, err)
        event(line.split(": ")[-1].split(" — ")[0][:50])


def _pdf_with(tmp_path: Path, name: str, build) -> Path:
    import pypdf

    w = pypdf.PdfWriter(clone_from=io.BytesIO(PDF_SAMPLE))
    build(w)
    p = tmp_path / name
    with open(p, "wb") as fh:
        w.write(fh)
    return p


def _add_javascript(writer) -> None:
    from pypdf.actions import JavaScript

    writer.add_open_action(JavaScript("app.alert('hello');"))


def _claims_huge_page_count(tmp_path: Path) -> Path:
    data = PDF_SAMPLE
    i = data.index(b"/Count ")
    j = i + 7
    while data[j:j + 1].isdigit():
        j += 1
    p = tmp_path / "huge-count.pdf"
    p.write_bytes(data[:i] + b"/Count 999999999" + data[j:])
    return p


def _broken_xref(tmp_path: Path) -> Path:
    data = bytearray(PDF_SAMPLE)
    i = data.rindex(b"startxref") + len(b"startxref")
    while data[i:i + 1] in (b"\n", b"\r", b" "):
        i += 1
    j = i
    while data[j:j + 1].isdigit():
        j += 1
    number = str(int(data[i:j]) // 2).rjust(j - i, "0").encode()  # same length, into the middle
    data[i:j] = number
    p = tmp_path / "xref.pdf"
    p.write_bytes(bytes(data))
    return p


@pytest.mark.slow  # holds a wall-clock bound (a hostile PDF must not make `add` crawl)
def test_hostile_pdfs_through_add(pdf_ws, tmp_path):
    import time

    cases = {
        "encrypted": (_pdf_with(tmp_path, "enc.pdf", lambda w: w.encrypt("secret-user-password")), {2},
                      "password-protected"),
        "javascript": (_pdf_with(tmp_path, "js.pdf", _add_javascript), {0}, None),
        "huge page count": (_claims_huge_page_count(tmp_path), {0, 2}, None),
        "broken xref": (_broken_xref(tmp_path), {0, 2}, None),
    }
    for label, (p, codes, fragment) in cases.items():
        t0 = time.perf_counter()
        code, out, err = run_inprocess(["add", str(pdf_ws), str(p), "--kind", "pathology", "--date", "2026-09-30",
                                        "--json"])
        assert time.perf_counter() - t0 < 10, label
        assert code in codes, (label, code, err)
        if code == 2:
            line = assert_one_line_exit_2(code, err)
            assert fragment is None or fragment in line, (label, line)
        else:
            added = json.loads(out)["added"]
            assert added and added[0]["pages"] >= 1, (label, out)
            Workspace(pdf_ws).save_documents([])  # next case starts from an empty dossier


# -------------------------------------------------------------------- DICOM

_DICOM_SEEDS = ["CT_small.dcm", "MR_small.dcm", "image_dfl.dcm", "rtplan.dcm", "ExplVR_BigEnd.dcm",
                "MR_small_implicit.dcm", "JPEG2000.dcm", "nested_priv_SQ.dcm", "UN_sequence.dcm", "no_meta.dcm"]
_SEED_BYTES = {n: Path(get_testdata_file(n)).read_bytes() for n in _DICOM_SEEDS}


@st.composite
def dicom_mutation(draw):
    op = draw(st.integers(0, 4))
    if op == 0:
        return draw(st.binary(max_size=3000))
    data = bytearray(_SEED_BYTES[draw(st.sampled_from(_DICOM_SEEDS))])
    if op == 1:  # bytes overwritten, biased to the header where lengths and VRs live
        for _ in range(draw(st.integers(1, 10))):
            data[draw(st.integers(0, min(len(data), 2048) - 1))] = draw(st.integers(0, 255))
    elif op == 2:  # truncated
        del data[draw(st.integers(0, len(data) - 1)):]
    elif op == 3:  # a 32-bit length replaced by a huge or undefined one
        pos = draw(st.integers(128, min(len(data), 2048) - 4))
        data[pos:pos + 4] = draw(st.sampled_from([b"\xff\xff\xff\xff", b"\xfe\xff\xff\x7f", b"\x00\x00\x00\x80"]))
    else:  # a slice removed
        a = draw(st.integers(0, len(data) - 2))
        del data[a:a + draw(st.integers(1, 200))]
    return bytes(data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=dicom_mutation())
def test_fuzzed_dicom_header_reader(data):
    try:
        h = parse_header(data[:65536], io.BytesIO(data), len(data))
    except (NotDicomError, CorruptDicomError) as exc:
        assert exc.message and "\n" not in exc.line()
        event(type(exc).__name__)
    else:
        event("indexed")
        assert h.sop_instance_uid and h.study_instance_uid and h.series_instance_uid


def test_fuzzed_dicom_folder_through_import_images(tmp_path):
    """Mutants of every seed imported through the CLI: corrupt ones are
    recorded problems (exit 1), never a crash."""
    import random

    rng = random.Random(7)
    src = tmp_path / "cd"
    src.mkdir()
    for n, raw in _SEED_BYTES.items():
        for k in range(3):
            data = bytearray(raw)
            for _ in range(rng.randint(1, 6)):
                data[rng.randrange(0, min(len(data), 2048))] = rng.randrange(256)
            (src / f"{Path(n).stem}-{k}.dcm").write_bytes(bytes(data[:rng.randrange(len(data) // 2, len(data) + 1)]))
    ws = new_workspace(tmp_path / "ws")
    code, out, err = run_inprocess(["import-images", str(ws.root), str(src), "--json"])
    assert code in (0, 1), (code, err)
    rep = json.loads(out)
    assert rep["files_seen"] == 3 * len(_SEED_BYTES)
    assert rep["imported"] + rep["duplicates"] + len(rep["problems"]) + rep["skipped"]["total"] == rep["files_seen"]
    assert all(p["reason"] and "\n" not in p["reason"] for p in rep["problems"])


@pytest.mark.parametrize("name, outcome", [
    ("badVR.dcm", "indexed"),  # a wrong VR on a non-indexed element: walked, indexed
    ("image_dfl.dcm", "indexed"),  # Deflated Explicit VR Little Endian
    ("ExplVR_BigEndNoMeta.dcm", "indexed"),  # no preamble, no meta, big endian
    ("no_meta.dcm", "not DICOM"),  # no meta and a first element outside groups 0002/0008
    ("priv_SQ.dcm", "invalid"),  # private sequences only: no UIDs to index
    ("nested_priv_SQ.dcm", "invalid"),
    ("meta_missing_tsyntax.dcm", "invalid"),
    ("rtplan_truncated.dcm", "corrupt"),  # pydicom reads it silently
    ("MR_truncated.dcm", "corrupt"),
])
def test_unusual_real_dicom_files(name, outcome):
    try:
        read_header(get_testdata_file(name))
        got = "indexed"
    except NotDicomError:
        got = "not DICOM"
    except CorruptDicomError as exc:
        got = exc.kind
        assert name in exc.line() and "\n" not in exc.line()
    assert got == outcome


def test_private_tags_and_wrong_vr_keep_identity():
    ds = dcmread(get_testdata_file("CT_small.dcm"))
    block = ds.private_block(0x0029, "DOSSIERKIT TEST", create=True)
    block.add_new(0x01, "LO", "LEFÈVRE^HÉLÈNE in a private tag")
    block.add_new(0x02, "SQ", [])
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.PatientName = "LEFÈVRE^HÉLÈNE"
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    h = parse_header(buf.getvalue()[:65536], io.BytesIO(buf.getvalue()), len(buf.getvalue()))
    assert h.patient_name == "LEFÈVRE^HÉLÈNE"


def test_deflate_bomb_dicom_in_bounded_time_and_memory(tmp_path):
    raw = _SEED_BYTES["image_dfl.dcm"]
    meta_end = 144 + int.from_bytes(raw[140:144], "little")  # group length of the meta information
    stream, _crc = craft.zeros_bomb(1024)  # 1 GiB of zeros from ~1 MiB
    bomb = tmp_path / "cd" / "BOMB.dcm"
    bomb.parent.mkdir()
    bomb.write_bytes(raw[:meta_end] + stream)
    ws = new_workspace(tmp_path / "ws")
    code = (
        "import json, time\n"
        "from tests.reliability.measure import peak_rss_mb, run\n"
        "t = time.process_time()\n"
        f"code, out, err = run(['import-images', {str(ws.root)!r}, {str(bomb.parent)!r}, '--json'])\n"
        "print(json.dumps({'code': code, 'out': out, 'err': err, 'cpu_seconds': time.process_time() - t,\n"
        "                  'rss': peak_rss_mb()}))\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    res = json.loads(r.stdout)
    rep = json.loads(res["out"])
    assert res["code"] == 1 and rep["problems"][0]["kind"] == "invalid", res
    assert "deflated" in rep["problems"][0]["reason"]
    assert res["cpu_seconds"] < 5 and res["rss"] < 200, res  # CPU time: the same on a loaded machine


# ---------------------------------------------------------------- identity

def _patient() -> Patient:
    from dossierkit.model import dossier_from_dict
    from tests.conftest import SAMPLE_PATIENT

    return dossier_from_dict({"id": "DK-1", **copy.deepcopy(SAMPLE_PATIENT)}).patient


def _dicom_with_name(name: str, charset) -> bytes:
    ds = dcmread(get_testdata_file("CT_small.dcm"))
    ds.SpecificCharacterSet = charset
    ds.PatientName = name
    ds.PatientBirthDate = "19580314"
    ds.PatientID = "2580375123456"
    ds.SOPInstanceUID = generate_uid()
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def _identity_of(data: bytes):
    h = parse_header(data[:65536], io.BytesIO(data), len(data))
    return h, compare_dicom_identity(_patient(), h.patient_name, h.patient_id, h.patient_birth_date)


@pytest.mark.parametrize("name, charset", [
    ("LEFEVRE^HELENE", "ISO_IR 6"),
    ("LEFEVRE^HELENE", None),
    ("LEFÈVRE^HÉLÈNE", "ISO_IR 100"),
    ("Lefèvre^Hélène^Marie", "ISO_IR 100"),
    ("LEFÈVRE^HÉLÈNE", "ISO_IR 192"),
    ("LEFEVRE^HELENE=ルフェーヴル^エレーヌ", ["", "ISO 2022 IR 87"]),
])
def test_sample_patient_matches_in_every_character_set(name, charset):
    data = _dicom_with_name(name, charset)
    h, cmp = _identity_of(data)
    assert cmp.name_ok is True and not cmp.mismatch, (h.patient_name, cmp)
    # the raw bytes really are in that character set
    if charset == "ISO_IR 100":
        assert name.encode("latin-1") in data
    elif charset == "ISO_IR 192":
        assert name.encode("utf-8") in data


@pytest.mark.parametrize("name, charset", [
    ("LEFEBVRE^HELENE", "ISO_IR 100"),
    ("MARTIN^HÉLÈNE", "ISO_IR 192"),
    ("LEFÈVRE^PAUL", "ISO_IR 100"),
    ("Yamada^Tarou=山田^太郎=やまだ^たろう", ["", "ISO 2022 IR 87"]),
])
def test_another_patient_does_not_match(name, charset):
    _h, cmp = _identity_of(_dicom_with_name(name, charset))
    assert cmp.name_ok is False and cmp.mismatch


def test_real_charset_files_decode_and_do_not_match_the_sample():
    """pydicom's character-set test files (Japanese ISO 2022 IR 87, Korean,
    Greek, Hebrew, Arabic, Russian, French…): decoded like pydicom does, and
    none of them is taken for the sample patient."""
    seen = 0
    for f in sorted(get_charset_files("chr*.dcm")):
        try:
            h = read_header(f)
        except CorruptDicomError:
            continue  # files of the set that are not indexable images
        expected = str(dcmread(f).PatientName)
        assert h.patient_name.rstrip("=") == expected.rstrip("="), f
        cmp = compare_dicom_identity(_patient(), h.patient_name, h.patient_id, h.patient_birth_date)
        assert cmp.name_ok is False, f
        seen += 1
    assert seen >= 10


def test_latin1_bytes_without_a_declared_character_set():
    """Real CDs often write latin-1 names without (0008,0005): decoded as a
    best effort, the sample patient must still match (not be called another
    patient) and a different family name must not."""
    for name, ok in (("LEFÈVRE^HÉLÈNE", True), ("MARTIN^HÉLÈNE", False)):
        ds = dcmread(get_testdata_file("CT_small.dcm"))
        if "SpecificCharacterSet" in ds:
            del ds.SpecificCharacterSet
        ds.PatientName = name.encode("latin-1")
        buf = io.BytesIO()
        ds.save_as(buf, enforce_file_format=True)
        _h, cmp = _identity_of(buf.getvalue())
        assert cmp.name_ok is ok, (name, _h.patient_name)


def test_dicomdir_file_ids_leaving_the_media(tmp_path):
    """A hostile CD's DICOMDIR naming ``..\\OUTSIDE\\IM1``: the file beside the
    media is not imported, the reference is recorded as a media problem."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.sequence import Sequence
    from pydicom.uid import ExplicitVRLittleEndian

    from dossierkit.gather.importer import import_images

    outside = tmp_path / "OUTSIDE"
    outside.mkdir()
    ds = dcmread(get_testdata_file("CT_small.dcm"))
    ds.save_as(outside / "IM1", enforce_file_format=True)
    media = tmp_path / "CD"
    media.mkdir()
    dd = Dataset()
    dd.file_meta = FileMetaDataset()
    dd.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.1.3.10"
    dd.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    dd.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    records = []
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom: '..' is not a valid CS value (that is the point)
        for fid in (["..", "OUTSIDE", "IM1"], ["DICOM", "..", "..", "OUTSIDE", "IM1"]):
            rec = Dataset()
            rec.DirectoryRecordType = "IMAGE"
            rec.ReferencedFileID = fid
            rec.ReferencedSOPInstanceUIDInFile = ds.SOPInstanceUID
            records.append(rec)
        dd.DirectoryRecordSequence = Sequence(records)
        dd.save_as(media / "DICOMDIR", enforce_file_format=True)
    ws = new_workspace(tmp_path / "ws")
    for source in (media / "DICOMDIR", media):
        rep = import_images(ws, [source])
        assert rep.imported == 0 and rep.duplicates == 0, rep.to_dict()
        media_problems = [p for p in rep.problems if p["kind"] != "dicomdir-empty"]
        assert [p["kind"] for p in media_problems] == ["dicomdir-missing-file"] * 2
        assert all("outside the media" in p["reason"] for p in media_problems)
        # a DICOMDIR source that gives nothing says why (issue #13); a folder source walks the files instead
        empty = [p["reason"] for p in rep.problems if p["kind"] == "dicomdir-empty"]
        assert empty == (["the DICOMDIR references 2 file(s), none of them on the media — import the media's "
                          "folder instead"] if source.name == "DICOMDIR" else [])
    assert Workspace(ws.root).images() == []
