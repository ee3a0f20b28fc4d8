"""pack / verify / unpack through the real console entry point: options,
secrets never from argv, exit codes, --json."""

from __future__ import annotations

import json
import os
import stat

import pytest

from tests.conftest import run_cli
from tests.pkg_fixtures import PHI_FORMS, full_workspace


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cli")
    ws = full_workspace(tmp / "ws")
    home = {"DOSSIERKIT_HOME": str(tmp / "home")}
    r = run_cli("keys", "generate", "--json", env=home)
    assert r.returncode == 0, r.stderr
    keys = json.loads(r.stdout)
    pw = tmp / "pw.txt"
    r = run_cli("pack", ws.root, "-o", tmp / "out" / "d.zip", "--generate-password", "--password-out", pw, "--json",
                env=home)
    assert r.returncode == 0, r.stderr
    return tmp, ws, home, keys, pw, json.loads(r.stdout)


def test_pack_json_and_generated_password_file(env):
    tmp, _ws, _home, keys, pw, out = env
    assert out["verified"] and out["signer_fingerprint"] == keys["signer_fingerprint"]
    assert stat.S_IMODE(os.stat(pw).st_mode) == 0o600 and len(pw.read_text().splitlines()[0].split(" ")) >= 8
    text = json.dumps(out, ensure_ascii=False)
    assert not any(f in text for f in PHI_FORMS)


def test_verify_and_unpack_with_a_password_file(env):
    tmp, _ws, home, keys, pw, out = env
    r = run_cli("verify", out["package"], "--password-file", pw, "--expect-signer", keys["signer_fingerprint"][:16],
                env=home)
    assert r.returncode == 2 and r.stdout == "" and r.stderr.count("\n") == 1, r.stderr  # no prefixes
    assert "full fingerprint" in r.stderr
    r = run_cli("verify", out["package"], "--password-file", pw, "--expect-signer", keys["signer_fingerprint"],
                "--json", env=home)
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["ok"] and rep["package_sha256"] == out["package_sha256"]
    r = run_cli("unpack", out["package"], tmp / "dest", "--password-file", pw, env=home)
    assert r.returncode == 0 and (tmp / "dest" / "INDEX.HTM").is_file(), r.stderr


def test_wrong_password_exit_4_one_line_nothing_written(env, tmp_path):
    _tmp, _ws, home, _keys, _pw, out = env
    bad = tmp_path / "bad.txt"
    bad.write_text("not-the-right-passphrase-at-all\n")
    for args in (("verify", out["package"]), ("unpack", out["package"], tmp_path / "dest")):
        r = run_cli(*args, "--password-file", bad, env=home)
        assert r.returncode == 4 and r.stdout == ""
        assert r.stderr.count("\n") == 1 and "wrong password" in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.txt"]


def test_tampered_package_exit_3_names_the_entry(env, tmp_path):
    _tmp, _ws, home, _keys, pw, out = env
    data = bytearray(open(out["package"], "rb").read())
    data[len(data) * 2 // 3] ^= 0x40
    p = tmp_path / "t.zip"
    p.write_bytes(bytes(data))
    r = run_cli("verify", p, "--password-file", pw, "--json", env=home)
    assert r.returncode == 3
    rep = json.loads(r.stdout)
    assert not rep["ok"] and rep["failures"][0]["check"] == "container" and rep["failures"][0]["file"]
    r = run_cli("verify", p, "--password-file", pw, env=home)
    assert r.returncode == 3 and "NOT verified" in r.stdout


def test_password_never_from_argv_and_weak_passwords_refused(env, tmp_path):
    _tmp, ws, home, _keys, _pw, _out = env
    r = run_cli("pack", ws.root, "-o", tmp_path / "x.zip", "--password", "secret", env=home)
    assert r.returncode == 2  # no such option
    r = run_cli("pack", ws.root, "-o", tmp_path / "x.zip", "--password-env", "DK_PW", env={**home, "DK_PW": "abc123"})
    assert r.returncode == 2 and "too weak" in r.stderr
    r = run_cli("pack", ws.root, "-o", tmp_path / "x.zip", "--password-env", "DK_PW", "--weak-password-ok",
                "--json", env={**home, "DK_PW": "abc123"})
    assert r.returncode == 0, r.stderr
    r = run_cli("pack", ws.root, "-o", tmp_path / "y.zip", env=home)  # no TTY: no prompt
    assert r.returncode == 2 and "--password-file" in r.stderr
    r = run_cli("pack", ws.root, "-o", tmp_path / "y.zip", "--generate-password", "--json", env=home)
    assert r.returncode == 2 and "--password-out" in r.stderr
    assert not (tmp_path / "y.zip").exists()


def test_generated_password_is_printed_once_and_opens_the_package(env, tmp_path):
    _tmp, ws, home, _keys, _pw, _out = env
    r = run_cli("pack", ws.root, "-o", tmp_path / "g.zip", "--generate-password", env=home)
    assert r.returncode == 0, r.stderr
    lines = [x.strip() for x in r.stderr.splitlines() if x.strip()]
    passphrase = lines[lines.index(next(x for x in lines if x.startswith("Passphrase"))) + 1]
    assert passphrase not in r.stdout
    r = run_cli("verify", tmp_path / "g.zip", "--password-env", "PP", env={**home, "PP": passphrase})
    assert r.returncode == 0, r.stderr


def test_recipients_package_uses_the_default_identity(env, tmp_path):
    _tmp, ws, home, keys, _pw, _out = env
    r = run_cli("pack", ws.root, "-o", tmp_path / "d.age", "--recipient", keys["age_recipient"], "--json", env=home)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["container"] == "recipients"
    r = run_cli("verify", tmp_path / "d.age", "--json", env=home)  # identity from the keys folder
    assert r.returncode == 0 and json.loads(r.stdout)["ok"], r.stderr
    r = run_cli("verify", tmp_path / "d.age", env={"DOSSIERKIT_HOME": str(tmp_path / "nokeys")})
    assert r.returncode == 2 and "--identity" in r.stderr
    r = run_cli("pack", ws.root, "-o", tmp_path / "e.age", "--recipient", keys["age_recipient"], "--password-env",
                "X", env=home)
    assert r.returncode == 2 and "not both" in r.stderr


def test_incomplete_dossier_is_refused_with_exit_1(env, tmp_path):
    _tmp, ws, home, _keys, pw, _out = env
    ws2 = full_workspace(tmp_path / "ws2")
    ws2.save_documents([d for d in ws2.documents() if d.kind != "pathology"])
    r = run_cli("pack", ws2.root, "-o", tmp_path / "i.zip", "--password-file", pw, env=home)
    assert r.returncode == 1 and "PATHOLOGY-MISSING" in r.stderr and not (tmp_path / "i.zip").exists()
    r = run_cli("pack", ws2.root, "-o", tmp_path / "i.zip", "--password-file", pw, "--allow-incomplete", "--reason",
                "anapath en cours", "--json", env=home)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["waived"] == ["PATHOLOGY-MISSING"]


def test_missing_signing_key_hints_at_keys_generate(env, tmp_path):
    _tmp, ws, _home, _keys, pw, _out = env
    r = run_cli("pack", ws.root, "-o", tmp_path / "k.zip", "--password-file", pw,
                env={"DOSSIERKIT_HOME": str(tmp_path / "empty")})
    assert r.returncode == 2 and "keys generate" in r.stderr
