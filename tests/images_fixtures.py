"""Helpers for the image tests: real third-party DICOM files (pydicom's test
files, pydicom-data) and small DICOM files written on the spot with pydicom."""

from __future__ import annotations

import os
from pathlib import Path

import data_store
import pydicom
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

from dossierkit.resources import samples_dir

PYDICOM_FILES = Path(os.path.dirname(pydicom.__file__)) / "data" / "test_files"
DATA_STORE = Path(os.path.dirname(data_store.__file__)) / "data"
DICOMDIR_SET = PYDICOM_FILES / "dicomdirtests"
SAMPLE_CD = samples_dir() / "images" / "cd"
SAMPLE_PATIENT_DICOM = {"PatientName": "LEFEVRE^HELENE^MARIE", "PatientID": "CHU-00482913",
                        "PatientBirthDate": "19580314", "PatientSex": "F"}
OTHER_PATIENT_DICOM = {"PatientName": "DURAND^SOPHIE^ANNE", "PatientID": "CHU-00517220",
                       "PatientBirthDate": "19620702", "PatientSex": "F"}

# pydicom test files a correct reader must refuse, and why (checked against dcmdump: it fails on each)
TRUNCATED = ["MR_truncated.dcm", "rtplan_truncated.dcm"]


def real_file(name: str) -> Path:
    path = get_testdata_file(name)
    if path is None:
        path = DATA_STORE / name
    return Path(path)


def make_dicom(path: Path, *, patient: dict | None = None, study_date: str = "20260910", modality: str = "CT",
               uid_seed: str = "x", study_seed: str = "study", series_seed: str = "series", meta: bool = True,
               drop: tuple[str, ...] = (), pixels: bytes | None = None, private_bytes: int = 0, **extra) -> Path:
    """A small CT Part 10 file (8×8, 16 bit) of the sample patient unless told otherwise."""
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = generate_uid(entropy_srcs=["img-test", uid_seed])
    ds.StudyInstanceUID = generate_uid(entropy_srcs=["img-test", study_seed])
    ds.SeriesInstanceUID = generate_uid(entropy_srcs=["img-test", series_seed])
    ds.StudyDate, ds.StudyTime, ds.StudyID, ds.AccessionNumber = study_date, "101200", "7", "A1"
    ds.Modality, ds.SeriesNumber, ds.InstanceNumber = modality, 2, 1
    ds.StudyDescription, ds.SeriesDescription = "TDM TAP", "portal"
    ds.update(SAMPLE_PATIENT_DICOM if patient is None else patient)
    ds.Rows = ds.Columns = 8
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    for k, v in extra.items():
        setattr(ds, k, v)
    if private_bytes:  # a fat vendor block, as MR headers carry
        ds.private_block(0x0029, "DK TEST", create=True).add_new(0x10, "OB", b"\x5a" * private_bytes)
    ds.PixelData = pixels if pixels is not None else bytes(range(128))
    for k in drop:
        if k in ds:
            delattr(ds, k)
    path.parent.mkdir(parents=True, exist_ok=True)
    if meta:
        ds.file_meta = FileMetaDataset()
        ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.save_as(path, enforce_file_format=True)
    else:
        ds.save_as(path, implicit_vr=True, little_endian=True)
    return path


def readable_third_party_files() -> list[Path]:
    """Every pydicom / pydicom-data file that dcmtk and pydicom read as an
    image with the UIDs an index needs (listed by reading them, not by hand)."""
    from dossierkit.gather import read_header
    from dossierkit.gather.dicomfile import CorruptDicomError, NotDicomError

    out = []
    for p in sorted([*PYDICOM_FILES.glob("*.dcm"), *DATA_STORE.glob("*.dcm")]):
        try:
            read_header(p)
        except (NotDicomError, CorruptDicomError):
            continue
        out.append(p)
    return out


def make_encapsulated(path: Path, items: list[bytes], *, undefined: bool = True,
                      uid_seed: str | None = None) -> Path:
    """A JPEG Baseline SC image whose encapsulated pixel data is framed by hand."""
    ds = Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    seeds = [["enc", uid_seed, k] for k in "abc"] if uid_seed else [None] * 3
    ds.SOPInstanceUID, ds.StudyInstanceUID, ds.SeriesInstanceUID = (generate_uid(entropy_srcs=e) for e in seeds)
    ds.Modality, ds.PatientID = "OT", "CHU-00482913"
    ds.Rows = ds.Columns = 8
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.BitsAllocated = 1, "MONOCHROME2", 8
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.50"
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    body = b"".join(b"\xfe\xff\x00\xe0" + len(i).to_bytes(4, "little") + i for i in items)
    if undefined:
        px = b"\xe0\x7f\x10\x00OB\x00\x00\xff\xff\xff\xff" + body + b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"
    else:
        px = b"\xe0\x7f\x10\x00OB\x00\x00" + len(body).to_bytes(4, "little") + body
    with open(path, "ab") as fh:
        fh.write(px)
    return path
