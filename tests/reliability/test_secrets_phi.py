"""Secrets and patient data: nothing identifying in any cleartext byte of
either container, in the output of commands that do not need it, in the
journal, in temp files; private files 0600; passwords never on argv;
``--debug`` traces scrubbed."""

from __future__ import annotations

import copy
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from dossierkit import phi
from dossierkit.identity import fold
from tests.conftest import REPO, SAMPLE_PATIENT
from tests.pkg_fixtures import PATIENT, PHI_FORMS
from tests.reliability.common import PASSWORD
from tests.reliability.measure import run as run_inprocess

# Every spelling of the sample patient's identity that must never leak.
FORMS = sorted(set(PHI_FORMS) | {fold(f) for f in PHI_FORMS} | {
    "Hélène Marie", "LEFEVRE^HELENE", "LEFÈVRE^HÉLÈNE", "14.03.1958", "14-03-1958", "1958/03/14", "03/14/1958",
    "2580375123456"[:7] + " " + "2580375123456"[7:]})
# "Marie" alone is too common a word to search in binary data; the scrubber
# masks it all the same (test_scrub_*).
ENCODINGS = ("utf-8", "latin-1", "utf-16-le", "utf-16-be")


def leaks(blob: bytes) -> list[tuple[str, str]]:
    found = []
    for form in FORMS:
        for enc in ENCODINGS:
            try:
                needle = form.encode(enc)
            except UnicodeEncodeError:
                continue
            if needle in blob:
                found.append((form, enc))
    return found


def test_leak_detector_finds_each_encoding():
    """The scanner itself: a name hidden in each encoding is found."""
    for enc in ENCODINGS:
        assert leaks(b"xx" + "Lefèvre".encode(enc) + b"yy"), enc
    assert not leaks(b"dossier DK-20261102 package DICOM/ST000001")


def test_no_patient_data_in_any_cleartext_byte(any_package):
    assert leaks(any_package.path.read_bytes()) == []
    folder = any_package.path.parent
    for p in folder.iterdir():  # what pack leaves beside the package (README)
        assert leaks(p.read_bytes()) == [], p.name
        assert not leaks(p.name.encode())


# ------------------------------------------------ CLI output, journal, temp

@pytest.fixture(scope="module")
def cli_run(rel_workspace, tmp_path_factory):
    """One pack with --json, --receipt and TMPDIR pointing to an empty
    folder; then verify (human and --json) and unpack --json."""
    from cryptography.hazmat.primitives import serialization

    from tests.reliability.common import SIGNING_KEY

    d = tmp_path_factory.mktemp("cli")
    key = d / "signing-key.pem"
    key.write_bytes(SIGNING_KEY.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()))
    pw = d / "password.txt"
    pw.write_text(PASSWORD + "\n")
    tmpdir = d / "tmpdir"
    tmpdir.mkdir()
    env = {**os.environ, "TMPDIR": str(tmpdir), "COLUMNS": "200"}
    journal = d / "journal.jsonl"

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "dossierkit", *map(str, args)], capture_output=True, text=True,
                              env=env, cwd=REPO, timeout=300)

    out = d / "out" / "dossier.zip"
    runs = {
        "pack --json": cli("pack", rel_workspace, "-o", out, "--password-file", pw, "--signing-key", key,
                           "--receipt", d / "receipts", "--channel", "usb-patient", "--journal", journal, "--json", "--force"),
    }
    runs["verify"] = cli("verify", out, "--password-file", pw, "--journal", journal)
    runs["verify --json"] = cli("verify", out, "--password-file", pw, "--json", "--journal", journal)
    runs["verify --json, no password"] = cli("verify", out, "--json")
    runs["unpack --json"] = cli("unpack", out, d / "dest", "--password-file", pw, "--json", "--journal", journal)
    return {"runs": runs, "tmpdir": tmpdir, "journal": journal, "dir": d, "out": out}


