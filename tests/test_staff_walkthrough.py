"""Issue #15, hospital staff: what a secretary met following README and the
staff guide, each point through the real CLI (a subprocess; a pseudo-terminal
where what matters is what the terminal shows: 80 columns, prompts, Ctrl-C)."""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from pathlib import Path

import pytest

from dossierkit import localtime
from dossierkit.check import run_checks
from dossierkit.gather.documents import add_documents
from dossierkit.gather.doctext import guess_kind, guess_title
from dossierkit.workspace import Workspace, init_workspace, read_toml_file
from tests.conftest import REPO, run_cli
from tests.docsamples import BROKEN, SAMPLES, make_pdf
from tests.images_fixtures import SAMPLE_PATIENT_DICOM, make_dicom
from tests.ptyrun import run_pty
from tests.tmpfs import mounted_tmpfs

DOCS = sorted((SAMPLES / "documents").glob("*.pdf"))
KINDS = {e["file"].split("/")[-1]: e["kind"] for e in read_toml_file(SAMPLES / "documents.toml")["document"]}


def sample_ws(root: Path, **patient) -> Workspace:
    data = read_toml_file(SAMPLES / "dossier.toml")
    data["patient"] = {**data["patient"], **patient}
    return init_workspace(root, data)


def keys(tmp_path: Path) -> dict:
    home = tmp_path / "home"
    r = run_cli("keys", "generate", env={"DOSSIERKIT_HOME": str(home)})
    assert r.returncode == 0, r.stderr
    return {"DOSSIERKIT_HOME": str(home)}


def full_ws(tmp_path: Path) -> Workspace:
    """The sample dossier with its seven documents and its images: complete."""
    ws = sample_ws(tmp_path / "ws")
    for doc in DOCS:
        add_documents(ws, [doc], kind=KINDS[doc.name])
    r = run_cli("import-images", ws.root, SAMPLES / "images")
    assert r.returncode == 0, r.stderr
    return ws


# ---------------------------------------------------------------- 1. README


def test_1_readme_says_how_to_run_the_command_after_make_demo():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    quick = readme[readme.index("## Quick start"):readme.index("## A dossier by hand")]
    assert ".venv/bin/dossierkit" in quick and "source .venv/bin/activate" in quick
    assert (REPO / ".venv/bin/dossierkit").exists() or not (REPO / ".venv").exists()


# ---------------------------------------------------------------- 2. the user's own paths


def test_2_own_paths_shown_on_own_terminal_masked_in_logs(tmp_path):
    ws = sample_ws(tmp_path / "Dossiers patients" / "Mme Lefèvre Hélène – second avis")
    missing = tmp_path / "PPS Lefèvre.pdf"
    shown = run_pty("add", ws.root, missing, "--kind", "treatment-plan")
    assert shown.returncode == 2
    assert "PPS Lefèvre.pdf" in shown.output and "[PHI]" not in shown.output
    created = run_pty("init", tmp_path / "Mme Lefèvre 2", "--from", SAMPLES / "dossier.toml")
    assert created.returncode == 0 and "Mme Lefèvre 2" in created.output.replace("\n", "")
    logged = run_cli("add", ws.root, missing, "--kind", "treatment-plan")  # stderr to a pipe: a log
    assert logged.returncode == 2 and "PPS [PHI].pdf" in logged.stderr and "Lefèvre" not in logged.stderr
    traced = run_pty("--debug", "add", ws.root, missing, "--kind", "treatment-plan")
    assert "Traceback" in traced.output and "[PHI]" in traced.output.split("Traceback", 1)[1].rsplit("error:", 1)[0]


# ---------------------------------------------------------------- 3, 4. add: all or nothing, RCP title


def test_3_a_refused_batch_says_which_file_why_and_that_nothing_was_added(tmp_path):
    ws = sample_ws(tmp_path / "ws")
    r = run_cli("add", ws.root, *DOCS[:3], BROKEN / "scanned.pdf", BROKEN / "empty.pdf")
    assert r.returncode == 2
    assert "nothing was added: 2 of 5 files cannot be added" in r.stderr
    assert "scanned.pdf: cannot tell which kind of document this is: it is a scan" in r.stderr
    assert "--kind KIND" in r.stderr and "--date YYYY-MM-DD" in r.stderr
    assert "empty.pdf: is empty" in r.stderr
    assert Workspace(ws.root).documents() == []
    # the way through: the scan on its own with its kind, date and title
    r = run_cli("add", ws.root, BROKEN / "scanned.pdf", "--kind", "consultation", "--date", "2026-10-02",
                "--title", "Consultation d'annonce")
    assert r.returncode == 0, r.stderr
    assert "added DOC0001: consultation — Consultation d'annonce — 2026-10-02" in r.stdout


