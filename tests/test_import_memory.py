"""The importer's memory does not grow with a per-file list (issue #18): what
it keeps per file is a digest pair and the source's candidates, not a record.
Measured with tracemalloc on real imports of 200 and 2 000 files (no clock)."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

from dossierkit.gather import import_images
from dossierkit.workspace import IMAGES_INDEX, init_workspace

from conftest import SAMPLE_PATIENT
from images_fixtures import make_dicom

TEMPLATE_UID = "1.2.826.0.1.3680043.10.1.100000"  # even length: copies keep the element's padding


def _source(folder: Path, n: int) -> Path:
    """*n* DICOM files differing by their SOP Instance UID (one template's bytes, the UID rewritten)."""
    template = make_dicom(folder / "template.dcm", SOPInstanceUID=TEMPLATE_UID).read_bytes()
    (folder / "template.dcm").unlink()
    uid = TEMPLATE_UID.encode()
    for i in range(n):
        sub = folder / f"S{i // 500:03d}"
        sub.mkdir(exist_ok=True)
        (sub / f"IM{i:06d}").write_bytes(template.replace(uid, uid[:-6] + b"%06d" % (100000 + i)))
    return folder


def _peak_of_import(tmp_path: Path, n: int) -> int:
    src = _source(tmp_path / f"src{n}", n)
    ws = init_workspace(tmp_path / f"ws{n}", dict(SAMPLE_PATIENT))
    tracemalloc.start()
    try:
        report = import_images(ws, [src])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (report.imported, report.exit_code, report.totals["instances"]) == (n, 0, n)
    return peak


def test_import_memory_does_not_hold_a_record_per_file(tmp_path):
    small, large = _peak_of_import(tmp_path, 200), _peak_of_import(tmp_path, 2000)
    per_file = (large - small) / 1800
    # What stays per file: the source's candidate (path string, size), a UID digest and a SHA-256
    # (≈ 0.4 kB measured). A record per file (the index's dicts, a summary's list) costs 2-4 kB.
    assert per_file < 800, f"{per_file:.0f} bytes a file"


def test_index_is_rewritten_record_by_record_across_imports(tmp_path, empty_ws):
    """A second import copies the first one's records into the new index and
    names the kept instance of a UID conflict from them."""
    a = make_dicom(tmp_path / "a" / "IM1", uid_seed="same")
    make_dicom(tmp_path / "a" / "IM2", uid_seed="other")
    first = import_images(empty_ws, [tmp_path / "a"])
    assert first.imported == 2
    make_dicom(tmp_path / "c" / "IM1", uid_seed="same", InstanceNumber=9)  # same UID, other bytes
    second = import_images(empty_ws, [tmp_path / "c", a])
    assert (second.imported, second.duplicates) == (0, 1)
    (conflict,) = second.problems
    assert conflict["kind"] == "uid-conflict" and conflict["kept"] == "images/IMG000001.dcm"
    assert conflict["kept_source"] == str(a) and "images/IMG000001.dcm" in conflict["reason"]
    index = json.loads((empty_ws.root / IMAGES_INDEX).read_text())
    assert [d["path"] for d in index["instances"]] == ["images/IMG000001.dcm", "images/IMG000002.dcm"]
    assert index["problems"] == second.problems
    assert second.totals == {"instances": 2, "patients": 1, "studies": 1, "series": 1}


def test_an_index_of_another_layout_is_kept(tmp_path, empty_ws):
    """An index edited by hand (indented) is read whole once, then written one record a line."""
    make_dicom(tmp_path / "a" / "IM1", uid_seed="one")
    import_images(empty_ws, [tmp_path / "a"])
    path = empty_ws.root / IMAGES_INDEX
    path.write_text(json.dumps(json.loads(path.read_text()), indent=2))
    make_dicom(tmp_path / "b" / "IM1", uid_seed="two")
    report = import_images(empty_ws, [tmp_path / "b", tmp_path / "a"])
    assert (report.imported, report.duplicates, report.totals["instances"]) == (1, 1, 2)
    lines = path.read_text().splitlines()
    assert sum(line.startswith('    {"sop_instance_uid"') for line in lines) == 2
    # --reset drops the records of the file being replaced
    again = import_images(empty_ws, [tmp_path / "b"], reset=True)
    assert again.totals["instances"] == 1
    assert [d["path"] for d in json.loads(path.read_text())["instances"]] == ["images/IMG000001.dcm"]
