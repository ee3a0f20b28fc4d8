import json
import multiprocessing
import os

import pytest

from dossierkit.trace import journal
from dossierkit.errors import IntegrityError


def _fill(path, n=5):
    return [journal.append(path, {"event": "verify", "package_sha256": f"{i:064x}", "result": "intact"})
            for i in range(n)]


def _lines(path):
    return path.read_bytes().splitlines(keepends=True)


def test_chain_is_well_formed_and_verifies(tmp_path):
    path = tmp_path / "j" / "journal.jsonl"
    entries = _fill(path)
    assert [e["seq"] for e in entries] == [1, 2, 3, 4, 5]
    assert entries[0]["prev"] == "0" * 64
    assert all(b["prev"] == a["hash"] for a, b in zip(entries, entries[1:]))
    assert entries[-1]["time"].endswith("Z")
    report = journal.verify(path)
    assert report.ok and report.entries == 5 and report.head == journal.Head(5, entries[-1]["hash"])
    assert journal.head_of(path) == report.head
    # Lines are canonical JSON, so the hash can be recomputed by hand from the line.
    first = json.loads(_lines(path)[0])
    assert journal.entry_hash(first) == entries[0]["hash"]


def test_refuses_patient_data_and_reserved_keys(tmp_path):
    path = tmp_path / "journal.jsonl"
    for bad in ({"event": "receipt", "patient": {"family_name": "X"}}, {"event": "pack", "title": "CR"},
                {"event": "pack", "seq": 4}, {"package_sha256": "ab"}, {"event": "pack", "ratio": 0.5}):
        with pytest.raises(ValueError):
            journal.append(path, bad)
    assert not path.exists()


def _tamper(path, fn):
    lines = _lines(path)
    fn(lines)
    path.write_bytes(b"".join(lines))


def _edit(lines):
    e = json.loads(lines[2])
    e["package_sha256"] = "f" * 64
    lines[2] = json.dumps(e, sort_keys=True, separators=(",", ":")).encode() + b"\n"


def _edit_and_rehash(lines):
    e = json.loads(lines[2])
    e["package_sha256"] = "f" * 64
    e["hash"] = journal.entry_hash(e)
    lines[2] = json.dumps(e, sort_keys=True, separators=(",", ":")).encode() + b"\n"


def _insert(lines):
    e = json.loads(lines[1])
    e["seq"] = 3
    e["prev"] = e["hash"]
    e["hash"] = journal.entry_hash(e)
    lines.insert(2, json.dumps(e, sort_keys=True, separators=(",", ":")).encode() + b"\n")


@pytest.mark.parametrize("fn,first_broken,word", [
    (_edit, 3, "edited"),
    (_edit_and_rehash, 4, "entry 3"),
    (lambda ls: ls.pop(2), 3, "entry 3 was removed"),
    (_insert, 4, "inserted"),
    (lambda ls: ls.__setitem__(slice(1, 3), [ls[2], ls[1]]), 2, "reordered (entry 2 is at line 3)"),
    (lambda ls: ls.__setitem__(4, ls[4][:-1]), 5, "not terminated"),
    (lambda ls: ls.__setitem__(1, ls[1].replace(b",", b", ", 1)), 2, "canonical"),
])
def test_tampering_is_detected_with_the_entry_number(tmp_path, fn, first_broken, word):
    path = tmp_path / "journal.jsonl"
    _fill(path)
    assert journal.verify(path).ok
    _tamper(path, fn)
    report = journal.verify(path)
    assert not report.ok
    assert report.first_broken == first_broken
    assert f"entry {first_broken}:" in report.problem and word in report.problem


def test_append_refuses_a_damaged_tail(tmp_path):
    path = tmp_path / "journal.jsonl"
    _fill(path, 2)
    _tamper(path, lambda ls: ls.__setitem__(1, ls[1][:-1]))
    with pytest.raises(IntegrityError, match="incomplete"):
        journal.append(path, {"event": "pack"})
    _tamper(path, lambda ls: ls.__setitem__(1, ls[1] + b"\n"))
    _tamper(path, lambda ls: ls.__setitem__(1, ls[1].replace(b'"intact"', b'"altered"')))
    with pytest.raises(IntegrityError, match="damaged"):
        journal.append(path, {"event": "pack"})


def test_truncated_tail_is_caught_against_an_anchor(tmp_path):
    path = tmp_path / "journal.jsonl"
    _fill(path, 3)
    anchor = journal.head_of(path).to_dict()
    journal.append(path, {"event": "receipt", "receipt_id": "RC-1"})
    own = {"event": "receipt", "receipt_id": "RC-1"}
    ok = journal.check_anchor(journal.verify(path), anchor, path, label="receipt RC-1", own_entry=own)
    assert ok["ok"], ok
    # Cut the receipt's own entry: the chain is still valid, the anchor is not enough alone.
    _tamper(path, lambda ls: ls.pop())
    assert journal.verify(path).ok
    res = journal.check_anchor(journal.verify(path), anchor, path, label="receipt RC-1", own_entry=own)
    assert not res["ok"] and "no entry for it after entry 3" in res["problem"]
    # Cut below the anchor.
    _tamper(path, lambda ls: ls.pop())
    res = journal.check_anchor(journal.verify(path), anchor, path, label="receipt RC-1", own_entry=own)
    assert not res["ok"] and "truncated" in res["problem"]
    # Rewritten journal of the same length: the anchor hash differs.
    path.unlink()
    journal.append(path, {"event": "pack", "package_sha256": "e" * 64})
    _fill(path, 3)
    res = journal.check_anchor(journal.verify(path), anchor, path, label="receipt RC-1")
    assert not res["ok"] and "rewritten" in res["problem"]


def _worker(path, n):
    for i in range(n):
        journal.append(path, {"event": "verify", "package_sha256": f"{os.getpid():08x}{i:056x}"})


def test_concurrent_writers_keep_the_chain(tmp_path):
    path = tmp_path / "journal.jsonl"
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_worker, args=(path, 25)) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
    report = journal.verify(path)
    assert report.ok, report.problem
    assert report.entries == 75


def test_resolve_path_precedence(tmp_path, monkeypatch):
    monkeypatch.delenv(journal.ENV_VAR, raising=False)
    monkeypatch.setenv("DOSSIERKIT_HOME", str(tmp_path / "home"))
    assert journal.resolve_path() == tmp_path / "home" / "journal.jsonl"
    assert journal.resolve_path(workspace=tmp_path / "ws") == tmp_path / "ws" / "journal.jsonl"
    monkeypatch.setenv(journal.ENV_VAR, str(tmp_path / "env.jsonl"))
    assert journal.resolve_path(workspace=tmp_path / "ws") == tmp_path / "env.jsonl"
    assert journal.resolve_path(tmp_path / "x.jsonl", workspace=tmp_path / "ws") == tmp_path / "x.jsonl"