def test_3_4_rcp_heading_wrapped_by_the_layout_is_recognised_and_its_title_whole(tmp_path):
    pdf = tmp_path / "rcp.pdf"
    from fpdf import FPDF

    doc = FPDF()
    doc.core_fonts_encoding = "cp1252"
    doc.add_page()
    doc.set_font("Helvetica", size=22)
    doc.multi_cell(0, 9, "Fiche de Réunion de Concertation Pluridisciplinaire (RCP) — Cancer du sein gauche",
                   new_x="LMARGIN", new_y="NEXT")
    doc.set_font("Helvetica", size=10)
    for line in ["Patiente : Mme LEFÈVRE Hélène", "Née le : 14/03/1958", "Date de la réunion : 12/10/2026"]:
        doc.multi_cell(0, 5, line, new_x="LMARGIN", new_y="NEXT")
    doc.output(str(pdf))
    ws = sample_ws(tmp_path / "ws")
    r = run_cli("add", ws.root, pdf, "--json")
    assert r.returncode == 0, r.stderr
    (rec,) = json.loads(r.stdout)["added"]
    assert rec["kind"] == "rcp"
    assert rec["title"] == "Fiche de Réunion de Concertation Pluridisciplinaire (RCP) — Cancer du sein gauche"
    # the same heading cut in the middle of its words by the layout
    text = "Fiche de Réunion de Concertation\nPluridisciplinaire (RCP)\nPatiente : Mme X\n"
    assert guess_kind(text) == "rcp"
    assert guess_title("Fiche RCP du sein —\nCancer du sein gauche\nPatiente : X") == \
        "Fiche RCP du sein — Cancer du sein gauche"


# ---------------------------------------------------------------- 5. a scan's date and title


def test_5_a_scan_takes_no_creation_date_and_says_how_to_give_date_and_title(tmp_path):
    ws = sample_ws(tmp_path / "ws")
    r = run_cli("add", ws.root, BROKEN / "scanned.pdf", "--kind", "operative-report")
    assert r.returncode == 0, r.stderr
    assert "added DOC0001: operative-report — Compte rendu de consultation (numérisé) — undated" in r.stdout
    assert "DOC0001 (scanned.pdf) is a scan: no date could be read" in r.stderr
    assert f"dossierkit set-document {ws.root} DOC0001 --date YYYY-MM-DD" in r.stderr.replace("\n", " ")
    r = run_cli("set-document", ws.root, "DOC0001", "--date", "2026-10-02", "--title", "CR opératoire", "--json")
    assert r.returncode == 0, r.stderr
    rec = Workspace(ws.root).documents()[0]
    assert (rec.date, rec.title, rec.date_source) == ("2026-10-02", "CR opératoire", "user")
    r = run_cli("set-document", ws.root, "DOC0001", "--date", "2026-02-30")
    assert r.returncode == 2 and "no day of the calendar" in r.stderr


# ---------------------------------------------------------------- 6. another patient's report at add


def test_6_another_patients_report_is_flagged_at_add(tmp_path):
    ws = sample_ws(tmp_path / "ws")
    r = run_cli("add", ws.root, BROKEN / "other-patient.pdf", "--kind", "pathology")
    assert r.returncode == 0, r.stderr
    assert "warning: DOC0001 (other-patient.pdf) names another patient" in r.stderr
    assert f"dossierkit remove {ws.root} DOC0001" in r.stderr.replace("\n", " ")
    r = run_cli("add", ws.root, DOCS[0], "--kind", "rcp")
    assert r.returncode == 0 and "another patient" not in r.stderr


# ---------------------------------------------------------------- 7. 80 columns


def _words_whole(output: str, expected_text: str) -> list[str]:
    """Tokens of *output* that are not whole words of *expected_text*."""
    words = set(expected_text.split())
    return [t for t in output.split() if t not in words]


