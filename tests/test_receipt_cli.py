import json

import pytest

from dossierkit.trace import journal, receipt
from dossierkit.trust.keys import generate_keys, load_signing_key
from receipt_fixtures import manifest


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    return generate_keys(tmp_path_factory.mktemp("keys"))


@pytest.fixture
def issued(tmp_path, keys):
    pkg = tmp_path / "DOSSIER.zip"
    pkg.write_bytes(b"PK" + b"\0" * 3000)
    j = tmp_path / "journal.jsonl"
    journal.append(j, {"event": "pack", "package_sha256": receipt.package_facts(pkg).sha256})
    r = receipt.issue_receipt(receipt.summary_from_manifest(manifest(), "ef" * 32), pkg, channel="mssante",
                              key=load_signing_key(keys.signing_key), out=tmp_path / "out", journal_path=j,
                              pdf=False)
    return pkg, j, r


def test_receipt_verify_cli(cli, tmp_path, keys, issued):
    pkg, j, r = issued
    ok = cli("receipt", "verify", r.json_path, "--package", pkg, "--journal", j, "--expect-signer", keys.fingerprint,
             "--json")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["ok"] is True
    other = tmp_path / "other.zip"
    other.write_bytes(b"PK" + b"\0" * 2999 + b"\1")
    bad = cli("receipt", "verify", r.json_path, "--package", other)
    assert bad.returncode == 3 and "is not the package of" in bad.stderr
    r.json_path.write_bytes(r.json_path.read_bytes().replace(b'"mssante"', b'"sftp"'))
    bad = cli("receipt", "verify", r.json_path)
    assert bad.returncode == 3 and "altered" in bad.stderr


def test_journal_cli_show_verify_and_truncation(cli, tmp_path, issued):
    pkg, j, r = issued
    shown = cli("journal", "show", j, "--json")
    assert shown.returncode == 0
    assert [e["event"] for e in json.loads(shown.stdout)["entries"]] == ["pack", "receipt"]
    assert cli("journal", "verify", j, "--receipt", r.json_path).returncode == 0
    lines = j.read_bytes().splitlines(keepends=True)
    j.write_bytes(lines[0])  # tail cut: the chain alone still looks fine…
    assert cli("journal", "verify", j).returncode == 0
    cut = cli("journal", "verify", j, "--receipt", r.json_path)  # …the receipt's anchor does not
    assert cut.returncode == 3 and "no entry for it" in cut.stderr
    j.write_bytes(lines[1] + lines[0])
    swapped = cli("journal", "verify", j, "--json")
    assert swapped.returncode == 3 and json.loads(swapped.stdout)["first_broken"] == 1


def test_receipt_short_spelling_from_workspace(cli, tmp_path, empty_ws, keys):
    pkg = tmp_path / "DOSSIER.zip"
    pkg.write_bytes(b"PK" + b"\1" * 1000)
    env = {"DOSSIERKIT_HOME": str(keys.directory.parent), "DOSSIERKIT_JOURNAL": ""}
    args = ("receipt", pkg, "--channel", "hand", "--to", "Pr Anne Girard", "-o", tmp_path / "rc",
            "--signing-key", keys.signing_key, "--workspace", empty_ws.root, "--json")
    missing = cli(*args, env=env)
    assert missing.returncode == 2 and "no pack entry" in missing.stderr
    journal.append(empty_ws.journal_path, {"event": "pack", "package_sha256": receipt.package_facts(pkg).sha256,
                                           "manifest_sha256": "ab" * 32, "dossier_id": empty_ws.dossier.id})
    done = cli(*args, env=env)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    doc = json.loads((tmp_path / "rc" / f"{out['id']}.json").read_text())
    assert doc["content_source"] == "workspace" and doc["manifest_sha256"] == "ab" * 32
    assert doc["completeness"]["status"] == "incomplete"  # empty workspace: errors listed as waived
    assert out["journal_seq"] == 2 and (tmp_path / "rc" / f"{out['id']}.pdf").exists()
    none = cli("receipt", "create", pkg, "--channel", "hand", "-o", tmp_path / "rc2", "--signing-key",
               keys.signing_key, env=env)
    assert none.returncode == 2 and "needs the package's content" in none.stderr


def test_receipt_verify_takes_a_workspace_folder_as_its_journal(cli, tmp_path, keys, issued):
    """`receipt verify --journal WS` like `journal verify WS`: the folder's journal.jsonl."""
    pkg, j, r = issued
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "journal.jsonl").write_bytes(j.read_bytes())
    ok = cli("receipt", "verify", r.json_path, "--journal", ws, "--json")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["journal"]["ok"] is True
