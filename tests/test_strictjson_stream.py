"""Streaming strict JSON (issue #18): ``strictjson.iterparse`` keeps every
rule of ``strictjson.loads`` while reading a document value by value, and
the manifest parsed record by record (verify, pack's plan check, receipt)
holds no tree of its files."""

from __future__ import annotations

import hashlib
import json
import random
import re
import tracemalloc

import pytest

from dossierkit import strictjson
from dossierkit.errors import IntegrityError
from dossierkit.package.manifest import MAX_RECORD_CHARS, manifest_bytes, manifest_outline, parse_manifest
from dossierkit.strictjson import StrictJSONError
from tests.test_strictjson import HOSTILE


def _everything(path: tuple) -> bool:
    return True


def _outline(doc: bytes, descend=_everything) -> object:
    return strictjson.loads_outline(doc, what="X.JSON", max_bytes=1 << 28, descend=descend, keep=_everything)


def manifest(n: int, *, per_series: int = 40) -> dict:
    """A manifest shaped as package.manifest.build_manifest writes it, *n* images."""
    series = []
    for k in range(0, n, per_series):
        series.append({"series_instance_uid": f"1.2.3.{k}", "modality": "CT", "number": k, "description": "é",
                       "count": min(per_series, n - k), "instances": [
                           {"path": f"DICOM/ST000001/SE{k:06d}/IM{i:06d}", "sop_instance_uid": f"1.2.826.0.1.{i}",
                            "sop_class_uid": "1.2.840.10008.5.1.4.1.1.2", "transfer_syntax": "1.2.840.10008.1.2.1",
                            "instance_number": i, "size": 20_000 + i,
                            "sha256": hashlib.sha256(str(i).encode()).hexdigest()}
                           for i in range(k, min(k + per_series, n))]})
    return {"format": "dossierkit-package-manifest", "schema": 1, "dossier_id": "D-1", "created": "2026-12-01",
            "tool": {"name": "dossierkit", "version": "0"}, "container": "zip",
            "dossier": {"id": "D-1", "patient": {"identifier": {"system": "IPP", "value": "42"}}},
            "completeness": {"status": "complete", "findings": [], "waived": [], "reason": None},
            "files": [{"path": "README.TXT", "role": "readme", "size": 3, "sha256": "0" * 64}],
            "documents": [{"path": "DOCS/D0001.PDF", "size": 9, "sha256": "1" * 64, "title": "😀"}],
            "studies": [{"study_instance_uid": "1.2.3", "date": "2024-01-02", "count": n, "series": series}],
            "totals": {"documents": 1, "studies": 1, "series": len(series), "instances": n, "files": n + 2}}


# ------------------------------------------------------------ the generic parser

@pytest.mark.parametrize("label,doc,reason", HOSTILE, ids=[h[0] for h in HOSTILE])
@pytest.mark.parametrize("descend", [_everything, lambda p: False, lambda p: len(p) < 2], ids=["all", "none", "top"])
def test_iterparse_refuses_what_loads_refuses(label, doc, reason, descend):
    with pytest.raises(StrictJSONError) as exc:
        _outline(doc, descend)
    line = exc.value.line()
    assert line.startswith("X.JSON: not valid JSON") and reason in line and "\n" not in line, line


@pytest.mark.parametrize("window", [1, 3, 7, 64 * 1024])
def test_any_window_reads_the_same_document(monkeypatch, window):
    # a window of 1 character cuts every number, literal, escape and UTF-8 sequence
    monkeypatch.setattr(strictjson, "_WINDOW", window)
    rng = random.Random(window)
    docs = [manifest(7), {"a": [True, False, None, -(2**53 - 1), 2**53 - 1, 0, -0, "\\u00e9\u2028\t\"", "😀" * 3]},
            [], {}, "é", 12345, [[[[{"x": []}]]]], {"k" * 300: ["v" * 70_000]}]
    for doc in docs:
        for raw in (json.dumps(doc).encode(), json.dumps(doc, ensure_ascii=False, indent=rng.choice([None, 1, 4])).encode()):
            for descend in (_everything, lambda p: False, lambda p: len(p) % 2 == 0):
                assert _outline(raw, descend) == json.loads(raw)


@pytest.mark.parametrize("bad", [b'{"a": 1,\n "b": x}', b'[1,\n2,\n3', b'{"a":1,}', b'[1,]', b'{"a" 1}', b"[1 2]",
                                 b" " * 100_000 + b"[1, 2, ?]", b"[" + b"1," * 60_000 + b"?]", b"", b"[1] 2"])
def test_errors_name_the_line_and_column_json_names(bad):
    try:
        json.loads(bad)
    except json.JSONDecodeError as exc:
        want = f"{exc.msg} at line {exc.lineno} column {exc.colno}"
    with pytest.raises(StrictJSONError) as got:
        _outline(bad)
    assert got.value.reason == want


def test_values_come_one_at_a_time_before_the_end():
    """The caller sees each element as it is read (no list of them), and a
    defect after them still fails the iteration."""
    seen = []
    with pytest.raises(StrictJSONError, match="Extra data"):
        for at, value in strictjson.iterparse(b'{"xs": [{"a": 1}, {"a": 2}]} garbage', what="X", max_bytes=100,
                                              descend=lambda p: len(p) < 2):
            seen.append((at, value))
    assert seen == [((), strictjson.OBJECT), (("xs",), strictjson.ARRAY), (("xs", 0), {"a": 1}),
                    (("xs", 1), {"a": 2})]


