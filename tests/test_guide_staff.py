"""docs/guide-staff.md and docs/guide-receiving.md walked through as written
(issue #15): every command of their ``sh`` blocks runs, in order, with
``dossierkit`` the installed command, in a folder holding the files they
name. ``text`` blocks are examples, not run.

* guide-staff sections 0-5, at the sending hospital (its own
  ``$DOSSIERKIT_HOME``): the sample documents under the guide's names, the
  sample CD as ``cdrom``, the key as ``usb/``;
* guide-staff section 6 there too (``keys show``: the groups the receipt prints);
* guide-receiving, at a receiving hospital (another ``$DOSSIERKIT_HOME``), on
  the package, passphrase file and receipt the staff walk produced;
* guide-staff section 7 at that receiving hospital (the ack, the reply).

Only what a reader must substitute is replaced: ``/media/usb/`` (where the
key is mounted: ``usb/`` here), ``RC-….json`` (the receipt's file name), the
sender's fingerprint placeholder (the groups their own ``verify`` printed).
The PACS blocks need a live PACS: each follows the mark ``<!-- walk: pacs -->``
and is left out here (issue #12's tests run them against Orthanc); a PACS
block without the mark would run here and fail, so none is skipped silently.

Each guide has its own test file otherwise (guide-patient, guide-pipeline:
tests/test_guides_patient_pipeline.py)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, need_tool
from tests.docsamples import BROKEN, SAMPLES

STAFF = REPO / "docs" / "guide-staff.md"
RECEIVING = REPO / "docs" / "guide-receiving.md"
PACS_MARK = "<!-- walk: pacs -->"
FILES = {"fiche-rcp.pdf": SAMPLES / "documents/01-fiche-rcp.pdf",
         "cr-anapath.pdf": SAMPLES / "documents/02-anatomopathologie.pdf",
         "cr-scanner.pdf": SAMPLES / "documents/03-scanner-tap.pdf",
         "cr-operatoire.pdf": SAMPLES / "documents/04-cr-operatoire.pdf",
         "scan-consultation.pdf": BROKEN / "scanned.pdf"}
REPLY_FILES = {"courrier-second-avis.pdf": SAMPLES / "reply/02-courrier-second-avis-restreint.pdf",
               "fiche-rcp-2d-avis.pdf": SAMPLES / "reply/03-fiche-rcp-2d-avis.pdf"}
FINGERPRINT = re.compile(r"(?:[0-9a-f]{4} ){15}[0-9a-f]{4}")


def sections(path: Path, first: int, last: int) -> str:
    """The text of sections *first*..*last* (``## N.`` headings; ``## 4b.`` is in 4)."""
    text = path.read_text(encoding="utf-8")
    starts = [(int(m.group(1)), m.start()) for m in re.finditer(r"^## (\d+)[a-z]?\. ", text, re.M)]
    begin = next(pos for n, pos in starts if n >= first)
    end = next((pos for n, pos in starts if n > last), len(text))
    return text[begin:end]


def sh_blocks(text: str) -> list[tuple[bool, str]]:
    """(marked for a PACS, block) for every ``sh`` block of *text*."""
    return [(bool(mark), block) for mark, block in re.findall(r"(<!-- walk: pacs -->\n)?```sh\n(.*?)```", text, re.S)]


def guide_commands(text: str) -> list[str]:
    """The commands of the ``sh`` blocks but the PACS-marked ones, continuation lines joined, comments dropped."""
    commands = []
    for marked, block in sh_blocks(text):
        if marked:
            continue
        for command in block.replace("\\\n", " ").splitlines():
            if command.strip() and not command.lstrip().startswith("#"):
                commands.append(command.strip())
    return commands


def run_guide(commands: list[str], where: Path, env: dict, *, replace: dict[str, str] | None = None,
              expect: dict[str, int] | None = None) -> list[tuple[str, subprocess.CompletedProcess]]:
    """Run *commands* in order in *where*; each must exit 0, or the code *expect* gives for a
    command starting with one of its keys (the code the guide says). *replace*: placeholder ->
    what the reader types instead."""
    prelude = f'dossierkit() {{ "{sys.executable}" -m dossierkit "$@"; }}\n'
    done = []
    for command in commands:
        typed = command
        for placeholder, value in (replace or {}).items():
            typed = typed.replace(placeholder, value)
        wanted = next((code for start, code in (expect or {}).items() if command.startswith(start)), 0)
        r = subprocess.run(["bash", "-c", prelude + typed], cwd=where, env=env, capture_output=True, text=True,
                           timeout=600)
        assert r.returncode == wanted, f"{typed}\n-> exit {r.returncode} (expected {wanted})\n{r.stdout}\n{r.stderr}"
        done.append((command, r))
    return done


def _env(home: Path) -> dict:
    env = {**os.environ, "DOSSIERKIT_HOME": str(home)}
    env.pop("COLUMNS", None)
    env.pop("DOSSIERKIT_JOURNAL", None)
    return env


@pytest.fixture(scope="module")
def staff(tmp_path_factory) -> dict:
    """guide-staff sections 0-5 walked at the sending hospital."""
    root = tmp_path_factory.mktemp("guides")
    where = root / "secretariat"
    where.mkdir()
    for name, src in FILES.items():
        shutil.copy(src, where / name)
    shutil.copytree(SAMPLES / "images", where / "cdrom")
    (where / "usb").mkdir()
    env = _env(root / "home")
    text = sections(STAFF, 0, 5)
    assert sum(marked for marked, _ in sh_blocks(text)) == 2  # the PACS section's two blocks, no more
    assert all(marked == ("pacs" in block.lower()) for marked, block in sh_blocks(text))
    done = run_guide(guide_commands(text), where, env)
    (receipt,) = (where / "receipts").glob("RC-*.json")
    return {"root": root, "where": where, "env": env, "done": done, "receipt": receipt}


def test_guide_staff_0_to_5_as_written(staff):
    where, env, done = staff["where"], staff["env"], staff["done"]
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
    packed = next(r for c, r in done if " pack " in f" {c} ")
    assert "package written and verified" in packed.stdout and (where / "usb" / "dossier.zip").is_file()
    assert (where / "pw.txt").is_file()
    assert "journal hash chain intact" in out["journal verify"].stdout
    # §5: the pack and its receipt are in the workspace's journal; nothing in this computer's own
    events = [json.loads(line)["event"] for line in (where / "mme-x" / "journal.jsonl").read_text().splitlines()]
    assert events[-2:] == ["pack", "receipt"] and not (staff["root"] / "home" / "journal.jsonl").exists()
    scan = json.loads(subprocess.run([sys.executable, "-m", "dossierkit", "list", "mme-x", "--json"], cwd=where,
                                     env=env, capture_output=True, text=True).stdout)["documents"]
    assert {"original_name": "scan-consultation.pdf", "date": "2026-10-02", "title": "Consultation d'annonce",
            "kind": "consultation"}.items() <= next(d for d in scan if d["original_name"] ==
                                                    "scan-consultation.pdf").items()


def test_guide_staff_6_keys_show_prints_the_groups_of_the_receipt(staff):
    text = sections(STAFF, 6, 6)
    commands = guide_commands(text)
    assert commands == ["dossierkit keys show"]
    ((_, shown),) = run_guide(commands, staff["where"], staff["env"])
    groups = FINGERPRINT.findall(" ".join(shown.stdout.split()))
    assert groups, shown.stdout
    assert groups[0].replace(" ", "") in staff["receipt"].read_text(encoding="utf-8")  # the key that signed it
    pdf = staff["receipt"].with_suffix(".pdf")
    printed = subprocess.run([need_tool("pdftotext"), str(pdf), "-"], capture_output=True, text=True,
                             check=True).stdout
    halves = groups[0][:39], groups[0][40:]  # the receipt prints two lines of 8 groups of 4
    assert all(half in printed for half in halves), halves


def test_what_the_guide_makes_reads_well_receipt_headings_and_index_dates(staff, tmp_path):
    """Seen on the walk's own receipt: "Images DICOM" was the last line of page 1, its table on
    page 2; and INDEX.HTM cut its dates at the hyphen (2026-10-/28) in a 1200 px window."""
    pdf = staff["receipt"].with_suffix(".pdf")
    pdftotext = need_tool("pdftotext")
    pages = [subprocess.run([pdftotext, "-f", str(n), "-l", str(n), "-layout", str(pdf), "-"], capture_output=True,
                            text=True, check=True).stdout for n in (1, 2, 3)]
    for heading, first_row in (("Documents (5)", "Type / Kind"), ("Images DICOM", "Study date"),
                               ("Complétude / Completeness", "Statut")):
        (page,) = [p for p in pages if heading in p]
        assert first_row in page, (heading, page)
    chromium = need_tool("chromium")
    sevenzip = need_tool("7zz")
    password = (staff["where"] / "pw.txt").read_text(encoding="utf-8").splitlines()[0]
    subprocess.run([sevenzip, "x", f"-p{password}", f"-o{tmp_path / 'opened'}", str(staff["where"] / "usb" /
                                                                                 "dossier.zip")],
                   capture_output=True, check=True)
    script = tmp_path / "lines.html"  # a copy with a probe: the line boxes of each date (INDEX.HTM has no script)
    index = (tmp_path / "opened" / "INDEX.HTM").read_text(encoding="utf-8")
    probe = index.replace("</body>", "<script>document.title = JSON.stringify([...document.querySelectorAll("
                                     "'td.date')].map(td => { const r = document.createRange(); "
                                     "r.selectNodeContents(td); return r.getClientRects().length; }));"
                                     "</script></body>")
    script.write_text(probe, encoding="utf-8")
    dom = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={tmp_path / 'p'}",
                          "--window-size=1200,1600", "--dump-dom", script.as_uri()], capture_output=True, text=True,
                         timeout=120).stdout
    lines = json.loads(re.search(r"<title>(.*?)</title>", dom).group(1))
    assert len(lines) == 5 + 2 and all(n == 1 for n in lines), lines  # 5 documents, 2 studies: each date on one line