def test_7_check_and_journal_show_break_no_word_at_80_columns(tmp_path):
    ws = sample_ws(tmp_path / "ws")
    add_documents(ws, [DOCS[0]], kind="rcp")
    add_documents(ws, [BROKEN / "other-patient.pdf"], kind="pathology")
    add_documents(ws, [BROKEN / "scanned.pdf"], kind="consultation")
    data = json.loads(run_cli("check", ws.root, "--json").stdout)
    shown = run_pty("check", ws.root, columns=80)
    assert shown.returncode == 1
    assert max(len(line) for line in shown.output.splitlines()) <= 80
    assert "DOC-IDENTITY-MISMATCH" in shown.output.split()
    expected = " ".join(f"{f['level']} {f['code']} {f['message']} file: {f.get('file') or ''}"
                        for f in data["findings"])
    expected += f" dossierkit check — {data['profile']} {data['status']}: {data['counts']['error']} error(s), " \
                f"{data['counts']['warning']} warning(s), {data['counts']['info']} info"
    assert _words_whole(shown.output, expected) == []
    env = keys(tmp_path)
    packed = run_cli("pack", ws.root, "-o", tmp_path / "p.zip", "--generate-password", "--password-out",
                     tmp_path / "pw.txt", "--allow-incomplete", "--reason", "urgent", env=env)
    assert packed.returncode == 0, packed.stderr
    journal = json.loads(run_cli("journal", "show", ws.root, "--json").stdout)
    shown = run_pty("journal", "show", ws.root, columns=80, env=env)
    assert shown.returncode == 0 and max(len(line) for line in shown.output.splitlines()) <= 80
    for entry in journal["entries"]:  # in local time, whole, on one line
        stamp = localtime.on_screen(entry["time"], seconds=True)
        assert entry["time"] not in shown.output  # not the journal's raw UTC stamp
        assert any(stamp in line for line in shown.output.splitlines()), shown.output


_BAR = re.compile(r"━|-:--:--|\d/s\b|/s \d:\d\d:\d\d")  # progress-bar frames (\r-joined by the pty capture)


def _too_wide(output: str, allowed: tuple[str, ...] = ()) -> list[str]:
    """Lines of *output* wider than 80 columns (a terminal would cut them mid-word), but
    progress-bar frames, the lines starting as *allowed* (a command to copy whole) and lines
    holding a word no wrapping can fit (a path of pytest's long temporary folders)."""
    return [line for line in output.splitlines() if len(line) > 80 and not _BAR.search(line)
            and not line.strip().startswith(allowed) and max(map(len, line.split())) <= 60]


def test_7_pack_receipt_verify_trust_unpack_ack_fit_80_columns(tmp_path):
    """The sender's and the receiver's package commands, on an 80-column terminal, typed as
    the guides do (short relative names): the fingerprints in two lines of 8 groups or
    wrapped between groups, a SHA-256 on a line of its own when it would not fit, never a
    line the terminal cuts mid-word. Only the `trust add` command offered to copy stays one
    line."""
    env = keys(tmp_path)
    full_ws(tmp_path)
    (tmp_path / "usb").mkdir()
    here = {"cwd": str(tmp_path)}
    shown = {}
    shown["pack"] = run_pty("pack", "ws", "-o", "usb/dossier.zip", "--generate-password", "--password-out", "pw.txt",
                            "--receipt", "receipts/", "--channel", "usb-patient", env=env, **here)
    shown["keys show"] = run_pty("keys", "show", env=env, **here)
    shown["receipt"] = run_pty("receipt", "usb/dossier.zip", "--channel", "hand", "-o", "rc/", "--password-file",
                               "pw.txt", "--workspace", "ws", env=env, **here)
    there = {"DOSSIERKIT_HOME": str(tmp_path / "there")}
    assert run_cli("keys", "generate", env=there).returncode == 0
    pw = ("--password-file", "pw.txt")
    shown["verify (new sender)"] = run_pty("verify", "usb/dossier.zip", *pw, env=there, **here)
    fingerprint = json.loads(run_cli("keys", "show", "--json", env=env).stdout)["signer_fingerprint"]
    shown["trust add"] = run_pty("trust", "add", fingerprint, "--name", "Centre Hospitalier Universitaire de Nantes",
                                 env=there, **here)
    shown["verify"] = run_pty("verify", "usb/dossier.zip", *pw, env=there, **here)
    shown["unpack"] = run_pty("unpack", "usb/dossier.zip", "dossier-mme-x", *pw, env=there, **here)
    shown["ack"] = run_pty("ack", "usb/dossier.zip", "-o", "acks/", *pw, env=there, **here)
    codes = {name: r.returncode for name, r in shown.items()}
    assert codes == {**{name: 0 for name in shown}, "verify (new sender)": 6}, codes
    for name, r in shown.items():
        assert _too_wide(r.output, ("If they match: dossierkit trust add",)) == [], (name, r.output)
    groups = " ".join(fingerprint[i:i + 4] for i in range(0, 64, 4))
    for name in ("pack", "keys show", "verify (new sender)"):  # two lines of 8 groups, as the receipt prints
        assert groups[:39] in shown[name].output and groups[40:] in shown[name].output, name
    assert "--workspace" not in shown["ack"].output  # an ack has no workspace to name


