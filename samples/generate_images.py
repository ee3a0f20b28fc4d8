"""Generate the sample dossier's images: a patient CD under samples/images/cd/.

Run from the repository root:  python samples/generate_images.py

What a patient is handed after a CT at an imaging centre, in miniature:

    cd/DICOMDIR                      media directory (written by DCMTK dcmmkdir)
    cd/DICOM/ST000001/SE000001/IM…   CT thorax-abdomen-pelvis, 12 axial slices 64×64, 16 bit
    cd/DICOM/ST000002/SE000001/IM…   2 key images (secondary capture, RGB) from a viewing
                                     station that leaves out Study ID, Study Time and Series
                                     Number — as real images do; DICOMDIR writers must cope
    cd/VIEWER/VIEWER.EXE             stand-in for the bundled viewer (not a program)
    cd/AUTORUN.INF, cd/README.HTM    what CDs carry besides images

Everything is fictional and matches samples/dossier.toml and the imaging report
(03-scanner-tap.pdf): Mme LEFÈVRE Hélène Marie, born 1958-03-14, IPP CHU-00482913,
CT TAP with contrast of 2026-09-10, accession A26-0910-0042. The key images spell
the name with accents (Latin-1, ISO_IR 100), as some stations do.

Deterministic: UIDs derive from fixed strings (pydicom generate_uid with
entropy sources), dates are fixed. Only the DICOMDIR's own instance UID, drawn
by dcmmkdir, changes between runs. Needs pydicom and dcmmkdir (Debian: dcmtk).
"""

from __future__ import annotations

import math
import shutil
import struct
import subprocess
import sys
from pathlib import Path

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

HERE = Path(__file__).resolve().parent
CD = HERE / "images" / "cd"
ROOT_UID = "1.2.826.0.1.3680043.8.498."  # pydicom's UID root; entropy makes them deterministic

PATIENT = {"PatientName": "LEFEVRE^HELENE^MARIE", "PatientID": "CHU-00482913", "PatientBirthDate": "19580314",
           "PatientSex": "F"}
STUDY_DATE = "20260910"
SLICES = 12
SIZE = 64


def uid(*parts: str) -> str:
    return generate_uid(prefix=ROOT_UID, entropy_srcs=["dossierkit-sample-images", *parts])


def _meta(sop_class: str, sop_instance: str) -> FileMetaDataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_instance
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    return meta


def _phantom(z: float) -> bytes:
    """A 64×64 axial slice of a body-shaped phantom, stored value = HU + 1024.

    z runs from 0 (lung apices) to 1 (pelvis): lungs above 0.45, liver between
    0.35 and 0.65, kidneys between 0.5 and 0.75, spine and table everywhere."""
    px = []
    c = (SIZE - 1) / 2
    for y in range(SIZE):
        for x in range(SIZE):
            dx, dy = (x - c) / 28, (y - c) / 20
            hu = -1000.0
            if dx * dx + dy * dy <= 1:
                hu = 40.0  # soft tissue
                if z < 0.45 and ((x - 20) ** 2 / 64 + (y - 30) ** 2 / 100 <= 1 or
                                 (x - 43) ** 2 / 64 + (y - 30) ** 2 / 100 <= 1):
                    hu = -820.0  # lungs
                if 0.35 <= z <= 0.65 and (x - 22) ** 2 / 120 + (y - 30) ** 2 / 60 <= 1:
                    hu = 60.0  # liver
                if 0.5 <= z <= 0.75 and ((x - 22) ** 2 + (y - 40) ** 2 <= 16 or (x - 41) ** 2 + (y - 40) ** 2 <= 16):
                    hu = 150.0  # contrast-enhanced kidneys
                if (x - c) ** 2 + (y - 45) ** 2 <= 12:
                    hu = 700.0  # vertebra
            elif y >= 56:
                hu = -200.0  # table
            hu += 6 * math.sin(x * 1.7 + y * 2.3 + z * 11)  # a little noise
            px.append(max(0, int(hu + 1024)))
    return struct.pack(f"<{len(px)}H", *px)