@pytest.fixture(scope="module")
def reception(staff) -> dict:
    """guide-receiving walked at a receiving hospital of its own: the patient's key
    (usb/: the package and LISEZMOI), the passphrase given apart (pw.txt), the paper's
    JSON twin (the receipt file)."""
    root = staff["root"]
    where = root / "reception"
    shutil.copytree(staff["where"] / "usb", where / "usb")
    shutil.copy(staff["where"] / "pw.txt", where / "pw.txt")
    shutil.copy(staff["receipt"], where / staff["receipt"].name)
    env = _env(root / "reception-home")
    text = RECEIVING.read_text(encoding="utf-8")
    assert [marked for marked, _ in sh_blocks(text)].count(True) == 1  # §4 "Into your PACS"
    assert all(marked == ("pacs" in block.lower()) for marked, block in sh_blocks(text))
    commands = guide_commands(text)
    replace = {"/media/usb/": "usb/", "RC-….json": staff["receipt"].name}
    # §0 keys; §1: a new sender — the guide says exit 6 (authentic but NOT trusted) and shows its key
    first = run_guide(commands[:2], where, env, replace=replace, expect={"dossierkit verify": 6})
    verified = " ".join(first[1][1].stdout.split())
    assert "authentic but NOT trusted" in verified + " ".join(first[1][1].stderr.split())
    (groups,) = set(FINGERPRINT.findall(verified))
    # §2: the reader types the groups their verify printed where the guide shows "5848 b099 …"
    replace['"5848 b099 7381 4288 3cf5 …"'] = f'"{groups}"'
    done = first + run_guide(commands[2:], where, env, replace=replace)
    return {"root": root, "where": where, "env": env, "done": done, "replace": replace, "groups": groups}


