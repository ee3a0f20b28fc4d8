"""The real command line (subprocess `python -m dossierkit`): help, init, add, check, demo."""

from __future__ import annotations

import json

import pytest
from docsamples import BROKEN, SAMPLES, build_sample_workspace, copy_workspace, sample_entries

from tests.conftest import run_cli


@pytest.fixture(scope="module")
def sample_ws(tmp_path_factory):
    return build_sample_workspace(tmp_path_factory.mktemp("cli") / "ws")


@pytest.fixture
def ws(sample_ws, tmp_path):
    return copy_workspace(sample_ws, tmp_path / "ws")


def test_help_lists_commands_with_one_line_each():
    r = run_cli("--help")
    assert r.returncode == 0
    for cmd in ("init", "add", "check", "demo"):
        line = next((x for x in r.stdout.splitlines() if x.strip("│ ").startswith(cmd + " ")), None)
        assert line is not None and len(line.strip("│ ").split(None, 1)) == 2, cmd


def test_init_then_add_with_auto_kind_then_check_complete(tmp_path):
    d = tmp_path / "ws"
    r = run_cli("init", d, "--from", SAMPLES / "dossier.toml", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["workspace"] == str(d)
    files = [SAMPLES / e["file"] for e in sample_entries()]
    r = run_cli("add", d, *files, "--json")
    assert r.returncode == 0, r.stderr
    added = json.loads(r.stdout)["added"]
    assert [a["kind"] for a in added] == [e["kind"] for e in sample_entries()]
    assert [a["path"] for a in added] == [f"documents/DOC{i:04d}.pdf" for i in range(1, 8)]
    if (SAMPLES / "images").is_dir():  # the imaging report needs its images once they are bundled
        r = run_cli("import-images", d, SAMPLES / "images", "--json")
        assert r.returncode == 0, r.stderr
    r = run_cli("check", d, "--json")
    assert r.returncode == 0, r.stdout
    report = json.loads(r.stdout)
    assert report["status"] == "complete" and report["counts"]["error"] == 0


def test_check_sample_workspace_human_output(ws):
    r = run_cli("check", ws.root)
    assert r.returncode == 0 and "complete" in r.stdout


def test_check_without_rcp_exits_1_naming_the_fiche_rcp(ws):
    ws.save_documents([d for d in ws.documents() if d.kind != "rcp"])
    r = run_cli("check", ws.root, "--json")
    assert r.returncode == 1
    (err,) = [f for f in json.loads(r.stdout)["findings"] if f["level"] == "error" and f["code"] == "RCP-MISSING"]
    assert "Fiche RCP" in err["message"]


@pytest.mark.parametrize("name, fragment", [("password-protected.pdf", "password-protected"),
                                            ("empty.pdf", "empty"), ("truncated.pdf", "truncated")])
def test_add_bad_pdf_is_one_line_exit_2(ws, name, fragment):
    r = run_cli("add", ws.root, BROKEN / name, "--kind", "other")
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0] and name in lines[0], r.stderr
    assert "Traceback" not in r.stderr and r.stdout == ""
    assert len(ws.documents()) == 7


def test_add_twice_and_auto_kind_failure_are_exit_2(ws):
    r = run_cli("add", ws.root, SAMPLES / "documents/01-fiche-rcp.pdf")
    assert r.returncode == 2 and "already in the workspace as DOC0001" in r.stderr
    r = run_cli("add", ws.root, BROKEN / "scanned.pdf")
    assert r.returncode == 2 and "--kind" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_document_of_another_patient_fails_check(ws):
    r = run_cli("add", ws.root, BROKEN / "other-patient.pdf", "--kind", "imaging-report")
    assert r.returncode == 0, r.stderr
    r = run_cli("check", ws.root, "--json")
    assert r.returncode == 1
    (err,) = [f for f in json.loads(r.stdout)["findings"] if f["code"] == "DOC-IDENTITY-MISMATCH"]
    assert err["level"] == "error" and err["file"] == "documents/DOC0008.pdf"


def test_check_on_a_non_workspace_is_exit_2(tmp_path):
    r = run_cli("check", tmp_path)
    assert r.returncode == 2 and "not a dossier workspace" in r.stderr


def test_demo_builds_and_checks_the_sample(tmp_path):
    d = tmp_path / "demo"
    r = run_cli("demo", d, "--json")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["exit_code"] == 0 and summary["check"]["status"] == "complete"
    assert len(summary["documents"]) == 7
    # The way back (issue #17): both replies, the restricted one without the initial physician.
    replies = summary["replies"]
    assert [p["addressees"] for p in replies["without"]["packages"]] == [["initial-physician"], ["treating-gp"],
                                                                          ["patient"]]
    assert [p["addressees"] for p in replies["with"]["packages"]] == [["treating-gp"], ["patient"]]
    assert replies["with"]["withheld"] == ["no-copy-to-initial-physician"] and replies["without"]["withheld"] == []
    assert [c["complete"] for c in summary["story"]] == [True]
    r = run_cli("demo", d)  # a previous demo is recreated
    assert r.returncode == 0 and "complete" in r.stderr
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "keep.txt").write_text("x")
    r = run_cli("demo", tmp_path / "mine")
    assert r.returncode == 5 and "nothing was deleted" in r.stderr
    assert (tmp_path / "mine" / "keep.txt").exists()