def test_commands_that_do_not_need_the_patient_do_not_print_it(cli_run):
    runs = cli_run["runs"]
    assert runs["pack --json"].returncode == 0, runs["pack --json"].stderr
    assert runs["verify"].returncode == 0 and runs["verify --json"].returncode == 0
    assert runs["verify --json, no password"].returncode == 2
    assert runs["unpack --json"].returncode == 0, runs["unpack --json"].stderr
    for label, r in runs.items():
        assert leaks((r.stdout + r.stderr).encode("utf-8")) == [], label


def test_journal_holds_ids_and_hashes_only(cli_run):
    text = cli_run["journal"].read_bytes()
    assert text.count(b"\n") >= 3  # pack, verify x2, unpack
    assert leaks(text) == []


def test_no_temp_file_outside_the_output_folder(cli_run):
    """TMPDIR stayed empty through pack (with its receipt PDF), verify and
    unpack: nothing was written to the system temp folder."""
    assert list(cli_run["tmpdir"].iterdir()) == []
    assert (cli_run["dir"] / "receipts").is_dir()


def test_the_library_never_uses_the_system_temp_folder():
    src = REPO / "src" / "dossierkit"
    offenders = [str(p.relative_to(src)) for p in src.rglob("*.py")
                 if re.search(r"\btempfile\b|mkdtemp|gettempdir|NamedTemporaryFile", p.read_text(encoding="utf-8"))]
    # gather/pacs/dimse.py only points tempfile at a workspace folder while pynetdicom streams received
    # instances (its NamedTemporaryFile); tests/test_pacs.py runs the retrieve with an empty TMPDIR and checks it
    redirect = (src / "gather" / "pacs" / "dimse.py").read_text(encoding="utf-8")
    assert not re.search(r"mkdtemp|gettempdir|NamedTemporaryFile|tempfile\.(?!tempdir\b)", redirect)
    assert [o for o in offenders if o != "gather/pacs/dimse.py"] == []


def test_no_temp_file_from_import_and_add(tmp_path):
    from pydicom.data import get_testdata_file

    from dossierkit.resources import samples_dir
    from tests.pkg_fixtures import new_workspace

    ws = new_workspace(tmp_path / "ws")
    tmpdir = tmp_path / "tmpdir"
    tmpdir.mkdir()
    env = {**os.environ, "TMPDIR": str(tmpdir)}
    cd = tmp_path / "cd"
    cd.mkdir()
    (cd / "IM1").write_bytes(Path(get_testdata_file("CT_small.dcm")).read_bytes())
    script = (
        "from tests.reliability.measure import run\n"
        f"a = run(['import-images', {str(ws.root)!r}, {str(cd)!r}])\n"
        f"b = run(['add', {str(ws.root)!r}, {str(samples_dir() / 'documents' / '01-fiche-rcp.pdf')!r}])\n"
        "print(a[0], b[0])\n")
    r = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert r.stdout.split() == ["0", "0"], r.stdout + r.stderr
    assert list(tmpdir.iterdir()) == []


# ------------------------------------------------------------- secrets

def test_private_files_are_0600_whatever_the_umask(tmp_path):
    from dossierkit.trust.keys import AGE_IDENTITY, SIGNING_KEY

    old = os.umask(0)
    try:
        code, _out, err = run_inprocess(["keys", "generate", str(tmp_path / "keys"), "--json"])
        assert code == 0, err
        from dossierkit.archive.passphrase import write_password_file

        write_password_file(tmp_path / "pw.txt", "un-mot-de-passe-genere")
    finally:
        os.umask(old)
    for p in (tmp_path / "keys" / SIGNING_KEY, tmp_path / "keys" / AGE_IDENTITY, tmp_path / "pw.txt"):
        assert stat.S_IMODE(p.stat().st_mode) == 0o600, p
    assert stat.S_IMODE((tmp_path / "keys").stat().st_mode) == 0o700


