"""pack and verify of two source trees side by side, alternating runs, with
the threads of each run counted (docs/performance-history.md, "One worker per flow").

    git worktree add /tmp/old 86ea0d5
    python benchmarks/ab_flows.py --old /tmp/old/src --size 600M --files 1200 --rounds 5

Each run is ``python -m dossierkit pack|verify …`` with ``PYTHONPATH`` set
to one tree's ``src`` (same interpreter, same dossier, same keys), in the
order old, new, old, new… so a neighbour's load hits both alike. While a
run lasts, ``/proc/PID/task`` is sampled every 20 ms: the most threads seen
is reported. The medians and the new/old ratio are printed (and written as
JSON with ``--json``).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.generate import generate, make_workspace, parse_size

NEW_SRC = Path(__file__).resolve().parents[1] / "src"


def run_counted(argv: list[str], env: dict) -> tuple[float, int, int]:
    """(wall seconds, most threads seen, exit code) of one run."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    most = 0
    while proc.poll() is None:
        try:
            most = max(most, len(os.listdir(f"/proc/{proc.pid}/task")))
        except FileNotFoundError:
            break
        time.sleep(0.02)
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    code = proc.wait()
    if code != 0:
        raise SystemExit(f"{' '.join(argv[2:5])} failed ({code}): {err.strip()[-400:]}")
    return time.perf_counter() - t0, most, code


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--old", required=True, help="the other tree's src folder")
    ap.add_argument("--size", default="600M")
    ap.add_argument("--files", type=int, default=1200)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--out", default="benchmarks/out/ab")
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    out = Path(args.out).resolve()
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    gen = generate(out, parse_size(args.size), args.files, log=lambda *_: None)
    base_env = {**os.environ, "DOSSIERKIT_HOME": str(out / "home")}
    py = [sys.executable, "-m", "dossierkit"]
    env_new = {**base_env, "PYTHONPATH": str(NEW_SRC)}
    # in $DOSSIERKIT_HOME/keys: verify trusts the operator's own key (exit 0, not 6 UNTRUSTED)
    keys = json.loads(subprocess.run([*py, "keys", "generate", str(out / "home" / "keys"), "--json"], env=env_new,
                                     capture_output=True, text=True, check=True).stdout)
    ws = out / "ws"
    make_workspace(gen, ws, log=lambda *_: None)
    subprocess.run([*py, "import-images", str(ws), gen.dicom_dir, "--json"], env=env_new,
                   capture_output=True, check=True)
    pw = out / "password.txt"
    pw.write_text(secrets.token_urlsafe(24) + "\n")
    pw.chmod(0o600)
    options = {"password": (["--password-file", str(pw)], ["--password-file", str(pw)]),
               "recipients": (["--recipient", keys["age_recipient"]], ["--identity", keys["age_identity"]])}
    common = ["--signing-key", keys["signing_key"], "--allow-incomplete", "--reason", "benchmark"]
    trees = {"old": args.old, "new": str(NEW_SRC)}
    rows: dict[str, dict[str, list[tuple[float, int]]]] = {}
    for rnd in range(args.rounds):
        for tree in ("old", "new") if rnd % 2 == 0 else ("new", "old"):
            env = {**base_env, "PYTHONPATH": trees[tree]}
            for mode, (pack_opts, verify_opts) in options.items():
                pkg = out / f"{tree}-{mode}.pkg"
                pkg.unlink(missing_ok=True)
                subprocess.run(["sync"], check=False)
                t, n, _ = run_counted([*py, "pack", str(ws), "-o", str(pkg), *pack_opts, *common, "--json"], env)
                rows.setdefault(f"pack ({mode})", {}).setdefault(tree, []).append((t, n))
                t, n, _ = run_counted([*py, "verify", str(pkg), *verify_opts, "--json"], env)
                rows.setdefault(f"verify ({mode})", {}).setdefault(tree, []).append((t, n))
                pkg.unlink()
        print(f"round {rnd + 1}/{args.rounds} done", file=sys.stderr)
    result = {"size": args.size, "files": args.files, "rounds": args.rounds, "steps": {}}
    print(f"{'step':22} {'old s':>7} {'new s':>7} {'new/old':>8} {'threads old':>12} {'threads new':>12}")
    for step, by_tree in rows.items():
        med = {t: statistics.median(x for x, _ in v) for t, v in by_tree.items()}
        most = {t: max(n for _, n in v) for t, v in by_tree.items()}
        ratio = med["new"] / med["old"]
        result["steps"][step] = {"median_s": med, "threads": most, "ratio": round(ratio, 3),
                                 "runs": {t: [round(x, 3) for x, _ in v] for t, v in by_tree.items()}}
        print(f"{step:22} {med['old']:7.2f} {med['new']:7.2f} {ratio:8.3f} {most['old']:12} {most['new']:12}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    shutil.rmtree(out, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
