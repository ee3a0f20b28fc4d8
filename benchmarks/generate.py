"""Generate a realistic benchmark dossier: DICOM CT/PET/MR series, PDF reports
and a dossierkit workspace for the same fictional patient.

    python benchmarks/generate.py OUT [--size 2G] [--files 4000] [--seed 1]

Layout of OUT::

    OUT/data/DICOM/STnnnn/SEnnnn/IMnnnnnn   the image source tree (Part 10, Explicit VR LE)
    OUT/data/DOCS/*.pdf                      fiche RCP, pathology and imaging reports, …
    OUT/workspace/                           dossier.toml + the documents added

Sizes are decimal (2G = 2·10⁹ bytes). The modality mix, series lengths and
matrices are chosen among realistic values (CT 512², PET 128–256², MR
256–512²; CT series 120–400 slices, PET 150–300, MR 20–160) so that the total
lands close to the requested size with exactly the requested file count.
Pixel data comes from benchmarks/phantom.py (no numpy). Everything is
fictional and deterministic for a given seed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import itertools
import json
import os
import random
import re
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from io import BytesIO
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, PYDICOM_IMPLEMENTATION_UID

from benchmarks.phantom import PALETTES, SliceMaker

# The fictional patient (not the samples/ one, so both can coexist in a PACS).
PATIENT = {
    "family_name": "Moreau",
    "given_names": ["Jeanne", "Élise"],
    "birth_date": "1963-09-17",
    "sex": "F",
    "identifier": {"value": "BENCH-004217", "system": "IPP", "issuer": "CH Bench"},
}
DICOM_NAME = "MOREAU^Jeanne Élise"
SOP_CLASS = {"CT": "1.2.840.10008.5.1.4.1.1.2", "MR": "1.2.840.10008.5.1.4.1.1.4",
             "PT": "1.2.840.10008.5.1.4.1.1.128"}
MATRICES = {"CT": (512, 1024), "PT": (128, 168, 192, 200, 256), "MR": (256, 320, 384, 448, 512)}
SERIES_LEN = {"CT": (120, 400), "PT": (150, 300), "MR": (20, 160)}
# Private vendor blocks (CSA-like headers): MR headers are the fat ones in real life.
PRIVATE_BYTES = {"CT": 1200, "PT": 1800, "MR": 9000}
NOMINAL = {"PT": 0.10, "MR": 0.25}
UNITS = {"": 1, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}


def parse_size(text: str) -> int:
    """'2G' -> 2_000_000_000 (decimal units; 'B'/'iB' suffixes allowed)."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:I?B)?\s*", text.upper())
    if not m:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 200M, 2G)")
    return int(float(m.group(1)) * UNITS[m.group(2)])


# ---------------------------------------------------------------------------
# Plan: which series, how many slices, which matrix


@dataclass
class SeriesPlan:
    study: int  # index into STUDIES
    number: int  # SeriesNumber
    modality: str
    matrix: int
    slices: int
    description: str
    seed: int


@dataclass
class StudyInfo:
    description: str
    days_ago: int
    modalities: tuple[str, ...]


STUDIES = [
    StudyInfo("TDM TAP injecte / CT chest-abdomen-pelvis", 25, ("CT",)),
    StudyInfo("TEP-TDM FDG / FDG PET-CT", 18, ("PT", "CT")),
    StudyInfo("IRM hepatique / Liver MRI", 12, ("MR",)),
]
SERIES_NAMES = {"CT": ["Portal 1.25mm", "Arterial 1.25mm", "Lung 1mm", "CTAC 3mm", "Delayed 2.5mm"],
                "PT": ["PET AC", "PET NAC", "PET AC MIP-free"],
                "MR": ["T2 HASTE ax", "DWI b800", "T1 VIBE pre", "T1 VIBE art", "T1 VIBE portal",
                       "T1 VIBE hbp", "T2 TSE cor"]}


