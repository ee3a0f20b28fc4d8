"""PDF validation, bounded extraction, text heuristics and add_documents."""

from __future__ import annotations

import datetime as dt
import json
import shutil

import pypdf
import pytest
from docsamples import BROKEN, SAMPLES, make_pdf, many_pages_pdf, sample_entries, with_active_content
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dossierkit.gather.doctext import (compare_document_identity, find_document_date, find_specialties, guess_title,
                                parse_user_date, rcp_content, stated_identity)
from dossierkit.gather.documents import add_documents, extract_text, guess_kind, validate_pdf
from dossierkit.errors import ExitCode, InputError, UsageError
from dossierkit.fsutil import sha256_file
from dossierkit.workspace import Workspace

# --------------------------------------------------------------------------- validate_pdf


@pytest.mark.parametrize("entry", sample_entries(), ids=lambda e: e["kind"])
def test_sample_documents_are_valid_with_text(entry):
    info = validate_pdf(SAMPLES / entry["file"])
    assert info.pages == 1 and info.has_text and not info.encrypted
    assert "LEFÈVRE" in info.text
    assert info.title and info.creation_date


@pytest.mark.parametrize("name, fragment", [
    ("password-protected.pdf", "password-protected"),
    ("empty.pdf", "empty (0 bytes)"),
    ("truncated.pdf", "truncated"),
    ("not-a-pdf.pdf", "not a PDF"),
    ("no-pages.pdf", "no pages"),
])
def test_broken_pdfs_are_refused_with_one_line(name, fragment):
    with pytest.raises(InputError) as ei:
        validate_pdf(BROKEN / name)
    line = ei.value.line()
    assert fragment in line and name in line and "\n" not in line
    assert ei.value.exit_code == ExitCode.USAGE


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(InputError, match="not found"):
        validate_pdf(tmp_path / "nope.pdf")
    with pytest.raises(InputError, match="folder"):
        validate_pdf(tmp_path)


