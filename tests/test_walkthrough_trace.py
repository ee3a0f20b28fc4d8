"""Issue #15, the receipt / ack / journal side, the patient and the receiving
hospital, walked through the real CLI: points 16-18, 21, 23-29.

One demo dossier (``dossierkit demo``) is built per module; a second package
is packed from it *incomplete* (the fiche RCP taken out, waived with a
reason). Prompts are answered on a pseudo-terminal (tests/pty_session.py);
receipts are read as text (pdftotext) and as images (pdftoppm + zbar);
INDEX.HTM is rendered in headless chromium.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from conftest import need_tool, run_cli
from dossierkit import localtime
from dossierkit.cli import ui
from dossierkit.errors import UsageError
from pty_session import run_on_pty

REASON = "RCP en cours de relecture, transmise dès signature"
PROMPT = "mot de passe: "


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The demo's workspace, package and keys, plus a package packed incomplete."""
    root = tmp_path_factory.mktemp("walk")
    home = root / "home"
    r = run_cli("demo", root / "demo", env={"DOSSIERKIT_HOME": str(home)})
    assert r.returncode == 0, r.stderr
    d = root / "demo"
    env = {"DOSSIERKIT_HOME": str(d)}  # the demo's keys folder: d/keys
    ws = root / "ws"
    shutil.copytree(d / "workspace", ws)
    (ws / "journal.jsonl").unlink()
    (ws / "dossier.toml").write_text(re.sub(r"(?ms)^\[sender\].*?(?=^\[|\Z)", "",
                                            (ws / "dossier.toml").read_text(encoding="utf-8")), encoding="utf-8")
    r = run_cli("remove", ws, "DOC0001", env=env)
    assert r.returncode == 0, r.stderr
    r = run_cli("pack", ws, "-o", root / "incomplete" / "dossier.zip", "--password-file", d / "package-password.txt",
                "--allow-incomplete", "--reason", REASON, env=env)
    assert r.returncode == 0, r.stderr + r.stdout
    return {"root": root, "demo": d, "env": env, "ws": ws, "package": d / "dossier.zip",
            "password": (d / "package-password.txt").read_text(encoding="utf-8").splitlines()[0],
            "pwfile": d / "package-password.txt",
            "incomplete": root / "incomplete" / "dossier.zip"}


def _pdf_text(pdf: Path, *pages: int) -> str:
    args = [need_tool("pdftotext"), "-layout"]
    if pages:
        args += ["-f", str(pages[0]), "-l", str(pages[-1])]
    return subprocess.run([*args, str(pdf), "-"], capture_output=True, text=True, check=True).stdout


def _flat(text: str) -> str:
    return " ".join(text.split())


# ---------------------------------------------------------------- 17, 27: prompts


def test_wrong_passphrase_fails_fast_with_three_tries_on_a_terminal(demo):
    run = run_on_pty(["verify", demo["package"]], [(PROMPT, "pas le bon mot\n")] * 3, env=demo["env"])
    assert run.returncode == 4, run.screen
    assert run.screen.count("Passphrase / mot de passe:") == 3
    assert "try again (2/3)" in run.screen and "réessayez (3/3)" in run.screen
    assert "verifying" not in run.screen  # no progress bar before the passphrase is known good
    assert "wrong password" in run.screen


def test_a_second_try_with_the_right_passphrase_verifies(demo):
    run = run_on_pty(["verify", demo["package"]], [(PROMPT, "faux\n"), (PROMPT, demo["password"] + "\n")],
                     env=demo["env"])
    assert run.returncode == 0, run.screen
    assert "try again (2/3)" in run.screen and "verified" in run.screen


def test_ctrl_d_at_the_prompt_is_no_passphrase_not_an_interrupt(demo, tmp_path):
    # Ctrl-D on an empty line ends the input: exit 2, said as such (click makes it the Abort of Ctrl-C)
    journal = tmp_path / "j.jsonl"
    run = run_on_pty(["verify", demo["package"], "--journal", journal], [(PROMPT, "\x04")], env=demo["env"])
    assert run.returncode == 2, run.screen
    assert "no passphrase was typed (Ctrl-D ends the input): nothing was done" in run.screen
    assert "give --password-file FILE" in run.screen and "interrupted" not in run.screen
    assert "Traceback" not in run.screen and not journal.exists()


