"""The workspace on disk: layout, refusal to overwrite, indexes, the sample dossier."""

from __future__ import annotations

import datetime as dt
import os

import pytest
from docsamples import SAMPLES

from dossierkit.errors import ExitCode, InputError, OutputError
from dossierkit.model import DocumentRecord, InvalidDossierError
from dossierkit.workspace import (Workspace, dump_dossier_toml, init_workspace, load_dossier_file,
                                  read_toml_file)
from tests.conftest import SAMPLE_PATIENT


def test_init_creates_layout_with_neutral_names(tmp_path):
    ws = init_workspace(tmp_path / "ws", dict(SAMPLE_PATIENT))
    assert sorted(os.listdir(ws.root)) == ["documents", "dossier.toml", "images", "index"]
    assert ws.dossier.id.startswith("DK-") and ws.dossier.created.endswith("Z")
    text = (ws.root / "dossier.toml").read_text(encoding="utf-8")
    assert "Contains patient data" in text and "Lefèvre" in text
    # nothing named after the patient anywhere in the tree
    names = [p.name for p in ws.root.rglob("*")]
    assert not [n for n in names if "lef" in n.lower() or "1958" in n]


def test_init_refuses_an_existing_workspace_unless_forced(tmp_path):
    init_workspace(tmp_path / "ws", dict(SAMPLE_PATIENT))
    with pytest.raises(OutputError) as ei:
        init_workspace(tmp_path / "ws", dict(SAMPLE_PATIENT))
    assert ei.value.exit_code == ExitCode.OUTPUT and "--force" in ei.value.line()
    again = init_workspace(tmp_path / "ws", {**SAMPLE_PATIENT, "notes": "second"}, force=True)
    assert again.dossier.notes == "second"


def test_init_on_a_file_is_refused(tmp_path):
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(OutputError, match="not a folder"):
        init_workspace(target, dict(SAMPLE_PATIENT))


def test_invalid_dossier_writes_nothing(tmp_path):
    with pytest.raises(InvalidDossierError):
        init_workspace(tmp_path / "ws", {"patient": {"family_name": "X"}})
    assert not (tmp_path / "ws").exists()


def test_workspace_requires_dossier_toml(tmp_path):
    with pytest.raises(InputError, match="not a dossier workspace") as ei:
        Workspace(tmp_path)
    assert ei.value.exit_code == ExitCode.USAGE and "dossierkit init" in ei.value.line()


def test_documents_index_roundtrip(tmp_path):
    ws = init_workspace(tmp_path / "ws", dict(SAMPLE_PATIENT))
    assert ws.documents() == []
    rec = DocumentRecord(id="DOC0001", kind="pathology", path="documents/DOC0001.pdf", sha256="ab" * 32, size=10,
                         original_name="cr anapath.pdf", title="CR", date="2026-10-15", pages=2, has_text=True)
    ws.save_documents([rec])
    (back,) = Workspace(ws.root).documents()
    assert back == rec and back.loinc == "60568-3"
    assert not list((ws.root / "index").glob(".dk-tmp-*"))  # atomic write left no temp


def test_corrupt_index_is_one_clear_error(tmp_path):
    ws = init_workspace(tmp_path / "ws", dict(SAMPLE_PATIENT))
    (ws.root / "index/documents.json").write_text("[{")
    with pytest.raises(InputError, match="not valid JSON"):
        ws.documents()


def test_dossier_toml_roundtrip_keeps_dates_as_toml_dates(tmp_path):
    d = load_dossier_file(SAMPLES / "dossier.toml")
    p = tmp_path / "again.toml"
    p.write_bytes(dump_dossier_toml(d))
    assert "birth_date = 1958-03-14" in p.read_text(encoding="utf-8")
    assert load_dossier_file(p) == d


def test_sample_dossier_is_the_agreed_fictional_patient():
    d = load_dossier_file(SAMPLES / "dossier.toml")
    p = d.patient
    assert (p.family_name, p.given_names, p.birth_date, p.sex) == ("Lefèvre", ["Hélène", "Marie"],
                                                                     dt.date(1958, 3, 14), "F")
    assert (p.identifier.system, p.identifier.value, p.other_ids) == ("INS-NIR", "2580375123456", ["CHU-00482913"])
    assert d.initial_physician.name == "Dr Paul Garnier" and d.treating_gp.name == "Dr Anne Roux"
    assert d.second_opinion.establishment == "Institut Curie" and "Marchand" in d.second_opinion.name
    assert d.consent.given and d.consent.date == dt.date(2026, 11, 2) and d.consent.given_by == "patient"
    assert d.restrictions == ["no-copy-to-initial-physician"]


def test_read_toml_file_errors(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read_toml_file(tmp_path / "none.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("a = [")
    with pytest.raises(InputError, match="not valid TOML"):
        read_toml_file(bad)