def test_truncation_keeping_the_tail_is_detected(tmp_path):
    """Cut out the middle but keep the trailer: startxref now points past the end."""
    data = (SAMPLES / "documents/02-anatomopathologie.pdf").read_bytes()
    p = tmp_path / "holed.pdf"
    p.write_bytes(data[: len(data) // 3] + data[-60:])
    with pytest.raises(InputError, match="truncated or damaged"):
        validate_pdf(p)


def test_truncated_by_a_few_bytes_is_refused(tmp_path):
    data = (SAMPLES / "documents/02-anatomopathologie.pdf").read_bytes()
    p = tmp_path / "short.pdf"
    p.write_bytes(data[:-8])
    with pytest.raises(InputError, match="truncated"):
        validate_pdf(p)


def test_owner_password_only_pdf_opens_and_is_accepted(tmp_path):
    """Restrictions without a user password: every viewer opens it, so it is valid."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("Helvetica", size=11)
    pdf.add_page()
    pdf.cell(text="Compte rendu de consultation - document protege en modification seulement")
    pdf.set_encryption(owner_password="owner")
    p = tmp_path / "owner.pdf"
    pdf.output(str(p))
    info = validate_pdf(p)
    assert info.encrypted and info.has_text and "consultation" in info.text


def test_scanned_pdf_is_valid_without_text():
    info = validate_pdf(BROKEN / "scanned.pdf")
    assert info.pages == 1 and not info.has_text and info.text == ""
    assert info.creation_date == dt.date(2026, 10, 22)


@pytest.mark.parametrize("what,expected", [
    (("open-js",), ("JavaScript",)),
    (("page-js",), ("JavaScript",)),
    (("names-js", "attachment"), ("JavaScript", "embedded files")),
    (("attachment",), ("embedded files",)),
    (("annot-file",), ("embedded files",)),
    (("launch",), ("a program launch",)),  # behind a harmless GoTo, in its /Next chain
    (("xfa",), ("an XFA form",)),
    (("open-js", "launch", "xfa"), ("a program launch", "an XFA form")),  # one /OpenAction: the last one set
])
def test_active_content_is_found_in_real_pdfs(tmp_path, what, expected):
    src = SAMPLES / "documents" / "02-anatomopathologie.pdf"
    info = validate_pdf(with_active_content(src, tmp_path / "a.pdf", *what))
    assert info.active_content == expected and info.pages >= 1


def test_plain_documents_hold_no_active_content():
    for p in [*sorted((SAMPLES / "documents").glob("*.pdf")), BROKEN / "scanned.pdf"]:
        assert validate_pdf(p).active_content == (), p


def test_extraction_is_bounded_and_never_flattens_the_page_tree(tmp_path, monkeypatch):
    p = tmp_path / "many.pdf"
    p.write_bytes(many_pages_pdf(20_000, "Texte de la page"))

    def no_flatten(*a, **k):  # pypdf's reader.pages walks every page first: 24 s for 100 000
        raise AssertionError("flattened")

    monkeypatch.setattr(pypdf.PdfReader, "_flatten", no_flatten)
    info = validate_pdf(p)
    assert info.pages == 20_000
    assert extract_text(p, max_pages=3).count("Texte de la page") == 3
    assert len(extract_text(p, max_pages=1000, max_chars=100)) == 100


def test_cyclic_page_tree_is_bounded(tmp_path):
    data = many_pages_pdf(1).replace(b"/Kids [4 0 R]", b"/Kids [2 0 R]")  # the tree contains itself
    p = tmp_path / "cycle.pdf"
    p.write_bytes(data)
    with pytest.raises(InputError):
        validate_pdf(p)


# Fuzz: whatever the bytes, validate_pdf answers InputError or a PdfInfo.
_SAMPLE_BYTES = (SAMPLES / "documents/01-fiche-rcp.pdf").read_bytes()


@st.composite
def pdfish(draw):
    choice = draw(st.integers(0, 2))
    if choice == 0:
        return draw(st.binary(max_size=2048))
    if choice == 1:
        body = draw(st.binary(max_size=1024))
        xref = draw(st.integers(0, 5000))
        return b"%PDF-1.4\n" + body + b"\nstartxref\n%d\n%%%%EOF\n" % xref
    data = bytearray(_SAMPLE_BYTES)
    for _ in range(draw(st.integers(1, 8))):
        pos = draw(st.integers(0, len(data) - 1))
        data[pos] = draw(st.integers(0, 255))
    return bytes(data)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=pdfish())
def test_fuzz_validate_pdf_raises_only_input_error(tmp_path, data):
    p = tmp_path / "fuzz.pdf"
    p.write_bytes(data)
    try:
        info = validate_pdf(p)
    except InputError as exc:
        assert "\n" not in exc.line()
    else:
        assert info.pages >= 1


# --------------------------------------------------------------------------- text heuristics


def _text(rel: str) -> str:
    return extract_text(SAMPLES / rel)


@pytest.mark.parametrize("entry", sample_entries(), ids=lambda e: e["kind"])
def test_guess_kind_on_samples(entry):
    assert guess_kind(_text(entry["file"])) == entry["kind"]


@pytest.mark.parametrize("text, kind", [
    ("CHU X\nFiche de Réunion de Concertation Pluridisciplinaire\nRCP du 01/02/2026", "rcp"),
    ("Laboratoire\nCompte rendu anatomopathologique\nexamen histologique", "pathology"),
    ("Clinique Y\nCOMPTE RENDU OPÉRATOIRE\nOpérateur : Dr Z", "operative-report"),
    ("Cabinet\nCher Confrère,\nJe vous adresse Madame X pour un second avis.", "referral-letter"),
])
def test_guess_kind_phrases(text, kind):
    assert guess_kind(text) == kind


@pytest.mark.parametrize("text", ["", "   ", "Bonjour, ceci est une note sans titre.",
                                  "Compte rendu opératoire et compte rendu d'imagerie"])
def test_guess_kind_undecided(text):
    assert guess_kind(text) is None


def test_document_date_skips_birth_dates_and_reads_french_months():
    assert find_document_date("Née le 14/03/1958\nDate de l'examen : 10/09/2026") == dt.date(2026, 9, 10)
    assert find_document_date("Date de naissance : 14/03/1958, vu le 1er novembre 2026") == dt.date(2026, 11, 1)
    assert find_document_date("Fait à Nantes, le 2026-10-28") == dt.date(2026, 10, 28)
    assert find_document_date("Nantes, le 31/02/2026") is None  # not a calendar date
    assert find_document_date("Tumeur de 10/12/2026 mm") is None  # no « date » / « le » before it


def test_parse_user_date():
    assert parse_user_date("2026-10-28") == dt.date(2026, 10, 28)
    assert parse_user_date("28/10/2026") == dt.date(2026, 10, 28)
    assert parse_user_date("hier") is None


def test_guess_title_skips_identity_lines():
    text = "Patient(e) : Mme LEFÈVRE Hélène\nCHU de Nantes\nCompte rendu de consultation\nTexte"
    assert guess_title(text) == "Compte rendu de consultation"
    assert guess_title("Patient : X Y\nCHU de Nantes\nDivers") == "CHU de Nantes"
    assert guess_title("12 34") is None


@pytest.fixture(scope="module")
def patient():
    from dossierkit.workspace import load_dossier_file

    return load_dossier_file(SAMPLES / "dossier.toml").patient


def test_identity_of_every_sample_matches(patient):
    for e in sample_entries():
        stated = stated_identity(_text(e["file"]))
        assert stated.states_patient
        cmp = compare_document_identity(patient, stated)
        assert not cmp.mismatch and cmp.name_ok and cmp.birth_date_ok, e["file"]


def test_identity_other_patient(patient):
    cmp = compare_document_identity(patient, stated_identity(extract_text(BROKEN / "other-patient.pdf")))
    assert cmp.mismatch and cmp.reasons() == ["name", "birth date"]


@pytest.mark.parametrize("text, reasons", [
    ("NOM : lefevre   Prénom : helene\nDate de naissance : 14.03.1958", []),  # case, accents, dots
    ("Nom de naissance : LEFEVRE\nNIR : 2 58 03 75 123 456 78", []),
    ("Patiente : Mme Hélène LEFÈVRE-DURAND", []),  # compound name holding hers
    ("Nom : MARTIN\nNée le 14/03/1958", ["name"]),
    ("Patient(e) : Mme LEFÈVRE Hélène\nNé(e) le : 15/03/1958", ["birth date"]),
    ("Nom : Lefèvre\nPrénom(s) : Sophie", ["name"]),
    ("Nom : Lefèvre\nINS : 2 62 07 44 109 321", ["identifier"]),
    ("Adressée par Dr Martin, nom du médecin : Dr Durand", None),  # states no patient
    ("Nom de naissance : LEFEVRE\nNom d'usage : MARTIN", []),  # a married name the dossier lacks
    ("Nom d'usage : MARTIN\nNom : DURAND", ["name"]),
    ("Patient(e) : Mme MARTIN née LEFÈVRE Hélène", []),
    ("Patient(e) : Mme MARTIN née DURAND", ["name"]),
    ("Nom : DURAND\nPage 2 - Nom : LEFEVRE", ["name"]),  # one page of another patient is enough
])
def test_identity_statements(patient, text, reasons):
    stated = stated_identity(text)
    if reasons is None:
        assert not stated.states_patient
        return
    assert compare_document_identity(patient, stated).reasons() == reasons


def test_identity_ipp_never_contradicts(patient):
    cmp = compare_document_identity(patient, stated_identity("Patient : LEFEVRE Hélène\nIPP : 99-123456"))
    assert not cmp.mismatch


def test_specialties():
    text = ("Participants : Dr A, oncologue radiothérapeute ; Dr B (chirurgien gynécologue)\n"
            "Oncologie médicale : Dr C\nProposition : radiothérapie puis chirurgie\n"
            "avis du radiologue")
    assert find_specialties(text) == ["radiothérapie", "chirurgie", "oncologie médicale", "radiologie"]
    assert find_specialties("Proposition : radiothérapie, chimiothérapie, chirurgie") == []


def test_rcp_content_of_sample_and_incomplete_variant():
    full = rcp_content(_text("documents/01-fiche-rcp.pdf"))
    assert full.meeting_date == dt.date(2026, 10, 28) and full.has_proposal and full.has_tumour_site
    assert len(full.specialties) >= 3
    poor = rcp_content(extract_text(BROKEN / "rcp-incomplete.pdf"))
    assert not poor.has_proposal and poor.specialties == ["oncologie médicale"]


# --------------------------------------------------------------------------- add_documents


def test_add_copies_under_neutral_names_and_indexes(empty_ws):
    src = SAMPLES / "documents/01-fiche-rcp.pdf"
    (rec,) = add_documents(empty_ws, [src], kind="auto")
    assert rec.id == "DOC0001" and rec.path == "documents/DOC0001.pdf" and rec.kind == "rcp"
    assert rec.loinc == "34794-8" and rec.original_name == "01-fiche-rcp.pdf"
    assert rec.date == "2026-10-28" and rec.title.startswith("Fiche de Réunion")
    assert rec.sha256 == sha256_file(src) == sha256_file(empty_ws.path(rec.path))
    index = json.loads((empty_ws.root / "index/documents.json").read_text())
    assert index[0]["original_name"] == "01-fiche-rcp.pdf" and index[0]["loinc"] == "34794-8"
    assert [p.name for p in empty_ws.documents_dir.iterdir()] == ["DOC0001.pdf"]


def test_add_several_then_more_continues_numbering(empty_ws):
    files = [SAMPLES / e["file"] for e in sample_entries()]
    first = add_documents(empty_ws, files[:3])
    more = add_documents(empty_ws, files[3:])
    assert [r.id for r in first + more] == [f"DOC{i:04d}" for i in range(1, 8)]
    assert [r.kind for r in first + more] == [e["kind"] for e in sample_entries()]
    assert len(Workspace(empty_ws.root).documents()) == 7


def test_add_same_file_twice_is_refused(empty_ws):
    src = SAMPLES / "documents/02-anatomopathologie.pdf"
    add_documents(empty_ws, [src], kind="pathology")
    with pytest.raises(InputError, match="already in the workspace as DOC0001"):
        add_documents(empty_ws, [src], kind="pathology")
    with pytest.raises(InputError, match="same file"):
        add_documents(empty_ws, [SAMPLES / "documents/03-scanner-tap.pdf"] * 2, kind="imaging-report")
    assert len(empty_ws.documents()) == 1


def test_add_is_all_or_nothing(empty_ws):
    good = SAMPLES / "documents/01-fiche-rcp.pdf"
    with pytest.raises(InputError, match="truncated"):
        add_documents(empty_ws, [good, BROKEN / "truncated.pdf"], kind="rcp")
    assert empty_ws.documents() == [] and list(empty_ws.documents_dir.iterdir()) == []


def test_add_auto_kind_undecidable_asks_for_kind(empty_ws, tmp_path):
    with pytest.raises(UsageError, match="--kind") as ei:
        add_documents(empty_ws, [BROKEN / "scanned.pdf"])
    assert ei.value.exit_code == ExitCode.USAGE and "scanned" in str(ei.value)
    vague = make_pdf(tmp_path / "note.pdf", ["Quelques remarques sans titre particulier."])
    with pytest.raises(UsageError, match="--kind"):
        add_documents(empty_ws, [vague])


def test_add_options_override_and_metadata_fallback(empty_ws):
    (rec,) = add_documents(empty_ws, [BROKEN / "scanned.pdf"], kind="consultation")
    # a scan's creation date is the day it was scanned, not the document's (issue #15): left undated
    assert not rec.has_text and rec.date is None
    assert rec.title == "Compte rendu de consultation (numérisé)"
    (rec2,) = add_documents(empty_ws, [SAMPLES / "documents/05-biologie.pdf"], kind="biology",
                            title="Bilan pré-chimiothérapie", date="21/10/2026")
    assert rec2.title == "Bilan pré-chimiothérapie" and rec2.date == "2026-10-21"


def test_add_rejects_bad_options(empty_ws):
    src = SAMPLES / "documents/05-biologie.pdf"
    with pytest.raises(UsageError, match="unknown document kind"):
        add_documents(empty_ws, [src], kind="x-ray")
    with pytest.raises(UsageError, match="not a date"):
        add_documents(empty_ws, [src], kind="biology", date="yesterday")


def test_add_never_uses_a_name_already_on_disk(empty_ws):
    shutil.copy(SAMPLES / "documents/06-pps.pdf", empty_ws.documents_dir / "DOC0004.pdf")  # orphan
    (rec,) = add_documents(empty_ws, [SAMPLES / "documents/06-pps.pdf"], kind="treatment-plan")
    assert rec.id == "DOC0005"


def test_remove_documents(empty_ws):
    from dossierkit.gather.documents import remove_documents

    recs = add_documents(empty_ws, [SAMPLES / e["file"] for e in sample_entries()[:2]])
    with pytest.raises(UsageError, match="no document DOC0009"):
        remove_documents(empty_ws, ["DOC0009"])
    (gone,) = remove_documents(empty_ws, ["DOC0001"])
    assert gone == recs[0] and [d.id for d in empty_ws.documents()] == ["DOC0002"]
    assert not empty_ws.path(gone.path).exists()
    (again,) = add_documents(empty_ws, [SAMPLES / sample_entries()[0]["file"]])
    assert again.id == "DOC0003"  # numbered after the highest remaining id


def test_content_budget_bounds_extraction(tmp_path, monkeypatch):
    """Parsing content streams is slow (~0.3 MB/s): a budget of decoded bytes stops it."""
    from dossierkit.gather import documents

    p = tmp_path / "many.pdf"
    p.write_bytes(many_pages_pdf(50, "Texte"))
    per_page = len(b"BT /F1 12 Tf 72 720 Td (Texte) Tj ET")
    monkeypatch.setattr(documents, "MAX_CONTENT_BYTES", 3 * per_page + 5)
    assert extract_text(p, max_pages=10).count("Texte") == 3
    monkeypatch.setattr(documents, "MAX_CONTENT_BYTES", 100)
    assert not validate_pdf(SAMPLES / "documents/01-fiche-rcp.pdf").has_text  # its page holds more
