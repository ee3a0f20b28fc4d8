"""The manifest encoded straight from the layout, one image record at a time
(issue #18), is byte for byte the manifest of the whole document."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dossierkit.model import ImageInstance
from dossierkit.package.layout import plan_layout
from dossierkit.package.manifest import GeneratedFile, build_manifest, encode_manifest, manifest_bytes
from tests.pkg_fixtures import add_documents, new_workspace

TEXT = st.one_of(st.none(), st.text(max_size=12))  # any code point: quotes, "\n", U+2028, surrogates' neighbours
UID = st.sampled_from(["1.2.3", "1.2.3.4", "2.25.9"])
PROVENANCE = st.one_of(st.none(), st.dictionaries(st.text(max_size=5), st.one_of(st.text(max_size=5), st.integers(),
                                                                                  st.none()), max_size=3))


@st.composite
def instances(draw) -> list[ImageInstance]:
    out = []
    for n in range(draw(st.integers(0, 12))):
        out.append(ImageInstance(
            sop_instance_uid=f"1.9.{n}", sop_class_uid=draw(UID), study_instance_uid=draw(UID),
            series_instance_uid=draw(UID), path=f"images/IMG{n:06d}.dcm", sha256=f"{n:064x}",
            size=draw(st.integers(0, 2**40)), transfer_syntax=draw(st.one_of(st.none(), UID)),
            patient_name=draw(TEXT), study_date=draw(st.one_of(st.none(), st.sampled_from(["20260101", "2026"]))),
            study_time=draw(TEXT), study_description=draw(TEXT), accession_number=draw(TEXT),
            modality=draw(st.one_of(st.none(), st.sampled_from(["CT", "MR", "PT"]))),
            series_number=draw(st.one_of(st.none(), st.integers(-5, 5))), series_description=draw(TEXT),
            instance_number=draw(st.one_of(st.none(), st.integers(-3, 10**12))),
            provenance=draw(PROVENANCE) or None))
    return out


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    ws = new_workspace(tmp_path_factory.mktemp("enc") / "ws")
    add_documents(ws)
    return ws


def _args(ws, images, findings):
    gen = [GeneratedFile("README.TXT", "readme", b"r", "0" * 64), GeneratedFile("DICOMDIR", "dicomdir", b"dd", "1" * 64)]
    return dict(dossier=ws.dossier, layout=plan_layout(ws.documents(), images), generated=gen,
                completeness={"status": "incomplete", "findings": findings, "waived": [], "counts": {}},
                container="password", created="2026-12-01T06:00:00Z", stand_ins={"STUDY.StudyTime": 1},
                xdm={"metadata": "IHE_XDM/SUBSET01/METADATA.XML", "patient_id": "X^^^&1.2&ISO", "patient_id_kind": "k"})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(images=instances(), findings=st.lists(st.dictionaries(st.text(max_size=4), TEXT, max_size=3), max_size=3))
def test_encoded_record_by_record_is_the_whole_documents_bytes(ws, images, findings):
    args = _args(ws, images, findings)
    data, totals = encode_manifest(**args)
    whole = build_manifest(**args)
    assert data == manifest_bytes(whole)
    assert data == (json.dumps(whole, ensure_ascii=False, indent=1) + "\n").encode("utf-8")
    assert totals == whole["totals"] and list(whole)[-1] == "xdm"
    n = sum(len(se["instances"]) for s in whole["studies"] for se in s["series"])
    assert n == len(images) == totals["instances"]


def test_no_image_and_no_xdm(ws):
    args = _args(ws, [], [])
    del args["xdm"]
    data, _totals = encode_manifest(**args)
    assert data == manifest_bytes(build_manifest(**args))
    assert json.loads(data)["studies"] == [] and "xdm" not in json.loads(data)


def test_root_entry_holds_large_generated_files_deflated():
    from dossierkit.package import root as root_mod

    big = b"".join(b"%064x  DICOM/ST000001/SE000001/IM%06d\n" % (n, n) for n in range(3000))
    entry = root_mod.RootEntry("DOSSIER/SHA256SUMS", len(big), "0" * 64, data=big)
    assert entry.data == big and len(entry._data) < len(big) // 3  # held deflated, given back whole
    entry.data = None
    assert entry.data is None
    small = root_mod.RootEntry("README.TXT", 3, "0" * 64, data=b"abc")
    assert small.data == b"abc" and small._data == b"abc"
    image = root_mod.RootEntry("DICOM/ST000001/SE000001/IM000001", 9, "1" * 64, base="/ws", rel="images/IMG1.dcm")
    assert image.data is None and image.source == "/ws/images/IMG1.dcm"


def test_a_package_with_every_generated_file_deflated_verifies(tmp_path, monkeypatch):
    """Every generated file over 0 bytes held deflated (the manifest always is): the
    package pack writes is byte-valid (verify, sha256sum-equivalent sums)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from dossierkit.package import root as root_mod
    from dossierkit.package.pack import pack
    from dossierkit.package.verify import verify_package
    from tests.pkg_fixtures import full_workspace, trust_sender

    monkeypatch.setattr(root_mod, "_PACK_ABOVE", 0)
    key = Ed25519PrivateKey.generate()
    trust_sender(key)
    ws = full_workspace(tmp_path / "ws")
    built = root_mod.build_root(ws, signing_key=key, completeness={"status": "complete", "findings": [],
                                                                   "waived": [], "counts": {}, "reason": None},
                                container="password")
    assert all(e._packed for e in built.entries if e.source is None)
    assert built.manifest["totals"] == built.totals
    res = pack(ws, tmp_path / "out" / "d.zip", signing_key=key, password="tulipe-orage-cadran-mesure-violon-24",
               allow_incomplete=True, reason="test")
    report = verify_package(res.package, password="tulipe-orage-cadran-mesure-violon-24")
    assert report.ok, report.failures