def test_guide_receiving_as_written(staff, reception):
    where, done = reception["where"], reception["done"]
    commands = [c.split("#")[0].strip() for c, _ in done]
    assert [c.split()[1] for c in commands] == ["keys", "verify", "trust", "trust", "unpack", "ack"], commands
    listed = done[3][1].stdout  # trust list: who was added, the key in two lines of 8 groups
    assert "CHU de Nantes" in listed and reception["groups"][:39] in listed and reception["groups"][40:] in listed
    assert (where / "dossier-mme-x" / "INDEX.HTM").is_file() and (where / "dossier-mme-x" / "DICOMDIR").is_file()
    (ack,) = (where / "acks").glob("*.json")
    assert json.loads(ack.read_text(encoding="utf-8"))["receipt"]["receipt_id"] == staff["receipt"].stem


def test_guide_staff_7_the_reply_as_written(reception):
    where, env = reception["where"], reception["env"]
    for name, src in REPLY_FILES.items():
        shutil.copy(src, where / name)
    commands = guide_commands(sections(STAFF, 7, 7))
    assert [c.split()[1] for c in commands] == ["ack", "reply", "add", "add", "reply", "check", "reply"], commands
    done = run_guide(commands, where, env, replace=reception["replace"])
    (addressees,) = re.findall(r"addressees: (.*)", done[1][1].stdout)
    assert addressees.split(", ") == ["treating-gp", "patient"]  # the patient's restriction came with the package
    packages = sorted(p.relative_to(where / "envoi").as_posix() for p in (where / "envoi").rglob("*.zip"))
    assert packages and all(not p.startswith("initial-physician/") for p in packages), packages
    assert list((where / "envoi" / "passwords").iterdir()) and list((where / "envoi" / "receipts").glob("*.json"))


def test_the_walk_through_reads_the_guide_itself(tmp_path):
    """The extraction is not blind: a guide whose command fails fails the walk; a marked
    PACS block is left out, an unmarked one runs."""
    guide = tmp_path / "guide.md"
    guide.write_text(f"## 1. x\n```sh\ndossierkit check \\\n  nowhere   # a comment\n```\n```text\nnot run\n```\n"
                     f"{PACS_MARK}\n```sh\ndossierkit pacs echo chu\n```\n```sh\n# only a comment\n"
                     f"dossierkit pacs find chu\n```\n", encoding="utf-8")
    text = sections(guide, 1, 1)
    assert guide_commands(text) == ["dossierkit check    nowhere   # a comment", "dossierkit pacs find chu"]
    with pytest.raises(AssertionError, match="exit 2"):
        run_guide(guide_commands(text)[:1], tmp_path, dict(os.environ))
    with pytest.raises(AssertionError, match=r"exit 0 \(expected 6\)"):
        run_guide(["dossierkit --help"], tmp_path, dict(os.environ), expect={"dossierkit --help": 6})