@pytest.mark.parametrize("key, raised", [(EOFError, UsageError), (KeyboardInterrupt, typer.Abort)])
def test_ctrl_c_at_the_prompt_is_still_an_interrupt(monkeypatch, key, raised):
    # the pty above cannot send SIGINT (the child has no controlling terminal): click's own prompt,
    # with getpass giving what Ctrl-D (EOFError) and Ctrl-C (KeyboardInterrupt) give
    def typed(prompt):
        raise key()
    monkeypatch.setattr(getpass, "getpass", typed)
    monkeypatch.setattr(sys, "stdin", type("Tty", (), {"isatty": lambda self: True})())
    ask = ui.passphrase_prompt()
    with pytest.raises(raised):
        ask()


def test_wrong_passphrase_file_exits_4_at_once_without_a_prompt(demo, tmp_path):
    bad = tmp_path / "pw.txt"
    bad.write_text("pas-le-bon-mot-de-passe\n")
    run = run_on_pty(["verify", demo["package"], "--password-file", bad], env=demo["env"])
    assert run.returncode == 4 and "Passphrase" not in run.screen and "verifying" not in run.screen


@pytest.mark.parametrize("command", ["receipt", "ack"])
def test_receipt_and_ack_show_the_prompt_even_with_stdout_redirected(demo, tmp_path, command):
    args = [command, demo["package"], "-o", tmp_path / "out"]
    if command == "receipt":
        args += ["--channel", "usb-patient", "--journal", tmp_path / "j.jsonl"]
    else:
        args += ["--journal", tmp_path / "j.jsonl"]
    run = run_on_pty(args, [(PROMPT, demo["password"] + "\n")], env=demo["env"], stdout=tmp_path / "stdout.txt")
    assert run.returncode == 0, run.screen
    assert "Passphrase / mot de passe:" in run.screen
    assert "journal entry" in (tmp_path / "stdout.txt").read_text()


# ---------------------------------------------------------------- 16: which journal


def test_staff_receipt_goes_in_the_workspace_journal_and_cli_and_pdf_agree(demo, tmp_path):
    ws = tmp_path / "ws"
    shutil.copytree(demo["demo"] / "workspace", ws)
    r = run_cli("receipt", demo["package"], "--channel", "usb-patient", "-o", tmp_path / "receipts",
                "--password-file", demo["pwfile"], "--workspace", ws, env=demo["env"])
    assert r.returncode == 0, r.stderr
    entries = (ws / "journal.jsonl").read_text().splitlines()
    seq = json.loads(entries[-1])["seq"]
    assert json.loads(entries[-1])["event"] == "receipt"
    assert f"journal entry:      {seq} in {ws / 'journal.jsonl'}" in r.stdout
    (pdf,) = (tmp_path / "receipts").glob("RC-*.pdf")
    technical = _pdf_text(pdf, 3)
    assert re.search(rf"Inscrit au journal\s+entrée / entry {seq}\n", technical), technical
    assert json.loads(entries[-1])["hash"] in technical
    (rc,) = (tmp_path / "receipts").glob("RC-*.json")
    v = run_cli("journal", "verify", ws, "--receipt", rc)
    assert v.returncode == 0, v.stderr + v.stdout


def test_receipt_without_workspace_names_the_operator_journal(demo, tmp_path):
    home = tmp_path / "home"
    shutil.copytree(demo["demo"] / "keys", home / "keys")
    r = run_cli("receipt", demo["package"], "--channel", "usb-patient", "-o", tmp_path / "receipts",
                "--password-file", demo["pwfile"], env={"DOSSIERKIT_HOME": str(home)})
    assert r.returncode == 0, r.stderr
    assert f"in {home / 'journal.jsonl'}" in r.stdout
    assert "this computer's own journal" in r.stderr and "--workspace DIR" in r.stderr


def test_receipt_refuses_a_workspace_of_another_dossier(demo, tmp_path):
    other = tmp_path / "other"
    r = run_cli("init", other, "--family-name", "Autre", "--given-names", "Personne", "--birth-date", "1970-01-01",
                "--sex", "M", "--consent-date", "2026-11-02", "--consent-by", "patient")
    assert r.returncode == 0, r.stderr
    r = run_cli("receipt", demo["package"], "--channel", "hand", "-o", tmp_path / "rc",
                "--password-file", demo["pwfile"], "--workspace", other, env=demo["env"])
    assert r.returncode == 2 and "another dossier" in r.stderr
    assert not (tmp_path / "rc").exists() and not (other / "journal.jsonl").exists()


# ---------------------------------------------------------------- 18, 26: the receipt


