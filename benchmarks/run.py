"""Side-by-side benchmark of dossierkit against 7-Zip, age and sha256sum
(issue #6, DESIGN §6; method and results in docs/performance.md).

    python benchmarks/run.py                 # 2 GB in 4 000 DICOM files
    python benchmarks/run.py --smoke         # 200 MB in 400 files (CI, quick look)
    python benchmarks/run.py --size 8G --files 16000 --keep --json results.json

One run generates the dossier (benchmarks/generate.py), creates the
workspace, reads every file once so all tools see a warm page cache, then
times each step through the real CLIs (subprocess, under GNU time for the
peak RSS): dossierkit import-images, check, pack (password and recipients),
verify, unpack; ``7zz a -tzip -mem=AES256 -mx0``, ``7zz t``, ``7zz x``;
``tar | age -r``, ``age -d | tar x``; ``sha256sum`` of every file. Secrets
reach dossierkit through a file or the environment, never argv (7-Zip has
no other way than ``-p``: its throwaway password is visible in ps).

A dossierkit step whose command or option does not exist yet is reported
"n/a (not implemented)". Targets are checked at the end; the exit code is 1
when one is missed, 2 when the harness itself failed (a baseline tool
failed), 0 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import floors
from benchmarks.generate import Generated, generate, make_workspace, parse_size
from benchmarks.measure import Row, drop_dirty_pages, load_average, machine, read_tree, table, timed, tree_size

REPO = Path(__file__).resolve().parents[1]
MARKER = ".dossierkit-bench"  # only folders holding it are ever deleted
PASSWORD_ENV = "DK_BENCH_PASSWORD"
RSS_LIMIT_MB = 200.0
IMPORT_MAX_X_FLOOR = 1.2  # import-images within 1.2× the file-creation floor (issue #18)
VERIFY_MIN_X_7ZZ_T = 0.7  # verify at ≥ 0.7× `7zz t` (issue #18: the CPU floor is ≈ 0.71× on 2 cores)
MANUAL_7Z = ("7zz a … + sync", "7zz t")  # what a careful user does by hand: archive, sync, test
FLOOR_STEP = "file-creation floor"
START_STEP = "import-images, empty folder"  # the command's fixed cost: interpreter, imports, options, index
# verify's fixed cost: interpreter, imports, the typer dispatch, the sender policy; it stops at the missing file
VERIFY_START_STEP = "verify, missing package"
# dossierkit step -> the 7-Zip step it is compared with (throughput ratio)
COMPARE = {"pack (password)": "7zz a -tzip -mem=AES256 -mx0", "verify (password)": "7zz t",
           "unpack (password)": "7zz x", "pack (recipients)": "tar | age -r",
           "unpack (recipients)": "age -d | tar x"}

ORDER = ["import-images", START_STEP, FLOOR_STEP, "check", VERIFY_START_STEP, "pack (password)", "7zz a -tzip -mem=AES256 -mx0", "7zz a … + sync",
         "pack (recipients)",
         "tar | age -r", "verify (password)", "7zz t", "verify (recipients)", "unpack (password)", "7zz x",
         "unpack (recipients)", "age -d | tar x", "sha256sum (every file)"]


_INTROSPECT = """
import json, typer
from dossierkit.cli import app
out = {}
def walk(group, prefix=""):
    for name, cmd in group.commands.items():
        out[prefix + name] = sorted(o for p in cmd.params for o in getattr(p, "opts", []) + getattr(p, "secondary_opts", []))
        if hasattr(cmd, "commands"):
            walk(cmd, prefix + name + " ")
