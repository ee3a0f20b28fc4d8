"""Timing and peak memory of external commands, machine facts, the result table.

Every timed command runs under GNU ``/usr/bin/time -v`` (peak RSS: "Maximum
resident set size"); wall time is measured here around the whole command. A
pipeline (``tar | age``) times each stage separately and reports the *sum*
of the stages' peaks, since they run at the same time.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

GNU_TIME = "/usr/bin/time"
_RSS = re.compile(r"Maximum resident set size \(kbytes\):\s*(\d+)")
_CPU = re.compile(r"(?:User|System) time \(seconds\):\s*([\d.]+)")


@dataclass
class Run:
    returncode: int
    seconds: float
    peak_rss_kb: int | None
    cpu_seconds: float | None  # user + system, all stages
    stdout: str
    stderr: str


def _parse_report(report: Path) -> tuple[int | None, float | None]:
    """(peak RSS kB, user+system seconds) from a GNU time -v report."""
    try:
        text = report.read_text(errors="replace")
    except OSError:
        return None, None
    m = _RSS.search(text)
    cpu = [float(x) for x in _CPU.findall(text)]
    return (int(m.group(1)) if m else None), (sum(cpu) if cpu else None)


def timed(stages: list[list[str]], *, env: dict | None = None, cwd: str | os.PathLike | None = None,
          stdout_path: str | os.PathLike | None = None, timeout: float = 3 * 3600) -> Run:
    """Run ``stages[0] | stages[1] | …`` and measure it.

    ``stdout_path`` receives the last stage's output (else it is captured).
    """
    if not Path(GNU_TIME).exists():
        raise SystemExit("GNU time is required: apt-get install time")
    full_env = {**os.environ, **(env or {})}
    with tempfile.TemporaryDirectory(prefix="dk-bench-time-") as tmp:
        reports = [Path(tmp) / f"stage{i}.txt" for i in range(len(stages))]
        out_fh = open(stdout_path, "wb") if stdout_path else subprocess.PIPE
        procs: list[subprocess.Popen] = []
        t0 = time.perf_counter()
        try:
            prev = None
            for i, argv in enumerate(stages):
                last = i == len(stages) - 1
                p = subprocess.Popen([GNU_TIME, "-v", "-o", str(reports[i]), *argv], env=full_env, cwd=cwd,
                                     stdin=prev.stdout if prev else subprocess.DEVNULL,
                                     stdout=out_fh if last else subprocess.PIPE, stderr=subprocess.PIPE)
                if prev is not None:
                    prev.stdout.close()  # so the writer sees EPIPE if the reader dies
                procs.append(p)
                prev = p
            out, err = procs[-1].communicate(timeout=timeout)
            errs = [p.stderr.read() for p in procs[:-1]]
            codes = [p.wait(timeout=timeout) for p in procs]
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
            if stdout_path:
                out_fh.close()
        seconds = time.perf_counter() - t0
        parsed = [_parse_report(r) for r in reports]
        rss = [p[0] for p in parsed]
        cpu = [p[1] for p in parsed if p[1] is not None]
    stderr = b"".join([*errs, err or b""]).decode(errors="replace")
    # GNU time prefixes "Command exited with non-zero status N" to its report, not to stderr.
    return Run(returncode=next((c for c in codes if c), 0), seconds=seconds,
               peak_rss_kb=sum(r for r in rss if r is not None) if any(r is not None for r in rss) else None,
               cpu_seconds=round(sum(cpu), 2) if cpu else None,
               stdout=(out or b"").decode(errors="replace"), stderr=stderr)


def drop_dirty_pages() -> None:
    """Flush dirty pages so one step's writes are not paid by the next step."""
    os.sync()


def read_tree(root: str | os.PathLike) -> tuple[int, int, float]:
    """Read every file once (page-cache warm-up); return (files, bytes, seconds)."""
    t0 = time.perf_counter()
    files = total = 0
    buf = bytearray(1 << 20)
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            with open(os.path.join(dirpath, name), "rb", buffering=0) as fh:
                while n := fh.readinto(buf):
                    total += n
            files += 1
    return files, total, time.perf_counter() - t0