def test_an_element_larger_than_the_bound_is_refused_but_a_member_is_not():
    big = {"path": "x" * 100}
    doc = json.dumps({"xs": [big], "dossier": {"note": "y" * 300}}).encode()
    walk = lambda limit: list(strictjson.iterparse(doc, what="X", max_bytes=1 << 20,  # noqa: E731
                                                   descend=lambda p: p in ((), ("xs",)), max_element=limit))
    assert walk(200)[-1] == (("dossier",), {"note": "y" * 300})  # only elements of a streamed list are bounded
    with pytest.raises(StrictJSONError, match="an element of more than 50 characters"):
        walk(50)


# ------------------------------------------------------------ the manifest

def test_parse_manifest_reads_every_record():
    doc = manifest(95)
    view = parse_manifest(manifest_bytes(doc))
    images = [i for se in doc["studies"][0]["series"] for i in se["instances"]]
    assert list(view.files) == ["README.TXT", "DOCS/D0001.PDF", *(i["path"] for i in images)]
    last = view.files[images[-1]["path"]]
    assert (last.size, last.sha256, last.role, last.sop_instance_uid) == \
        (images[-1]["size"], images[-1]["sha256"], "image", images[-1]["sop_instance_uid"])
    assert view.files["README.TXT"].role == "readme" and view.files["DOCS/D0001.PDF"].role == "document"
    assert view.patient_identifier == ("IPP", "42") and view.counts()["instances"] == 95


def _tampered(edit) -> bytes:
    raw = manifest_bytes(manifest(30)).decode()
    return edit(raw).encode()


FIRST_SHA = hashlib.sha256(b"0").hexdigest()
HOSTILE_MANIFESTS = [
    ("duplicate key in a streamed record", lambda t: t.replace(f'"sha256": "{FIRST_SHA}"',
                                                               f'"sha256": "{FIRST_SHA}", "sha256": "{"f" * 64}"'),
     "duplicate key 'sha256'"),
    ("duplicate key in a walked series", lambda t: t.replace('"modality": "CT"', '"modality": "CT", "count": 1', 1),
     "duplicate key 'count'"),
    ("duplicate top-level list", lambda t: t.replace('"files": [', '"studies": [], "files": [', 1),
     "duplicate key 'studies'"),
    ("trailing garbage", lambda t: t + "{}", "Extra data"),
    ("trailing comma in instances", lambda t: re.sub(r"\}(\n *\])", r"},\1", t, count=1), "Expecting value"),
    ("truncated in the instances", lambda t: t[:len(t) // 2], "at line"),
    ("truncated after the last record", lambda t: t[:t.rindex("]")], "at line"),
    ("a NaN size", lambda t: t.replace('"size": 20000', '"size": NaN', 1), "NaN"),
    ("a float size", lambda t: t.replace('"size": 20000', '"size": 20000.0', 1), "fraction"),
    ("a huge record", lambda t: t.replace('"instance_number": 0,', '"instance_number": 0, "x": "'
                                          + "z" * MAX_RECORD_CHARS + '",', 1), "an element of more than"),
    ("a 40-deep record", lambda t: t.replace('"instance_number": 0,', '"instance_number": 0, "x": ' + "[" * 40
                                             + "]" * 40 + ",", 1), "nested deeper"),
]


@pytest.mark.parametrize("label,edit,reason", HOSTILE_MANIFESTS, ids=[h[0] for h in HOSTILE_MANIFESTS])
def test_hostile_manifests_are_refused_by_every_reader(label, edit, reason):
    raw = _tampered(edit)
    for read in (parse_manifest, manifest_outline):
        with pytest.raises(IntegrityError) as exc:
            read(raw)
        line = exc.value.line()
        assert line.startswith("DOSSIER/MANIFEST.JSON: not valid JSON") and reason in line, line


def test_every_cut_of_a_manifest_is_refused():
    raw = manifest_bytes(manifest(3))
    for cut in range(len(raw) - 1):  # the last byte is the newline: the document is whole without it
        with pytest.raises(IntegrityError):
            parse_manifest(raw[:cut])


def test_schema_problems_come_after_json_problems():
    # a whole parse named invalid JSON first; the streaming one must too
    raw = b'["not a manifest", ' + b"[" * 40 + b"]" * 40 + b"]"
    with pytest.raises(IntegrityError, match="nested deeper"):
        parse_manifest(raw)
    with pytest.raises(IntegrityError, match="not a dossierkit manifest"):
        parse_manifest(b'["not a manifest"]')
    with pytest.raises(IntegrityError, match="schema 2 is newer"):
        parse_manifest(manifest_bytes({**manifest(2), "schema": 2}))


def test_the_outline_keeps_everything_but_the_images():
    doc = manifest(50)
    outline = manifest_outline(manifest_bytes(doc))
    for se in doc["studies"][0]["series"]:
        se["instances"] = []
    assert outline == doc


def test_parsing_holds_no_tree_of_the_files():
    """Traced memory: beyond the records it returns, parse_manifest holds a
    bounded window (a whole parse held ≈ 1.2 kB a file more), and the
    outline holds nothing per image."""
    raw = manifest_bytes(manifest(5000, per_series=500))
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        view = parse_manifest(raw)
        kept, peak = (m - before for m in tracemalloc.get_traced_memory())
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        outline = manifest_outline(raw)
        outline_peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    assert len(view.files) == 5002 and outline["totals"]["instances"] == 5000
    assert peak - kept < 1_000_000, (peak, kept)
    assert outline_peak < 1_000_000, outline_peak
