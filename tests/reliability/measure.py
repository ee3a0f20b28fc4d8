"""Run ``dossierkit`` commands in-process on a list of packages and report
each one's exit code, error lines, wall and CPU time, then the process's
peak RSS. Tests bound the CPU time (``cpu_seconds``: every thread of this
process, the same on a loaded machine), not the wall time.

Used in a subprocess by the hostile-package tests so that the peak memory
measured is that of these commands alone::

    python -m tests.reliability.measure OPTIONS_JSON PACKAGE...

OPTIONS_JSON: {"command": "unpack"|"verify", "args": [...extra CLI args]}.
For ``unpack`` each package is extracted to ``<package>.dest``.
"""

from __future__ import annotations

import contextlib
import io
import json
import resource
import sys
import time


def peak_rss_mb() -> float:
    """This process's peak resident memory. VmHWM belongs to the current
    address space; ``ru_maxrss`` would not do: Linux carries it over fork and
    exec, so a child of a big pytest process reports the parent's peak."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(argv: list[str]) -> tuple[int, str, str]:
    from dossierkit.cli import main

    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(argv)
        except SystemExit as exc:
            code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()


def main() -> None:
    opts = json.loads(sys.argv[1])
    results = {}
    for pkg in sys.argv[2:]:
        argv = [opts["command"], pkg]
        if opts["command"] == "unpack":
            argv.append(pkg + ".dest")
        t0, c0 = time.perf_counter(), time.process_time()
        code, out, err = run(argv + list(opts.get("args", [])))
        results[pkg] = {"exit": code, "stdout": out, "stderr": err, "seconds": time.perf_counter() - t0,
                        "cpu_seconds": time.process_time() - c0}
    peak_mb = peak_rss_mb()
    sys.stdout.write(json.dumps({"results": results, "peak_rss_mb": peak_mb}))


if __name__ == "__main__":
    main()
