"""Peak memory of pack / verify / unpack on a large generated dossier.

    python benchmarks/bench_pack_memory.py OUT [--size 1G] [--files 2000] [--keep]

Generates a dossier (benchmarks/generate.py: CT/PET/MR Part 10 series and PDFs,
fictional patient), imports the images into a workspace, then runs the real
command line under GNU ``/usr/bin/time -v`` for both containers and prints
wall time, throughput and peak RSS per step. The contract (DESIGN §6) is a
peak RSS under 200 MB whatever the dossier size: the exit code is 1 when a
step exceeds it or fails.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.generate import generate, make_workspace, parse_size  # noqa: E402
from benchmarks.measure import timed  # noqa: E402

LIMIT_MB = 200
PASSWORD_ENV = "DK_BENCH_PASSPHRASE"
PASSPHRASE = "banc-essai-memoire-tulipe-orage-cadran-violon-mesure"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--size", type=parse_size, default=parse_size("1G"))
    ap.add_argument("--files", type=int, default=2000)
    ap.add_argument("--keep", action="store_true", help="keep the generated data and packages")
    a = ap.parse_args(argv)
    out = a.out.resolve()
    log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731

    gen = generate(out, a.size, a.files, log=log)
    ws = Path(make_workspace(gen, out / "workspace", log=log)["workspace"])
    from dossierkit.gather import import_images
    from dossierkit.workspace import Workspace

    rep = import_images(Workspace(ws), [gen.dicom_dir])
    log(f"imported {rep.imported} images into {ws}")
    shutil.rmtree(gen.dicom_dir)  # the workspace holds the copies; keep the disk footprint down

    dk = [sys.executable, "-m", "dossierkit"]
    env = {"DOSSIERKIT_HOME": str(out / "home"), PASSWORD_ENV: PASSPHRASE}
    keys = json.loads(timed([[*dk, "keys", "generate", "--json"]], env=env).stdout)
    payload = sum(f.stat().st_size for f in ws.rglob("*") if f.is_file())
    steps = {
        "pack (password)": [*dk, "pack", str(ws), "-o", str(out / "p.zip"), "--password-env", PASSWORD_ENV,
                            "--json"],
        "verify (password)": [*dk, "verify", str(out / "p.zip"), "--password-env", PASSWORD_ENV, "--json"],
        "unpack (password)": [*dk, "unpack", str(out / "p.zip"), str(out / "unpacked"), "--password-env",
                              PASSWORD_ENV, "--json"],
        "pack (recipients)": [*dk, "pack", str(ws), "-o", str(out / "r.age"), "--recipient", keys["age_recipient"],
                              "--json"],
        "verify (recipients)": [*dk, "verify", str(out / "r.age"), "--json"],
    }
    rows, failed = [], False
    for name, argv_ in steps.items():
        os.sync()
        run = timed([argv_], env=env)
        mb = (run.peak_rss_kb or 0) / 1024
        ok = run.returncode == 0 and mb < LIMIT_MB
        failed |= not ok
        rows.append({"step": name, "exit": run.returncode, "seconds": round(run.seconds, 2),
                     "MB/s": round(payload / 1e6 / run.seconds, 1), "peak_rss_MB": round(mb, 1)})
        log(f"{name:22s} exit {run.returncode}  {run.seconds:7.2f} s  {payload / 1e6 / run.seconds:7.1f} MB/s  "
            f"peak RSS {mb:6.1f} MB" + ("" if ok else f"  <-- FAIL {run.stderr.strip()[-300:]}"))
        if name.startswith("unpack"):
            shutil.rmtree(out / "unpacked", ignore_errors=True)
    print(json.dumps({"dossier": {"files": gen.files, "bytes": payload, "documents": len(gen.docs)},
                      "limit_MB": LIMIT_MB, "steps": rows}, indent=2))
    if not a.keep:
        shutil.rmtree(out, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