def _header_bytes(modality: str) -> int:
    """Exact header size (everything but the pixel values) of one of our files."""
    ds = _series_template(SeriesPlan(0, 1, modality, 8, 1, "x", 0), _uid_root(0), dt.date(2026, 1, 1))
    _fill_instance(ds, "1.2.3", 1, 1, 8, 0.0, b"\0" * 128)
    buf = BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return len(buf.getvalue()) - 128


def plan_dossier(total_bytes: int, n_files: int, seed: int = 1) -> list[SeriesPlan]:
    """Series whose files add up to *n_files* and about *total_bytes*."""
    if n_files < 1:
        raise ValueError("at least one file")
    header = {m: _header_bytes(m) for m in SOP_CLASS}
    best = None
    for pet, mr, pm, mm, hr in itertools.product((0.0, 0.04, 0.06, 0.08, 0.10, 0.15, 0.20, 0.25, 0.30),
                                                  (0.0, 0.15, 0.20, 0.25, 0.30, 0.35),
                                                  MATRICES["PT"], MATRICES["MR"], (0.0, 0.25, 0.5, 1.0)):
        counts = _split_counts(n_files, pet, mr)
        if counts is None:
            continue
        n_ct_hr = round(counts["CT"] * hr)
        est = (counts["PT"] * (pm * pm * 2 + header["PT"]) + counts["MR"] * (mm * mm * 2 + header["MR"])
               + (counts["CT"] - n_ct_hr) * (512 * 512 * 2 + header["CT"])
               + n_ct_hr * (1024 * 1024 * 2 + header["CT"]))
        # Closest size first; among near-equals prefer the nominal mix and 512² CT.
        score = abs(est - total_bytes) / total_bytes + 0.01 * (abs(pet - NOMINAL["PT"]) + abs(mr - NOMINAL["MR"])) \
            + 0.05 * hr
        if best is None or score < best[0]:
            best = (score, counts, pm, mm, hr)
    assert best is not None
    _, counts, pm, mm, hr = best
    rng = random.Random(seed)
    series: list[SeriesPlan] = []
    ct_hr_left = round(counts["CT"] * hr)
    for modality in ("CT", "PT", "MR"):
        left = counts[modality]
        lo, hi = SERIES_LEN[modality]
        names = itertools.cycle(SERIES_NAMES[modality])
        while left > 0:
            n = min(left, rng.randint(lo, hi))
            if 0 < left - n < lo:  # no runt series at the end
                n = left
            left -= n
            matrix = {"PT": pm, "MR": mm}.get(modality, 512)
            if modality == "CT" and ct_hr_left > 0:
                matrix, ct_hr_left = 1024, ct_hr_left - n
            study = _study_for(modality, len([s for s in series if s.modality == modality]))
            series.append(SeriesPlan(study, 0, modality, matrix, n, next(names), rng.randrange(2**31)))
    for study_idx in sorted({s.study for s in series}):
        for number, s in enumerate((s for s in series if s.study == study_idx), start=1):
            s.number = number
    return series


def _split_counts(n: int, pet: float, mr: float) -> dict[str, int] | None:
    if n < 3:  # too few for a mix: CT only
        return {"CT": n, "PT": 0, "MR": 0} if pet == 0 and mr == 0 else None
    if pet == 0 or mr == 0:
        return None
    counts = {"PT": max(1, round(n * pet)), "MR": max(1, round(n * mr))}
    counts["CT"] = n - counts["PT"] - counts["MR"]
    return counts if counts["CT"] >= 1 else None


def _study_for(modality: str, nth: int) -> int:
    """CT series alternate between the diagnostic CT and the PET-CT's CT; follow-ups beyond."""
    if modality == "PT":
        return 1
    if modality == "MR":
        return 2
    return 0 if nth % 2 == 0 else 1


# ---------------------------------------------------------------------------
# DICOM writing


def _uid_root(seed: int) -> str:
    # 2.25.<decimal of 96 random bits>: short enough to append .study.series.instance within 64 chars
    return "2.25." + str(int.from_bytes(hashlib.sha256(f"dossierkit-bench-{seed}".encode()).digest()[:12], "big"))


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, scheme, meaning
    return item


