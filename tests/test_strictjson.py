"""Strict JSON (issue #14 point 5): the list of what json.loads accepts and
dossierkit refuses, at the reader and at every place that reads signed or
received JSON (manifest, seal, receipts/acks, journal): exit 3 and one
line, never an internal error."""

from __future__ import annotations

import json

import pytest
import rfc8785

from dossierkit import strictjson
from dossierkit.errors import ExitCode, IntegrityError
from dossierkit.package.manifest import parse_manifest
from dossierkit.package.seal import check_seal
from dossierkit.strictjson import StrictJSONError
from dossierkit.trace import journal, receipt
from dossierkit.trust.signing import canonical_json
from tests.conftest import run_cli

DEEP = b"[" * 3000 + b"]" * 3000
# (label, document, a word of the reason) — each is accepted by json.loads.
HOSTILE = [
    ("duplicate key", b'{"a": 1, "a": 2}', "duplicate key"),
    ("nested duplicate key", b'{"x": [{"sha256": "ab", "sha256": "cd"}]}', "duplicate key"),
    ("NaN", b'{"a": NaN}', "NaN"),
    ("Infinity", b'{"a": Infinity}', "Infinity"),
    ("-Infinity", b'{"a": -Infinity}', "Infinity"),
    ("1e400", b'{"a": 1e400}', "exponent"),
    ("a float", b'{"a": 1.5}', "fraction"),
    ("5000-digit integer", b'{"a": ' + b"9" * 5000 + b"}", "out of range"),
    ("2**53", b'{"a": 9007199254740992}', "out of range"),
    ("-2**53", b'{"a": -9007199254740992}', "out of range"),
    ("lone high surrogate", b'{"a": "\\ud800"}', "surrogate"),
    ("lone low surrogate in a key", b'{"\\udc00": 1}', "surrogate"),
    ("NUL", b'{"a": "x\\u0000y"}', "NUL"),
    ("NUL in a key", b'{"\\u0000": 1}', "NUL"),
    ("3000-deep nesting", DEEP, "nested"),
    ("33-deep nesting", b"[" * 33 + b"]" * 33, "nested"),
    ("33-deep objects", b'{"a":' * 33 + b"1" + b"}" * 33, "nested"),
    ("not UTF-8", b'{"a": "\xff"}', "UTF-8"),
    ("an encoded surrogate", b'{"a": "\xed\xa0\x80"}', "UTF-8"),
    ("trailing data", b'{"a": 1} {"b": 2}', "Extra data"),
]


