"""fsutil.write_json_records_atomic / read_json_records: the streamed JSON of the image index."""

from __future__ import annotations

import json

import pytest

from hypothesis import given, settings
from hypothesis import strategies as st

from dossierkit import fsutil
from dossierkit.errors import InputError
from dossierkit.fsutil import read_json, read_json_records, write_json_records_atomic

_scalars = st.none() | st.booleans() | st.integers() | st.text()
_values = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=4)
                       | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.text(max_size=12), _values | st.lists(_values, max_size=6), max_size=6))
def test_any_object_reads_back_equal(tmp_path_factory, obj):
    p = tmp_path_factory.mktemp("j") / "index.json"
    write_json_records_atomic(p, obj)
    assert json.loads(p.read_text(encoding="utf-8")) == obj


def test_one_record_a_line_and_no_temp_left(tmp_path):
    index = {"schema": 1, "instances": [{"path": f"images/IMG{i:06d}.dcm", "patient_name": "LEFÈVRE^Hélène"}
                                        for i in range(3)], "imports": [], "skipped": {}}
    p = tmp_path / "images.json"
    write_json_records_atomic(p, index)
    lines = p.read_text(encoding="utf-8").splitlines()
    assert sum('"path": "images/IMG' in ln for ln in lines) == 3 and len(lines) == 10
    assert "LEFÈVRE" in p.read_text(encoding="utf-8")  # UTF-8, not \\u escapes
    assert [q.name for q in tmp_path.iterdir()] == ["images.json"]


@pytest.mark.parametrize("text", ['{"a": ' + "9" * 5000 + "}", "[" * 3000 + "]" * 3000],
                         ids=["5000-digit integer", "3000-deep nesting"])
def test_read_json_refuses_malformed_workspace_files_as_bad_input(tmp_path, text):
    """A hand-edited workspace index (documents.json, images.json): exit 2
    with one line, never an internal error (issue #14 point 4)."""
    f = tmp_path / "images.json"
    f.write_text(text)
    with pytest.raises(InputError, match="not valid JSON"):
        read_json(f)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.text(max_size=12), _values | st.lists(_values, max_size=6), max_size=6),
       st.lists(_values, max_size=6))
def test_records_read_back_one_a_line(tmp_path_factory, obj, items):
    """Whatever the other members, the list *key* comes back item by item,
    through *record*, without a whole-file parse (read_json is not called)."""
    obj = {**obj, "instances": items}
    p = tmp_path_factory.mktemp("j") / "index.json"
    write_json_records_atomic(p, obj)
    seen = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(fsutil, "read_json", lambda *a, **k: pytest.fail("parsed whole"))
        rest, got = read_json_records(p, "instances", lambda item: seen.append(item) or ("rec", item))
    assert got == [("rec", i) for i in items] and seen == items
    assert rest == {k: v for k, v in obj.items() if k != "instances"}


def test_records_of_another_shape_parse_whole(tmp_path):
    obj = {"schema": 1, "instances": [{"path": "a", "n": 1}, {"path": "b", "n": 2}], "problems": ["x"]}
    p = tmp_path / "index.json"
    for text in (json.dumps(obj, indent=2), json.dumps(obj), json.dumps(obj, indent=4)):
        p.write_text(text, encoding="utf-8")
        assert read_json_records(p, "instances", lambda d: d["path"]) == ({"schema": 1, "problems": ["x"]},
                                                                          ["a", "b"])
    p.write_text('{"schema": 1}', encoding="utf-8")
    assert read_json_records(p, "instances", lambda d: d) == ({"schema": 1}, [])


@pytest.mark.parametrize("text", ['{\n  "instances": [\n    {"path": "a"},\n    {"path": \n  ]\n}\n',
                                  '{\n  "instances": [\n    {"path": "a"}\n', '{"instances": 3}', "[1, 2]", "",
                                  '{\n  "instances": [\n    ' + "[" * 3000 + "]" * 3000 + '\n  ]\n}\n',
                                  '{\n  "instances": [\n    {"size": ' + "9" * 5000 + '}\n  ]\n}\n'])
def test_records_of_broken_index_are_an_input_error(tmp_path, text):
    p = tmp_path / "images.json"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(InputError):
        read_json_records(p, "instances", lambda d: d)