def test_pack_receipt_json_says_in_words_what_was_waived(demo, tmp_path):
    """`pack --receipt` used to write `completeness.waived[].message: ""`:
    its words are the manifest's, the same as a receipt issued later from
    the package."""
    home = tmp_path / "home"
    shutil.copytree(demo["demo"] / "keys", home / "keys")
    env = {"DOSSIERKIT_HOME": str(home)}
    ws = tmp_path / "ws"
    shutil.copytree(demo["ws"], ws)
    out = tmp_path / "out" / "dossier.zip"
    r = run_cli("pack", ws, "-o", out, "--password-file", demo["pwfile"], "--allow-incomplete", "--reason", REASON,
                "--receipt", tmp_path / "rc", "--channel", "hand", env=env)
    assert r.returncode == 0, r.stderr
    waived = json.loads(next((tmp_path / "rc").glob("RC-*.json")).read_text())["completeness"]["waived"]
    assert [w["code"] for w in waived] == ["RCP-MISSING"] and waived[0]["level"] == "error"
    assert "RCP" in waived[0]["message"] and len(waived[0]["message"]) > 20, waived
    r = run_cli("receipt", out, "--channel", "hand", "-o", tmp_path / "rc2", "--password-file", demo["pwfile"],
                env=env)
    assert r.returncode == 0, r.stderr
    later = json.loads(next((tmp_path / "rc2").glob("RC-*.json")).read_text())["completeness"]["waived"]
    assert later == waived


def test_receipt_pdf_reads_for_people_and_keeps_hashes_apart(demo, tmp_path, monkeypatch):
    r = run_cli("receipt", demo["incomplete"], "--channel", "usb-patient", "-o", tmp_path / "rc",
                "--password-file", demo["pwfile"], "--workspace", demo["ws"], env=demo["env"])
    assert r.returncode == 0, r.stderr
    (pdf,) = (tmp_path / "rc").glob("RC-*.pdf")
    doc = json.loads(next((tmp_path / "rc").glob("RC-*.json")).read_text())
    human = _flat(_pdf_text(pdf, 1, 2))
    technical = _flat(_pdf_text(pdf, 3))
    # local time, zone stated, not ISO UTC
    assert re.search(r"\d{1,2} (janvier|février|mars|avril|mai|juin|juillet|août|septembre|octobre|novembre|"
                     r"décembre) 20\d\d à \d{1,2} h \d\d \(heure de Paris, UTC\+0[12]:00\)", human), human
    assert doc["issued_at"] not in human and doc["issued_at"] in technical
    # the waived finding in words, and its reason
    assert "Transmis malgré" in human and "Absent du dossier : Fiche RCP." in human
    assert "Not in the dossier: multidisciplinary tumour board record." in human and REASON in human
    assert "RCP-MISSING:" not in human
    # no sender in dossier.toml: said so (and `check` warns)
    assert "non indiqué dans le dossier / not recorded in the dossier" in human
    c = run_cli("check", demo["ws"], "--json")
    assert "SENDER-MISSING" in {f["code"] for f in json.loads(c.stdout)["findings"]}
    # the technical block is on its own page, the commands there only
    assert "Détails techniques" in technical and "Ed25519" in technical and "dossierkit receipt verify" in technical
    assert "Ed25519" not in human and "dossierkit " not in human and "`" not in human
    # for the patient, no command line
    assert "Pour vous, patient" in human and "Keka" in human and "7-Zip > CRC SHA > SHA-256" in human


def test_receipt_page_one_as_an_image_holds_a_qr_a_phone_can_read(demo, tmp_path):
    need_tool("zbarimg")
    r = run_cli("receipt", demo["package"], "--channel", "usb-patient", "-o", tmp_path / "rc",
                "--password-file", demo["pwfile"], "--workspace", demo["demo"] / "workspace", env=demo["env"])
    assert r.returncode == 0, r.stderr
    (pdf,) = (tmp_path / "rc").glob("RC-*.pdf")
    subprocess.run([need_tool("pdftoppm"), "-png", "-r", "100", "-f", "1", "-l", "1", pdf, tmp_path / "p"],
                   check=True)
    (png,) = tmp_path.glob("p*.png")
    z = subprocess.run(["zbarimg", "--raw", "-q", png], capture_output=True, text=True)
    assert z.returncode == 0, z.stderr
    sha = hashlib_sha256(demo["package"])
    assert f"SHA-256 {sha}" in z.stdout and "Dossier DK-" in z.stdout and "heure de Paris" in z.stdout


def hashlib_sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---------------------------------------------------------------- 29: ack from paper


