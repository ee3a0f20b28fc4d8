"""PACS benchmark (issue #12; results in docs/performance.md, "PACS"): dossierkit against DCMTK on the same
Orthanc and the same study, in one run.

    python benchmarks/pacs.py                    # a study of 500 instances
    python benchmarks/pacs.py --instances 2000   # peak RSS of a 2 000-instance gather and deliver

Needs root (the Orthancs run in a private network namespace, tests/orthanc_fixtures.py: loopback only).
The study is made of real files (pydicom's and pydicom-data's images, several transfer syntaxes,
compressed ones included), re-identified to one patient with fresh UIDs, cycled to the size asked,
and loaded into the sending Orthanc. Then, each through its real command line under GNU time:

* gather: ``dossierkit import-images --pacs`` (C-GET, then C-MOVE) into a fresh workspace, against
  ``getscu`` (DCMTK, default options: it has no "accept every syntax" option) and ``movescu +xa`` (its
  storage SCP accepting every syntax it knows), study level, into a fresh folder;
* deliver: ``dossierkit deliver`` of the package packed from the gathered workspace (it verifies
  the package first), against ``storescu +sd +r -R -nh`` of the same images unpacked (the
  receiving-side options that go furthest: scan, recurse, required contexts only, no halt on error).

The receiving Orthanc is emptied before each deliver; "lost" is the number of instances of the
study the receiver does not list afterwards (asked over its REST API). No wall-clock target is
asserted: the table is printed (and written as JSON with --json).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

import pydicom  # noqa: E402
from pydicom.uid import generate_uid  # noqa: E402

from images_fixtures import readable_third_party_files  # noqa: E402
from orthanc_fixtures import MOVE_PORT, OUR_AE, NetNS, Orthanc, pacs_toml  # noqa: E402

DK = [str(REPO / ".venv" / "bin" / "dossierkit")]
PATIENT_ID = "BENCH-PACS-1"


NATIVE = {"1.2.840.10008.1.2", "1.2.840.10008.1.2.1"}


def make_study(folder: Path, count: int, patient_id: str, *, native_only: bool = False) -> tuple[str, int]:
    """*count* Part 10 files of one study, from real images of several transfer syntaxes (or only
    uncompressed ones: *native_only*)."""
    sources = []
    for path in readable_third_party_files():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # a file pydicom reads only with a warning is not consistent enough
                ds = pydicom.dcmread(path)
                ds.PixelData  # noqa: B018
        except Exception:  # noqa: BLE001 — a test file pydicom reads only partly: not a source
            continue
        if native_only and str(getattr(ds, "file_meta", {}).get("TransferSyntaxUID", "")) not in NATIVE:
            continue
        if not str(ds.get("SOPClassUID", "")).startswith("1.2.840.10008.5.1.4.1.1."):
            continue  # a test file with a made-up SOP class: no PACS stores it
        if "PixelData" not in ds or "TransferSyntaxUID" not in getattr(ds, "file_meta", {}) \
                or not ds.file_meta.TransferSyntaxUID.is_little_endian or path.stat().st_size > 8_000_000:
            continue
        try:
            ds.save_as(io.BytesIO(), enforce_file_format=False)  # a few test files pydicom cannot write back
        except Exception:  # noqa: BLE001
            continue
        sources.append(path)
    study = generate_uid()
    series = {p: generate_uid() for p in sources}
    folder.mkdir(parents=True, exist_ok=True)
    total = 0
    for n in range(count):
        src = sources[n % len(sources)]
        ds = pydicom.dcmread(src)
        ds.PatientID, ds.PatientName, ds.PatientBirthDate = patient_id, "BENCH^PACS", "19600101"
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series[src]
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID  # a few test files' meta names another class
        ds.StudyDate = "20260901"
        out = folder / f"{n:05d}.dcm"
        ds.save_as(out, enforce_file_format=False)
        total += out.stat().st_size
    return study, total


def timed(ns: NetNS, cmd: list[str], *, env: dict | None = None) -> dict:
    """Run *cmd* in the namespace under GNU time: seconds, peak RSS (MB), exit code."""
    t0 = time.perf_counter()
    r = subprocess.run([*ns.prefix(), "/usr/bin/time", "-f", "RSS %M CPU %U %S", *cmd], capture_output=True,
                       text=True, env={**os.environ, **(env or {})})
    secs = time.perf_counter() - t0
    last = next((line.split() for line in r.stderr.splitlines()[::-1] if line.startswith("RSS ")), None)
    rss, cpu = (int(last[1]), float(last[3]) + float(last[4])) if last else (0, 0.0)
    return {"seconds": round(secs, 2), "cpu_s": round(cpu, 2), "rss_mb": round(rss / 1024, 1), "exit": r.returncode,
            "stderr": r.stderr[-400:] if r.returncode else ""}


def count_files(folder: Path) -> int:
    return sum(1 for p in folder.rglob("*") if p.is_file())


def receiver_count(srv: Orthanc, study: str) -> int:
    n = 0
    for st in srv.get("/studies?expand"):
        if st["MainDicomTags"].get("StudyInstanceUID") == study:
            n += sum(len(srv.get(f"/series/{se}")["Instances"]) for se in st["Series"])
    return n


def run_variant(ns: NetNS, work: Path, variant: str, study: str, size: int, n: int, patient: str, sender: Orthanc,
                receiver: Orthanc, env: dict, rows: list[dict], *, dcmtk: bool = True) -> None:
    work.mkdir()

    def row(tool: str, step: str, res: dict, got: int, expected: int = n) -> None:
        res.update(study=variant, tool=tool, step=step, instances=got, expected=expected, lost=expected - got,
                   instances_per_s=round(got / res["seconds"], 1) if res["seconds"] else None,
                   mb_per_s=round(size / 1e6 / res["seconds"], 1) if res["seconds"] else None)
        rows.append(res)
        print(f"{variant[:5]} {step:8} {tool:32} {res['seconds']:7.2f} s (CPU {res['cpu_s']:6.2f} s) "
              f"{res['instances_per_s'] or 0:7.1f} inst/s "
              f"{res['rss_mb']:6.1f} MB RSS  {got}/{expected} (lost {expected - got}) exit {res['exit']} "
              f"{res['stderr']}",
              flush=True)

    # gather
    for route, extra in (("C-GET", []), ("C-MOVE", ["--move-to-self"])):
        ws = work / f"ws-{route}"
        subprocess.run([sys.executable, "-c", "import sys; sys.path.insert(0, 'tests');"
                        "from pkg_fixtures import new_workspace; from pathlib import Path;"
                        f"new_workspace(Path({str(ws)!r}))"], cwd=REPO, check=True)
        res = timed(ns, [*DK, "import-images", str(ws), "--pacs", "sender", "--patient-id", patient, "--json",
                         *extra], env=env)
        row(f"dossierkit import-images ({route})", "gather", res, count_files(ws / "images"))
    if dcmtk:
        run_dcmtk_gather(ns, work, study, row)
    deliver(ns, work, study, n, receiver, env, row, dcmtk=dcmtk)


def run_dcmtk_gather(ns: NetNS, work: Path, study: str, row) -> None:
    out = work / "getscu"
    out.mkdir()
    res = timed(ns, ["getscu", "-aet", OUR_AE, "-aec", "SENDER", "-S", "-k", "QueryRetrieveLevel=STUDY",
                     "-k", f"StudyInstanceUID={study}", "-od", str(out), "127.0.0.1", "4242"])
    row("getscu (DCMTK)", "gather", res, count_files(out))
    out = work / "movescu"
    out.mkdir()
    res = timed(ns, ["movescu", "-aet", OUR_AE, "-aec", "SENDER", "-aem", OUR_AE, "--port", str(MOVE_PORT), "+xa",
                     "-S", "-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={study}", "-od", str(out),
                     "127.0.0.1", "4242"])
    row("movescu +xa (DCMTK)", "gather", res, count_files(out))


def deliver(ns: NetNS, work: Path, study: str, n: int, receiver: Orthanc, env: dict, row, *, dcmtk: bool) -> None:
    pw = work / "pw.txt"
    pw.write_text(secrets.token_urlsafe(24) + "\n")
    os.chmod(pw, 0o600)
    pkg = work / "out" / "package.zip"
    r = subprocess.run([*DK, "pack", str(work / "ws-C-GET"), "-o", str(pkg), "--password-file", str(pw),
                        "--allow-incomplete", "--reason", "benchmark"], env={**os.environ, **env},
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"pack failed: {r.stderr}")
    packed = count_files(work / "ws-C-GET" / "images")  # deliver sends what the package holds
    receiver.clear()
    res = timed(ns, [*DK, "deliver", str(pkg), "--pacs", "receiver", "--password-file", str(pw), "--json"],
                env=env)
    row("dossierkit deliver (C-STORE)", "deliver", res, receiver_count(receiver, study), packed)
    receiver.clear()
    res = timed(ns, [*DK, "deliver", str(pkg), "--pacs", "receiver-web", "--password-file", str(pw), "--json"],
                env=env)
    row("dossierkit deliver (STOW-RS)", "deliver", res, receiver_count(receiver, study), packed)
    if not dcmtk:
        return
    unpacked = work / "unpacked"
    subprocess.run([*DK, "unpack", str(pkg), str(unpacked), "--password-file", str(pw)],
                   env={**os.environ, **env}, check=True, capture_output=True)
    receiver.clear()
    res = timed(ns, ["storescu", "-aet", OUR_AE, "-aec", "RECEIVER", "+sd", "+r", "-R", "-nh", "127.0.0.1",
                     "4243", str(unpacked / "DICOM")])
    row("storescu +sd +r -R -nh (DCMTK)", "deliver", res, receiver_count(receiver, study), packed)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--instances", type=int, default=500)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    ap.add_argument("--variant", choices=("uncompressed", "mixed"), action="append",
                    help="only this study (repeatable; default both)")
    ap.add_argument("--no-dcmtk", action="store_true", help="dossierkit only (e.g. for the peak RSS of a large study)")
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="dk-bench-pacs-"))  # under $TMPDIR
    ns = NetNS()
    servers: list[Orthanc] = []
    rows: list[dict] = []
    try:
        sender = Orthanc(ns, work / "sender", "SENDER", 8042, 4242).start()
        servers.append(sender)
        receiver = Orthanc(ns, work / "receiver", "RECEIVER", 8043, 4243).start()
        servers.append(receiver)
        home = work / "home"
        pacs_toml(home, sender, receiver)
        env = {"DOSSIERKIT_HOME": str(home)}
        subprocess.run([*DK, "keys", "generate"], env={**os.environ, **env}, check=True, capture_output=True)
        print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
        for variant, native in (("uncompressed", True), ("mixed syntaxes", False)):
            if args.variant and variant.split()[0] not in args.variant:
                continue
            patient = f"{PATIENT_ID}-{'N' if native else 'M'}"
            study, size = make_study(work / variant, args.instances, patient, native_only=native)
            loaded = sender.upload(sorted((work / variant).iterdir()))
            n = receiver_count(sender, study)
            print(f"study ({variant}): {n} instances in Orthanc ({loaded} uploaded), {size / 1e6:.1f} MB", flush=True)
            run_variant(ns, work / f"run-{'n' if native else 'm'}", variant, study, size, n, patient, sender,
                        receiver, env, rows, dcmtk=not args.no_dcmtk)
        print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    finally:
        for srv in servers:
            srv.stop()
        ns.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps({"instances": args.instances, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
