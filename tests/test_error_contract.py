"""The error contract under hostile conditions (docs/exit-codes.md): closed
standard streams, a full disk on stdout, an output that is one of the
command's own inputs, names too long, control characters in paths, receipt
options refused before anything is written. Never exit 70 on bad input; a
failed command leaves nothing new behind."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from dossierkit.errors import UsageError
from dossierkit.gather.documents import add_documents
from dossierkit.trace.reply import pack_reply
from dossierkit.trust.keys import load_signing_key
from dossierkit.workspace import Workspace, init_workspace, read_toml_file
from tests.conftest import REPO, run_cli
from tests.docsamples import SAMPLES

DOCS = sorted((SAMPLES / "documents").glob("*.pdf"))
KINDS = {e["file"].split("/")[-1]: e["kind"] for e in read_toml_file(SAMPLES / "documents.toml")["document"]}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A complete workspace, the sender's keys and a password package of it."""
    root = tmp_path_factory.mktemp("site")
    env = {"DOSSIERKIT_HOME": str(root / "home")}
    assert run_cli("keys", "generate", env=env).returncode == 0
    ws = init_workspace(root / "ws", read_toml_file(SAMPLES / "dossier.toml"))
    for doc in DOCS:
        add_documents(ws, [doc], kind=KINDS[doc.name])
    assert run_cli("import-images", ws.root, SAMPLES / "images").returncode == 0
    pw = root / "pw.txt"
    pw.write_text("corniche lavande oursin tambour velours\n")
    pkg = root / "dossier.zip"
    r = run_cli("pack", ws.root, "-o", pkg, "--password-file", pw, env=env)
    assert r.returncode == 0, r.stderr
    return {"root": root, "env": env, "ws": ws, "pw": pw, "pkg": pkg}


def _run_closed(fd: int, *args, env: dict) -> subprocess.CompletedProcess:
    """The real CLI with standard stream *fd* closed (``<&-`` / ``>&-``)."""
    return subprocess.run([sys.executable, "-m", "dossierkit", *map(str, args)], env={**os.environ, **env},
                          capture_output=fd != 1, stdout=subprocess.DEVNULL if fd == 1 else None,
                          stdin=subprocess.DEVNULL, text=True, timeout=300, cwd=REPO,
                          preexec_fn=lambda: os.close(fd))


def test_a_closed_stdin_is_no_terminal_not_an_internal_error(site):
    r = _run_closed(0, "verify", site["pkg"], "--password-file", site["pw"], "--json", env=site["env"])
    assert r.returncode == 0, r.stderr


def test_a_closed_stdout_discards_the_output(site):
    r = _run_closed(1, "list", site["ws"].root, "--json", env=site["env"])
    assert r.returncode == 0


def test_a_full_disk_on_stdout_is_exit_5_in_one_line(site):
    with open("/dev/full", "w") as full:
        r = subprocess.run([sys.executable, "-m", "dossierkit", "list", str(site["ws"].root), "--json"],
                           stdout=full, stderr=subprocess.PIPE, text=True, env={**os.environ, **site["env"]},
                           timeout=300)
    assert r.returncode == 5, r.stderr
    assert r.stderr.splitlines() == ["dossierkit: error: cannot write the output (standard output: No space left on "
                                     "device)"]


def test_a_newline_in_a_path_stays_on_the_one_error_line(site, tmp_path):
    r = run_cli("add", site["ws"].root, tmp_path / "evil\nline.pdf", env=site["env"])
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1 and "evil\\nline.pdf" in r.stderr


@pytest.mark.parametrize("target", ["password file", "signing key", "dossier.toml", "journal"])
def test_pack_never_writes_over_its_own_inputs_even_with_force(site, tmp_path, target):
    home = Path(site["env"]["DOSSIERKIT_HOME"])
    out = {"password file": site["pw"], "signing key": home / "keys" / "signing-key.pem",
           "dossier.toml": site["ws"].root / "dossier.toml", "journal": tmp_path / "j.jsonl"}[target]
    before = out.read_bytes() if out.exists() else None
    extra = ["--journal", out] if target == "journal" else ["--force"]
    r = run_cli("pack", site["ws"].root, "-o", out, "--password-file", site["pw"], *extra, env=site["env"])
    assert r.returncode == 5, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert ("own input files" in r.stderr) or ("is among the workspace's own files" in r.stderr)
    assert (out.read_bytes() if out.exists() else None) == before


def test_export_xdm_never_writes_over_a_workspace_file(site):
    toml = site["ws"].root / "dossier.toml"
    before = toml.read_bytes()
    r = run_cli("export-xdm", site["ws"].root, "-o", toml, "--force", env=site["env"])
    assert r.returncode == 5 and "is among the workspace's own files" in r.stderr
    assert toml.read_bytes() == before