def ct_slice(i: int) -> Dataset:
    study, series = uid("study-ct"), uid("series-ct")
    sop = uid("ct", str(i))
    z = i / (SLICES - 1)
    ds = Dataset()
    ds.file_meta = _meta(CTImageStorage, sop)
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.InstanceCreationDate, ds.InstanceCreationTime = STUDY_DATE, "101530"
    ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, sop
    ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = ds.ContentDate = STUDY_DATE
    ds.StudyTime, ds.SeriesTime = "101200", "101245"
    ds.AcquisitionTime = ds.ContentTime = f"1013{i:02d}"
    ds.AccessionNumber = "A26-0910-0042"
    ds.Modality = "CT"
    ds.Manufacturer = "Fictional Medical Systems"
    ds.InstitutionName = "CHU de Nantes"
    ds.ReferringPhysicianName = "GARNIER^PAUL^^DR"
    ds.StationName = "CT01"
    ds.StudyDescription = "TDM TAP avec injection"
    ds.SeriesDescription = "TAP portal 5 mm"
    ds.ManufacturerModelName = "Phantom CT 64"
    ds.update(PATIENT)
    ds.BodyPartExamined = "CHESTABDPELVIS"
    ds.ContrastBolusAgent = "Iohexol 350"
    ds.ContrastBolusRoute = "IV"
    ds.SliceThickness = "5.0"
    ds.KVP = "120"
    ds.ConvolutionKernel = "STANDARD"
    ds.PatientPosition = "FFS"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
    ds.StudyID = "42"
    ds.SeriesNumber = 3
    ds.AcquisitionNumber = 1
    ds.InstanceNumber = i + 1
    ds.ImagePositionPatient = [-250.0, -250.0, -40.0 * i]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.FrameOfReferenceUID = uid("frame-ct")
    ds.PositionReferenceIndicator = ""
    ds.SliceLocation = f"{-40.0 * i:.1f}"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = ds.Columns = SIZE
    ds.PixelSpacing = [7.8125, 7.8125]
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.WindowCenter, ds.WindowWidth = "40", "400"
    ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = "-1024", "1", "HU"
    ds.PixelData = _phantom(z)
    return ds


def key_image(i: int) -> Dataset:
    """Secondary capture without StudyID, StudyTime, SeriesNumber, AccessionNumber."""
    sop = uid("key", str(i))
    ds = Dataset()
    ds.file_meta = _meta(SecondaryCaptureImageStorage, sop)
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["DERIVED", "SECONDARY"]
    ds.SOPClassUID, ds.SOPInstanceUID = SecondaryCaptureImageStorage, sop
    ds.StudyDate = ds.ContentDate = STUDY_DATE
    ds.Modality = "OT"
    ds.ConversionType = "WSD"
    ds.Manufacturer = "Fictional Viewer"
    ds.ReferringPhysicianName = ""
    ds.StudyDescription = "Images clés TDM TAP"
    ds.SeriesDescription = "Key images"
    ds.PatientName = "Lefèvre^Hélène^Marie"
    ds.PatientID = PATIENT["PatientID"]
    ds.PatientBirthDate = PATIENT["PatientBirthDate"]
    ds.PatientSex = "F"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = uid("study-key"), uid("series-key")
    ds.InstanceNumber = i + 1
    ds.SamplesPerPixel = 3
    ds.PhotometricInterpretation = "RGB"
    ds.PlanarConfiguration = 0
    ds.Rows = ds.Columns = SIZE
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    gray = _phantom(0.3 + 0.3 * i)
    rgb = bytearray()
    for (v,) in struct.iter_unpack("<H", gray):
        level = max(0, min(255, (v - 1024 + 160) * 255 // 400))
        rgb += bytes((level, level, level))
    ds.PixelData = bytes(rgb)
    return ds


def write(ds: Dataset, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)


README_HTM = """<!DOCTYPE html>
<html lang="fr"><head><meta charset="utf-8"><title>CD patient / Patient CD</title></head>
<body>
<h1>Examen d'imagerie / Imaging examination</h1>
<p>Ce CD contient les images de votre examen au format DICOM et une visionneuse.
Document fictif généré pour dossierkit — aucune donnée réelle.</p>
<p>This CD holds the images of your examination in DICOM format and a viewer.
Fictional sample generated for dossierkit — no real data.</p>
</body></html>
"""

AUTORUN_INF = "[autorun]\r\nopen=VIEWER\\VIEWER.EXE\r\nicon=VIEWER\\VIEWER.EXE\r\nlabel=IMAGERIE\r\n"
VIEWER_EXE = b"MZ" + b"\0" * 62 + b"dossierkit sample: stand-in for a CD viewer, not a program.\n"


def main() -> int:
    dcmmkdir = shutil.which("dcmmkdir")
    if dcmmkdir is None:
        print("dcmmkdir not found: install DCMTK (Debian: apt-get install dcmtk)", file=sys.stderr)
        return 2
    if CD.exists():
        shutil.rmtree(CD)
    for i in range(SLICES):
        write(ct_slice(i), CD / "DICOM" / "ST000001" / "SE000001" / f"IM{i + 1:06d}")
    for i in range(2):
        write(key_image(i), CD / "DICOM" / "ST000002" / "SE000001" / f"IM{i + 1:06d}")
    (CD / "VIEWER").mkdir()
    (CD / "VIEWER" / "VIEWER.EXE").write_bytes(VIEWER_EXE)
    (CD / "AUTORUN.INF").write_bytes(AUTORUN_INF.encode("ascii"))
    (CD / "README.HTM").write_text(README_HTM, encoding="utf-8")
    # --invent: the key images lack Study ID, Study Time and Series Number, which
    # DICOMDIR records require (Type 1); DCMTK fills the records, never the images.
    subprocess.run([dcmmkdir, "--quiet", "--invent", "--recurse", "--fileset-id", "IMAGERIE", "--input-directory",
                    str(CD), "--output-file", str(CD / "DICOMDIR"), "DICOM"], check=True)
    total = sum(p.stat().st_size for p in CD.rglob("*") if p.is_file())
    print(f"patient CD written under {CD} ({total / 1024:.0f} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