def test_root_entry_chunks_inflate_piece_by_piece(monkeypatch):
    """The writer takes a generated file as pieces, inflated as they go: the
    pieces join to the file, none longer than the piece size (#18)."""
    import os

    from dossierkit.package import root as root_mod

    monkeypatch.setattr(root_mod, "_PIECE", 4096)
    big = os.urandom(50_000) + b"".join(b"%064x  DICOM/ST000001/SE000001/IM%06d\n" % (n, n) for n in range(3000))
    entry = root_mod.RootEntry("DOSSIER/SHA256SUMS", len(big), "0" * 64, data=big)
    pieces = list(entry.chunks())
    assert entry._packed and b"".join(pieces) == big and max(map(len, pieces)) <= 4096 and len(pieces) > 10
    small = root_mod.RootEntry("README.TXT", 3, "0" * 64, data=b"abc")
    assert list(small.chunks()) == [b"abc"]
    assert list(root_mod.RootEntry("DICOM/X", 1, "0" * 64, base="/ws", rel="images/X.dcm").chunks()) == []


def test_root_entries_hold_the_workspace_files_packed():
    """The workspace files are rows of one bytearray, given back as RootEntry
    objects in order, by index and slice; generated files go among the first."""
    from dossierkit.package import root as root_mod

    files = root_mod._FileRows("/ws")
    rows = [(f"DICOM/ST000001/SE000001/IM{i:06d}", 1000 + i, f"{i:064x}", f"images/IMG{i:06d}é.dcm")
            for i in range(1, 6)]
    for path, size, sha, rel in rows:
        files.add(path, size, sha, rel)
    head = [root_mod.RootEntry(name, 3, "a" * 64, data=b"abc") for name in ("DOSSIER/MANIFEST.JSON", "README.TXT")]
    entries = root_mod.RootEntries(head, files)
    assert len(entries) == 7 and entries.total_bytes == 6 + sum(r[1] for r in rows)
    got = [(e.path, e.size, e.sha256, e.source) for e in entries][2:]
    assert got == [(p, s, h, f"/ws/{r}") for p, s, h, r in rows]
    assert entries[3].path == rows[1][0] and entries[-1].sha256 == rows[-1][2] and entries[0] is head[0]
    assert [e.path for e in entries[1:4]] == ["README.TXT", rows[0][0], rows[1][0]]
    entries.insert(1, root_mod.RootEntry("DOSSIER/MANIFEST.P7S", 2, "b" * 64, data=b"xy"))
    assert [e.path for e in entries][:3] == ["DOSSIER/MANIFEST.JSON", "DOSSIER/MANIFEST.P7S", "README.TXT"]
    with pytest.raises(IndexError):
        entries.insert(5, head[1])  # not among the workspace files
    with pytest.raises(IndexError):
        entries[8]