def tree_size(root: str | os.PathLike) -> tuple[int, int]:
    files = total = 0
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            files += 1
            total += os.path.getsize(os.path.join(dirpath, name))
    return files, total


def _first_line(argv: list[str]) -> str:
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "absent"
    text = (r.stdout or r.stderr).strip()
    return next((ln.strip() for ln in text.splitlines() if ln.strip()), "?")


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def machine() -> dict:
    cpu = "?"
    try:
        cpu = next(ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9
    flags = ""
    try:
        flags = next(ln for ln in open("/proc/cpuinfo") if ln.startswith("flags"))
    except (OSError, StopIteration):
        pass
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cpu": cpu, "cores": os.cpu_count(), "ram_gb": round(mem_gb, 1),
        "cpu_flags": [f for f in ("aes", "sha_ni", "avx2", "avx512f") if f" {f}" in flags],
        "kernel": platform.release(), "python": platform.python_version(),
        "7zz": _first_line(["7zz"]) if shutil.which("7zz") else "absent",
        "age": _first_line(["age", "--version"]) if shutil.which("age") else "absent",
        "dossierkit_commit": _first_line(["git", "-C", str(Path(__file__).resolve().parents[1]), "describe",
                                          "--always", "--dirty"]),
    }


@dataclass
class Row:
    step: str  # e.g. "pack (password)"
    tool: str  # "dossierkit", "7-Zip", "age", "coreutils"
    status: str  # "ok", "n/a", "failed"
    seconds: float | None = None  # best (lowest) of the repetitions
    cpu_seconds: float | None = None  # user + system of that run
    peak_rss_mb: float | None = None
    mb: float | None = None  # input payload, decimal MB
    files: int | None = None
    note: str = ""
    details: dict = field(default_factory=dict)

    @property
    def mb_per_s(self) -> float | None:
        return self.mb / self.seconds if self.seconds and self.mb else None

    @property
    def files_per_s(self) -> float | None:
        return self.files / self.seconds if self.seconds and self.files else None

    def to_dict(self) -> dict:
        d = asdict(self)
        d["mb_per_s"] = round(self.mb_per_s, 1) if self.mb_per_s else None
        d["files_per_s"] = round(self.files_per_s, 1) if self.files_per_s else None
        return d


def _fmt(value, spec: str) -> str:
    return "" if value is None else format(value, spec)


def table(rows: list[Row], ratios: dict[str, float | None], floors: dict[str, dict] | None = None) -> str:
    """Plain-text table (also valid Markdown). *floors*: per step, its floor
    seconds and the % of it reached (benchmarks/floors.py)."""
    head = ["step", "tool", "seconds", "CPU s", "MB/s", "files/s", "peak RSS MB", "vs baseline", "floor s",
            "% of floor", "status"]
    lines = []
    for r in rows:
        ratio = ratios.get(r.step)
        fl = (floors or {}).get(r.step, {})
        status = r.status if not r.note else f"{r.status} ({r.note})"
        lines.append([r.step, r.tool, _fmt(r.seconds, ".2f"), _fmt(r.cpu_seconds, ".1f"), _fmt(r.mb_per_s, ".0f"),
                      _fmt(r.files_per_s, ",.0f") if r.files_per_s and r.step.split()[0] in ("import-images",
                                                                                           "file-creation") else "",
                      _fmt(r.peak_rss_mb, ".0f"), f"{ratio:.2f}×" if ratio else "",
                      _fmt(fl.get("floor_seconds"), ".2f"), _fmt(fl.get("pct_of_floor"), ".0f"), status])
    lines = [[c.replace("|", "\\|") for c in ln] for ln in lines]  # "tar | age" inside a Markdown cell
    widths = [max(len(h), *(len(ln[i]) for ln in lines)) if lines else len(h) for i, h in enumerate(head)]
    fmt_row = lambda cells: "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"  # noqa: E731
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([fmt_row(head), sep, *(fmt_row(ln) for ln in lines)])
