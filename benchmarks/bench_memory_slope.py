"""Peak memory of every command against the number of files: the slope is the result.

    python benchmarks/bench_memory_slope.py OUT [--counts 5000,25000,50000] [--file-kb 20] [--keep]
                                               [--max-matrix 96]
                                                [--only "pack (password),pack (recipients)"]

For each count N: a generated dossier of N DICOM files of about ``--file-kb``
kB each (benchmarks/generate.py; 50 000 × 20 kB = 1 GB), then the real
command line under GNU ``/usr/bin/time -v``, in the order a dossier lives
it: import-images, check, pack (password), verify, unpack, receipt, pack
(recipients), verify (recipients). It prints one row per command with the
peak RSS at each N and the slope in kB a file (least squares over the
counts): a memory "constant in the file count" has a slope near 0. The
contract (DESIGN §6, issue #18) is under 200 MB at 50 000 files; the exit
code is 1 when a command exceeds it or fails. ``--only`` measures some
commands (the ones they need still run first: import-images, and the
pack a verify, unpack or receipt reads).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import benchmarks.generate  # noqa: E402
from benchmarks.generate import generate, make_workspace  # noqa: E402
from benchmarks.measure import timed  # noqa: E402

LIMIT_MB = 200
PASSWORD_ENV = "DK_BENCH_PASSPHRASE"
PASSPHRASE = "banc-essai-memoire-tulipe-orage-cadran-violon-mesure"


def slope_kb_per_file(points: list[tuple[int, float]]) -> float | None:
    """Least-squares slope of (files, MB) in kB per file."""
    if len(points) < 2:
        return None
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    den = sum((x - mx) ** 2 for x, _ in points)
    return None if den == 0 else 1000 * sum((x - mx) * (y - my) for x, y in points) / den


COMMANDS = ("import-images", "check", "pack (password)", "verify (password)", "unpack (password)", "receipt",
            "pack (recipients)", "verify (recipients)")
PREREQUISITES = {"verify (password)": "pack (password)", "unpack (password)": "pack (password)",
                 "receipt": "pack (password)", "verify (recipients)": "pack (recipients)"}


def measure_count(out: Path, files: int, file_kb: int, log, only: set[str] | None = None) -> dict[str, dict]:
    """Generate a dossier of *files* files under *out* and measure every command."""
    gen = generate(out, files * file_kb * 1000, files, log=log)
    ws = Path(make_workspace(gen, out / "workspace", log=log)["workspace"])
    dk = [sys.executable, "-m", "dossierkit"]
    env = {"DOSSIERKIT_HOME": str(out / "home"), PASSWORD_ENV: PASSPHRASE}
    keys = json.loads(timed([[*dk, "keys", "generate", "--json"]], env=env).stdout)
    secret = ["--password-env", PASSWORD_ENV]
    waive = ["--allow-incomplete", "--reason", "memory benchmark"]
    steps = {
        "import-images": [*dk, "import-images", str(ws), gen.dicom_dir, "--json"],
        "check": [*dk, "check", str(ws), "--json"],
        "pack (password)": [*dk, "pack", str(ws), "-o", str(out / "p.zip"), *secret, *waive, "--json"],
        "verify (password)": [*dk, "verify", str(out / "p.zip"), *secret, "--json"],
        "unpack (password)": [*dk, "unpack", str(out / "p.zip"), str(out / "unpacked"), *secret, "--json"],
        "receipt": [*dk, "receipt", str(out / "p.zip"), "--channel", "hand", "-o", str(out / "receipts"),
                    *secret, "--json"],
        "pack (recipients)": [*dk, "pack", str(ws), "-o", str(out / "r.age"), "--recipient",
                              keys["age_recipient"], *waive, "--json"],
        "verify (recipients)": [*dk, "verify", str(out / "r.age"), "--json"],
    }
    needed = None if only is None else {"import-images", *only, *(PREREQUISITES.get(c) for c in only)}
    rows = {}
    for name, argv in steps.items():
        if needed is not None and name not in needed:
            continue
        os.sync()
        run = timed([argv], env=env)
        ok_codes = (0, 1) if name == "check" else (0,)  # check: exit 1 is a verdict (incomplete), not a failure
        mb = (run.peak_rss_kb or 0) / 1024
        rows[name] = {"exit": run.returncode, "ok": run.returncode in ok_codes, "seconds": round(run.seconds, 2),
                      "cpu_seconds": run.cpu_seconds, "peak_rss_mb": round(mb, 1)}
        log(f"  {files:>6} files  {name:20s} exit {run.returncode}  {run.seconds:7.2f} s  peak RSS {mb:6.1f} MB"
            + ("" if run.returncode in ok_codes else f"  <-- {run.stderr.strip()[-300:]}"))
        if name == "import-images":
            shutil.rmtree(gen.dicom_dir)  # the workspace holds the copies: keep the disk footprint down
        if name.startswith("unpack"):
            shutil.rmtree(out / "unpacked", ignore_errors=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--counts", default="5000,25000,50000", help="file counts, comma-separated")
    ap.add_argument("--file-kb", type=int, default=20, help="approximate size of one DICOM file")
    ap.add_argument("--keep", action="store_true", help="keep the generated dossiers and packages")
    ap.add_argument("--max-matrix", type=int, default=None,
                    help="cap every series' matrix (the generator's CT is 512²: ≈ 0.5 MB a file whatever "
                         "--file-kb says; 96 gives ≈ 20 kB files)")
    ap.add_argument("--json", type=Path, default=None, help="write the results as JSON here")
    ap.add_argument("--only", default=None, help="measure only these commands (comma-separated names as printed)")
    a = ap.parse_args(argv)
    only = None if a.only is None else {c.strip() for c in a.only.split(",") if c.strip()}
    if only is not None and not only <= set(COMMANDS):
        ap.error(f"--only: unknown command(s) {sorted(only - set(COMMANDS))}; known: {', '.join(COMMANDS)}")
    counts = [int(c) for c in a.counts.split(",")]
    if a.max_matrix:
        plan, cap = benchmarks.generate.plan_dossier, a.max_matrix
        benchmarks.generate.plan_dossier = lambda *args, **kw: [  # generate() looks it up at each call
            dataclasses.replace(p, matrix=min(p.matrix, cap)) for p in plan(*args, **kw)]
    log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    by_count = {}
    for n in counts:
        folder = a.out.resolve() / f"n{n}"
        if folder.exists():
            raise SystemExit(f"{folder} exists: choose another OUT")
        by_count[n] = measure_count(folder, n, a.file_kb, log, only)
        if not a.keep:
            shutil.rmtree(folder, ignore_errors=True)
    commands = [c for c in next(iter(by_count.values())) if only is None or c in only]
    head = ["command", *(f"{n:,} files MB" for n in counts), "slope kB/file", f"≤ {LIMIT_MB} MB"]
    print("| " + " | ".join(head) + " |\n|" + "---|" * len(head))
    failed, result = False, []
    for c in commands:
        pts = [(n, by_count[n][c]["peak_rss_mb"]) for n in counts]
        ok = all(by_count[n][c]["ok"] and by_count[n][c]["peak_rss_mb"] <= LIMIT_MB for n in counts)
        failed |= not ok
        slope = slope_kb_per_file(pts)
        result.append({"command": c, "peak_rss_mb": dict((str(n), mb) for n, mb in pts),
                       "slope_kb_per_file": round(slope, 2) if slope is not None else None, "ok": ok})
        print("| " + " | ".join([c, *(f"{mb:.0f}" for _, mb in pts),
                                 f"{slope:.2f}" if slope is not None else "", "yes" if ok else "NO"]) + " |")
    if a.json:
        a.json.write_text(json.dumps({"counts": counts, "file_kb": a.file_kb, "limit_mb": LIMIT_MB,
                                      "commands": result, "runs": by_count}, indent=2) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
