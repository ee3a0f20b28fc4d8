"""Receipts and acks on a real package (pack/verify of issue #4)."""

from __future__ import annotations

import builtins
import json
import os
import shutil
from pathlib import Path

import pytest
from pypdf import PdfReader

from dossierkit.trace import flows, journal
from dossierkit.trace.secrets import open_secrets
from dossierkit.errors import DecryptionError, IntegrityError
from dossierkit.trust.keys import generate_keys, load_signing_key
from dossierkit.package.pack import pack
from tests.pkg_fixtures import full_workspace

PASSWORD = "tulipe-orage-cadran-mesure-violon-24"


@pytest.fixture(scope="module")
def packed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("rcpkg")
    keys = generate_keys(tmp / "keys")
    key = load_signing_key(keys.signing_key)
    ws = full_workspace(tmp / "ws")
    res = pack(ws, tmp / "out" / "dossier.zip", signing_key=key, password=PASSWORD)
    (tmp / "pw.txt").write_text(PASSWORD + "\n")
    return ws, res, key, tmp


def _text(pdf):
    return " ".join(" ".join(p.extract_text() for p in PdfReader(pdf).pages).split())


def test_receipt_from_the_verified_manifest_honours_the_restriction(packed, tmp_path):
    ws, res, key, tmp = packed
    assert "no-copy-to-initial-physician" in ws.dossier.restrictions
    initial = ws.dossier.initial_physician.name  # "Dr Paul Garnier"
    jpath = tmp_path / "journal.jsonl"
    secrets = open_secrets(res.package, password_file=tmp / "pw.txt")
    issued = flows.receipt_for_package(res.package, channel="usb-patient", out=tmp_path / "rc", key=key,
                                       journal_file=jpath, secrets=secrets)
    doc = issued.document
    assert doc["content_source"] == "manifest"
    assert doc["package"]["sha256"] == res.sha256 and doc["manifest_sha256"] == res.manifest_sha256
    assert doc["dossier_id"] == ws.dossier.id
    assert [d["title"] for d in doc["documents"]] == [d.title for d in ws.documents()]
    assert sum(s["count"] for s in doc["studies"]) == len(ws.images())
    assert [r["name"] for r in doc["recipients"]] == [ws.dossier.second_opinion.name]
    assert [c["name"] for c in doc["copies"]] == [ws.dossier.treating_gp.name]
    text = _text(issued.pdf_path)
    for where in (issued.json_path.read_text(encoding="utf-8"), text, jpath.read_text()):
        assert "Garnier" not in where and initial not in where
    assert "médecin initial" in text and res.sha256 in text
    for d in ws.documents():
        assert d.title in text


