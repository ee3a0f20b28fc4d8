"""fsutil.write_json_records_atomic: the streamed JSON of the image index."""

from __future__ import annotations

import json

import pytest

from hypothesis import given, settings
from hypothesis import strategies as st

from dossierkit.errors import InputError
from dossierkit.fsutil import read_json, write_json_records_atomic

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
