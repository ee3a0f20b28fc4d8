"""Sampling profiles of dossierkit commands with py-spy (not a dependency:
``.venv/bin/pip install py-spy``), summarised as the top functions by own
time and by inclusive time. Used by ``benchmarks/run.py --profile``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

_LINE = re.compile(r":\d+\)$")
# Plumbing every stack goes through: hidden from the inclusive list.
_PLUMBING = re.compile(r"^0x|\((?:threading\.py|concurrent/futures/thread\.py|<frozen runpy>)\)|^thread_run |"
                       r"^_run_module_as_main|^_run_code|^<module> \(dossierkit/__main__|^main \(dossierkit/cli|"
                       r"^(?:Typer|Command|Group|Context)\.|^_main \(typer|^invoke \(click")


def py_spy() -> str | None:
    local = Path(sys.executable).with_name("py-spy")
    return str(local) if local.exists() else shutil.which("py-spy")


def record(argv: list[str], out: Path, env: dict | None = None, rate: int = 250, native: bool = True) -> int:
    """Run *argv* under ``py-spy record``; write collapsed stacks to *out*."""
    spy = py_spy()
    if spy is None:
        raise RuntimeError("py-spy is not installed (.venv/bin/pip install py-spy)")
    cmd = [spy, "record", "--rate", str(rate), "--format", "raw", "--subprocesses", "-o", str(out),
           *(["--native"] if native else []), "--", *argv]
    r = subprocess.run(cmd, env={**os.environ, **(env or {})}, capture_output=True, text=True)
    if r.returncode != 0 and native:  # --native needs unwind info; retry without
        return record(argv, out, env, rate, native=False)
    return r.returncode


def _frame(f: str) -> str:
    """'iter_chunks (dossierkit/fsutil.py:123)' -> 'iter_chunks (dossierkit/fsutil.py)'."""
    f = _LINE.sub(")", f.strip())
    return re.sub(r"\(.*?site-packages/", "(", f).replace(str(Path.cwd()) + "/", "")


# With --native, py-spy also samples threads blocked in the kernel: a worker
# pool's idle threads waiting for work, and threads waiting for the GIL
# (take_gil -> pthread_cond_timedwait). Counted apart, not as CPU time.
_IDLE = re.compile(r"^(?:PyThread_acquire_lock_timed|_queue_SimpleQueue_get|sem_wait|sem_timedwait|"
                   r"pthread_cond_wait|select|poll|epoll_wait) ")
_GIL_WAIT = re.compile(r"^(?:take_gil|pthread_cond_timedwait) ")


def _classify(frames: list[str]) -> str:
    natives = [f for f in frames[-8:] if not f.startswith("0x")]
    if any(_IDLE.match(f) for f in natives):
        return "idle"
    if any(_GIL_WAIT.match(f) for f in natives):
        return "gil"
    return "cpu"


def summarise(collapsed: Path, top: int = 15) -> dict:
    own: Counter = Counter()
    inclusive: Counter = Counter()
    lines_own: Counter = Counter()
    kinds: Counter = Counter()
    total = 0
    for line in collapsed.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        raw = [f.strip() for f in stack.split(";") if f.strip()]
        kind = _classify(raw)
        kinds[kind] += n
        if kind != "cpu":
            continue
        py = [f for f in raw if ".py:" in f]
        if py:  # the Python line responsible, native callees included
            lines_own[re.sub(r"\(.*?site-packages/", "(", py[-1]).replace(str(Path.cwd()) + "/", "")] += n
        frames = [_frame(f) for f in raw]
        # py-spy puts the process/thread first: keep code frames only
        frames = [f for f in frames if "(" in f]
        if not frames:
            continue
        total += n
        own[frames[-1]] += n
        for f in set(frames):
            if not _PLUMBING.search(f):
                inclusive[f] += n
    pct = (lambda n: round(100.0 * n / total, 1)) if total else (lambda n: 0.0)
    every = sum(kinds.values()) or 1
    return {"samples": total, "idle_percent": round(100.0 * kinds["idle"] / every, 1),
            "gil_wait_percent": round(100.0 * kinds["gil"] / every, 1),
            "lines": [{"line": f, "percent": pct(n)} for f, n in lines_own.most_common(top)],
            "own": [{"function": f, "percent": pct(n)} for f, n in own.most_common(top)],
            "inclusive": [{"function": f, "percent": pct(n)} for f, n in inclusive.most_common(top * 2)]}


def render(name: str, summary: dict, top: int = 12) -> str:
    lines = [f"profile of {name}: {summary['samples']} CPU samples (besides: {summary['idle_percent']}% idle "
             f"threads, {summary['gil_wait_percent']}% waiting for the GIL)", "  Python lines (with their C callees):"]
    lines += [f"    {e['percent']:5.1f}%  {e['line']}" for e in summary["lines"][:top]]
    lines.append("  own time:")
    lines += [f"    {e['percent']:5.1f}%  {e['function']}" for e in summary["own"][:top]]
    lines.append("  inclusive time:")
    lines += [f"    {e['percent']:5.1f}%  {e['function']}" for e in summary["inclusive"][:top]]
    return "\n".join(lines)