def test_ack_intact_then_altered_then_wrong_password(packed, tmp_path):
    ws, res, key, tmp = packed
    jpath = tmp_path / "journal.jsonl"
    secrets = open_secrets(res.package, password_file=tmp / "pw.txt")
    rc = flows.receipt_after_pack(res, channel="mssante", out=tmp_path / "rc", key=key, workspace=ws,
                                  journal_path=jpath, pdf=False)
    assert rc.document["documents"] == flows.receipt_for_package(
        res.package, channel="hand", out=tmp_path / "rc2", key=key, journal_file=tmp_path / "j2.jsonl",
        secrets=secrets, pdf=False).document["documents"]  # same content from both sources
    ack = flows.ack_for_package(res.package, out=tmp_path / "ack", key=key, receipt_file=rc.json_path,
                                expect_signer=res.signer_fingerprint, journal_file=jpath, pdf=False,
                                secrets=secrets)
    v = ack.document["verification"]
    assert (v["result"], v["completeness"]) == ("intact", "complete"), v
    assert ack.document["receipt"]["receipt_id"] == rc.document["receipt_id"]
    assert journal.verify(jpath).ok and [e["event"] for e in journal.read_entries(jpath)] == ["receipt", "ack"]

    altered = tmp_path / "altered.zip"
    shutil.copyfile(res.package, altered)
    data = bytearray(altered.read_bytes())
    data[len(data) // 2] ^= 1
    altered.write_bytes(bytes(data))
    bad = flows.ack_for_package(altered, out=tmp_path / "ack", key=key, receipt_file=rc.json_path,
                                journal_file=jpath, pdf=True, secrets=secrets)
    v = bad.document["verification"]
    assert v["result"] == "altered" and any("not the package receipt" in p for p in v["problems"])
    assert any(p.startswith("container:") for p in v["problems"])
    # the ack's page says each problem in French first (the JSON keeps verify's words)
    page = " ".join(_text(bad.pdf_path).split())
    assert f"le fichier reçu n'est pas le paquet que nomme le récépissé {rc.document['receipt_id']}" in page
    assert "l'enveloppe chiffrée : en échec" in page and "the encrypted container: failed" in page
    # verify could not check the completeness of an altered package: the ack does not claim it (was "complete")
    assert v["completeness"] == "unknown", v

    wrong = tmp_path / "wrong.txt"
    wrong.write_text("not-the-password-at-all-42\n")
    before = sorted((tmp_path / "ack").iterdir())
    with pytest.raises(DecryptionError):
        flows.ack_for_package(res.package, out=tmp_path / "ack", key=key, journal_file=jpath,
                              secrets=open_secrets(res.package, password_file=wrong))
    assert sorted((tmp_path / "ack").iterdir()) == before


def test_receipt_decrypts_the_package_once(packed, tmp_path, monkeypatch):
    """The manifest comes from the verifying pass: the package is opened to
    detect its container kind and to verify it, never a third time to
    decrypt the manifest again."""
    _ws, res, key, tmp = packed
    opened = []
    real_open = builtins.open

    def counting_open(file, *args, **kwargs):
        if isinstance(file, (str, os.PathLike)) and Path(file) == res.package:
            opened.append(file)
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", counting_open)
    secrets = open_secrets(res.package, password_file=tmp / "pw.txt")
    issued = flows.receipt_for_package(res.package, channel="hand", out=tmp_path / "rc", key=key,
                                       journal_file=tmp_path / "j.jsonl", secrets=secrets, pdf=False)
    assert issued.document["content_source"] == "manifest"
    # container kind, the passphrase tried on the first entry (a few KB), the one verifying pass
    assert 1 <= len(opened) <= 3, opened


def test_no_receipt_for_a_package_that_does_not_verify(packed, tmp_path):
    _ws, res, key, tmp = packed
    altered = tmp_path / "altered.zip"
    data = bytearray(res.package.read_bytes())
    data[len(data) // 2] ^= 1
    altered.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="no receipt"):
        flows.receipt_for_package(altered, channel="hand", out=tmp_path / "rc", key=key,
                                  journal_file=tmp_path / "j.jsonl",
                                  secrets=open_secrets(altered, password_file=tmp / "pw.txt"))
    assert not (tmp_path / "rc").exists()


def test_cli_receipt_then_ack_then_verify_both(packed, tmp_path, cli):
    _ws, res, key, tmp = packed
    keys = generate_keys(tmp_path / "keys")
    env = {"DK_PW": PASSWORD, "DOSSIERKIT_JOURNAL": str(tmp_path / "journal.jsonl")}
    # the sender issues the receipt with the key that signed the package (its own: trusted for its packages)
    rc = cli("receipt", res.package, "--channel", "usb-patient", "-o", tmp_path / "out" / "receipt.json",
             "--password-env", "DK_PW", "--signing-key", tmp / "keys" / "signing-key.pem", "--json", env=env)
    assert rc.returncode == 0, rc.stderr
    assert json.loads(rc.stdout)["pdf"] == str(tmp_path / "out" / "receipt.pdf")
    # the receiving hospital does not know the sender yet: the ack is written, says so, exit 6
    store = tmp_path / "trusted-senders.toml"
    # a --trust-store path that is not there is a mistake, not an empty store (every sender would be unknown)
    typo = cli("ack", res.package, "-o", tmp_path / "out" / "ack-typo.json", "--password-env", "DK_PW",
               "--signing-key", keys.signing_key, "--trust-store", tmp_path / "trusted-sender.toml", env=env)
    assert typo.returncode == 2 and "trust store not found" in typo.stderr, typo.stderr
    assert not (tmp_path / "out" / "ack-typo.json").exists()
    store.write_text("# no sender trusted yet\n")
    unknown = cli("ack", res.package, "-o", tmp_path / "out" / "ack-unknown.json", "--password-env", "DK_PW",
                  "--signing-key", keys.signing_key, "--trust-store", store, "--json", env=env)
    assert unknown.returncode == 6, unknown.stderr
    sender = json.loads((tmp_path / "out" / "ack-unknown.json").read_text())["verification"]["sender"]
    assert sender == {"fingerprint": res.signer_fingerprint, "name": None, "known": False, "basis": None}
    # … compares the fingerprint with the printed receipt, trusts it, and acknowledges
    added = cli("trust", "add", res.signer_fingerprint, "--name", "CHU de Nantes", "--trust-store", store, env=env)
    assert added.returncode == 0, added.stderr
    ack = cli("ack", res.package, "-o", tmp_path / "out" / "ack.json", "--receipt", tmp_path / "out" / "receipt.json",
              "--password-env", "DK_PW", "--signing-key", keys.signing_key, "--by", "Pr Sophie Marchand",
              "--trust-store", store, "--json", env=env)
    assert ack.returncode == 0, ack.stderr
    assert json.loads((tmp_path / "out" / "ack.json").read_text())["verification"]["sender"]["name"] == "CHU de Nantes"
    both = cli("receipt", "verify", tmp_path / "out" / "receipt.json", tmp_path / "out" / "ack.json",
               "--package", res.package, "--journal", tmp_path / "journal.jsonl", "--json", env=env)
    assert both.returncode == 0, both.stderr
    assert [d["type"] for d in json.loads(both.stdout)["documents"]] == ["dossierkit-receipt", "dossierkit-ack"]
    altered = tmp_path / "altered.zip"
    data = bytearray(res.package.read_bytes())
    data[len(data) // 3] ^= 1
    altered.write_bytes(bytes(data))
    bad = cli("ack", altered, "-o", tmp_path / "out" / "ack-altered.json", "--password-env", "DK_PW",
              "--signing-key", keys.signing_key, "--trust-store", store, "--json", env=env)
    assert bad.returncode == 3 and json.loads(bad.stdout)["id"].startswith("AK-")
    assert json.loads((tmp_path / "out" / "ack-altered.json").read_text())["verification"]["result"] == "altered"


def test_cli_pack_with_receipt_journals_pack_then_receipt(tmp_path, cli):
    keys = generate_keys(tmp_path / "keys")
    ws = full_workspace(tmp_path / "ws")
    (tmp_path / "pw.txt").write_text(PASSWORD + "\n")
    env = {"DOSSIERKIT_HOME": str(tmp_path / "home"), "DOSSIERKIT_JOURNAL": ""}
    r = cli("pack", ws.root, "-o", tmp_path / "out" / "dossier.zip", "--password-file", tmp_path / "pw.txt",
            "--signing-key", keys.signing_key, "--receipt", tmp_path / "receipts", "--channel", "usb-patient",
            "--json", env=env)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    rc = json.loads((tmp_path / "receipts" / f"{out['receipt']['id']}.json").read_text())
    assert rc["package"]["sha256"] == out["package_sha256"] and rc["manifest_sha256"] == out["manifest_sha256"]
    entries = journal.read_entries(ws.journal_path)
    assert [e["event"] for e in entries] == ["pack", "receipt"]
    assert rc["journal"] == {"seq": 1, "hash": entries[0]["hash"]}  # anchored on its own pack entry
    assert out["journal"] == {"path": str(ws.journal_path), "seq": 1}  # where a script finds the pack entry
    # a journal that cannot be written: the package stands (warned), and the JSON says it was not recorded
    (tmp_path / "afile").write_text("")
    r = cli("pack", ws.root, "-o", tmp_path / "out" / "unjournaled.zip", "--password-file", tmp_path / "pw.txt",
            "--signing-key", keys.signing_key, "--journal", tmp_path / "afile" / "j.jsonl", "--json", env=env)
    assert r.returncode == 0 and "not recorded in the journal" in r.stderr, r.stderr
    assert json.loads(r.stdout)["journal"] is None
    ok = cli("journal", "verify", ws.root, "--receipt", tmp_path / "receipts" / f"{rc['receipt_id']}.json", env=env)
    assert ok.returncode == 0, ok.stderr
    bad = cli("pack", ws.root, "-o", tmp_path / "out" / "other.zip", "--password-file", tmp_path / "pw.txt",
              "--signing-key", keys.signing_key, "--receipt", tmp_path / "receipts", env=env)
    assert bad.returncode == 2 and "--receipt needs --channel" in bad.stderr
    assert not (tmp_path / "out" / "other.zip").exists()
