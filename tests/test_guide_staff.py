"""docs/guide-staff.md walked through as written (issue #15): every command of
its ``sh`` blocks runs, in order, in a folder holding the files it names (the
sample documents under the guide's names, the sample CD as ``cdrom``), with
``dossierkit`` the installed command. Each must succeed; what the secretary
is told to expect is checked on the way. ``text`` blocks are examples, not run.

Each guide has its own test file (guide-patient, guide-pipeline: issue #15b)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO
from tests.docsamples import BROKEN, SAMPLES

GUIDE = REPO / "docs" / "guide-staff.md"
FILES = {"fiche-rcp.pdf": SAMPLES / "documents/01-fiche-rcp.pdf",
         "cr-anapath.pdf": SAMPLES / "documents/02-anatomopathologie.pdf",
         "cr-scanner.pdf": SAMPLES / "documents/03-scanner-tap.pdf",
         "cr-operatoire.pdf": SAMPLES / "documents/04-cr-operatoire.pdf",
         "scan-consultation.pdf": BROKEN / "scanned.pdf"}


def needs_a_pacs(block: str) -> bool:
    """The PACS blocks (issue #12) need a live PACS: their commands run against Orthanc in
    tests/test_pacs*.py; the walk-through leaves them out (and counts them, below)."""
    return "pacs" in block.lower()


def walked_part(path: Path) -> str:
    """Sections 0-5, the sender's own flow (gather, check, pack, file the proof); the later
    sections are the other side's steps with placeholders (an ack, a reply: #15b, reply tests)."""
    text = path.read_text(encoding="utf-8")
    return text.split("\n## 6.", 1)[0]


def guide_commands(path: Path) -> list[str]:
    """The commands of the ``sh`` blocks (but the PACS ones), continuation lines joined."""
    commands = []
    blocks = re.findall(r"```sh\n(.*?)```", walked_part(path), re.S)
    for block in [b for b in blocks if not needs_a_pacs(b)]:
        for command in block.replace("\\\n", " ").splitlines():
            if command.strip():
                commands.append(command.strip())
    return commands


def run_guide(path: Path, where: Path, env: dict) -> list[tuple[str, subprocess.CompletedProcess]]:
    prelude = f'dossierkit() {{ "{sys.executable}" -m dossierkit "$@"; }}\n'
    done = []
    for command in guide_commands(path):
        r = subprocess.run(["bash", "-c", prelude + command], cwd=where, env=env, capture_output=True, text=True,
                           timeout=600)
        assert r.returncode == 0, f"{command}\n-> exit {r.returncode}\n{r.stdout}\n{r.stderr}"
        done.append((command, r))
    return done


def test_guide_staff_as_written(tmp_path):
    where = tmp_path / "secretariat"
    where.mkdir()
    for name, src in FILES.items():
        shutil.copy(src, where / name)
    shutil.copytree(SAMPLES / "images", where / "cdrom")
    (where / "usb").mkdir()
    env = {**os.environ, "DOSSIERKIT_HOME": str(tmp_path / "home")}
    env.pop("COLUMNS", None)
    blocks = re.findall(r"```sh\n(.*?)```", walked_part(GUIDE), re.S)
    assert sum(needs_a_pacs(b) for b in blocks) <= 2  # only the PACS section is left out
    done = run_guide(GUIDE, where, env)
    commands = [c for c, _ in done]
    assert len(commands) >= 12 and commands[0].startswith("dossierkit init mme-x")
    out = {c.split()[1] + (" " + c.split()[2] if c.split()[1] in ("journal",) else ""): r for c, r in done}
    # what each step is said to show
    listing = out["list"].stdout
    for name in ("fiche-rcp.pdf", "cr-anapath.pdf", "cr-scanner.pdf", "cr-operatoire.pdf"):
        assert name in listing
    assert "Image series" in listing
    checked = out["check"].stdout
    assert "complete:" in checked and "incomplete" not in checked
    packed = done[[c for c in commands].index(next(c for c in commands if " pack " in f" {c} "))][1]
    assert "package written and verified" in packed.stdout and (where / "usb" / "dossier.zip").is_file()
    assert (where / "pw.txt").is_file() and list((where / "receipts").glob("*.json"))
    assert "journal hash chain intact" in out["journal verify"].stdout
    scan = json.loads(subprocess.run([sys.executable, "-m", "dossierkit", "list", "mme-x", "--json"], cwd=where,
                                     env=env, capture_output=True, text=True).stdout)["documents"]
    assert {"original_name": "scan-consultation.pdf", "date": "2026-10-02", "title": "Consultation d'annonce",
            "kind": "consultation"}.items() <= next(d for d in scan if d["original_name"] ==
                                                    "scan-consultation.pdf").items()


def test_the_walk_through_reads_the_guide_itself(tmp_path):
    """The extraction is not blind: a guide whose command fails fails the walk."""
    guide = tmp_path / "guide.md"
    guide.write_text("```sh\ndossierkit check \\\n  nowhere\n```\n```text\nnot run\n```\n", encoding="utf-8")
    assert guide_commands(guide) == ["dossierkit check    nowhere"]
    try:
        run_guide(guide, tmp_path, dict(os.environ))
    except AssertionError as exc:
        assert "exit 2" in str(exc)
    else:
        raise AssertionError("a failing guide command went unnoticed")
