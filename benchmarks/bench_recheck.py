"""Cost of `check` re-reading the copies of images an older index holds (issue #13).

    python benchmarks/bench_recheck.py [--files 1000] [--rows 512]

Generates N synthetic CT files with bench_import's generator (realistic
headers, ROWS×ROWS 16-bit pixels), imports them, then runs the checks twice:
with the index as import wrote it (every image records the acceptable-image
rules it passed: nothing is re-read) and with those records removed (an
index written before #13: `check` reads every copy again — structure,
transfer syntax against encoding, encapsulated framing; pixels never read).
Prints the CPU time (process time: independent of other jobs' load) and the
bytes read (/proc/self/io rchar) of each run, and their difference per image.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
if __package__ in (None, ""):
    sys.path.insert(0, str(HERE.parent / "src"))
    sys.path.insert(0, str(HERE.parent))

from benchmarks.bench_import import generate  # noqa: E402


def _rchar() -> int:
    with open("/proc/self/io") as fh:
        return int(next(line for line in fh if line.startswith("rchar")).split()[1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--rows", type=int, default=512)
    ap.add_argument("--out", type=Path, default=HERE / "out")
    args = ap.parse_args(argv)

    from dossierkit.check import run_checks
    from dossierkit.gather import import_images
    from dossierkit.workspace import init_workspace

    base = args.out / f"recheck-{args.files}-{args.rows}"
    src = base / "src"
    generate(src, args.files, args.rows)
    ws_dir = base / "ws"
    if ws_dir.exists():
        shutil.rmtree(ws_dir)
    ws = init_workspace(ws_dir, {"patient": {"family_name": "Bench", "given_names": ["Recheck"],
                                             "birth_date": "1960-01-01", "sex": "F"}})
    import_images(ws, [src])

    def run(label: str) -> tuple[float, int]:
        r0, t0 = _rchar(), time.process_time()
        run_checks(ws)
        cpu, read = time.process_time() - t0, _rchar() - r0
        print(f"{label}: check {cpu:.2f} s CPU, {read / 2**20:.1f} MiB read")
        return cpu, read

    stamped = run("index of this version (no re-read)")
    index = ws.images_index()
    for inst in index["instances"]:
        inst.pop("accepted", None)
    ws.save_images_index(index)
    older = run("older index (every copy re-read)")
    n = args.files
    print(f"re-read: {(older[0] - stamped[0]) / n * 1e6:.0f} us CPU and {(older[1] - stamped[1]) / n / 1024:.1f} KiB "
          f"read per image; peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