def test_19_the_import_progress_bar_fits_80_columns(tmp_path):
    """Its cells used to wrap at 80 columns: "… 17 files 192" then "files/s" alone on a line."""
    ws = sample_ws(tmp_path / "ws")
    r = run_pty("import-images", ws.root, SAMPLES / "images", columns=80)
    assert r.returncode == 0 and "Importing images" in r.output, r.output
    assert not [line for line in r.output.splitlines() if line.strip() in ("files/s", "/s", "files,")], r.output
    assert "Imported 14 image(s)" in r.output


# ---------------------------------------------------------------- 8. list


def test_8_list_names_documents_and_images_with_their_original_names(tmp_path):
    ws = sample_ws(tmp_path / "ws")
    add_documents(ws, DOCS[:2], kind="auto")
    assert run_cli("import-images", ws.root, SAMPLES / "images").returncode == 0
    r = run_cli("list", ws.root, "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert [(d["id"], d["original_name"]) for d in data["documents"]] == \
        [("DOC0001", DOCS[0].name), ("DOC0002", DOCS[1].name)]
    assert data["documents"][0]["kind"] == "rcp" and data["documents"][0]["date"]
    assert data["series"] and all(s["images"] > 0 and s["series_instance_uid"] for s in data["series"])
    shown = run_pty("list", ws.root, columns=80)
    assert "DOC0001" in shown.output and DOCS[0].name in shown.output and "Image series" in shown.output


# ---------------------------------------------------------------- 9. set, init --force, TOML typo


def test_9_set_changes_ids_people_and_restrictions_validated(tmp_path):
    ws = sample_ws(tmp_path / "ws")
    r = run_cli("set", ws.root, "--other-id", "CLINIQUE-77", "--sender", "Secrétariat B",
                "--remove-restriction", "no-copy-to-initial-physician", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["changed"] == ["patient.other_ids", "restrictions", "sender.name"]
    d = Workspace(ws.root).dossier
    assert d.patient.other_ids == ["CHU-00482913", "CLINIQUE-77"] and d.restrictions == []
    assert d.sender.name == "Secrétariat B" and d.sender.establishment == "CHU de Nantes"
    before = (ws.root / "dossier.toml").read_bytes()
    r = run_cli("set", ws.root, "--sex", "X")
    assert r.returncode == 2 and "patient.sex" in r.stderr
    assert (ws.root / "dossier.toml").read_bytes() == before  # nothing written


def test_9_init_on_an_existing_workspace_says_it_exists(tmp_path):
    ws = sample_ws(tmp_path / "ws")
    r = run_cli("init", ws.root)
    assert r.returncode == 5 and "a workspace already exists here" in r.stderr and "dossierkit set" in r.stderr
    r = run_cli("init", ws.root, "--force")
    assert r.returncode == 2 and "already exists here and --force needs a complete dossier" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_9_a_toml_typo_is_reported_as_dossier_toml(tmp_path):
    ws = sample_ws(tmp_path / "ws")
    path = ws.root / "dossier.toml"
    path.write_text(path.read_text(encoding="utf-8").replace('sex = "F"', 'sex = "F'), encoding="utf-8")
    r = run_cli("check", ws.root)
    assert r.returncode == 2
    assert "dossier.toml: not valid TOML" in r.stderr and "profile:" not in r.stderr


# ---------------------------------------------------------------- 10. a typo in dossier.toml


def test_10_every_file_agreeing_against_dossier_toml_blames_dossier_toml(tmp_path):
    ws = full_ws(tmp_path)
    assert run_checks(ws.root).complete
    r = run_cli("set", ws.root, "--birth-date", "1958-03-15")  # the one-digit typo
    assert r.returncode == 0, r.stderr
    report = run_checks(ws.root)
    codes = [f.code for f in report.findings]
    assert "DOSSIER-IDENTITY-SUSPECT" in codes
    assert "DOC-IDENTITY-MISMATCH" not in codes and "IMG-PATIENT-MISMATCH" not in codes
    (finding,) = [f for f in report.findings if f.code == "DOSSIER-IDENTITY-SUSPECT"]
    assert "dossier.toml is probably wrong" in finding.message and "birth date" in finding.message
    assert "take it out" not in " ".join(f.message for f in report.findings)
    assert "--birth-date" in finding.message
    run_cli("set", ws.root, "--birth-date", "1958-03-14")
    assert run_checks(ws.root).complete


def test_10_one_other_patients_report_is_still_that_reports_fault(tmp_path):
    ws = full_ws(tmp_path)
    add_documents(ws, [BROKEN / "other-patient.pdf"], kind="consultation")
    codes = [f.code for f in run_checks(ws.root).findings]
    assert "DOC-IDENTITY-MISMATCH" in codes and "DOSSIER-IDENTITY-SUSPECT" not in codes


# ---------------------------------------------------------------- 11. an impossible date


def test_11_a_well_formed_impossible_date_says_so(tmp_path):
    r = run_cli("init", tmp_path / "ws", "--from", SAMPLES / "dossier.toml", "--birth-date", "1962-02-30")
    assert r.returncode == 2
    assert "'1962-02-30' is no day of the calendar" in r.stderr and "write it as YYYY-MM-DD" not in r.stderr


# ---------------------------------------------------------------- 12. --password-out only with a package


def _pack(ws: Path, out: Path, pw: Path, env: dict, *extra: str):
    return run_cli("pack", ws, "-o", out, "--generate-password", "--password-out", pw, *extra, env=env)


def test_12_no_passphrase_file_when_pack_is_refused_or_the_target_exists(tmp_path):
    env = keys(tmp_path)
    ws = sample_ws(tmp_path / "ws")
    out, pw = tmp_path / "out" / "dossier.zip", tmp_path / "secret" / "pw.txt"
    out.parent.mkdir()
    pw.parent.mkdir()
    r = _pack(ws.root, out, pw, env)  # incomplete: refused
    assert r.returncode == 1 and not pw.exists() and not out.exists()
    out.write_bytes(b"an old package")
    r = _pack(ws.root, out, pw, env, "--allow-incomplete", "--reason", "urgent")
    assert r.returncode == 5 and "already exists" in r.stderr
    assert not pw.exists() and out.read_bytes() == b"an old package"
    out.unlink()
    r = _pack(ws.root, out, pw, env, "--allow-incomplete", "--reason", "urgent")
    assert r.returncode == 0, r.stderr
    assert pw.exists() and out.exists()
    r2 = _pack(ws.root, tmp_path / "out" / "again.zip", pw, env, "--allow-incomplete", "--reason", "urgent")
    assert r2.returncode == 5 and "pw.txt: already exists" in r2.stderr
    assert not (tmp_path / "out" / "again.zip").exists()


@pytest.mark.parametrize("taken", ["a file where the folder goes", "the receipt's JSON", "the receipt's PDF"])
def test_12_a_receipt_that_cannot_be_written_is_refused_before_the_pack(tmp_path, taken):
    """`pack --receipt X` where X cannot take the receipt: one line, exit 5,
    and nothing new — no package, LISEZMOI, passphrase file or journal
    entry (the receipt's place is checked before anything is written)."""
    env = keys(tmp_path)
    ws = full_ws(tmp_path)
    usb, pw = tmp_path / "usb", tmp_path / "pw.txt"
    usb.mkdir()
    if taken == "a file where the folder goes":
        target = tmp_path / "receipts"
        target.write_bytes(b"not a folder")
    else:
        target = tmp_path / "r" / "receipt.json"
        target.parent.mkdir()
        (target if taken == "the receipt's JSON" else target.with_suffix(".pdf")).write_bytes(b"an old one")
    journal_before = _journal_lines(ws.root)
    r = _pack(ws.root, usb / "dossier.zip", pw, env, "--receipt", target, "--channel", "usb-patient")
    assert r.returncode == 5, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and ("already exists" in r.stderr or "not a folder" in r.stderr)
    assert list(usb.iterdir()) == [] and not pw.exists()
    assert _journal_lines(ws.root) == journal_before


def test_an_ack_or_receipt_whose_file_exists_is_refused_before_the_journal(tmp_path):
    """`ack PKG -o taken.json` and `receipt PKG -o taken.json`: refused, and
    no `ack` or `receipt` entry is journaled for a document never written."""
    env = keys(tmp_path)
    ws = full_ws(tmp_path)
    pkg, pw = tmp_path / "dossier.zip", tmp_path / "pw.txt"
    assert _pack(ws.root, pkg, pw, env).returncode == 0
    home_journal = Path(env["DOSSIERKIT_HOME"]) / "journal.jsonl"
    taken = tmp_path / "taken.json"
    taken.write_bytes(b"{}")
    before_ws, before_home = _journal_lines(ws.root), (home_journal.read_bytes() if home_journal.exists() else b"")
    a = run_cli("ack", pkg, "--password-file", pw, "-o", taken, env=env)
    assert a.returncode == 5 and "already exists" in a.stderr, a.stderr
    r = run_cli("receipt", pkg, "--password-file", pw, "--channel", "hand", "-o", taken, env=env)
    assert r.returncode == 5 and "already exists" in r.stderr, r.stderr
    assert taken.read_bytes() == b"{}" and not taken.with_suffix(".pdf").exists()
    assert _journal_lines(ws.root) == before_ws
    assert (home_journal.read_bytes() if home_journal.exists() else b"") == before_home


def test_12_15_disk_full_leaves_neither_package_nor_passphrase(tmp_path):
    env = keys(tmp_path)
    ws = full_ws(tmp_path)
    make_dicom(tmp_path / "fat" / "1.dcm", uid_seed="fat", private_bytes=3_000_000)
    assert run_cli("import-images", ws.root, tmp_path / "fat").returncode == 0
    pw = tmp_path / "pw.txt"
    with mounted_tmpfs(tmp_path / "usb", "size=2m") as usb:
        r = _pack(ws.root, usb / "dossier.zip", pw, env)
        assert r.returncode == 5 and "no space left" in r.stderr
        assert list(usb.iterdir()) == [] and not pw.exists()


def test_12_warns_when_the_passphrase_sits_beside_the_package(tmp_path):
    env = keys(tmp_path)
    ws = full_ws(tmp_path)
    with mounted_tmpfs(tmp_path / "usb", "size=20m") as usb:
        r = _pack(ws.root, usb / "dossier.zip", usb / "pw.txt", env)
        assert r.returncode == 0, r.stderr
        assert "is on the same disk or key as the package" in r.stderr
        r = _pack(ws.root, usb / "other.zip", tmp_path / "pw.txt", env)  # the passphrase stays at the hospital
        assert r.returncode == 0 and "same disk" not in r.stderr


def test_12_15_ctrl_c_during_pack_one_line_130_nothing_left(tmp_path):
    env = keys(tmp_path)
    ws = full_ws(tmp_path)
    for i in range(4):
        make_dicom(tmp_path / "fat" / f"{i}.dcm", uid_seed=f"fat{i}", private_bytes=20_000_000)
    assert run_cli("import-images", ws.root, tmp_path / "fat").returncode == 0
    out_dir = tmp_path / "usb"
    out_dir.mkdir()
    r = run_pty("pack", ws.root, "-o", out_dir / "dossier.zip", "--generate-password", "--password-out",
                tmp_path / "pw.txt", env=env, interrupt_after="packing")
    assert r.returncode == 130, r.output
    lines = [line for line in r.output.splitlines() if "dossierkit:" in line]
    assert len(lines) == 1 and "interrupted (Ctrl-C)" in lines[0]
    assert list(out_dir.iterdir()) == [] and not (tmp_path / "pw.txt").exists()


# A pack paused at one point of its end (the function named is wrapped: it
# says so on stderr, then sleeps) so that the terminal's Ctrl-C lands there.
_PAUSED_PACK = """
import sys, time
import dossierkit.package.pack, dossierkit.trace.flows, dossierkit.trace.journal
point, argv = sys.argv[1], sys.argv[2:]
module, name = {"read-back": (dossierkit.package.pack, "read_back"),
                "passphrase": (dossierkit.trace.flows, "write_password_file"),
                "journal": (dossierkit.trace.journal, "append"),
                "receipt": (dossierkit.trace.flows, "issue_receipt")}[point]
real, paused = getattr(module, name), []
def pause(*args, **kwargs):
    if not paused:
        paused.append(1)
        print("DK-TEST: paused at", point, file=sys.stderr, flush=True)
        time.sleep(4)
    return real(*args, **kwargs)
setattr(module, name, pause)
from dossierkit.cli import main
main(argv)
"""


def _journal_lines(ws: Path) -> list[str]:
    path = ws / "journal.jsonl"
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


@pytest.mark.parametrize("point", ["read-back", "passphrase", "journal", "receipt"])
def test_12_15_ctrl_c_at_the_end_of_pack_leaves_all_or_nothing(tmp_path, point):
    """Ctrl-C typed on the terminal while pack is at *point*: before the
    commit (the package being read back) nothing new is left — package,
    passphrase file, LISEZMOI, receipt, journal entry; after it (passphrase
    file, journal entry, receipt) the pack finishes whole and says the
    interrupt came too late: never a package and passphrase without their
    journal entry."""
    env = keys(tmp_path)
    ws = full_ws(tmp_path)
    usb, pw, receipts = tmp_path / "usb", tmp_path / "pw.txt", tmp_path / "receipts"
    usb.mkdir()
    journal_before = _journal_lines(ws.root)
    r = run_pty(env=env, cwd=str(REPO), interrupt_after=f"DK-TEST: paused at {point}", timeout=240,
                command=[sys.executable, "-c", _PAUSED_PACK, point, "pack", str(ws.root), "-o", str(usb / "dossier.zip"),
                         "--generate-password", "--password-out", str(pw), "--receipt", str(receipts),
                         "--channel", "usb-patient"])
    assert f"DK-TEST: paused at {point}" in r.output
    lines = [line for line in r.output.splitlines() if line.startswith("dossierkit:")]
    if point == "read-back":
        assert r.returncode == 130, r.output
        assert len(lines) == 1 and "interrupted (Ctrl-C)" in lines[0], r.output
        assert list(usb.iterdir()) == [] and not pw.exists()
        assert not receipts.exists() or list(receipts.iterdir()) == []
        assert _journal_lines(ws.root) == journal_before
        return
    assert r.returncode == 0, r.output
    assert "interrupted" not in r.output
    said = " ".join(r.output.split())  # the note is wrapped at 80 columns
    assert "Ctrl-C came once the package was written: the pack was finished rather than left half-done" in said
    assert sorted(p.name for p in usb.iterdir()) == ["LISEZMOI-README.TXT", "dossier.zip"]
    assert sorted(p.suffix for p in receipts.iterdir()) == [".json", ".pdf"]
    events = [json.loads(line)["event"] for line in _journal_lines(ws.root)[len(journal_before):]]
    assert events == ["pack", "receipt"]
    assert run_cli("journal", "verify", ws.root, "--receipt", next(receipts.glob("*.json"))).returncode == 0
    v = run_cli("verify", usb / "dossier.zip", "--password-file", pw, env=env)
    assert v.returncode == 0, v.stderr


# ---------------------------------------------------------------- 13. pack -o a folder


def test_13_pack_to_a_folder_says_it_is_a_folder_first(tmp_path):
    env = keys(tmp_path)
    ws = full_ws(tmp_path)
    usb = tmp_path / "usb"
    usb.mkdir()
    r = run_cli("pack", ws.root, "-o", usb, "--generate-password", "--password-out", tmp_path / "pw", env=env)
    assert r.returncode == 5 and "is a folder" in r.stderr and "--force" not in r.stderr
    assert str(usb / "dossier.zip") in r.stderr


@pytest.mark.parametrize("name", ["Lefevre_Helene.zip", "dossier 14031958.zip", "RCP-2580375123456.zip"])
def test_13_a_package_named_after_the_patient_is_refused(tmp_path, name):
    """A package's file name travels unencrypted (the key, the mail, the
    receipt and the acknowledgement copy it): one holding the patient's
    name, birth date or INS is refused before anything is written."""
    env = keys(tmp_path)
    ws = sample_ws(tmp_path / "ws")
    usb, pw = tmp_path / "usb", tmp_path / "pw.txt"
    usb.mkdir()
    r = _pack(ws.root, usb / name, pw, env, "--allow-incomplete", "--reason", "urgent")
    assert r.returncode == 2, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "holds the patient's identity" in r.stderr
    assert "name it e.g. dossier.zip" in r.stderr
    assert list(usb.iterdir()) == [] and not pw.exists()


# ---------------------------------------------------------------- 15. full disk at import


def test_15_disk_full_at_import_counts_and_names_no_temp_path(tmp_path):
    src = tmp_path / "cd"
    for i in range(18):
        make_dicom(src / f"{i:02d}.dcm", uid_seed=f"n{i}", private_bytes=200_000)
    with mounted_tmpfs(tmp_path / "small", "size=2m") as small:
        ws = sample_ws(small / "ws")
        r = run_cli("import-images", ws.root, src)
        assert r.returncode == 5, r.stderr
        line = r.stderr.strip()
        assert ".dk-tmp" not in line and "no space left" in line
        m = re.search(r"(\d+) of 18 file\(s\) imported", line)
        assert m and 0 < int(m.group(1)) < 18
        assert len(Workspace(ws.root).images()) == int(m.group(1))


# ---------------------------------------------------------------- 19. import with many problems


def test_19_import_with_many_problems_stays_short_and_counts_patients_as_check(tmp_path):
    src = tmp_path / "cd"
    for i in range(30):
        (src / "bad").mkdir(parents=True, exist_ok=True)
        (src / "bad" / f"{i:02d}.dcm").write_bytes(b"\0" * 128 + b"DICM" + b"\x02\x00\x10\x00garbage")
    for i, pn in enumerate(["LEFEVRE^HELENE^MARIE", "LEFÈVRE^HÉLÈNE"]):
        make_dicom(src / f"ok{i}.dcm", uid_seed=f"ok{i}", patient={**SAMPLE_PATIENT_DICOM, "PatientName": pn})
    make_dicom(src / "other.dcm", uid_seed="other", patient={**SAMPLE_PATIENT_DICOM, "PatientID": "CLINIQUE-77"})
    ws = sample_ws(tmp_path / "ws")
    shown = run_pty("import-images", ws.root, src, columns=80)
    assert "Problems (30): corrupt 30" in shown.output
    assert "… and 20 more" in shown.output and str(src) not in shown.output.split("Problems", 1)[1]
    assert len(shown.output.splitlines()) < 60
    assert "Workspace images: 1 patient," in shown.output
    assert not any(f.code == "IMG-MULTIPLE-PATIENTS" for f in run_checks(ws.root).findings)


# ---------------------------------------------------------------- 20. help, bare command, streams


def test_20_help_without_type_noise_and_a_bare_command_prints_usage():
    for cmd in (["--help"], ["add", "--help"], ["init", "--help"], ["pack", "--help"], ["journal", "show", "--help"]):
        r = run_cli(*cmd)
        assert r.returncode == 0, (cmd, r.stderr)
        assert "<bool>" not in r.stdout and "{" not in r.stdout and "<path>" not in r.stdout, (cmd, r.stdout)
    assert "Usage: dossierkit add [OPTIONS] WS FILES..." in run_cli("add", "--help").stdout
    bare = run_cli()
    assert "Usage: dossierkit" in bare.stdout + bare.stderr and "error" not in bare.stderr
    assert bare.returncode == 2


def test_20_reports_on_stdout_problems_on_stderr(tmp_path):
    r = run_cli("init", tmp_path / "ws", "--from", SAMPLES / "dossier.toml")
    assert "workspace created" in r.stdout and r.stderr == ""
    r = run_cli("add", tmp_path / "ws", DOCS[0], "--kind", "rcp")
    assert "added DOC0001" in r.stdout and r.stderr == ""
    r = run_cli("remove", tmp_path / "ws", "DOC0001")
    assert "removed DOC0001" in r.stdout and r.stderr == ""
    r = run_cli("check", tmp_path / "ws")
    assert "RCP-MISSING" in r.stdout and r.stderr == ""


@pytest.mark.parametrize("forced", [{"FORCE_COLOR": "1"}, {"FORCE_COLOR": "0"}, {"TTY_COMPATIBLE": "1"},
                                    {"FORCE_COLOR": "1", "NO_COLOR": "1"}])
def test_13_colours_forced_in_a_log_do_not_unmask_the_patient(tmp_path, forced):
    """FORCE_COLOR / TTY_COMPATIBLE make rich call a redirected stderr a
    terminal: the patient's name must stay masked in that file all the same
    (it showed whole), and no progress frame may land in it."""
    env = {**keys(tmp_path), **forced}
    ws = sample_ws(tmp_path / "ws")
    usb, pw = tmp_path / "usb", tmp_path / "pw.txt"
    usb.mkdir()
    r = _pack(ws.root, usb / "Lefevre_Helene.zip", pw, env, "--allow-incomplete", "--reason", "urgent")
    assert r.returncode == 2 and "holds the patient's identity" in r.stderr, r.stderr
    assert "Lefevre" not in r.stderr and "Helene" not in r.stderr and "[PHI]" in r.stderr, r.stderr
    r = _pack(ws.root, usb / "dossier.zip", pw, env, "--allow-incomplete", "--reason", "urgent")
    assert r.returncode == 0, r.stderr
    assert "━" not in r.stderr and "\r" not in r.stderr, r.stderr


@pytest.mark.parametrize("cmd", [["verify"], ["unpack"], ["deliver"], ["ack"], ["receipt"], ["pack"],
                                 ["keys", "generate"]])
def test_20_help_at_80_columns_cuts_no_word(cmd):
    """A default path must be readable in --help at 80 columns: rich cut
    `$DOSSIERKIT_HOME/trusted-senders.toml` to `…/trusted-senders.t…`."""
    shown = run_pty(*cmd, "--help", columns=80)
    assert shown.returncode == 0, shown.output
    cut = [line for line in shown.output.splitlines() if re.search(r"[\w./\-]…\s*│\s*$", line)]
    assert cut == [], cut  # a word cut at the cell's edge (the help's own "age1…" stays)