def test_unpack_force_never_deletes_the_package_it_reads(site, tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    pkg = inbox / "dossier.zip"
    pkg.write_bytes(site["pkg"].read_bytes())
    r = run_cli("unpack", pkg, inbox, "--force", "--password-file", site["pw"], env=site["env"])
    assert r.returncode == 5 and "holds the package itself" in r.stderr, r.stderr
    assert pkg.read_bytes() == site["pkg"].read_bytes() and sorted(p.name for p in inbox.iterdir()) == ["dossier.zip"]


def test_a_name_too_long_is_an_output_error_not_a_bug(site, tmp_path):
    r = run_cli("pack", site["ws"].root, "-o", tmp_path / ("x" * 300 + ".zip"), "--password-file", site["pw"],
                env=site["env"])
    assert r.returncode == 5 and "too long" in r.stderr, r.stderr
    assert list(tmp_path.iterdir()) == []


def test_pack_refuses_its_receipts_addressees_before_writing_anything(site, tmp_path):
    out = tmp_path / "usb"
    r = run_cli("pack", site["ws"].root, "-o", out / "dossier.zip", "--password-file", site["pw"],
                "--receipt", out / "rc", "--channel", "hand", "--copy", "", env=site["env"])
    assert r.returncode == 2 and "empty addressee" in r.stderr, r.stderr
    assert not out.exists()


def test_reply_pack_checks_its_channel_before_anything(site, tmp_path):
    key = load_signing_key(Path(site["env"]["DOSSIERKIT_HOME"]) / "keys" / "signing-key.pem")
    with pytest.raises(UsageError, match="unknown channel 'pigeon'"):
        pack_reply(Workspace(site["ws"].root), tmp_path / "out", key=key, channel="pigeon")
    assert not (tmp_path / "out").exists()


def test_a_package_may_still_be_written_inside_the_workspace_folder(site):
    """Only the workspace's own files are protected: a package beside them
    (ws/dossier.zip) is written, and replaced with --force."""
    out = site["ws"].root / "dossier.zip"
    for extra in ([], ["--force"]):
        r = run_cli("pack", site["ws"].root, "-o", out, "--password-file", site["pw"], *extra, env=site["env"])
        assert r.returncode == 0, r.stderr
    out.unlink()
    (site["ws"].root / "LISEZMOI-README.TXT").unlink()
    r = run_cli("pack", site["ws"].root, "-o", site["ws"].root / "images" / "x.zip", "--password-file", site["pw"],
                env=site["env"])
    assert r.returncode == 5 and "is among the workspace's own files" in r.stderr



def test_a_toml_that_cannot_be_read_says_why_in_words(tmp_path):
    folder = tmp_path / "a-folder"
    folder.mkdir()
    latin = tmp_path / "latin.toml"
    latin.write_bytes('patient = "é"\n'.encode("latin-1"))
    r = run_cli("init", tmp_path / "ws", "--from", folder)
    assert r.returncode == 2 and "is a folder, not a TOML file" in r.stderr and "Errno" not in r.stderr
    r = run_cli("init", tmp_path / "ws", "--from", latin)
    assert r.returncode == 2 and "is not UTF-8 text" in r.stderr
    assert not (tmp_path / "ws").exists()


@pytest.mark.parametrize("args, says", [
    (["--password-env", "DK_PW"], "choose --password-file or --password-env, not both"),
    (["--reason", "urgent"], "--reason goes with --allow-incomplete"),
])
def test_pack_refuses_options_that_contradict_each_other(site, tmp_path, args, says):
    r = run_cli("pack", site["ws"].root, "-o", tmp_path / "p.zip", "--password-file", site["pw"], *args,
                env={**site["env"], "DK_PW": "corniche lavande oursin tambour velours"})
    assert r.returncode == 2 and says in r.stderr, r.stderr
    assert list(tmp_path.iterdir()) == []


def test_verify_refuses_two_password_sources(site):
    r = run_cli("verify", site["pkg"], "--password-file", site["pw"], "--password-env", "DK_PW",
                env={**site["env"], "DK_PW": "x"})
    assert r.returncode == 2 and "not both" in r.stderr


def test_pacs_options_without_pacs_are_refused(site):
    r = run_cli("import-images", site["ws"].root, SAMPLES / "images", "--since", "2020-01-01", env=site["env"])
    assert r.returncode == 2 and "go with --pacs NAME" in r.stderr


def test_pack_refuses_a_package_and_its_passphrase_file_of_one_name(site, tmp_path):
    out = tmp_path / "dossier.zip"
    r = run_cli("pack", site["ws"].root, "-o", out, "--generate-password", "--password-out", out, env=site["env"])
    assert r.returncode == 2 and "-o and --password-out name the same file" in r.stderr, r.stderr
    assert list(tmp_path.iterdir()) == []



def test_error_lines_say_what_to_do(site, tmp_path):
    """Each line names the file and the way out (the pipeline audit of 2026-12-02)."""
    env, pkg, pw, ws = site["env"], site["pkg"], site["pw"], site["ws"].root
    r = run_cli("ack", pkg, "--receipt", "RC-2026", "-o", tmp_path / "acks", "--password-file", pw, env=env)
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert "RC-2026: no such receipt file, nor a receipt number" in r.stderr and "RC-20261201-" in r.stderr
    assert not (tmp_path / "acks").exists()
    r = run_cli("pack", ws, "-o", tmp_path / "d.zip", env=env)
    assert r.returncode == 2 and "--generate-password" in r.stderr and "--recipient" in r.stderr, r.stderr
    (tmp_path / "afile").write_text("")
    r = run_cli("pack", ws, "-o", tmp_path / "d.zip", "--generate-password", "--password-out",
                tmp_path / "afile" / "pw.txt", env=env)
    assert r.returncode == 5 and "a folder on this path is a file" in r.stderr, r.stderr
    assert not (tmp_path / "d.zip").exists()
    r = run_cli("journal", "verify", tmp_path / "nothere.jsonl", env=env)
    assert r.returncode == 2 and "journal not found" in r.stderr and "--journal" not in r.stderr, r.stderr
    r = run_cli("verify", tmp_path / "nothere.zip", env=env)
    assert r.returncode == 2 and "nothere.zip: package not found — check the file's name and folder" in r.stderr
    r = run_cli("verify", pkg, "--password-file", tmp_path / "nothere.txt", env=env)
    assert r.returncode == 2 and "nothere.txt: password file not found — check its name" in r.stderr, r.stderr
    (tmp_path / "bad.txt").write_text("pas le bon mot de passe du tout\n")
    r = run_cli("verify", pkg, "--password-file", tmp_path / "bad.txt", env=env)
    assert r.returncode == 4 and f"{pkg}: wrong password" in r.stderr, r.stderr  # the line names the file
    r = run_cli("pack", ws, "-o", tmp_path / "d.zip", "--password-file", pw, "--receipt",
                tmp_path / "afile" / "sub", "--channel", "hand", env=env)
    assert r.returncode == 5 and "choose another --receipt" in r.stderr and "another -o" not in r.stderr, r.stderr
    assert not (tmp_path / "d.zip").exists()
    r = run_cli("unpack", pkg, tmp_path / "afile" / "sub", "--password-file", pw, env=env)
    assert r.returncode == 5 and "cannot create the destination (a folder on its path is a file)" in r.stderr


def test_someone_elses_zip_or_age_file_is_not_a_dossierkit_package_exit_4(site, tmp_path):
    """A stray file is told apart from tampering: a plain zip, or an age file whose (authenticated)
    content is no zip, is exit 4 'not a dossierkit package' — it was exit 3 'altered'."""
    import io
    import zipfile

    from dossierkit.archive.agefile import age_writer

    env, home = site["env"], Path(site["env"]["DOSSIERKIT_HOME"])
    plain = tmp_path / "photos.zip"
    with zipfile.ZipFile(plain, "w") as z:
        z.writestr("a.txt", "hello\n")
    r = run_cli("verify", plain, "--password-file", site["pw"], "--json", env=env)
    assert r.returncode == 4 and r.stdout == "" and r.stderr.count("\n") == 1, r.stderr
    assert "not a dossierkit package" in r.stderr and "not encrypted" in r.stderr
    recipient = (home / "keys" / "age-recipient.txt").read_text(encoding="utf-8").split()[-1]
    note = io.BytesIO()
    with age_writer(note, [recipient]) as sink:
        sink.write(b"hi\n")
    (tmp_path / "note.age").write_bytes(note.getvalue())
    r = run_cli("unpack", tmp_path / "note.age", tmp_path / "dest", "-i", home / "keys" / "age-identity.txt", env=env)
    assert r.returncode == 4 and "not a dossierkit package" in r.stderr and "holds no zip" in r.stderr, r.stderr
    assert not (tmp_path / "dest").exists()


def test_the_line_names_the_path_even_when_it_is_part_of_the_message(tmp_path):
    # "." is inside "dossier.toml": the line used to drop the path for it
    assert UsageError("not a dossier workspace (no dossier.toml)", path=".").line() == \
        ".: not a dossier workspace (no dossier.toml)"
    assert UsageError("cannot read out/p.zip (denied)", path="out").line() == "out: cannot read out/p.zip (denied)"
    assert UsageError("cannot read /a/b.zip (denied)", path="/a/b.zip").line() == "cannot read /a/b.zip (denied)"
    r = run_cli("check", ".", cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.startswith("dossierkit: error: .: not a dossier workspace"), r.stderr


def test_unpack_of_a_damaged_package_from_an_unknown_sender_leads_with_the_damage(site, tmp_path):
    # both fail (truncated bytes, sender not trusted): the line starts with what is wrong with the bytes
    cut = tmp_path / "cut.zip"
    data = site["pkg"].read_bytes()
    cut.write_bytes(data[: len(data) - 200])
    elsewhere = {"DOSSIERKIT_HOME": str(tmp_path / "other-home")}
    r = run_cli("unpack", cut, tmp_path / "dest", "--password-file", site["pw"], env=elsewhere)
    assert r.returncode == 3 and r.stderr.count("\n") == 1, r.stderr
    assert "the package does not verify (container:" in r.stderr and not (tmp_path / "dest").exists(), r.stderr
