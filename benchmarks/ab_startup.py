"""A command's wall time in two source trees, side by side: the fixed cost
of start-up when the command does nothing (docs/performance.md, "Imports
kept out of start-up" and "Eighth session on issue #18").

    git worktree add /tmp/old 038bf10
    python benchmarks/ab_startup.py --old /tmp/old/src --rounds 10 -- verify /tmp/nonexistent.zip

Each run is ``python -m dossierkit ARGS…`` with ``PYTHONPATH`` set to one
tree's ``src`` (same interpreter), the two trees alternating and their order
swapped every round, so a neighbour's load hits both alike. Prints each
tree's median, min and max and the difference of the medians (``--json``
writes every run). Byte-compile both trees first (``python -m compileall``),
as pip does at install: otherwise the first runs compile.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

NEW_SRC = Path(__file__).resolve().parents[1] / "src"


def one_run(src: Path, args: list[str]) -> tuple[float, int]:
    """(wall seconds, exit code) of ``python -m dossierkit ARGS`` with *src* first on the path."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "dossierkit", *args], env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0, proc.returncode


def side_by_side(old: Path, new: Path, args: list[str], rounds: int) -> dict:
    """Every run of both trees, alternating (old first in odd rounds)."""
    runs: dict[str, list[dict]] = {"old": [], "new": []}
    seq = 0
    for i in range(rounds):
        order = ("old", "new") if i % 2 == 0 else ("new", "old")
        for which in order:
            seconds, code = one_run(old if which == "old" else new, args)
            seq += 1
            runs[which].append({"round": i + 1, "seq": seq, "seconds": round(seconds, 4), "exit": code})
    summary = {k: {"median": round(statistics.median(r["seconds"] for r in v), 4),
                   "min": round(min(r["seconds"] for r in v), 4), "max": round(max(r["seconds"] for r in v), 4),
                   "exits": sorted({r["exit"] for r in v})} for k, v in runs.items()}
    return {"args": args, "old": str(old), "new": str(new), "rounds": rounds, "runs": runs, "summary": summary,
            "new_minus_old_median": round(summary["new"]["median"] - summary["old"]["median"], 4)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--old", type=Path, required=True, help="the other tree's src folder")
    ap.add_argument("--new", type=Path, default=NEW_SRC, help="default: this checkout's src")
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--json", type=Path)
    ap.add_argument("command", nargs=argparse.REMAINDER, help="after --: the dossierkit command and its arguments")
    a = ap.parse_args(argv)
    args = a.command[1:] if a.command[:1] == ["--"] else a.command
    if not args:
        ap.error("give the command after --, e.g. -- verify /tmp/nonexistent.zip")
    result = side_by_side(a.old, a.new, args, a.rounds)
    for which in ("old", "new"):
        s = result["summary"][which]
        print(f"{which}: median {s['median']:.3f} s (min {s['min']:.3f}, max {s['max']:.3f}), "
              f"exit {'/'.join(map(str, s['exits']))}  [{result[which]}]")
    print(f"new − old (medians): {result['new_minus_old_median']:+.3f} s over {a.rounds} rounds")
    if result["summary"]["old"]["exits"] != result["summary"]["new"]["exits"]:
        print("warning: the two trees did not exit alike; compare like with like", file=sys.stderr)
    if a.json:
        a.json.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
