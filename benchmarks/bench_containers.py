"""Container layer vs 7-Zip, side by side on the same files (issue #6).

    python benchmarks/bench_containers.py                      # 1 GB in 2 000 files, 3 rounds
    python benchmarks/bench_containers.py --size-mb 2000 --files 4000 --repeat 5
    python benchmarks/bench_containers.py --files 8 --pyzipper # few big files, + pyzipper reference

Times the library calls of ``dossierkit.package`` (each in a fresh
subprocess, so no key cache carries over) against ``7zz a -tzip -mem=AES256
-mx0`` and ``7zz t``, under GNU time (peak RSS, CPU seconds). Rounds are
interleaved (7zz, ours, 7zz, ours…) so a neighbour's load hits both alike;
the best wall time of the rounds is reported, with the CPU seconds of that
run and the worst peak RSS. The page cache is warmed first and dirty pages
are synced between steps. Input: random (incompressible) files in
``benchmarks/out/containers/src``, sizes varying ±50 % around the mean.

Rows:
- ``zipaes pack``: ZipStreamWriter, WinZip AES-256 AE-2, add_file per file
  (plaintext SHA-256 of every file computed in the same pass);
- ``zipaes verify``: iter_package_entries on the file: HMAC, SHA-256 of
  every entry, central directory check; ``(check_mac=False)``: MAC of the
  first entry only (for callers that check a signed manifest);
- ``age pack`` / ``age verify``: plain zip inside our age v1 stream;
- ``pyzipper …`` (``--pyzipper``): the design card's library, for reference.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.measure import drop_dirty_pages, load_average, machine, read_tree, timed

PW_ENV = "DK_BENCH_PASSWORD"
PASSWORD = "bench-only-" + "x" * 20  # 7-Zip can only take it on argv; not a secret


# ------------------------------------------------------------------ workers (run in a subprocess)

def _files(src: Path) -> list[tuple[str, Path]]:
    return [(f"DICOM/{p.name.upper()}", p) for p in sorted(src.iterdir())]


def worker(mode: str, src: str, pkg: str) -> None:
    from dossierkit.archive import agefile, load_identities
    from dossierkit.archive.zipaes import iter_package_entries, open_writer

    pw = os.environ[PW_ENV].encode()
    if mode == "pack":
        with open(pkg, "wb") as fh, open_writer(fh, password=pw) as zw:
            for name, path in _files(Path(src)):
                zw.add_file(name, path)
    elif mode in ("verify", "verify-nomac"):
        with open(pkg, "rb") as fh:
            for e in iter_package_entries(fh, password=pw, check_mac=mode == "verify"):
                e.drain()
    elif mode == "age-pack":
        public = Path(pkg + ".pub").read_text().strip()
        with open(pkg, "wb") as fh, agefile.age_writer(fh, [public]) as aw, open_writer(aw, password=None) as zw:
            for name, path in _files(Path(src)):
                zw.add_file(name, path)
    elif mode == "age-verify":
        idents = load_identities(pkg + ".key")
        with open(pkg, "rb") as fh, agefile.age_reader(fh, idents) as plain:
            for e in iter_package_entries(plain, password=None):
                e.drain()
    elif mode == "pyzipper-pack":
        import pyzipper

        with pyzipper.AESZipFile(pkg, "w", compression=pyzipper.ZIP_STORED, encryption=pyzipper.WZ_AES) as z:
            z.setpassword(pw)
            for name, path in _files(Path(src)):
                z.write(path, name)
    elif mode == "pyzipper-verify":
        import hashlib

        import pyzipper

        with pyzipper.AESZipFile(pkg) as z:
            z.setpassword(pw)
            for info in z.infolist():
                h = hashlib.sha256()
                with z.open(info) as fh:
                    while block := fh.read(1 << 20):
                        h.update(block)
    else:
        raise SystemExit(f"unknown worker mode {mode}")


# ------------------------------------------------------------------ harness

def generate(src: Path, total_mb: int, files: int, seed: int = 1) -> None:
    """Random files whose sizes vary ±50 % around the mean (exact total)."""
    import random

    stamp = src.parent / "src.spec"
    spec = f"{total_mb} {files} {seed}"
    if stamp.exists() and stamp.read_text() == spec:
        return
    shutil.rmtree(src, ignore_errors=True)
    src.mkdir(parents=True)
    rnd = random.Random(seed)
    mean = total_mb * 1_000_000 // files
    sizes = [int(mean * rnd.uniform(0.5, 1.5)) for _ in range(files)]
    sizes[-1] += total_mb * 1_000_000 - sum(sizes)
    block = os.urandom(1 << 20)
    for i, size in enumerate(sizes):
        with open(src / f"IM{i:06d}", "wb") as fh:
            fh.write(os.urandom(16))  # every file differs
            left = size - 16
            while left > 0:
                fh.write(block[:min(left, len(block))])
                left -= len(block)
    stamp.write_text(spec)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "out" / "containers")
    ap.add_argument("--size-mb", type=int, default=1000)
    ap.add_argument("--files", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--pyzipper", action="store_true", help="also time pyzipper (slow)")
    ap.add_argument("--no-age", action="store_true")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--worker", nargs=3, metavar=("MODE", "SRC", "PKG"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(*args.worker)
        return 0
    if not shutil.which("7zz"):
        raise SystemExit("7zz is required (Debian package 7zip)")

    src, work = args.out / "src", args.out / "pkg"
    generate(src, args.size_mb, args.files)
    work.mkdir(parents=True, exist_ok=True)
    nfiles, nbytes, _ = read_tree(src)
    py = [sys.executable, str(Path(__file__).resolve())]
    env = {PW_ENV: PASSWORD}
    ours, sevenz, age_pkg = work / "ours.zip", work / "7z.zip", work / "ours.age"
    from dossierkit.archive import generate_identity, identity_file_text

    secret, public = generate_identity()
    Path(str(age_pkg) + ".pub").write_text(public + "\n")
    Path(str(age_pkg) + ".key").write_text(identity_file_text(secret))

    def rm(p: Path):
        return lambda: p.unlink(missing_ok=True)

    # (row, tool, argv, before) ; verify rows depend on the pack row before them in the same round
    steps = [
        ("pack", "7zz a -tzip -mem=AES256 -mx0", ["7zz", "a", "-tzip", "-mem=AES256", "-mx0", f"-p{PASSWORD}",
                                                  str(sevenz), f"{src}/IM*"], rm(sevenz)),
        ("pack", "zipaes (WinZip AES-256)", [*py, "--worker", "pack", str(src), str(ours)], rm(ours)),
        ("verify", "7zz t", ["7zz", "t", f"-p{PASSWORD}", str(sevenz)], None),
        ("verify", "zipaes (HMAC + SHA-256)", [*py, "--worker", "verify", str(src), str(ours)], None),
        ("verify", "zipaes (check_mac=False)", [*py, "--worker", "verify-nomac", str(src), str(ours)], None),
    ]
    if not args.no_age:
        steps += [("pack", "age (our age v1 + plain zip)", [*py, "--worker", "age-pack", str(src), str(age_pkg)],
                   rm(age_pkg)),
                  ("verify", "age (our age v1 + plain zip)", [*py, "--worker", "age-verify", str(src), str(age_pkg)],
                   None)]
    if args.pyzipper:
        pz = work / "pyzipper.zip"
        steps += [("pack", "pyzipper", [*py, "--worker", "pyzipper-pack", str(src), str(pz)], rm(pz)),
                  ("verify", "pyzipper (read + SHA-256)", [*py, "--worker", "pyzipper-verify", str(src), str(pz)],
                   None)]

    best: dict[str, dict] = {}
    for rnd in range(args.repeat):
        for row, tool, argv, before in steps:
            if before:
                before()
            drop_dirty_pages()
            load = load_average()[0]
            run = timed([argv], env=env)
            if run.returncode != 0:
                print(f"FAILED {tool}: {run.stderr[-2000:]}", file=sys.stderr)
                return 2
            key = f"{row}|{tool}"
            cur = best.get(key)
            rss = (run.peak_rss_kb or 0) / 1024
            if cur is None or run.seconds < cur["seconds"]:
                best[key] = {"row": row, "tool": tool, "seconds": round(run.seconds, 2), "cpu": run.cpu_seconds,
                             "load": load, "rss_mb": max(rss, cur["rss_mb"] if cur else 0)}
            else:
                cur["rss_mb"] = max(cur["rss_mb"], rss)
            print(f"round {rnd + 1}: {row:6s} {tool:32s} {run.seconds:6.2f} s  cpu {run.cpu_seconds} s  "
                  f"load {load}", file=sys.stderr)

    mb = nbytes / 1e6
    base = {r: next(v["seconds"] for v in best.values() if v["row"] == r and v["tool"].startswith("7zz"))
            for r in ("pack", "verify")}
    lines = [f"{nfiles} files, {mb:.0f} MB, best of {args.repeat} interleaved rounds", "",
             "| step | tool | best s | CPU s | MB/s | peak RSS MB | time vs 7zz |",
             "|---|---|---|---|---|---|---|"]
    for v in best.values():
        ratio = v["seconds"] / base[v["row"]]
        lines.append(f"| {v['row']} | {v['tool']} | {v['seconds']:.2f} | {v['cpu']} | {mb / v['seconds']:.0f} | "
                     f"{v['rss_mb']:.0f} | {ratio:.2f}× |")
    print("\n".join(lines))
    if args.json:
        args.json.write_text(json.dumps({"machine": machine(), "files": nfiles, "mb": mb, "rows": list(best.values()),
                                         "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
