"""Benchmark of `import_images`: files/s and bytes/s for indexing + copying.

    python benchmarks/bench_import.py [--files 4000] [--rows 512] [--workers N] [--cold] [--runs 1] [--reimport]

Generates N synthetic CT files once under benchmarks/out/import-N-ROWS/src/
(Part 10, explicit VR LE, realistic headers: ~110 attributes with sequences
and a 1.2 kB private block, ROWS×ROWS 16-bit pixels: 512 → 0.5 MB a file),
flushes them to disk, then imports them into a fresh workspace and prints
the rate. The figure includes everything `import-images` does: walking the
source, header parsing and validation, copy + SHA-256, the final sync of
the copies to disk and the index write. ``--cold`` drops the page cache
first (root only) so sources are read from disk, as from real media.
Target (DESIGN §6): ≥ 1 000 files/s for 4 000 files on the 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
if __package__ in (None, ""):
    sys.path.insert(0, str(HERE.parent / "src"))

from pydicom.dataset import Dataset, FileMetaDataset  # noqa: E402
from pydicom.sequence import Sequence  # noqa: E402
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid  # noqa: E402

ROOT = "1.2.826.0.1.3680043.8.498."
PATIENT = dict(PatientName="BENCH^IMPORT", PatientID="BENCH-0001", PatientBirthDate="19600101", PatientSex="F")


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    c = Dataset()
    c.CodeValue, c.CodingSchemeDesignator, c.CodeMeaning = value, scheme, meaning
    return c


def template(rows: int) -> Dataset:
    """A CT header as scanners write them (sequences, private block), pixel data of *rows*²."""
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.InstanceCreationDate, ds.InstanceCreationTime = "20260910", "101530"
    ds.SOPClassUID = CTImageStorage
    ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = ds.ContentDate = "20260910"
    ds.StudyTime = ds.SeriesTime = ds.AcquisitionTime = ds.ContentTime = "101200"
    ds.AccessionNumber, ds.Modality, ds.Manufacturer = "A26-0001", "CT", "Bench Medical"
    ds.InstitutionName, ds.InstitutionAddress = "CH Bench", "1 rue de l'Exemple, 44000 Nantes"
    ds.ReferringPhysicianName, ds.StationName = "LAMBERT^PAUL", "CT01"
    ds.StudyDescription, ds.SeriesDescription = "TDM TAP avec injection", "TAP portal 1.25 mm"
    ds.ProcedureCodeSequence = Sequence([_code("ZT0101", "L", "TDM TAP")])
    ds.PerformingPhysicianName, ds.OperatorsName = "GIRARD^MARC", "TECH^ONE"
    ds.ManufacturerModelName = "Bench CT 128"
    ds.ReferencedImageSequence = Sequence([Dataset() for _ in range(3)])
    for i, item in enumerate(ds.ReferencedImageSequence):
        item.ReferencedSOPClassUID = CTImageStorage
        item.ReferencedSOPInstanceUID = generate_uid(prefix=ROOT, entropy_srcs=["bench-ref", str(i)])
    ds.update(PATIENT)
    ds.PatientAge, ds.PatientSize, ds.PatientWeight = "066Y", "1.65", "62"
    ds.BodyPartExamined, ds.ContrastBolusAgent, ds.ContrastBolusRoute = "CHESTABDPELVIS", "Iohexol 350", "IV"
    ds.ScanOptions, ds.SliceThickness, ds.KVP = "HELICAL MODE", "1.25", "120"
    ds.DataCollectionDiameter, ds.SoftwareVersions, ds.ProtocolName = "500", "1.0", "TAP PORTAL"
    ds.ReconstructionDiameter, ds.DistanceSourceToDetector, ds.DistanceSourceToPatient = "420", "946", "541"
    ds.GantryDetectorTilt, ds.TableHeight, ds.RotationDirection = "0", "160", "CW"
    ds.ExposureTime, ds.XRayTubeCurrent, ds.Exposure = "500", "250", "125"
    ds.FilterType, ds.GeneratorPower, ds.FocalSpots, ds.ConvolutionKernel = "BODY", "30", "1.2", "STANDARD"
    ds.PatientPosition, ds.RevolutionTime, ds.SingleCollimationWidth = "FFS", 0.5, 0.625
    ds.TotalCollimationWidth, ds.SpiralPitchFactor = 40.0, 0.984
    ds.CTDIvol = 9.8
    ds.StudyID, ds.SeriesNumber, ds.AcquisitionNumber = "1", 3, 1
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.FrameOfReferenceUID = generate_uid(prefix=ROOT, entropy_srcs=["bench-frame"])
    ds.PositionReferenceIndicator = "SN"
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.Rows = ds.Columns = rows
    ds.PixelSpacing = [420 / rows, 420 / rows]
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.WindowCenter, ds.WindowWidth = ["40", "400"], ["400", "1500"]
    ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = "-1024", "1", "HU"
    block = ds.private_block(0x0019, "BENCH CT PRIVATE", create=True)
    block.add_new(0x10, "OB", bytes(range(256)) * 4)
    block.add_new(0x11, "LO", "reconstruction parameters")
    block.add_new(0x12, "DS", ["1.0", "2.0", "3.0"])
    ds.PixelData = bytes(os.urandom(4096)) * (rows * rows * 2 // 4096 or 1)
    return ds


def generate(folder: Path, files: int, rows: int) -> None:
    done = folder.parent / "src.complete"  # beside the source, which must hold DICOM files only
    if done.exists():
        return
    if folder.exists():
        shutil.rmtree(folder)
    t0 = time.perf_counter()
    ds = template(rows)
    study = generate_uid(prefix=ROOT, entropy_srcs=["bench-study", str(files), str(rows)])
    per_series = 400
    for i in range(files):
        series_no = i // per_series
        ds.StudyInstanceUID = study
        ds.SeriesInstanceUID = generate_uid(prefix=ROOT, entropy_srcs=["bench-series", study, str(series_no)])
        ds.SOPInstanceUID = generate_uid(prefix=ROOT, entropy_srcs=["bench-sop", study, str(i)])
        ds.SeriesNumber = series_no + 1
        ds.InstanceNumber = i % per_series + 1
        ds.ImagePositionPatient = [-210, -210, -1.25 * (i % per_series)]
        ds.SliceLocation = f"{-1.25 * (i % per_series):.2f}"
        ds.file_meta = FileMetaDataset()
        ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        path = folder / f"SE{series_no + 1:04d}" / f"IM{i % per_series + 1:06d}"
        path.parent.mkdir(parents=True, exist_ok=True)
        ds.save_as(path, enforce_file_format=True)
    os.sync()  # the import's own final sync must not pay for the generator's writes
    done.write_text("ok\n")
    print(f"generated {files} files of {rows}x{rows} in {time.perf_counter() - t0:.1f} s under {folder}")


def drop_caches() -> bool:
    try:
        os.sync()
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return True
    except OSError:
        return False


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=int, default=4000)
    ap.add_argument("--rows", type=int, default=512, help="image matrix (512 → ~0.5 MB a file)")
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--runs", type=int, default=1, help="imports to time (a fresh workspace each)")
    ap.add_argument("--cold", action="store_true", help="drop the page cache before each import (root)")
    ap.add_argument("--out", type=Path, default=HERE / "out")
    ap.add_argument("--reimport", action="store_true",
                    help="also time a second import of the same files (all duplicates: read, parse, hash, no copy)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    from dossierkit.gather import import_images
    from dossierkit.workspace import init_workspace

    base = args.out / f"import-{args.files}-{args.rows}"
    src = base / "src"
    generate(src, args.files, args.rows)
    results = []
    for run in range(args.runs):
        ws_dir = base / "ws"
        if ws_dir.exists():
            shutil.rmtree(ws_dir)
        ws = init_workspace(ws_dir, {"patient": {"family_name": "Bench", "given_names": ["Import"],
                                                 "birth_date": "1960-01-01", "sex": "F"}})
        cold = drop_caches() if args.cold else False
        os.sync()
        load = os.getloadavg()[0]
        r0 = resource.getrusage(resource.RUSAGE_SELF)
        t0 = time.perf_counter()
        report = import_images(ws, [src], workers=args.workers)
        secs = time.perf_counter() - t0
        r1 = resource.getrusage(resource.RUSAGE_SELF)
        cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
        d = report.to_dict()
        assert d["imported"] == args.files and not d["problems"] and not d["skipped"]["total"], d
        results.append({"run": run + 1, "files": d["files_seen"], "bytes": d["bytes_copied"], "seconds": round(secs, 3),
                        "files_per_second": round(d["files_seen"] / secs, 1),
                        "mb_per_second": round(d["bytes_copied"] / secs / 1e6, 1), "cold_cache": cold,
                        "cpu_seconds": round(cpu, 2), "load_before": round(load, 2)})
        if args.reimport:
            t0 = time.perf_counter()
            again = import_images(ws, [src], workers=args.workers)
            secs = time.perf_counter() - t0
            assert again.duplicates == args.files and again.imported == 0
            results[-1]["reimport_files_per_second"] = round(args.files / secs, 1)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    summary = {"files": args.files, "rows": args.rows, "workers": args.workers or "auto", "runs": results,
               "peak_rss_mb": round(peak, 1), "cpus": os.cpu_count(), "target_files_per_second": 1000}
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        for r in results:
            print(f"import run {r['run']}: {r['files']} files, {r['bytes'] / 1e9:.2f} GB in {r['seconds']:.2f} s — "
                  f"{r['files_per_second']:,.0f} files/s, {r['mb_per_second']:,.0f} MB/s"
                  f"{' (cold cache)' if r['cold_cache'] else ''}; CPU {r['cpu_seconds']:.1f} s "
                  f"({r['cpu_seconds'] / r['files'] * 1e3:.2f} ms/file), load before {r['load_before']}")
            if "reimport_files_per_second" in r:
                print(f"  re-import of the same files (duplicates: read + parse + hash, no copy): "
                      f"{r['reimport_files_per_second']:,.0f} files/s")
        print(f"peak RSS {peak:.0f} MB; target ≥ 1 000 files/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