walk(typer.main.get_command(app))
print(json.dumps(out))
"""


@dataclass
class Cli:
    """The commands and options the installed dossierkit offers (read from
    its typer app in one subprocess, so a broken CLI cannot break the runner)."""

    argv: list[str]
    commands: dict[str, set[str]]
    problem: str | None = None

    @classmethod
    def probe(cls, argv: list[str], env: dict) -> Cli:
        r = subprocess.run([argv[0], "-c", _INTROSPECT], capture_output=True, text=True,
                           env={**os.environ, **env})
        try:
            return cls(argv, {k: set(v) for k, v in json.loads(r.stdout).items()})
        except ValueError:
            lines = r.stderr.strip().splitlines()
            return cls(argv, {}, f"cannot read the CLI: {lines[-1] if lines else 'no output'}")

    def has(self, command: str, *options: str) -> bool:
        opts = self.commands.get(command)
        return opts is not None and all(o in opts for o in options)

    def first(self, command: str, *options: str) -> str | None:
        return next((o for o in options if self.has(command, o)), None)


class Bench:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.out: Path = args.out.resolve()
        self.rows: list[Row] = []
        self.failures: list[str] = []  # harness problems (exit 2)
        self.password = _passphrase()
        self.env = {"DOSSIERKIT_HOME": str(self.out / "home"), PASSWORD_ENV: self.password}
        self.dk = Cli.probe([sys.executable, "-m", "dossierkit"], self.env)
        self.gen: Generated | None = None
        self.keys: dict = {}
        self.workspace: Path = self.out / "workspace"
        self.mb = 0.0
        self.primitives: dict[str, float] = {}
        self.ideal: list[dict] = []  # ideal_verify.py on the password package, once a round
        self.log = (lambda m: print(m, file=sys.stderr, flush=True))

    # -- set-up -------------------------------------------------------------
    def prepare(self) -> None:
        if self.out.exists():
            if not (self.out / MARKER).exists():
                raise SystemExit(f"{self.out} exists and was not made by this benchmark: choose another --out")
            remove_bench_folder(self.out)
        self.out.mkdir(parents=True)
        (self.out / MARKER).write_text("created by benchmarks/run.py; deleted after the run unless --keep\n")
        self.gen = generate(self.out, self.args.size, self.args.files, self.args.seed, log=self.log)
        self.log(f"generated {self.gen.files} files, {self.gen.dicom_bytes / 1e9:.2f} GB DICOM "
                 f"in {self.gen.seconds:.1f} s")
        self.mb = self.gen.data_bytes / 1e6
        pw = self.out / "password.txt"
        pw.write_text(self.password + "\n")
        pw.chmod(0o600)
        r = subprocess.run([*self.dk.argv, "keys", "generate", str(self.out / "home" / "keys"), "--json"],
                           capture_output=True, text=True, env={**os.environ, **self.env})
        if r.returncode != 0:
            raise SystemExit(f"dossierkit keys generate failed: {r.stderr.strip()}")
        self.keys = json.loads(r.stdout)
        self.compile_bytecode()
        self.ws_status = make_workspace(self.gen, self.workspace, log=self.log)
        files, total, secs = read_tree(self.gen.data_dir)
        self.log(f"warm-up: read {files} files, {total / 1e6:.0f} MB in {secs:.1f} s")

    def compile_bytecode(self) -> None:
        """Byte-compile the dossierkit package being measured, as pip does when
        it installs one: with PYTHONDONTWRITEBYTECODE set (as in some CI and
        sandboxes) an editable checkout would otherwise compile its ~90
        modules from source at every start (~0.2 s a command: not what a
        user's install does)."""
        code = "import compileall, dossierkit, os; compileall.compile_dir(os.path.dirname(dossierkit.__file__), quiet=1)"
        r = subprocess.run([self.dk.argv[0], "-c", code], capture_output=True, text=True,
                           env={**os.environ, **self.env})
        if r.returncode != 0:
            self.log(f"could not byte-compile dossierkit (timings include compiling it): {r.stderr.strip()[-200:]}")

    # -- one timed step -----------------------------------------------------
    def step(self, name: str, tool: str, stages: list[list[str]], *, files: int | None = None,
             mb: float | None = None, cwd=None, stdout_path=None, check_json: bool = False,
             ok_codes: tuple[int, ...] = (0,)) -> Row:
        """Time one step; a repeated step keeps its best time and its worst peak RSS."""
        drop_dirty_pages()
        self.log(f"… {name} [{tool}]")
        run = timed(stages, env=self.env, cwd=cwd, stdout_path=stdout_path)
        ok = run.returncode in ok_codes
        row = next((r for r in self.rows if r.step == name), None)
        if row is None:
            row = Row(step=name, tool=tool, status="ok", mb=round(self.mb if mb is None else mb, 1), files=files,
                      details={"runs": []})
            self.rows.append(row)
        rss = round(run.peak_rss_kb / 1024, 1) if run.peak_rss_kb else None
        row.details["runs"].append({"seconds": round(run.seconds, 3), "cpu_seconds": run.cpu_seconds,
                                    "peak_rss_mb": rss, "exit": run.returncode, "load": load_average()})
        if not ok:
            last = [ln for ln in run.stderr.strip().splitlines() if ln.strip()]
            row.status, row.note = "failed", f"exit {run.returncode}: {last[-1][:200] if last else 'no message'}"
        elif row.status == "ok":
            if row.seconds is None or run.seconds < row.seconds:
                row.seconds, row.cpu_seconds = round(run.seconds, 3), run.cpu_seconds
            if rss is not None:
                row.peak_rss_mb = max(rss, row.peak_rss_mb or 0.0)
            if check_json:
                try:
                    row.details.update(_summary(json.loads(run.stdout)))
                except ValueError:
                    row.status, row.note = "failed", "--json output is not JSON"
        if row.status != "ok":
            row.seconds = row.cpu_seconds = row.mb = None
        self.log(f"  {'ok' if ok else 'FAILED'} {run.seconds:.2f} s, cpu {run.cpu_seconds} s, rss {rss} MB "
                 f"{'' if ok else row.note}")
        return row

    def na(self, name: str, why: str = "not implemented") -> Row:
        why = self.dk.problem or why
        row = next((r for r in self.rows if r.step == name), None)
        if row is None:
            row = Row(step=name, tool="dossierkit", status="n/a", note=why)
            self.rows.append(row)
            self.log(f"… {name}: n/a ({why})")
        return row

    # -- dossierkit ---------------------------------------------------------
    def secret_opts(self, command: str, mode: str) -> list[str] | None:
        if mode == "password":
            if self.dk.has(command, "--password-file"):
                return ["--password-file", str(self.out / "password.txt")]
            if self.dk.has(command, "--password-env"):
                return ["--password-env", PASSWORD_ENV]
            return None
        if command == "pack":
            opt = self.dk.first("pack", "--recipient", "-r")
            return [opt, self.keys["age_recipient"]] if opt else None
        opt = self.dk.first(command, "--identity", "-i")
        return [opt, self.keys["age_identity"]] if opt else None

    def run_import(self) -> None:
        """import-images against its file-creation floor, alternating, once
        per ``--repeat`` (each keeps its best: the disk's state drifts over
        a run, ext4 after mass deletions most of all); the last import is
        the workspace's, the earlier ones go to a scratch workspace (a
        second import into one would only find duplicates). Then check."""
        dk, gen = self.dk.argv, self.gen
        imported = False
        if self.dk.has("import-images"):
            rounds = max(1, self.args.repeat)
            empty, start_ws = self.out / "empty-source", self.out / "start-workspace"
            empty.mkdir()
            make_workspace(self.gen, start_ws, log=self.log)  # its own: the empty source's finding stays out of the dossier's
            for i in range(rounds):
                target = self.workspace if i == rounds - 1 else self.out / "import-round"
                if target != self.workspace:
                    make_workspace(self.gen, target, log=self.log)
                self.run_import_floor()
                self.step(START_STEP, "dossierkit", [[*dk, "import-images", str(start_ws), str(empty), "--json"]],
                          files=0, mb=0, ok_codes=(0, 1))  # exit 1: "no image found", the verdict expected
                row = self.step("import-images", "dossierkit",
                                [[*dk, "import-images", str(target), gen.dicom_dir, "--json"]],
                                files=gen.files, mb=gen.dicom_bytes / 1e6, check_json=True)
                if target != self.workspace:
                    shutil.rmtree(target)
            imported = row.status == "ok"
            if imported:
                read_tree(self.workspace)  # the copies, warm for pack like the sources are for 7-Zip
        else:
            self.na("import-images")
        if self.ws_status["documents"] != "added":
            self.log(f"note: documents not added ({self.ws_status['documents']})")
        # exit 1 = incomplete: a verdict, not a crash; pack then needs --allow-incomplete
        check = self.step("check", "dossierkit", [[*dk, "check", str(self.workspace), "--json"]],
                          files=gen.files, mb=0, check_json=True, ok_codes=(0, 1))
        self.waive, self.imported = [], imported
        if check.status == "ok" and check.details.get("status") == "incomplete":
            check.note = f"incomplete: {check.details.get('counts.error', '?')} error(s)"
            if self.dk.has("pack", "--allow-incomplete"):
                self.waive = ["--allow-incomplete", "--reason", "benchmark run"]

    def run_import_floor(self) -> None:
        """The same files created as the importer creates them, no parsing nor hashing (floors.py); best of the runs."""
        sources = sorted(p for p in Path(self.gen.dicom_dir).rglob("*") if p.is_file())
        drop_dirty_pages()
        self.log(f"… {FLOOR_STEP} [{len(sources)} files]")
        seconds = round(floors.file_creation_floor(sources, self.out / "floor-import"), 3)
        row = next((r for r in self.rows if r.step == FLOOR_STEP), None)
        if row is None:
            row = Row(step=FLOOR_STEP, tool="kernel", status="ok", seconds=seconds,
                      mb=round(self.gen.dicom_bytes / 1e6, 1), files=len(sources),
                      note="import's writes, no parsing", details={"runs": []})
            self.rows.append(row)
        row.details["runs"].append({"seconds": seconds})
        row.seconds = min(row.seconds, seconds)
        self.log(f"  ok {seconds:.2f} s")

    def run_packages(self) -> None:
        """pack, verify, unpack in both modes; repeatable."""
        dk, gen, imported = self.dk.argv, self.gen, self.imported
        # One container at a time — pack, verify, unpack, delete — so the disk
        # holds at most the sources, the workspace, one package and one
        # unpacked tree (4× the dossier: 32 GB at 8 GB).
        pw = self.secret_opts("verify", "password") if self.dk.has("verify") else None
        if pw is not None:  # exit 2 (package not found): the verdict expected, after every fixed cost
            self.step(VERIFY_START_STEP, "dossierkit", [[*dk, "verify", str(self.out / "no-such-package.zip"), *pw,
                                                         "--json"]], files=0, mb=0, ok_codes=(2,))
        for mode, suffix in (("password", "zip"), ("recipients", "age")):
            package = self.run_pack(mode, suffix, imported)
            for command in ("verify", "unpack"):
                name = f"{command} ({mode})"
                if command == "unpack" and mode == "recipients" and not self.args.all:
                    continue
                secret = self.secret_opts(command, mode) if self.dk.has(command) else None
                if not self.dk.has(command):
                    self.na(name)
                elif secret is None:
                    self.na(name, f"no {mode} option")
                elif package is None:
                    self.na(name, "no package")
                else:
                    argv = [*dk, command, str(package)]
                    if command == "unpack":
                        argv.append(str(self.out / f"dk-unpacked-{mode}"))
                    row = self.step(name, "dossierkit", [[*argv, *secret, "--json"]], files=gen.files,
                                    check_json=True)
                    if command == "verify" and mode == "password" and row.status == "ok":
                        self.run_ideal_verify(package)
                    if command == "unpack" and row.status == "ok":
                        n, _ = tree_size(self.out / f"dk-unpacked-{mode}")
                        row.details["files_out"] = n
                    shutil.rmtree(self.out / f"dk-unpacked-{mode}", ignore_errors=True)
            if package is not None:
                package.unlink(missing_ok=True)

    def run_ideal_verify(self, package: Path) -> None:
        """The bare work of verifying the password package on one thread (ideal_verify.py)."""
        self.log("… ideal_verify.py [the least a Python verify does, one thread]")
        r = subprocess.run([sys.executable, str(REPO / "benchmarks" / "ideal_verify.py"), str(package),
                            "--password-file", str(self.out / "password.txt"), "--json"],
                           capture_output=True, text=True, env={**os.environ, **self.env})
        if r.returncode != 0:
            self.failures.append(f"ideal_verify.py: {r.stderr.strip()[-200:]}")
            return
        self.ideal.append(json.loads(r.stdout))
        self.log(f"  ok {self.ideal[-1]['cpu_seconds']:.2f} s of CPU")

    def ideal_verify_bound(self) -> dict | None:
        """verify (password)'s best case on this machine: the least CPU of
        ideal_verify.py over the rounds ÷ the cores, plus verify's fixed cost;
        against the time its target allows."""
        by = {r.step: r for r in self.rows}
        start, t = by.get(VERIFY_START_STEP), by.get("7zz t")
        if not (self.ideal and start and start.seconds and t and t.seconds):
            return None
        best = min(self.ideal, key=lambda x: x["cpu_seconds"])
        cores = os.cpu_count() or 1
        bound = best["cpu_seconds"] / cores + start.seconds
        return {"cpu_seconds": best["cpu_seconds"], "parts": best["parts"], "cores": cores,
                "start_seconds": start.seconds, "best_case_seconds": round(bound, 3),
                "allowed_seconds": round(t.seconds / VERIFY_MIN_X_7ZZ_T, 3),
                "best_case_x_7zz_t": round(t.seconds / bound, 3)}

    def best_case(self, step: str) -> dict:
        """The least time *step* could take on this machine, from this run's
        rows: the command's fixed cost (the row of the command doing nothing:
        ``import-images, empty folder`` for import, ``verify, missing
        package`` for pack and verify — the same interpreter, imports and
        dispatch) plus a lower bound of its work: ideal_verify.py's CPU ÷ the
        cores for verify (password), the CPU floor for pack and verify
        (recipients), the file-creation floor for import-images. {} when a
        part was not measured."""
        by = {r.step: r for r in self.rows}
        start = by.get(START_STEP if step == "import-images" else VERIFY_START_STEP)
        if step == "verify (password)":
            ideal = self.ideal_verify_bound()
            work, what = (ideal["cpu_seconds"] / ideal["cores"] if ideal else None), "ideal_verify.py ÷ cores"
        elif step == "import-images":
            fl = by.get(FLOOR_STEP)
            work, what = (fl.seconds if fl and fl.status == "ok" else None), FLOOR_STEP
        else:
            work, what = self.floor_ratios().get(step, {}).get("floor_seconds"), "CPU floor"
        if not (start and start.status == "ok" and start.seconds and work):
            return {}
        return {"fixed_seconds": start.seconds, "work_seconds": round(work, 3), "work_bound": what,
                "best_case_seconds": round(start.seconds + work, 3)}

    def run_pack(self, mode: str, suffix: str, imported: bool) -> Path | None:
        """pack with one container; the package path, or None."""
        dk, gen = self.dk.argv, self.gen
        name = f"pack ({mode})"
        secret = self.secret_opts("pack", mode)
        out_opt = self.dk.first("pack", "-o", "--output")
        if not self.dk.has("pack") or out_opt is None:
            self.na(name)
            return None
        if secret is None:
            self.na(name, f"no {mode} option")
            return None
        if not imported:
            self.na(name, "no images imported")
            return None
        target = self.out / f"dk-{mode}.{suffix}"
        target.unlink(missing_ok=True)
        extra = ["--signing-key", self.keys["signing_key"]] if self.dk.has("pack", "--signing-key") else []
        extra += self.waive
        if mode == "password" and self.dk.has("pack", "--container"):
            extra += ["--container", "zip"]
        row = self.step(name, "dossierkit", [[*dk, "pack", str(self.workspace), out_opt, str(target),
                                              *secret, *extra, "--json"]], files=gen.files, check_json=True)
        return _package_path(row.details, target) if row.status == "ok" else None

    # -- baselines ----------------------------------------------------------
    def run_baselines(self) -> None:
        data, out, pw = self.gen.data_dir, self.out, self.password
        z = out / "7z.zip"
        # -mx0: store, like the DICOM we pack; -bso0/-bsp0: no output nor progress
        rows = [self.step("7zz a -tzip -mem=AES256 -mx0", "7-Zip",
                          [["7zz", "a", "-tzip", "-mem=AES256", "-mx0", f"-p{pw}", "-bso0", "-bsp0", str(z), "."]],
                          cwd=data, files=self.gen.files)]
        if rows[-1].status == "ok":
            # dossierkit fsyncs its package (atomic, durable); 7-Zip does not: the same archive made durable
            z.unlink()
            rows.append(self.step("7zz a … + sync", "7-Zip",
                                  [["sh", "-c", '7zz a -tzip -mem=AES256 -mx0 -p"$0" -bso0 -bsp0 "$1" . && sync "$1"',
                                    pw, str(z)]], cwd=data, files=self.gen.files))
        if rows[-1].status == "ok":
            rows.append(self.step("7zz t", "7-Zip", [["7zz", "t", f"-p{pw}", "-bso0", "-bsp0", str(z)]],
                                  files=self.gen.files))
            rows.append(self.step("7zz x", "7-Zip", [["7zz", "x", f"-p{pw}", "-bso0", "-bsp0",
                                                      f"-o{out / 'unpacked-7z'}", str(z)]], files=self.gen.files))
            shutil.rmtree(out / "unpacked-7z", ignore_errors=True)
        z.unlink(missing_ok=True)
        tage = out / "tree.tar.age"
        shutil.rmtree(out / "unpacked-age", ignore_errors=True)
        rows.append(self.step("tar | age -r", "age", [["tar", "-cf", "-", "-C", data, "."],
                                                       ["age", "-r", self.keys["age_recipient"]]],
                              stdout_path=tage, files=self.gen.files))
        if rows[-1].status == "ok":
            (out / "unpacked-age").mkdir()
            rows.append(self.step("age -d | tar x", "age", [["age", "-d", "-i", self.keys["age_identity"], str(tage)],
                                                            ["tar", "-xf", "-", "-C", str(out / "unpacked-age")]],
                                  files=self.gen.files))
            shutil.rmtree(out / "unpacked-age", ignore_errors=True)
        tage.unlink(missing_ok=True)
        rows.append(self.step("sha256sum (every file)", "coreutils",
                              [["find", data, "-type", "f", "-print0"], ["xargs", "-0", "sha256sum"]],
                              stdout_path=os.devnull, files=self.gen.files))
        self.failures += [f"{r.step}: {r.note}" for r in rows if r.status != "ok" and f"{r.step}: {r.note}"
                          not in self.failures]

    # -- profiles -----------------------------------------------------------
    def run_profiles(self, folder: Path) -> dict:
        """py-spy profiles of import-images (fresh workspace), pack and verify (password)."""
        from benchmarks import profile

        folder.mkdir(parents=True, exist_ok=True)
        dk, found = self.dk.argv, {}
        jobs = []
        if self.dk.has("import-images"):
            ws2 = self.out / "profile-workspace"
            shutil.rmtree(ws2, ignore_errors=True)
            make_workspace(self.gen, ws2, log=self.log)
            jobs.append(("import-images", [*dk, "import-images", str(ws2), self.gen.dicom_dir, "--json"]))
        pw = self.secret_opts("pack", "password") if self.dk.has("pack") else None
        pkg = self.out / "profile.zip"
        if pw and self.imported and self.dk.first("pack", "-o", "--output"):
            extra = ["--signing-key", self.keys["signing_key"]] if self.dk.has("pack", "--signing-key") else []
            jobs.append(("pack (password)", [*dk, "pack", str(self.workspace), self.dk.first("pack", "-o", "--output"),
                                             str(pkg), *pw, *extra, *self.waive, "--json"]))
            vpw = self.secret_opts("verify", "password") if self.dk.has("verify") else None
            if vpw:
                jobs.append(("verify (password)", [*dk, "verify", str(pkg), *vpw, "--json"]))
        for name, argv in jobs:
            slug = re.sub(r"[^a-z]+", "-", name).strip("-")
            raw = folder / f"{slug}.collapsed.txt"
            self.log(f"… profiling {name}")
            rc = profile.record(argv, raw, env=self.env)
            if rc != 0 or not raw.exists():
                found[name] = {"error": f"py-spy exit {rc}"}
                continue
            found[name] = profile.summarise(raw)
            print(profile.render(name, found[name]))
        pkg.unlink(missing_ok=True)
        shutil.rmtree(self.out / "profile-workspace", ignore_errors=True)
        return found

    # -- results ------------------------------------------------------------
    def ratios(self) -> dict[str, float | None]:
        by = {r.step: r for r in self.rows}
        out = {}
        for mine, theirs in COMPARE.items():
            a, b = by.get(mine), by.get(theirs)
            out[mine] = (b.seconds / a.seconds) if a and b and a.seconds and b.seconds else None
        return out

    def manual_7z_seconds(self) -> float | None:
        """7zz a + sync + 7zz t: the manual flow pack replaces (it writes, syncs and reads back)."""
        by = {r.step: r for r in self.rows}
        parts = [by.get(step) for step in MANUAL_7Z]
        return sum(p.seconds for p in parts) if all(p and p.seconds for p in parts) else None

    def floor_ratios(self) -> dict[str, dict]:
        """Per dossierkit step: its floor (floors.py, measured in this run) and the % of it reached."""
        by = {r.step: r for r in self.rows}
        out = {}
        cpu = floors.cpu_floors(self.primitives, files=self.gen.files + len(self.gen.docs),
                                nbytes=self.gen.data_bytes, cores=os.cpu_count() or 1) if self.primitives else {}
        for step, f in cpu.items():
            row = by.get(step)
            if row and row.seconds:
                out[step] = {"floor_seconds": round(f["wall"], 3), "floor_cpu_seconds": round(f["cpu"], 3),
                             "pct_of_floor": round(100 * f["wall"] / row.seconds, 1)}
        imp, fl = by.get("import-images"), by.get(FLOOR_STEP)
        if imp and fl and imp.seconds and fl.seconds:
            out["import-images"] = {"floor_seconds": fl.seconds, "pct_of_floor": round(100 * fl.seconds / imp.seconds, 1)}
        return out

    def durable_ratio(self) -> float | None:
        """pack (password) against 7-Zip made as durable (its archive synced)."""
        by = {r.step: r for r in self.rows}
        a, b = by.get("pack (password)"), by.get("7zz a … + sync")
        return (b.seconds / a.seconds) if a and b and a.seconds and b.seconds else None

    def import_less_start(self) -> float | None:
        """import-images without the fixed cost of the command, against its floor."""
        by = {r.step: r for r in self.rows}
        imp, start, fl = by.get("import-images"), by.get(START_STEP), by.get(FLOOR_STEP)
        if not (imp and start and fl and imp.seconds and start.seconds and fl.seconds):
            return None
        return (imp.seconds - start.seconds) / fl.seconds

    def verify_less_start(self) -> dict[str, float]:
        """verify without the command's fixed cost (VERIFY_START_STEP), against ``7zz t``."""
        by = {r.step: r for r in self.rows}
        start, t = by.get(VERIFY_START_STEP), by.get("7zz t")
        out = {}
        for step in ("verify (password)", "verify (recipients)"):
            row = by.get(step)
            if row and row.seconds and start and start.seconds and t and t.seconds and row.seconds > start.seconds:
                out[step] = round(t.seconds / (row.seconds - start.seconds), 3)
        return out

    def targets(self) -> list[dict]:
        by, ratios = {r.step: r for r in self.rows}, self.ratios()

        def verdict(step: str, ok: bool | None) -> str:
            row = by.get(step)
            if row is None or row.status == "n/a":
                return "n/a"
            return "met" if row.status == "ok" and ok else "missed"

        res = []
        floors_of = self.floor_ratios()

        def needs(step: str, allowed: float | None) -> dict:
            """The share of its floor a step must reach to meet a target of
            *allowed* seconds, and whether its best case fits in that time."""
            f = floors_of.get(step, {}).get("floor_seconds")
            if not (f and allowed):
                return {}
            out = {"allowed_seconds": round(allowed, 3), "needs_pct_of_floor": round(100 * f / allowed, 1)}
            best = self.best_case(step)
            if best:
                out.update(best, within_reach=best["best_case_seconds"] <= allowed)
            return out

        manual = self.manual_7z_seconds()
        for step in ("pack (password)", "pack (recipients)"):
            row = by.get(step)
            r = manual / row.seconds if manual and row and row.seconds else None
            res.append({"target": f"{step} ≥ 1.0× the manual 7-Zip flow (7zz a + sync + 7zz t)",
                        "value": round(r, 2) if r else None, "verdict": verdict(step, r is not None and r >= 1.0),
                        **needs(step, manual)})
        t = by.get("7zz t")
        for step in ("verify (password)", "verify (recipients)"):
            row = by.get(step)
            r = t.seconds / row.seconds if t and t.seconds and row and row.seconds else None
            res.append({"target": f"{step} ≥ {VERIFY_MIN_X_7ZZ_T}× 7zz t", "value": round(r, 2) if r else None,
                        "verdict": verdict(step, r is not None and r >= VERIFY_MIN_X_7ZZ_T),
                        **needs(step, t.seconds / VERIFY_MIN_X_7ZZ_T if t and t.seconds else None)})
        for row in self.rows:
            if row.tool == "dossierkit" and row.step not in (START_STEP, VERIFY_START_STEP):
                res.append({"target": f"{row.step} peak RSS ≤ {RSS_LIMIT_MB:.0f} MB", "value": row.peak_rss_mb,
                            "verdict": verdict(row.step, row.peak_rss_mb is not None
                                               and row.peak_rss_mb <= RSS_LIMIT_MB)})
        imp, fl = by.get("import-images"), by.get(FLOOR_STEP)
        x = imp.seconds / fl.seconds if imp and fl and imp.seconds and fl.seconds else None
        res.append({"target": f"import-images within {IMPORT_MAX_X_FLOOR}× the file-creation floor",
                    "value": round(x, 2) if x else None,
                    "verdict": verdict("import-images", x is not None and x <= IMPORT_MAX_X_FLOOR),
                    **needs("import-images", IMPORT_MAX_X_FLOOR * fl.seconds if fl and fl.seconds else None)})
        return res

    def report(self, started: float) -> dict:
        self.log("… primitives (floors.py)")
        self.primitives = floors.primitives(total=int(min(256e6, max(32e6, self.gen.data_bytes))))
        ratios, targets, floor = self.ratios(), self.targets(), self.floor_ratios()
        m = machine()
        gen = self.gen
        self.rows.sort(key=lambda r: ORDER.index(r.step) if r.step in ORDER else len(ORDER))
        mix = ", ".join(f"{k} {v['files']}" for k, v in gen.by_modality.items())
        head = (f"dossierkit benchmark — {m['date']} — {m['cpu']}, {m['cores']} cores, {m['ram_gb']} GB RAM, "
                f"Python {m['python']}, dossierkit {m['dossierkit_commit']}\n"
                f"dossier: {gen.files} DICOM files in {gen.series} series "
                f"({mix}), "
                f"{gen.dicom_bytes / 1e9:.2f} GB + {len(gen.docs)} PDFs; generated in {gen.seconds:.1f} s; "
                f"warm page cache for every tool; best of {self.args.repeat} run(s); "
                f"load average at the end {load_average()}")
        print(head)
        print(table(self.rows, ratios, floor))
        p = self.primitives
        print(f"\nfloors: primitives on one core, this run: PBKDF2 ×1000 {p['kdf_seconds'] * 1e3:.2f} ms an entry, "
              f"SHA-256 {p['sha256'] / 1e9:.2f} GB/s, HMAC-SHA1 {p['hmac_sha1'] / 1e9:.2f} GB/s, "
              f"AES-CTR {p['aes_ctr'] / 1e9:.2f} GB/s, ChaCha20-Poly1305 {p['chacha20_poly1305'] / 1e9:.2f} GB/s; "
              f"CPU floor = that work ÷ {os.cpu_count()} cores; import: the file-creation floor row")
        manual = self.manual_7z_seconds()
        if manual:
            print(f"manual 7-Zip flow (7zz a + sync + 7zz t): {manual:.2f} s")
        print("\ntargets:")
        for t in targets:
            need = (f"; needs {t['needs_pct_of_floor']:.0f}% of its floor" if t.get("needs_pct_of_floor") else "")
            if t.get("best_case_seconds"):
                need += (f"; at best {t['fixed_seconds']:.2f} s fixed + {t['work_seconds']:.2f} s of work = "
                         f"{t['best_case_seconds']:.2f} s for {t['allowed_seconds']:.2f} s allowed"
                         + ("" if t["within_reach"] else ": out of reach here"))
            print(f"  {t['verdict']:>6}  {t['target']}" + (f"  (measured {t['value']}{need})" if t["value"] else ""))
        durable = self.durable_ratio()
        if durable:
            print(f"  (info) pack (password) vs 7zz a + sync of its archive: {durable:.2f}×")
        net = self.import_less_start()
        if net:
            print(f"  (info) import-images less its start-up ({START_STEP}): {net:.2f}× the file-creation floor")
        for step, x in self.verify_less_start().items():
            print(f"  (info) {step} less its start-up ({VERIFY_START_STEP}): {x:.2f}× 7zz t")
        ideal = self.ideal_verify_bound()
        if ideal:
            print(f"  (info) verify (password) at best, in Python: ideal_verify.py {ideal['cpu_seconds']:.2f} s of CPU "
                  f"÷ {ideal['cores']} cores + its start-up {ideal['start_seconds']:.2f} s = "
                  f"{ideal['best_case_seconds']:.2f} s ({ideal['best_case_x_7zz_t']:.2f}× 7zz t; "
                  f"the target allows {ideal['allowed_seconds']:.2f} s)")
        if self.failures:
            print("\nharness failures:\n  " + "\n  ".join(self.failures))
        return {"machine": m, "dossier": {k: v for k, v in gen.to_dict().items() if k not in ("patient", "docs")},
                "documents": self.ws_status.get("documents"), "rows": [r.to_dict() for r in self.rows],
                "ratios_vs_7zip": {k: round(v, 3) if v else None for k, v in ratios.items()},
                "ratio_pack_vs_7zip_durable": round(self.durable_ratio(), 3) if self.durable_ratio() else None,
                "manual_7zip_flow_seconds": round(manual, 3) if manual else None,
                "floors": floor, "primitives": {k: round(v, 6) for k, v in self.primitives.items()},
                "targets": targets, "verify_less_start_vs_7zz_t": self.verify_less_start(),
                "ideal_verify": {"runs": self.ideal, "bound": self.ideal_verify_bound()},
                "failures": self.failures, "total_seconds": round(time.perf_counter() - started, 1),
                "args": {"size": self.args.size, "files": self.args.files, "seed": self.args.seed}}


def _passphrase() -> str:
    """What a patient gets: dossierkit's own generated passphrase (≥ 80 bits)."""
    try:
        from dossierkit.archive.passphrase import generate_passphrase

        return str(generate_passphrase())
    except ImportError:
        return secrets.token_hex(24)


def remove_bench_folder(folder: Path) -> None:
    """Delete a folder this benchmark made; the marker goes last, so an
    interrupted deletion can be resumed by the next run."""
    if not (folder / MARKER).exists():
        return
    for child in folder.iterdir():
        if child.name == MARKER:
            continue
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()
    (folder / MARKER).unlink()
    folder.rmdir()


def _summary(obj) -> dict:
    """Scalars of a --json document (counts, sizes, paths), nested one level."""
    if not isinstance(obj, dict):
        return {}
    out = {}
    for k, v in obj.items():
        if isinstance(v, (int, float, str, bool)) or v is None:
            out[k] = v
        elif isinstance(v, dict):
            out.update({f"{k}.{k2}": v2 for k2, v2 in v.items() if isinstance(v2, (int, float, bool))})
    return out


def _package_path(details: dict, default: Path) -> Path:
    for key in ("package", "output", "path"):
        if isinstance(details.get(key), str) and Path(details[key]).is_file():
            return Path(details[key])
    return default


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description="dossierkit vs 7-Zip/age/sha256sum on a generated dossier "
                                             "(docs/performance.md)")
    ap.add_argument("--size", type=parse_size, default=None, help="total DICOM size, decimal units (default 2G)")
    ap.add_argument("--files", type=int, default=None, help="number of DICOM files (default 4000)")
    ap.add_argument("--smoke", action="store_true", help="200M in 400 files (CI, quick look)")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "out", help="work folder (deleted after)")
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    ap.add_argument("--json", type=Path, default=None, help="write the results as JSON here")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--all", action="store_true", help="also unpack the recipients package")
    ap.add_argument("--profile", type=Path, default=None, metavar="DIR",
                    help="after the timings, profile import/pack/verify with py-spy; collapsed stacks go to DIR")
    ap.add_argument("--repeat", type=int, default=1,
                    help="repeat pack/verify/unpack and the baselines N times, keep each step's best time")
    a = ap.parse_args(argv)
    smoke = (parse_size("200M"), 400) if a.smoke else (parse_size("2G"), 4000)
    a.size = a.size if a.size is not None else smoke[0]
    a.files = a.files if a.files is not None else smoke[1]
    return a


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    for tool in ("7zz", "age", "tar", "sha256sum", "/usr/bin/time"):
        if not shutil.which(tool):
            print(f"run.py: {tool} is required (scripts/install-debian-deps.sh)", file=sys.stderr)
            return 2
    started = time.perf_counter()
    bench = Bench(args)
    try:
        bench.prepare()
        bench.run_import()
        for i in range(args.repeat):
            if args.repeat > 1:
                bench.log(f"== repetition {i + 1}/{args.repeat}")
            bench.run_packages()
            bench.run_baselines()
        results = bench.report(started)
        if args.profile:
            results["profiles"] = bench.run_profiles(args.profile.resolve())
    finally:
        if not args.keep:
            remove_bench_folder(bench.out)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    if bench.failures:
        return 2
    return 1 if any(t["verdict"] == "missed" for t in results["targets"]) else 0


if __name__ == "__main__":
    sys.exit(main())
