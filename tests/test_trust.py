"""The trust store (dossierkit.trust.store) and `dossierkit trust add/list/remove`."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dossierkit.errors import InputError, UsageError
from dossierkit.trust.keys import generate_keys
from dossierkit.trust.signing import fingerprint, spaced_fingerprint
from dossierkit.trust.store import SenderPolicy, TrustStore, own_key_fingerprint
from tests.conftest import run_cli

FP = fingerprint(Ed25519PrivateKey.generate().public_key())
OTHER = fingerprint(Ed25519PrivateKey.generate().public_key())


def test_store_add_list_remove_roundtrip(tmp_path):
    path = tmp_path / "home" / "trusted-senders.toml"
    store = TrustStore(path)
    assert store.list() == [] and not path.exists()  # a missing file is an empty store
    store.add(spaced_fingerprint(FP).upper(), "  CHR   d'Orléans ")  # as read from a receipt
    again = TrustStore(path)
    (sender,) = again.list()
    assert sender.fingerprint == FP and sender.name == "CHR d'Orléans" and sender.added.endswith("Z")
    assert "CHR d'Orléans" in path.read_text(encoding="utf-8") and path.read_text().startswith("# dossierkit")
    again.add(OTHER, "Institut Curie")
    assert [s.name for s in TrustStore(path).list()] == ["CHR d'Orléans", "Institut Curie"]
    assert TrustStore(path).remove(FP).name == "CHR d'Orléans"
    assert [s.fingerprint for s in TrustStore(path).list()] == [OTHER]
    with pytest.raises(UsageError, match="no sender"):
        TrustStore(path).remove(FP)


@pytest.mark.parametrize("bad", ["", FP[:16], FP[:63], FP + "0", "g" * 64])
def test_only_full_fingerprints(tmp_path, bad):
    with pytest.raises(UsageError, match="full fingerprint"):
        TrustStore(tmp_path / "t.toml").add(bad, "X")
    with pytest.raises(UsageError, match="full fingerprint"):
        SenderPolicy(expected=bad or "0")
    assert not (tmp_path / "t.toml").exists()


def test_name_is_required(tmp_path):
    with pytest.raises(UsageError, match="--name"):
        TrustStore(tmp_path / "t.toml").add(FP, "   ")


def test_a_broken_store_is_one_clear_input_error(tmp_path):
    path = tmp_path / "t.toml"
    path.write_text("[[sender]]\nfingerprint = 'abcd'\nname = 'X'\n")
    with pytest.raises(UsageError, match="full fingerprint"):
        TrustStore(path)
    path.write_text("not = [toml")
    with pytest.raises(InputError, match="not valid TOML"):
        TrustStore(path)


def test_policy_order_expected_store_own(tmp_path, monkeypatch):
    monkeypatch.setenv("DOSSIERKIT_HOME", str(tmp_path / "home"))
    keys = generate_keys()  # the operator's own key, in $DOSSIERKIT_HOME/keys
    assert own_key_fingerprint() == keys.fingerprint
    TrustStore().add(FP, "CHR d'Orléans")
    policy = SenderPolicy.load()
    assert policy.judge(FP).basis == "trust-store" and policy.judge(FP).name == "CHR d'Orléans"
    assert policy.judge(keys.fingerprint).basis == "own-key"
    unknown = policy.judge(OTHER)
    assert not unknown.known and spaced_fingerprint(OTHER) in policy.refusal(unknown)
    assert f"trust add {OTHER}" in policy.refusal(unknown)
    pinned = SenderPolicy.load(expect_signer=OTHER)  # a pin: only that key, even over the store
    assert pinned.judge(OTHER).basis == "expected" and not pinned.judge(FP).known
    assert pinned.judge(FP).name == "CHR d'Orléans"  # the store still names it
    assert "not the expected signer" in pinned.refusal(pinned.judge(FP))


def test_cli_trust_add_list_remove(tmp_path):
    env = {"DOSSIERKIT_HOME": str(tmp_path / "home")}
    r = run_cli("trust", "list", env=env)
    assert r.returncode == 0 and "no trusted sender" in r.stdout
    r = run_cli("trust", "add", spaced_fingerprint(FP), "--name", "CHR d'Orléans", env=env)
    assert r.returncode == 0 and spaced_fingerprint(FP) in r.stdout, r.stderr
    assert (tmp_path / "home" / "trusted-senders.toml").is_file()
    r = run_cli("trust", "list", "--json", env=env)
    listed = json.loads(r.stdout)
    assert listed["senders"][0]["fingerprint"] == FP and listed["senders"][0]["name"] == "CHR d'Orléans"
    r = run_cli("trust", "add", FP[:16], "--name", "X", env=env)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "full fingerprint" in r.stderr, r.stderr
    r = run_cli("trust", "remove", FP, "--json", env=env)
    assert r.returncode == 0 and json.loads(r.stdout)["sender"]["name"] == "CHR d'Orléans"
    r = run_cli("trust", "remove", FP, env=env)
    assert r.returncode == 2 and "no sender" in r.stderr
    store = tmp_path / "elsewhere.toml"
    r = run_cli("trust", "add", OTHER, "--name", "Institut Curie", "--trust-store", store, env=env)
    assert r.returncode == 0 and TrustStore(store).get(OTHER).name == "Institut Curie"


def test_cli_trust_list_shows_when_added_in_local_time(tmp_path):
    # stored in UTC (the TOML), shown on the terminal in the reader's zone with its offset
    env = {"DOSSIERKIT_HOME": str(tmp_path / "home"), "DOSSIERKIT_TIMEZONE": "Indian/Reunion", "COLUMNS": "120"}
    assert run_cli("trust", "add", FP, "--name", "CHR d'Orléans", env=env).returncode == 0
    added = TrustStore(tmp_path / "home" / "trusted-senders.toml").get(FP).added
    r = run_cli("trust", "list", env=env)
    assert r.returncode == 0, r.stderr
    shown = (dt.datetime.fromisoformat(added.replace("Z", "+00:00")) + dt.timedelta(hours=4)).strftime("%Y-%m-%d %H:%M")
    assert f"{shown} " in r.stdout and "UTC+04:00" in r.stdout and "(UTC)" not in r.stdout, r.stdout


def test_cli_trust_add_of_a_known_key_under_another_name_says_it_renames(tmp_path):
    # every package of that key verifies under the new name from then on: never silently
    env = {"DOSSIERKIT_HOME": str(tmp_path / "home")}
    assert run_cli("trust", "add", FP, "--name", "CHU de Nantes", env=env).returncode == 0
    first = TrustStore(tmp_path / "home" / "trusted-senders.toml").get(FP).added
    r = run_cli("trust", "add", FP, "--name", "Institut X", env=env)
    assert r.returncode == 0 and "renamed from 'CHU de Nantes'" in r.stdout and "Institut X" in r.stdout, r.stdout
    r = run_cli("trust", "add", FP, "--name", "Institut Y", "--json", env=env)
    assert json.loads(r.stdout)["sender"] == {"fingerprint": FP, "name": "Institut Y", "added": first,
                                                  "renamed_from": "Institut X"}
    r = run_cli("trust", "add", FP, "--name", "Institut Y", env=env)  # the same name again: no rename
    assert r.returncode == 0 and "renamed" not in r.stdout
    stored = (tmp_path / "home" / "trusted-senders.toml").read_text(encoding="utf-8")
    assert "renamed_from" not in stored and "Institut Y" in stored