def test_ack_from_the_paper_receipt_number_and_entry_numbers_agree(demo, tmp_path):
    r = run_cli("receipt", demo["package"], "--channel", "usb-patient", "-o", tmp_path / "rc",
                "--password-file", demo["pwfile"], "--workspace", demo["demo"] / "workspace", env=demo["env"])
    assert r.returncode == 0
    receipt = json.loads(next((tmp_path / "rc").glob("RC-*.json")).read_text())
    fp = receipt["signature"]["fingerprint"]
    fingerprint = " ".join(fp[i:i + 4] for i in range(0, 64, 4))  # typed from the paper: 16 groups of 4
    journal = tmp_path / "hospital.jsonl"
    a = run_cli("ack", demo["package"], "--receipt", receipt["receipt_id"], "--expect-signer", fingerprint,
                "-o", tmp_path / "acks", "--password-file", demo["pwfile"], "--journal", journal, "--by", "Pr Girard",
                env=demo["env"])
    assert a.returncode == 0, a.stderr
    ack = json.loads(next((tmp_path / "acks").glob("AK-*.json")).read_text())
    assert ack["receipt"] == {"receipt_id": receipt["receipt_id"], "source": "paper"}
    seq = json.loads(journal.read_text().splitlines()[-1])["seq"]
    assert f"journal entry:      {seq} in" in a.stdout
    layout = _pdf_text(next((tmp_path / "acks").glob("AK-*.pdf")))
    assert f"{receipt['receipt_id']} (récépissé papier / paper receipt)" in _flat(layout)
    assert re.search(rf"Inscrit au journal\s+entrée / entry {seq}\n", layout), layout
    v = run_cli("receipt", "verify", next((tmp_path / "acks").glob("AK-*.json")))
    assert v.returncode == 0, v.stderr


# ---------------------------------------------------------------- 28: verify of an incomplete package


def test_verify_of_a_package_packed_incomplete_never_says_completeness_ok(demo):
    r = run_cli("verify", demo["incomplete"], "--password-file", demo["pwfile"], "--json", env=demo["env"])
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["checks"]["completeness"] == "incomplete" and data["completeness"]["waived"] == ["RCP-MISSING"]
    r = run_cli("verify", demo["incomplete"], "--password-file", demo["pwfile"], env={**demo["env"],
                                                                                       "COLUMNS": "80"})
    row = next(line for line in r.stdout.splitlines() if "completeness" in line)
    assert "incomplete" in row and " ok " not in row
    full = run_cli("verify", demo["package"], "--password-file", demo["pwfile"], "--json", env=demo["env"])
    assert json.loads(full.stdout)["checks"]["completeness"] == "ok"


# ---------------------------------------------------------------- 23, 24, 25, 21: the package opened


