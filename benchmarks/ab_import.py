"""A/B of import-images' concurrency against its file-creation floor, in CPU per file.

    python benchmarks/ab_import.py SRC [--rounds 3] [--out /tmp/ab-import]

SRC is a DICOM tree (``benchmarks/generate.py OUT --files N --size S`` writes
one under ``OUT/data/DICOM``). Each round imports it in-process into a fresh
workspace with archive's Worker (the default: one thread copies while the
caller indexes) and with no thread (``workers=1``), then copies the same files
the way the importer writes them, without parsing or hashing
(``floors.file_creation_floor``). One JSON line a run: wall seconds and the
process's user and system CPU per file (``resource.getrusage``: CPU does not
depend on the machine's load; wall time does). Results: docs/performance-history.md,
"Import at the kernel's pace".
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

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import floors  # noqa: E402
from benchmarks.generate import dossier_toml_data  # noqa: E402
from dossierkit.gather import import_images  # noqa: E402
from dossierkit.workspace import init_workspace  # noqa: E402

MODES = {"worker": None, "none": 1}


def _cpu() -> tuple[float, float]:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime, r.ru_stime


def run(src: Path, out: Path, mode: str) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    os.sync()
    if mode == "floor":
        sources = sorted(p for p in src.rglob("*") if p.is_file())
        (u0, s0), t0 = _cpu(), time.perf_counter()
        floors.file_creation_floor(sources, out)
        n = len(sources)
    else:
        ws = init_workspace(out, dossier_toml_data())
        (u0, s0), t0 = _cpu(), time.perf_counter()
        report = import_images(ws, [src], workers=MODES[mode])
        n = report.files_seen
        if report.imported != n:
            raise SystemExit(f"{mode}: {report.imported} of {n} files imported")
    wall = time.perf_counter() - t0
    u1, s1 = _cpu()
    return {"mode": mode, "files": n, "wall": round(wall, 2), "files_per_s": round(n / wall),
            "user_ms_file": round((u1 - u0) * 1000 / n, 3), "sys_ms_file": round((s1 - s0) * 1000 / n, 3),
            "cpu_ms_file": round((u1 - u0 + s1 - s0) * 1000 / n, 3), "load": round(os.getloadavg()[0], 2)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("src", type=Path)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", type=Path, default=Path("/tmp/ab-import"))
    ap.add_argument("--modes", default="worker,none,floor")
    a = ap.parse_args(argv)
    for _ in range(a.rounds):
        for mode in a.modes.split(","):
            print(json.dumps(run(a.src.resolve(), a.out, mode)), flush=True)
    shutil.rmtree(a.out, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
