"""Per-thread CPU over time of one command (Linux), from /proc: how busy each
thread of a flow is, interval by interval (issue #18).

    python benchmarks/threads.py -- dossierkit verify pkg.zip --password-file pw.txt --json
    python benchmarks/threads.py --interval 0.25 --out timeline.json -- dossierkit pack ws -o p.zip ...

Why not a sampling profiler: py-spy reads each thread's Python frame, and a
worker thread running C code with the GIL released (hashing, PBKDF2) was
shown in its queue wait — "idle" — when it was busy (docs/performance.md).
The kernel's per-thread CPU counters (``/proc/PID/task/TID/stat``: user +
system ticks) do not guess. The command's output goes to /dev/null.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path


def _thread_ticks(pid: int) -> dict[str, int]:
    """{"main" or "name:tid": user+system ticks} of every thread of *pid*
    now (Python before 3.14 does not name its threads for the kernel: the
    others show as ``python:TID``, in the order they started)."""
    out: dict[str, int] = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        try:
            stat = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
            name = Path(f"/proc/{pid}/task/{tid}/comm").read_text().strip()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        out["main" if int(tid) == pid else f"{name}:{tid}"] = int(fields[11]) + int(fields[12])
    return out


def timeline(argv: list[str], interval: float) -> dict:
    """Run *argv*; every *interval* seconds, the share of one core each thread used."""
    hz = os.sysconf("SC_CLK_TCK")
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    t0 = time.perf_counter()
    last: dict[str, int] = {}
    rows: list[dict] = []
    seen: list[str] = []
    while proc.poll() is None:
        time.sleep(interval)
        now = _thread_ticks(proc.pid)
        if not now:
            continue
        busy = {}
        for key, ticks in now.items():
            if key not in seen:
                seen.append(key)
            busy[key] = round(100 * (ticks - last.get(key, 0)) / hz / interval)
        last = now
        rows.append({"t": round(time.perf_counter() - t0, 2), "busy": busy})
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    return {"argv": argv, "interval": interval, "rc": proc.returncode, "seconds": round(time.perf_counter() - t0, 2),
            "threads": seen, "rows": rows, "stderr_tail": err[-500:]}


def render(result: dict) -> str:
    threads = result["threads"]
    head = "    t s  " + "  ".join(f"{k[-12:]:>12}" for k in threads)
    lines = [head]
    for row in result["rows"]:
        lines.append(f"{row['t']:7.2f}  " + "  ".join(f"{row['busy'].get(k, 0):11d}%" for k in threads))
    lines.append(f"exit {result['rc']} after {result['seconds']} s")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--interval", type=float, default=0.5, help="seconds between samples (default 0.5)")
    ap.add_argument("--out", type=Path, default=None, help="also write the timeline as JSON here")
    ap.add_argument("argv", nargs=argparse.REMAINDER, help="-- the command to run")
    args = ap.parse_args()
    argv = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
    if not argv:
        ap.error("give the command after --")
    if not Path("/proc/self/task").is_dir():
        print("threads.py needs Linux /proc", file=sys.stderr)
        return 2
    result = timeline(argv, args.interval)
    print(render(result))
    if args.out:
        args.out.write_text(json.dumps(result, indent=1))
    return 0 if result["rc"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
