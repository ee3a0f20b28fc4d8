"""docs/guide-pipeline.md, docs/guide-patient.md and README's "A dossier by
hand" walked through as written (issue #15, points 21 and 30): the shell
blocks are taken from the Markdown and run by bash with ``set -e`` — the
only inputs are the environment variables the guide names and files laid out
under the names the guide uses. A guide whose command no longer runs fails
here."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, need_tool, run_cli

DOCS = REPO / "docs"
BIN = Path(sys.executable).parent  # the venv's dossierkit


def sh_block(markdown: Path, heading: str) -> str:
    """The first ```sh block under *heading* (a ## title)."""
    text = markdown.read_text(encoding="utf-8")
    section = text[text.index(f"\n{heading}\n"):]
    return re.search(r"```sh\n(.*?)```", section, re.S).group(1)


def bash(script: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    full = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", **env}
    full.pop("COLUMNS", None)
    r = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=cwd, env=full, capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, f"guide block failed ({r.returncode}):\n{script}\n--- stderr\n{r.stderr[-3000:]}"
    return r


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("guides")
    r = run_cli("demo", root / "demo", env={"DOSSIERKIT_HOME": str(root / "home")})
    assert r.returncode == 0, r.stderr
    return root / "demo"


def test_guide_pipeline_runs_as_written(demo, tmp_path):
    guide = DOCS / "guide-pipeline.md"
    sender, receiver = tmp_path / "sender", tmp_path / "receiver"
    for side in (sender, receiver):
        side.mkdir()
        bash(sh_block(guide, "## Keys"), side, {"DOSSIERKIT_HOME": str(side / "home")})
    s_keys = json.loads((sender / "keys.json").read_text())
    r_keys = json.loads((receiver / "keys.json").read_text())
    ws = sender / "ws"
    shutil.copytree(demo / "workspace", ws)
    (ws / "journal.jsonl").unlink()
    (sender / "out").mkdir()
    bash(sh_block(guide, "## Sender"), sender, {"DOSSIERKIT_HOME": str(sender / "home"), "WS": str(ws),
                                               "PARTNER_RECIPIENT": r_keys["age_recipient"]})
    receipt = json.loads((sender / "receipt.json").read_text())
    assert Path(receipt["json"]).parent.name == "receipts" and Path(receipt["json"]).name.startswith("RC-")
    assert receipt["journal"] == str(ws / "journal.jsonl")
    # the transfer the guide describes: the package and the receipt JSON to the partner's in/
    (receiver / "in").mkdir()
    shutil.copy(sender / "out" / "DK-123.age", receiver / "in")
    shutil.copy(sender / receipt["json"], receiver / "in")
    bash(sh_block(guide, "## Receiver"), receiver, {"DOSSIERKIT_HOME": str(receiver / "home"),
                                                   "SENDER_FINGERPRINT": s_keys["signer_fingerprint"],
                                                   "RECEIPT_ID": receipt["id"]})
    verify = json.loads((receiver / "verify.json").read_text())
    assert verify["ok"] is True
    ack = json.loads((receiver / "ack.json").read_text())
    doc = json.loads(Path(receiver / ack["json"]).read_text())
    assert doc["verification"]["result"] == "intact" and doc["receipt"]["receipt_id"] == receipt["id"]
    assert (receiver / "second-avis" / "DK-123" / "INDEX.HTM").is_file()
    # the receipt anchors in the sender's workspace journal
    v = run_cli("journal", "verify", ws, "--receipt", sender / receipt["json"])
    assert v.returncode == 0, v.stderr + v.stdout
    # the exit-code table names only codes that exist, with the meaning errors.py gives them
    from dossierkit.errors import ExitCode

    table = re.findall(r"^\| (\d+) \|", guide.read_text(encoding="utf-8"), re.M)
    assert table and {int(c) for c in table} <= {int(c) for c in ExitCode}


def test_readme_dossier_by_hand_runs_as_written(tmp_path):
    block = sh_block(REPO / "README.md", "## A dossier by hand")
    # The guide's inputs, under the names it uses: the sample dossier.toml and PDFs; the
    # patient's CD is the only path replaced (the sample CD image stands for /media/cdrom).
    shutil.copy(REPO / "samples" / "dossier.toml", tmp_path / "dossier.toml")
    docs = REPO / "samples" / "documents"
    for name, sample in (("fiche-rcp.pdf", "01-fiche-rcp.pdf"), ("anapath.pdf", "02-anatomopathologie.pdf"),
                         ("scanner.pdf", "03-scanner-tap.pdf")):
        shutil.copy(docs / sample, tmp_path / name)
    assert "/media/cdrom" in block
    block = block.replace("/media/cdrom", str(REPO / "samples" / "images" / "cd"))
    bash(block, tmp_path, {"DOSSIERKIT_HOME": str(tmp_path / "home")})  # check must say complete (exit 0)
    (rc,) = (tmp_path / "receipts").glob("RC-*.json")
    assert json.loads(rc.read_text())["package"]["sha256"] == hashlib.sha256(
        (tmp_path / "dossier.zip").read_bytes()).hexdigest()
    assert "receipt" in (tmp_path / "ws" / "journal.jsonl").read_text()


def test_guide_patient_steps_work_on_the_real_key(demo, tmp_path):
    """Open at home with 7-Zip (Linux), find INDEX.HTM, dated the pack day; check the file
    with the commands the guide gives and compare with the receipt's printed fingerprint and
    its QR code."""
    guide = (DOCS / "guide-patient.md").read_text(encoding="utf-8")
    key = tmp_path / "usb"
    key.mkdir()
    for name in ("dossier.zip", "LISEZMOI-README.TXT"):  # what the guide's table says is on the key
        shutil.copy(demo / name, key / name)
    password = (demo / "package-password.txt").read_text(encoding="utf-8").splitlines()[0]  # the first line; a reading guide follows
    sevenzip = need_tool("7zz")
    assert "7zz" in guide
    r = subprocess.run([sevenzip, "x", f"-p{password}", f"-o{tmp_path / 'opened'}", key / "dossier.zip"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout
    index = (tmp_path / "opened" / "INDEX.HTM").read_text(encoding="utf-8")
    assert "DOC0001.PDF" in index and "Imagerie" in index
    assert "CT (scanner / CT)" in index  # the modality in words, not its code alone
    # the receipt's fingerprint (page 1, as printed) and its QR code
    (pdf,) = (demo / "receipts").glob("RC-*.pdf")
    page1 = subprocess.run([need_tool("pdftotext"), "-f", "1", "-l", "1", pdf, "-"], capture_output=True,
                           text=True, check=True).stdout
    printed = re.search(r"\b[0-9a-f]{64}\b", page1).group(0)
    subprocess.run([need_tool("pdftoppm"), "-png", "-r", "100", "-f", "1", "-l", "1", pdf, tmp_path / "p"],
                   check=True)
    qr = subprocess.run([need_tool("zbarimg"), "--raw", "-q", next(tmp_path.glob("p*.png"))], capture_output=True,
                        text=True).stdout
    assert f"SHA-256 {printed}" in qr
    # every command the guide gives that runs here prints that same fingerprint
    commands = re.findall(r"`((?:sha256sum|shasum -a 256) dossier\.zip)`", guide)
    assert len(commands) == 2 and "certutil -hashfile dossier.zip SHA256" in guide and "Get-FileHash" in guide
    for command in commands:
        if shutil.which(command.split()[0]) is None:
            continue
        out = subprocess.run(command, shell=True, cwd=key, capture_output=True, text=True, check=True).stdout
        assert out.split()[0] == printed, command
    # LISEZMOI speaks to the patient first, without a command line
    lisez = (key / "LISEZMOI-README.TXT").read_text(encoding="utf-8")
    assert lisez.index("VOUS ÊTES LE PATIENT") < lisez.index("POUR L'ÉQUIPE QUI REÇOIT")