def test_generated_password_file_from_pack_is_0600(rel_workspace, tmp_path):
    from cryptography.hazmat.primitives import serialization

    from tests.reliability.common import SIGNING_KEY

    key = tmp_path / "k.pem"
    key.write_bytes(SIGNING_KEY.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()))
    old = os.umask(0)
    try:
        code, out, err = run_inprocess(["pack", str(rel_workspace), "-o", str(tmp_path / "p.zip"),
                                        "--generate-password", "--password-out", str(tmp_path / "pw.txt"),
                                        "--signing-key", str(key), "--json", "--no-readme"])
    finally:
        os.umask(old)
    assert code == 0, err
    assert stat.S_IMODE((tmp_path / "pw.txt").stat().st_mode) == 0o600
    assert (tmp_path / "pw.txt").read_text().splitlines()[0] not in out + err  # not echoed with --json


def _password_like_options() -> list[tuple[str, str, bool]]:
    import typer.main

    from dossierkit.cli import app

    group = typer.main.get_command(app)
    found = []

    def walk(cmd, path):
        for p in getattr(cmd, "params", []):
            for opt in getattr(p, "opts", []):
                if re.search(r"pass(word|phrase)|secret|identity-key", opt):
                    found.append((f"{path} {opt}", p.name, bool(getattr(p, "is_flag", False))))
        for name, sub in getattr(cmd, "commands", {}).items():
            walk(sub, f"{path} {name}".strip())

    walk(group, "")
    return found


def test_no_option_takes_a_password_value():
    """Options about passwords either name a file/variable or are flags."""
    opts = _password_like_options()
    assert opts, "the scan found no password option at all"
    for where, name, is_flag in opts:
        assert is_flag or re.search(r"(file|env|out)$", name), where


@pytest.mark.parametrize("argv", [["pack", "WS", "-o", "x.zip", "--password", "S3cret-Value"],
                                  ["verify", "x.zip", "--password", "S3cret-Value"],
                                  ["unpack", "x.zip", "dest", "--password=S3cret-Value"]])
def test_password_on_argv_is_refused(argv, tmp_path):
    code, out, err = run_inprocess([a.replace("WS", str(tmp_path)) for a in argv])
    assert code == 2 and "S3cret-Value" not in out + err, err
    assert "--password" in err


# ----------------------------------------------------------- scrubbing

def test_debug_trace_is_scrubbed(tmp_path):
    from tests.pkg_fixtures import new_workspace

    ws = new_workspace(tmp_path / "ws")
    folder = tmp_path / "Lefèvre Hélène 14-03-1958"
    folder.mkdir()
    bad = folder / "CR LEFÈVRE 2580375123456.pdf"
    bad.write_bytes(b"not a pdf")
    code, _out, err = run_inprocess(["--debug", "add", str(ws.root), str(bad), "--kind", "pathology"])
    assert code == 2 and "Traceback" in err and "[PHI]" in err
    assert leaks(err.encode()) == [], err


@pytest.fixture(scope="module")
def registered():
    from dossierkit.model import dossier_from_dict

    phi.clear()  # only the sample patient: other tests may have registered theirs
    phi.register(dossier_from_dict({"id": "DK-1", "patient": copy.deepcopy(PATIENT),
                                    "consent": SAMPLE_PATIENT["consent"]}).patient)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=80))
def test_scrub_leaves_other_text_unchanged(registered, text):
    if any(fold(f) in fold(text) for f in [*FORMS, "Marie"]):
        return
    assert phi.scrub(text) == text


@settings(max_examples=200, deadline=None)
@given(before=st.text(max_size=30), after=st.text(max_size=30),
       form=st.sampled_from(["Lefèvre", "LEFÈVRE", "lefevre", "Hélène", "HELENE", "2580375123456", "1958-03-14",
                             "14/03/1958", "19580314", "CHU-00482913"]))
def test_scrub_masks_the_patient_anywhere(registered, before, after, form):
    out = phi.scrub(f"{before} {form} {after}")
    assert "[PHI]" in out and form not in out