def _series_template(plan: SeriesPlan, uid_root: str, today: dt.date) -> Dataset:
    study = STUDIES[plan.study]
    date = (today - dt.timedelta(days=study.days_ago)).strftime("%Y%m%d")
    pal = PALETTES[plan.modality]
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = SOP_CLASS[plan.modality]
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds.file_meta.ImplementationVersionName = "DK_BENCH_1"
    ds.file_meta.SourceApplicationEntityTitle = "BENCH_PACS"
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "OTHER" if plan.modality == "MR" else "AXIAL"]
    ds.SOPClassUID = SOP_CLASS[plan.modality]
    ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = ds.ContentDate = date
    minute = (10 * 60 + 20 + plan.number) % (24 * 60)  # one series a minute from 10:21 (88 series at 8 GB)
    ds.StudyTime, ds.SeriesTime = "101500", f"{minute // 60:02d}{minute % 60:02d}00"
    ds.AcquisitionTime = ds.ContentTime = ds.SeriesTime
    ds.AccessionNumber = f"ACC{plan.study + 1:04d}{today:%y%m}"
    ds.Modality = plan.modality
    ds.Manufacturer = "Dossierkit Bench Imaging"
    ds.InstitutionName = "Centre Hospitalier Bench"
    ds.InstitutionAddress = "1 rue de l'Exemple, 00000 Nulle-Part"
    ds.ReferringPhysicianName = "LAMBERT^Paul^^Dr"
    ds.StationName = f"{plan.modality}STATION01"
    ds.StudyDescription = study.description
    ds.SeriesDescription = plan.description
    ds.PerformingPhysicianName = "ROUX^Anne^^Dr"
    ds.OperatorsName = "TECH^Manip"
    ds.ManufacturerModelName = {"CT": "BenchCT 128", "PT": "BenchPET-CT", "MR": "BenchMR 1.5T"}[plan.modality]
    ds.PatientName = DICOM_NAME
    ds.PatientID = PATIENT["identifier"]["value"]
    ds.IssuerOfPatientID = PATIENT["identifier"]["issuer"]
    ds.PatientBirthDate = PATIENT["birth_date"].replace("-", "")
    ds.PatientSex = PATIENT["sex"]
    ds.PatientAge = "063Y"
    ds.PatientSize, ds.PatientWeight = "1.64", "61"
    ds.BodyPartExamined = "ABDOMEN" if plan.modality == "MR" else "CHEST"
    ds.SliceThickness = {"CT": "1.25", "PT": "3.27", "MR": "5"}[plan.modality]
    ds.SoftwareVersions = "bench-1.0"
    ds.ProtocolName = plan.description
    if plan.modality != "PT":  # PET states it with PatientOrientation/GantryRelationship codes
        ds.PatientPosition = "HFS"
    if plan.modality == "CT":
        ds.KVP = "120"
        ds.DataCollectionDiameter = "500"
        ds.ReconstructionDiameter = "400"
        ds.GantryDetectorTilt = "0"
        ds.TableHeight = "152"
        ds.RotationDirection = "CW"
        ds.ExposureTime = "500"
        ds.XRayTubeCurrent = "210"
        ds.Exposure = "105"
        ds.FilterType = "BODY FILTER"
        ds.GeneratorPower = "25"
        ds.FocalSpots = "1.2"
        ds.ConvolutionKernel = "B30f" if "Lung" not in plan.description else "B70f"
        ds.CTDIvol = 9.8
        ds.CTDIPhantomTypeCodeSequence = [_code("113691", "DCM", "IEC Body Dosimetry Phantom")]
        ds.PixelPaddingValue = -2000
    elif plan.modality == "MR":
        ds.ScanningSequence = ["SE", "EP"] if "DWI" in plan.description else ["GR"]
        ds.SequenceVariant = ["SK", "SP"]
        ds.ScanOptions = "PFP"
        ds.MRAcquisitionType = "2D"
        ds.RepetitionTime, ds.EchoTime, ds.EchoTrainLength = "4.1", "1.9", "1"
        ds.MagneticFieldStrength = "1.5"
        ds.ImagingFrequency = "63.67"
        ds.ImagedNucleus = "1H"
        ds.FlipAngle = "10"
        ds.SAR = "0.91"
    else:
        ds.Units = "BQML"
        ds.CorrectedImage = ["DECY", "ATTN", "SCAT", "RAN", "NORM"]
        ds.DecayCorrection = "START"
        ds.SeriesType = ["WHOLE BODY", "IMAGE"]
        ds.CountsSource = "EMISSION"
        ds.ReconstructionMethod = "OSEM 3i21s"
        ds.NumberOfSlices = plan.slices
        ds.ActualFrameDuration = 120000
        ds.FrameReferenceTime = 0
        ds.DecayFactor = "1.03"
        ds.CollimatorType = "NONE"
        ds.PatientOrientationCodeSequence = [_code("F-10450", "SRT", "recumbent")]
        ds.PatientGantryRelationshipCodeSequence = [_code("F-10480", "SRT", "feet-first")]
        rp = Dataset()
        rp.Radiopharmaceutical = "Fludeoxyglucose F^18^"
        rp.RadionuclideTotalDose = "245000000"
        rp.RadionuclideHalfLife = "6586.2"
        rp.RadiopharmaceuticalStartTime = "091000"
        rp.RadionuclideCodeSequence = [_code("C-111A1", "SRT", "^18^Fluorine")]
        ds.RadiopharmaceuticalInformationSequence = [rp]
    ds.StudyInstanceUID = f"{uid_root}.{plan.study + 1}"
    ds.SeriesInstanceUID = f"{uid_root}.{plan.study + 1}.{plan.number}"
    ds.FrameOfReferenceUID = f"{uid_root}.{plan.study + 1}.0"
    ds.StudyID = f"{plan.study + 1}"
    ds.SeriesNumber = plan.number
    ds.AcquisitionNumber = 1
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.PositionReferenceIndicator = ""
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = pal.bits_stored
    ds.HighBit = pal.bits_stored - 1
    ds.PixelRepresentation = 1 if pal.signed else 0
    if plan.modality == "CT":
        ds.WindowCenter, ds.WindowWidth = "40", "400"
        ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = "-1024", "1", "HU"
    elif plan.modality == "PT":
        ds.RescaleIntercept, ds.RescaleSlope = "0", "0.874"
    else:
        ds.WindowCenter, ds.WindowWidth = "700", "1400"
    rng = random.Random(plan.seed)
    block = ds.private_block(0x0029, "DOSSIERKIT BENCH HEADER", create=True)
    text = "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 =.;") for _ in range(256)).encode()
    block.add_new(0x10, "OB", (text * (PRIVATE_BYTES[plan.modality] // 256 + 1))[:PRIVATE_BYTES[plan.modality]])
    return ds


def _fill_instance(ds: Dataset, sop_uid: str, number: int, total: int, matrix: int, z_mm: float,
                   pixels: bytes) -> None:
    ds.file_meta.MediaStorageSOPInstanceUID = sop_uid
    ds.SOPInstanceUID = sop_uid
    ds.InstanceNumber = number
    fov = 400.0 if ds.Modality != "PT" else 700.0
    ds.ImagePositionPatient = [-fov / 2, -fov / 2, round(z_mm, 2)]
    ds.SliceLocation = round(z_mm, 2)
    ds.PixelSpacing = [round(fov / matrix, 6)] * 2
    ds.Rows = ds.Columns = matrix
    if ds.Modality == "PT":
        ds.ImageIndex = number
    ds.PixelData = pixels


def _write_series(args: tuple[SeriesPlan, str, str, str]) -> tuple[int, int]:
    """Write one series; return (files, bytes). Runs in a worker process."""
    plan, series_dir, uid_root, today_iso = args
    ds = _series_template(plan, uid_root, dt.date.fromisoformat(today_iso))
    maker = SliceMaker(plan.modality, plan.matrix, seed=plan.seed)
    os.makedirs(series_dir, exist_ok=True)
    thickness = float(ds.SliceThickness)
    written = 0
    for i in range(plan.slices):
        z = i / max(1, plan.slices - 1)
        _fill_instance(ds, f"{ds.SeriesInstanceUID}.{i + 1}", i + 1, plan.slices, plan.matrix,
                       -i * thickness, maker.slice(z))
        path = os.path.join(series_dir, f"IM{i + 1:06d}")
        ds.save_as(path, enforce_file_format=True)
        written += os.path.getsize(path)
    return plan.slices, written


# ---------------------------------------------------------------------------
# Documents and workspace

DOCS = [  # kind, file name, title, days ago
    ("rcp", "fiche-rcp.pdf", "Fiche RCP - Réunion de concertation pluridisciplinaire", 10),
    ("pathology", "cr-anapath.pdf", "Compte rendu d'anatomie et cytologie pathologiques", 30),
    ("imaging-report", "cr-tdm.pdf", "Compte rendu de TDM thoraco-abdomino-pelvienne", 24),
    ("imaging-report", "cr-tep.pdf", "Compte rendu de TEP-TDM au 18F-FDG", 17),
    ("imaging-report", "cr-irm.pdf", "Compte rendu d'IRM hépatique", 11),
    ("operative-report", "cr-operatoire.pdf", "Compte rendu opératoire (biopsie sous scanner)", 29),
    ("biology", "biologie.pdf", "Bilan biologique", 9),
    ("treatment-plan", "pps.pdf", "Programme personnalisé de soins", 8),
    ("referral-letter", "lettre-adressage.pdf", "Lettre d'adressage pour second avis", 6),
]


RCP_LINES = ["Participants : Dr LAMBERT, oncologue ; Dr FABRE, chirurgien thoracique ; Dr NOEL, radiologue ; "
             "Dr ROCHE, pathologiste ; Dr VIDAL, médecin nucléaire",
             "Localisation : poumon (lobe inférieur droit)"]


def write_pdf(path: Path, title: str, date: dt.date, extra: list[str] | None = None) -> None:
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.core_fonts_encoding = "cp1252"
    pdf.set_creation_date(dt.datetime(date.year, date.month, date.day, 12, tzinfo=dt.timezone.utc))
    pdf.set_title(title)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 14)
    pdf.multi_cell(0, 8, title, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)
    birth = dt.date.fromisoformat(PATIENT["birth_date"])
    for line in (f"Date : {date:%d/%m/%Y}", "Centre Hospitalier Bench - document fictif (benchmark dossierkit)",
                 f"Patient(e) : Mme {PATIENT['family_name'].upper()} {' '.join(PATIENT['given_names'])}",
                 f"Née le : {birth:%d/%m/%Y}        Sexe : {PATIENT['sex']}",
                 f"IPP : {PATIENT['identifier']['value']}", "",
                 "Adénocarcinome pulmonaire lobaire inférieur droit, métastases hépatiques.",
                 *(extra or []),
                 "Proposition : chimio-immunothérapie ; second avis demandé par la patiente."):
        pdf.multi_cell(0, 6, line, new_x="LMARGIN", new_y="NEXT")
    path.parent.mkdir(parents=True, exist_ok=True)
    pdf.output(str(path))


@dataclass
class Generated:
    root: str
    data_dir: str
    dicom_dir: str
    docs: list[tuple[str, str, str, str]]  # (path, kind, title, ISO date)
    files: int
    dicom_bytes: int
    data_bytes: int  # DICOM + PDFs: what the baselines archive
    by_modality: dict[str, dict[str, int]]
    series: int
    seconds: float
    patient: dict = field(default_factory=lambda: dict(PATIENT))

    def to_dict(self) -> dict:
        return asdict(self)


def generate(out: str | os.PathLike, size: int = 2 * 10**9, files: int = 4000, seed: int = 1,
             workers: int | None = None, today: dt.date | None = None, log=print) -> Generated:
    """Write the DICOM tree and the PDFs under ``OUT/data`` (OUT must not hold a previous data/)."""
    t0 = time.perf_counter()
    out = Path(out).resolve()
    data, dicom = out / "data", out / "data" / "DICOM"
    if data.exists():
        raise SystemExit(f"{data} exists: remove it or choose another --out")
    today = today or dt.date.today()
    plans = plan_dossier(size, files, seed)
    uid_root = _uid_root(seed)
    jobs = [(p, str(dicom / f"ST{p.study + 1:04d}" / f"SE{p.number:04d}"), uid_root, today.isoformat())
            for p in plans]
    workers = workers or os.cpu_count() or 1
    log(f"generating {files} DICOM files (~{size / 1e9:.2f} GB) in {len(plans)} series with {workers} worker(s)")
    by_mod: dict[str, dict[str, int]] = {}
    if workers > 1 and len(jobs) > 1:
        # Largest series first so both workers finish together.
        order = sorted(range(len(jobs)), key=lambda i: -plans[i].slices * plans[i].matrix ** 2)
        with ProcessPoolExecutor(workers) as pool:
            results = dict(zip(order, pool.map(_write_series, [jobs[i] for i in order])))
    else:
        results = {i: _write_series(j) for i, j in enumerate(jobs)}
    total = 0
    for i, p in enumerate(plans):
        n, b = results[i]
        m = by_mod.setdefault(p.modality, {"files": 0, "bytes": 0, "series": 0})
        m["files"] += n
        m["bytes"] += b
        m["series"] += 1
        total += b
    docs = []
    for kind, name, title, days in DOCS:
        d = today - dt.timedelta(days=days)
        rcp = [f"Date de la réunion : {d:%d/%m/%Y}", *RCP_LINES] if kind == "rcp" else None
        write_pdf(data / "DOCS" / name, title, d, rcp)
        docs.append((str(data / "DOCS" / name), kind, title, d.isoformat()))
    doc_bytes = sum(os.path.getsize(d[0]) for d in docs)
    return Generated(root=str(out), data_dir=str(data), dicom_dir=str(dicom), docs=docs, files=files,
                     dicom_bytes=total, data_bytes=total + doc_bytes, by_modality=by_mod, series=len(plans),
                     seconds=round(time.perf_counter() - t0, 2))


def dossier_toml_data(today: dt.date | None = None) -> dict:
    today = today or dt.date.today()
    return {
        "patient": dict(PATIENT),
        "sender": {"name": "Secrétariat d'oncologie, CH Bench"},
        "initial_physician": {"name": "Dr Paul LAMBERT", "role": "oncologue", "establishment": "CH Bench"},
        "treating_gp": {"name": "Dr Claire PETIT", "role": "médecin traitant"},
        "second_opinion": {"name": "Dr Marc GIRARD", "establishment": "Institut de cancérologie Exemple"},
        "consent": {"given": True, "date": (today - dt.timedelta(days=5)).isoformat(), "given_by": "patient"},
    }


def make_workspace(gen: Generated, ws_dir: str | os.PathLike, log=print) -> dict:
    """Create the workspace and add the documents (library calls: the CLI is
    a thin layer over them, and nine interpreter start-ups would dominate
    small runs).

    Returns ``{"workspace": path, "documents": "added" | "failed: …"}``; a
    failure is reported, not hidden: `check` and `pack` then say why.
    """
    from dossierkit.workspace import init_workspace

    ws = init_workspace(ws_dir, dossier_toml_data())
    try:
        from dossierkit.gather.documents import add_documents

        for path, kind, title, date in gen.docs:
            add_documents(ws, [path], kind=kind, title=title, date=date)
    except Exception as exc:  # reported in the results, whatever the cause
        status = f"failed: {type(exc).__name__}: {exc}"[:300]
        log(f"warning: documents not added ({status})")
        return {"workspace": str(ws.root), "documents": status}
    return {"workspace": str(ws.root), "documents": "added"}


def _stderr(text: str) -> None:
    print(text, file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--size", type=parse_size, default=parse_size("2G"))
    ap.add_argument("--files", type=int, default=4000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--workspace", action="store_true", help="also create OUT/workspace with the documents added")
    a = ap.parse_args(argv)
    gen = generate(a.out, a.size, a.files, a.seed, a.workers, log=_stderr)
    result = gen.to_dict()
    if a.workspace:
        result.update(make_workspace(gen, a.out / "workspace", log=_stderr))
    json.dump(result, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
