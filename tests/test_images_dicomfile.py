"""The DICOM header reader against real third-party files (pydicom's test
files and pydicom-data), with pydicom and DCMTK as references."""

from __future__ import annotations

import io
import os
import subprocess
import warnings

import pydicom
import pytest

from dossierkit.gather import read_header
from dossierkit.gather.dicomfile import CorruptDicomError, DirectoryFileError, NotDicomError, parse_header

from conftest import need_tool
from images_fixtures import DATA_STORE, DICOMDIR_SET, PYDICOM_FILES, SAMPLE_CD, make_dicom, real_file

ALL_FILES = sorted([*PYDICOM_FILES.glob("*.dcm"), *DATA_STORE.glob("*.dcm"), *DICOMDIR_SET.glob("9*/*/*")])
# Truncated files pydicom reads without a word; DCMTK's dcmdump fails on each (test below).
TRUNCATED = {"MR_truncated.dcm", "rtplan_truncated.dcm", "emri_small_jpeg_2k_lossless_too_short.dcm"}
# Files pydicom reads but a PACS refuses, as import now does (issue #13): why, as the message says it.
REFUSED = {"bad_sequence.dcm": "not a valid DICOM UID",  # UIDs of 64 hex digits
           "SC_rgb_jpeg.dcm": "encoded as Implicit VR but its transfer syntax"}  # dcmdump fails on it too
REQUIRED = ("SOPInstanceUID", "SOPClassUID", "StudyInstanceUID", "SeriesInstanceUID")


