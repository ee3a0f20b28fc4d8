"""Issue #15 point 22: a generated passphrase read out on the phone opens the
package whatever separators and case were typed into dossierkit; the
generated form (lower-case words, single spaces) is exactly what 7-Zip
needs; and a password a person chose is used as typed, so what they type
into 7-Zip opens it too (the forms are only tried when opening)."""

from __future__ import annotations

import subprocess

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dossierkit.archive import generate_passphrase
from dossierkit.archive.passphrase import write_password_file
from dossierkit.errors import DecryptionError
from dossierkit.package.pack import pack
from dossierkit.package.verify import verify_package
from dossierkit.workspace import Workspace
from tests.conftest import need_tool, run_cli
from tests.pkg_fixtures import full_workspace, trust_sender

KEY = Ed25519PrivateKey.generate()
CHOSEN = "Maison-Jardin-Soleil-Voiture-Piano-Orange-Bateau"


@pytest.fixture(scope="module")
def packed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dictated")
    trust_sender(KEY)  # the receiving side knows the sender (issue #14 point 1)
    ws = full_workspace(tmp / "ws", ct=1, mr=1)
    generated = generate_passphrase().text
    out = {"generated": (generated, tmp / "g.zip"), "chosen": (CHOSEN, tmp / "c.zip")}
    for passphrase, path in out.values():
        pack(ws, path, signing_key=KEY, password=passphrase)
    return out


def _typings(passphrase: str) -> list[str]:
    words = passphrase.split(" ")
    return ["-".join(words), "-".join(w.capitalize() for w in words), "  ".join(words).upper(),
            "_".join(words), " " + ", ".join(words) + " ", ".".join(words), "\t".join(words)]


def test_the_generated_form_and_every_dictated_typing_open_it(packed):
    passphrase, path = packed["generated"]
    assert verify_package(path, password=passphrase).ok
    for typed in _typings(passphrase):
        assert verify_package(path, password=typed).ok, typed


def test_a_wrong_word_is_still_a_wrong_password(packed):
    passphrase, path = packed["generated"]
    words = passphrase.split(" ")
    wrong = " ".join(words[:-1] + ["zzzz" if words[-1] != "zzzz" else "yyyy"])
    for typed in (wrong, wrong.replace(" ", "-"), " ".join(words[:-1])):
        with pytest.raises(DecryptionError, match="wrong password"):
            verify_package(path, password=typed)


def test_a_chosen_password_is_used_as_typed(packed):
    passphrase, path = packed["chosen"]
    assert verify_package(path, password=passphrase).ok
    with pytest.raises(DecryptionError):  # its generated-looking form is not what was chosen
        verify_package(path, password=passphrase.lower().replace("-", " "))


@pytest.mark.interop
def test_7zip_opens_with_exactly_the_generated_form_and_the_chosen_password(packed):
    seven = need_tool("7zz")
    passphrase, path = packed["generated"]
    r = subprocess.run([seven, "t", f"-p{passphrase}", str(path)], capture_output=True, text=True)
    assert r.returncode == 0 and "Everything is Ok" in r.stdout, r.stdout + r.stderr
    # 7-Zip derives its key from the bytes typed: another form fails there,
    # hence the sheet's "lower-case words separated by single spaces".
    r = subprocess.run([seven, "t", f"-p{passphrase.replace(' ', '-')}", str(path)], capture_output=True,
                       text=True)
    assert r.returncode != 0
    chosen, cpath = packed["chosen"]
    r = subprocess.run([seven, "t", f"-p{chosen}", str(cpath)], capture_output=True, text=True)
    assert r.returncode == 0 and "Everything is Ok" in r.stdout, r.stdout + r.stderr


def test_the_password_file_says_how_to_type_it_and_still_opens_it(packed, tmp_path):
    passphrase, path = packed["generated"]
    sheet = tmp_path / "pw.txt"
    write_password_file(sheet, passphrase)
    lines = sheet.read_text(encoding="utf-8").splitlines()
    assert lines[0] == passphrase
    text = " ".join(" ".join(lines[1:]).split())
    assert "8 mots en minuscules, séparés par une espace" in text and "7-Zip" in text
    assert "8 lower-case words separated by single spaces" in text
    r = run_cli("verify", path, "--password-file", sheet)
    assert r.returncode == 0, r.stdout + r.stderr


def test_pack_refuses_the_dossier_id_and_the_patient_name_as_password(packed, tmp_path):
    """Through the CLI: pack knows the workspace's dossier (issue #14 point 4)."""
    ws = packed["generated"][1].parent / "ws"
    dossier_id = Workspace(ws).dossier.id
    for weak in (dossier_id, "Helene.Lefevre.1958"):
        r = run_cli("pack", ws, "-o", tmp_path / "w.zip", "--password-env", "DK_PW", env={"DK_PW": weak})
        assert r.returncode == 2 and "too weak" in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert not (tmp_path / "w.zip").exists()