@pytest.fixture(scope="module")
def opened(demo):
    """The incomplete package extracted by 7-Zip, as at the receiving hospital or at home."""
    sevenzip = need_tool("7zz")
    dest = demo["root"] / "opened"
    r = subprocess.run([sevenzip, "x", f"-p{demo['password']}", f"-o{dest}", demo["incomplete"]],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    return dest


def test_files_extracted_by_7zip_are_dated_the_pack_day_not_1980(opened):
    for path in (opened / "INDEX.HTM", opened / "DICOMDIR", *opened.glob("IHE_XDM/SUBSET01/*.PDF")):
        stamp = dt.datetime.fromtimestamp(path.stat().st_mtime)
        assert abs(dt.datetime.now() - stamp) < dt.timedelta(hours=1), (path, stamp)


def test_package_documents_carry_the_workspace_ids(demo, opened):
    ws_ids = sorted(p.stem.upper() for p in (demo["ws"] / "documents").glob("DOC*.pdf"))
    names = sorted(p.stem for p in (opened / "IHE_XDM" / "SUBSET01").glob("*.PDF"))
    assert names == ws_ids == ["DOC0002", "DOC0003", "DOC0004", "DOC0005", "DOC0006", "DOC0007"]  # DOC0001 removed


def test_index_lists_the_findings_for_the_recipient_in_chromium(opened, tmp_path):
    chromium = need_tool("chromium")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--user-data-dir=" + str(tmp_path / "profile")]
    url = (opened / "INDEX.HTM").as_uri()
    dom = subprocess.run([chromium, *flags, "--dump-dom", url], capture_output=True, text=True, timeout=120).stdout
    text = _flat(re.sub(r"<[^>]+>", " ", dom))
    assert "Absent du dossier : Fiche RCP." in text and REASON in text
    assert "dossierkit add" not in dom and "dossier.toml" not in dom  # nothing addressed to the sender
    # every finding listed (FR then EN), folded, after the documents and images
    assert "L'expéditeur n'est pas indiqué dans le dossier." in text
    assert text.index("L'expéditeur n'est pas indiqué") < text.index("The dossier does not name its sender.")
    assert dom.index("<details>") > dom.index("DOC0007.PDF") and "<details open" not in dom
    assert "Vous êtes le patient" in text
    shot = tmp_path / "index.png"
    subprocess.run([chromium, *flags, "--window-size=1200,1600", f"--screenshot={shot}", url], capture_output=True,
                   timeout=120)
    from PIL import Image

    image = Image.open(shot).convert("L")
    assert image.size == (1200, 1600) and len(image.getcolors(maxcolors=1 << 16) or []) > 20  # rendered, not blank


def test_index_and_readme_show_the_pack_time_in_local_time_zone_named(opened, tmp_path):
    """Issue #15 (25): "créé le / created" is read by people: local time, the
    zone named, FR then EN — the manifest keeps the UTC stamp."""
    manifest = json.loads((opened / "DOSSIER" / "MANIFEST.JSON").read_text(encoding="utf-8"))
    created = manifest["created"]
    assert created.endswith("Z")
    fr, en = localtime.local(created)  # the tests run in the zone the CLI ran in
    assert re.fullmatch(r"\d{1,2} \w+ 20\d\d à \d{1,2} h \d\d \(.+, UTC[+-]\d\d:\d\d\)", fr), fr
    index = _flat(re.sub(r"<[^>]+>", " ", (opened / "INDEX.HTM").read_text(encoding="utf-8")))
    assert f"créé le {fr} / created {en}" in index, index[:400]
    readme = (opened / "README.TXT").read_bytes().decode("utf-8")  # CRLF: Notepad
    assert f"Créé le {fr}\r\nCreated {en}\r\n" in readme
    for text in (index, readme):
        assert created not in text and "(UTC)" not in text


@pytest.mark.parametrize("tz, expected", [("America/Cayenne", "America/Cayenne"), (":Europe/Paris", "Europe/Paris"),
                                          ("Etc/UTC", "Europe/Paris"), ("UTC", "Europe/Paris"), ("", None)])
def test_local_time_uses_the_machines_named_zone_else_paris(monkeypatch, tz, expected):
    monkeypatch.delenv(localtime.ENV_VAR, raising=False)
    monkeypatch.setenv("TZ", tz)
    if expected is None:  # no $TZ: /etc/localtime names the zone, unless it is UTC
        expected = localtime.machine_zone_name() or "Europe/Paris"
    assert localtime.zone()[0] == expected
    fr, en = localtime.local("2026-07-14T10:30:00Z")
    assert fr.startswith("14 juillet 2026 à ") and en.startswith("14 July 2026, ")
    if expected == "Europe/Paris":
        assert fr == "14 juillet 2026 à 12 h 30 (heure de Paris, UTC+02:00)"
        assert en == "14 July 2026, 12:30 (Paris time, UTC+02:00)"
    monkeypatch.setenv(localtime.ENV_VAR, "Indian/Reunion")  # the establishment's choice wins
    assert localtime.local("2026-07-14T10:30:00Z")[0] == "14 juillet 2026 à 14 h 30 (Indian/Reunion, UTC+04:00)"
    # a terminal line: compact, the offset stated
    assert localtime.on_screen("2026-07-14T10:30:07Z") == "2026-07-14 14:30 UTC+04:00"
    assert localtime.on_screen("2026-07-14T10:30:07Z", seconds=True) == "2026-07-14 14:30:07 UTC+04:00"
    assert localtime.on_screen("not a time") == "not a time"


def test_lisezmoi_beside_the_package_speaks_to_the_patient_first(demo):
    text = (demo["incomplete"].parent / "LISEZMOI-README.TXT").read_text(encoding="utf-8")
    patient = text[:text.index("POUR L'ÉQUIPE QUI REÇOIT")]
    assert patient.index("VOUS ÊTES LE PATIENT") < patient.index("IF YOU ARE THE PATIENT")
    for needed in ("7-Zip", "Keka", "Linux", "CRC SHA > SHA-256", "récépissé"):
        assert needed in patient
    assert "dossierkit" not in patient.replace("dossierkit — LISEZ-MOI", "")  # no command for the patient
    assert "certutil -hashfile" in text and "Get-FileHash" in text  # for whoever helps, further down