def _pydicom_view(path):
    """pydicom's reading (force: files without meta too), or None when it
    does not find an image's UIDs."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True, force=True)
        except Exception:
            return None
    return ds if all(ds.get(k) for k in REQUIRED) else None


def _value(ds, keyword):
    v = ds.get(keyword)
    if v is None or str(v).strip() == "":
        return None
    return int(v) if keyword in ("SeriesNumber", "InstanceNumber") else str(v).strip()


FIELDS = {"sop_instance_uid": "SOPInstanceUID", "sop_class_uid": "SOPClassUID",
          "study_instance_uid": "StudyInstanceUID", "series_instance_uid": "SeriesInstanceUID",
          "patient_name": "PatientName", "patient_id": "PatientID", "patient_birth_date": "PatientBirthDate",
          "patient_sex": "PatientSex", "study_date": "StudyDate", "study_time": "StudyTime", "study_id": "StudyID",
          "study_description": "StudyDescription", "accession_number": "AccessionNumber", "modality": "Modality",
          "series_number": "SeriesNumber", "series_description": "SeriesDescription",
          "instance_number": "InstanceNumber", "specific_character_set": "SpecificCharacterSet"}


@pytest.mark.parametrize("path", ALL_FILES, ids=lambda p: p.name)
def test_reader_agrees_with_pydicom_on_every_real_file(path):
    ref = _pydicom_view(path)
    if path.name in TRUNCATED:
        with pytest.raises(CorruptDicomError, match="truncated"):
            read_header(path)
        return
    if path.name in REFUSED:
        with pytest.raises(CorruptDicomError, match=REFUSED[path.name]):
            read_header(path)
        return
    if ref is None:  # not an indexable image for pydicom either
        with pytest.raises((CorruptDicomError, NotDicomError)):
            read_header(path)
        return
    hdr = read_header(path)
    for field, keyword in FIELDS.items():
        expected = _value(ref, keyword)
        if keyword == "SpecificCharacterSet" and expected is not None:
            expected = "\\".join(ref.SpecificCharacterSet) if not isinstance(ref.SpecificCharacterSet, str) \
                else ref.SpecificCharacterSet
        assert getattr(hdr, field) == expected, (field, path.name)
    has_meta = path.read_bytes()[128:132] == b"DICM"
    assert hdr.has_meta is has_meta
    if has_meta and "TransferSyntaxUID" in ref.file_meta:
        assert hdr.transfer_syntax == ref.file_meta.TransferSyntaxUID


def test_reader_is_stricter_than_pydicom_on_truncation():
    """pydicom reads these truncated files in full without an error or a warning."""
    for name in ("MR_truncated.dcm", "rtplan_truncated.dcm"):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            pydicom.dcmread(real_file(name))
        with pytest.raises(CorruptDicomError) as exc:
            read_header(real_file(name))
        assert "truncated" in exc.value.line() and name in exc.value.line()


def test_dcmdump_also_rejects_the_truncated_files():
    dcmdump = need_tool("dcmdump")
    for name in TRUNCATED:
        r = subprocess.run([dcmdump, "-q", str(real_file(name))], capture_output=True)
        assert r.returncode != 0, name


def test_every_truncation_of_a_real_file_is_caught(tmp_path):
    """Every cut inside an element is corrupt. A cut exactly between two
    elements before the pixel data leaves a complete data set that dcmdump
    reads too: it is kept as an image object without pixel data (the
    IMG-NO-PIXELS warning asks to compare with the medium)."""
    data = real_file("CT_small.dcm").read_bytes()
    kept = []
    for cut in [*range(140, 6400, 97), *range(6400, len(data) - 1, 1531), len(data) - 1]:
        try:
            hdr = parse_header(data[:cut], io.BytesIO(data[:cut]), cut)
        except CorruptDicomError:
            continue
        assert hdr.pixel_data == "none" and hdr.pixel_data_offset is None, cut
        kept.append(cut)
    assert len(kept) <= 3, kept  # only cuts that fall on an element boundary
    for name in ("JPEG2000.dcm", "MR_small_RLE.dcm", "MR_small_implicit.dcm", "MR_small_bigendian.dcm"):
        whole = real_file(name).read_bytes()
        for cut in (len(whole) - 1, len(whole) - 9, len(whole) // 2, 400):
            with pytest.raises(CorruptDicomError):
                parse_header(whole[:cut], None, cut)


def test_random_bytes_after_the_preamble_are_corrupt_not_a_crash():
    import random

    rng = random.Random(3)
    for n in range(200):
        body = bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 3000)))
        data = b"\0" * 128 + b"DICM" + body
        with pytest.raises(CorruptDicomError):
            parse_header(data, None, len(data))


def test_header_beyond_the_first_64k_is_read_from_the_file(tmp_path):
    big = make_dicom(tmp_path / "big.dcm", private_bytes=100_000)
    hdr = read_header(big)
    assert hdr.patient_id == "CHU-00482913" and hdr.pixel_data_offset > 100_000


def test_files_without_meta_header(tmp_path):
    for name in ("ExplVR_LitEndNoMeta.dcm", "ExplVR_BigEndNoMeta.dcm", "OT-PAL-8-face.dcm", "rtstruct.dcm"):
        hdr = read_header(real_file(name))
        assert hdr.has_meta is False and hdr.sop_instance_uid, name
    # CT_small's data set without preamble and meta (pydicom's no_meta.dcm is that plus a stray first byte)
    raw = make_dicom(tmp_path / "raw.dcm", meta=False)
    hdr = read_header(raw)
    assert hdr.has_meta is False and hdr.transfer_syntax == "1.2.840.10008.1.2"
    assert hdr.patient_name == "LEFEVRE^HELENE^MARIE"


def test_dicomdir_and_non_dicom_are_refused():
    with pytest.raises(DirectoryFileError):
        read_header(SAMPLE_CD / "DICOMDIR")
    with pytest.raises(DirectoryFileError):
        read_header(DICOMDIR_SET / "DICOMDIR-implicit")
    for p in (SAMPLE_CD / "README.HTM", SAMPLE_CD / "VIEWER" / "VIEWER.EXE", real_file("no_meta.dcm")):
        with pytest.raises(NotDicomError):
            read_header(p)


def test_character_sets_are_decoded(tmp_path):
    p = make_dicom(tmp_path / "latin1.dcm", patient={"PatientName": "Lefèvre^Hélène", "PatientID": "é1"},
                   StudyDescription="Écho abdominale")
    hdr = read_header(p)
    assert (hdr.patient_name, hdr.patient_id, hdr.specific_character_set) == ("Lefèvre^Hélène", "é1", "ISO_IR 100")
    p = make_dicom(tmp_path / "utf8.dcm", patient={"PatientName": "Ηλέκτρα^Łucja"}, SpecificCharacterSet="ISO_IR 192")
    assert read_header(p).patient_name == "Ηλέκτρα^Łucja"


def test_unreadable_file_is_an_input_error_naming_it(tmp_path):
    from dossierkit.errors import InputError

    missing = tmp_path / "nope.dcm"
    with pytest.raises(InputError, match="nope.dcm"):
        read_header(missing)
    if os.geteuid() != 0:
        locked = make_dicom(tmp_path / "locked.dcm")
        locked.chmod(0)
        with pytest.raises(InputError, match="locked.dcm"):
            read_header(locked)