@pytest.mark.parametrize("label,doc,reason", HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_json_is_refused_with_one_line(label, doc, reason):
    with pytest.raises(StrictJSONError) as exc:
        strictjson.loads(doc, what="X.JSON", max_bytes=1 << 20)
    line = exc.value.line()
    assert exc.value.exit_code == ExitCode.INTEGRITY and line.startswith("X.JSON: not valid JSON")
    assert reason in line and "\n" not in line and len(line) < 200, line


def test_oversize_is_refused_before_parsing():
    with pytest.raises(StrictJSONError, match="more than the 10 this document may hold"):
        strictjson.loads(b'{"a": "0123456789"}', what="X", max_bytes=10)


@pytest.mark.parametrize("doc", [
    {"a": 1, "b": [True, False, None, "é", "😀", "\u2028"], "c": {"d": -(2**53 - 1), "e": 2**53 - 1}},
    {"nested": [[[[{"x": "y"}]]]], "tab\t": "line\nbreak \"quoted\" \\"},
    [],
])
def test_what_dossierkit_writes_round_trips_to_the_same_canonical_bytes(doc):
    raw = canonical_json(doc)
    assert raw == rfc8785.dumps(doc)
    assert strictjson.loads(raw, what="X", max_bytes=1 << 20) == doc
    assert strictjson.loads(json.dumps(doc, indent=1).encode(), what="X", max_bytes=1 << 20) == doc


def test_depth_bound_is_exactly_the_documented_one():
    ok = b"[" * strictjson.MAX_DEPTH + b"]" * strictjson.MAX_DEPTH
    assert strictjson.loads(ok, what="X", max_bytes=1 << 20) is not None


def test_canonical_form_is_rfc8785_key_order():
    # RFC 8785 sorts keys by UTF-16 code units: U+1F600 (a surrogate pair,
    # D83D…) sorts before U+FF61, where code-point order puts it after.
    doc = {"\uff61": 1, "\U0001F600": 2, "a": 3}
    assert canonical_json(doc) == '{"a":3,"😀":2,"｡":1}'.encode()


# ------------------------------------------------------------ entry points

@pytest.mark.parametrize("label,doc,reason", HOSTILE[:16], ids=[h[0] for h in HOSTILE[:16]])
def test_manifest_and_seal_refuse_them(label, doc, reason):
    with pytest.raises(IntegrityError) as exc:
        parse_manifest(doc)
    assert exc.value.line().startswith("DOSSIER/MANIFEST.JSON: not valid JSON") and reason in exc.value.line()
    with pytest.raises(IntegrityError) as exc:
        check_seal(doc, b"{}", b"")
    assert exc.value.line().startswith("DOSSIER/MANIFEST.SIG: not valid JSON") and reason in exc.value.line()


@pytest.mark.parametrize("label,doc,reason", HOSTILE, ids=[h[0] for h in HOSTILE])
def test_receipt_and_journal_refuse_them(tmp_path, label, doc, reason):
    f = tmp_path / "r.json"
    f.write_bytes(doc)
    with pytest.raises(IntegrityError) as exc:
        receipt.verify_file(f)
    assert reason in exc.value.line() and "\n" not in exc.value.line()
    j = tmp_path / "journal.jsonl"
    j.write_bytes(doc + b"\n")
    rep = journal.verify(j)
    assert not rep.ok and rep.first_broken == 1 and reason in rep.problem, rep.problem


def test_a_duplicate_key_in_a_signed_journal_entry_is_refused(tmp_path):
    j = tmp_path / "journal.jsonl"
    journal.append(j, {"event": "verify", "package_sha256": "a" * 64, "result": "intact"})
    line = j.read_bytes()
    # Another verifier keeping the first value would read "altered"; we keep neither.
    j.write_bytes(line.replace(b'"event":"verify"', b'"event":"altered","event":"verify"'))
    rep = journal.verify(j)
    assert not rep.ok and "duplicate key 'event'" in rep.problem


def test_an_overlong_journal_line_is_refused_without_reading_it_whole(tmp_path):
    j = tmp_path / "journal.jsonl"
    journal.append(j, {"event": "verify", "package_sha256": "a" * 64, "result": "intact"})
    with open(j, "ab") as fh:
        fh.write(b'{"a": "' + b"x" * (3 * journal.MAX_ENTRY_BYTES) + b'"}\n')
    rep = journal.verify(j)
    assert not rep.ok and rep.first_broken == 2 and "more than the" in rep.problem
    assert [n for n, _raw, _t in journal._lines(j)] == [1, 2]


@pytest.mark.parametrize("doc", [b'{"a": ' + b"9" * 5000 + b"}", DEEP, b'{"type": "dossierkit-receipt", '
                                 b'"type": "dossierkit-ack"}'], ids=["big int", "deep", "duplicate"])
def test_cli_receipt_and_journal_verify_exit_3_with_one_line(tmp_path, doc):
    f = tmp_path / "r.json"
    f.write_bytes(doc)
    r = run_cli("receipt", "verify", f)
    assert r.returncode == 3 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    j = tmp_path / "journal.jsonl"
    j.write_bytes(doc + b"\n")
    r = run_cli("journal", "verify", j)
    assert r.returncode == 3 and "not valid JSON" in r.stderr and "Traceback" not in r.stderr, r.stderr
