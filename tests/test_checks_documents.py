"""Document rules of the second-opinion profile: each with a failing and a passing case."""

from __future__ import annotations

import datetime as dt

import pytest
from docsamples import (BROKEN, DOCUMENT_RULES, IDENTITY, SAMPLES, TODAY, build_sample_workspace, copy_workspace,
                        document_findings, make_pdf, with_active_content)

from dossierkit.check import load_profile, run_checks
from dossierkit.gather.documents import add_documents


@pytest.fixture(scope="module")
def sample_ws(tmp_path_factory):
    return build_sample_workspace(tmp_path_factory.mktemp("sample") / "ws")


@pytest.fixture
def ws(sample_ws, tmp_path):
    return copy_workspace(sample_ws, tmp_path / "ws")


def check(ws, today=TODAY):
    return run_checks(ws, today=today)


def codes(report, level=None):
    return [f.code for f in document_findings(report) if level is None or f.level == level]


def only(report, code):
    found = [f for f in report.findings if f.code == code]
    assert len(found) == 1, report.findings
    return found[0]


def no_document_error(report) -> bool:
    return not codes(report, "error")


def _drop_kind(ws, kind):
    ws.save_documents([d for d in ws.documents() if d.kind != kind])


def _edit(ws, doc_id, **changes):
    docs = ws.documents()
    for d in docs:
        if d.id == doc_id:
            for k, v in changes.items():
                setattr(d, k, v)
    ws.save_documents(docs)


def test_sample_dossier_has_no_document_finding(ws):
    report = check(ws)
    assert document_findings(report) == []


def test_every_document_rule_is_in_the_profile():
    uses = {r.use for r in load_profile("second-opinion").rules}
    assert DOCUMENT_RULES <= uses


@pytest.mark.parametrize("kind, code, level", [
    ("rcp", "RCP-MISSING", "error"),
    ("pathology", "PATHOLOGY-MISSING", "error"),
    ("imaging-report", "IMAGING-REPORT-MISSING", "error"),
    ("operative-report", "OPERATIVE-REPORT-MISSING", "warning"),
    ("biology", "BIOLOGY-MISSING", "warning"),
    ("treatment-plan", "TREATMENT-PLAN-MISSING", "warning"),
    ("referral-letter", "REFERRAL-LETTER-MISSING", "warning"),
])
def test_required_documents(ws, kind, code, level):
    _drop_kind(ws, kind)
    report = check(ws)
    f = only(report, code)
    assert f.level == level and f"--kind {kind}" in f.message
    assert no_document_error(report) == (level != "error")


def test_missing_rcp_names_the_fiche_rcp(ws):
    _drop_kind(ws, "rcp")
    f = only(check(ws), "RCP-MISSING")
    assert "Fiche RCP" in f.message


def test_document_file_missing(ws):
    ws.path("documents/DOC0003.pdf").unlink()
    report = check(ws)
    f = only(report, "DOC-FILE-MISSING")
    assert f.level == "error" and f.file == "documents/DOC0003.pdf"


def test_document_file_corrupted_or_changed(ws):
    p = ws.path("documents/DOC0002.pdf")
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])  # corrupted: truncated in place
    f = only(check(ws), "DOC-FILE-CHANGED")
    assert f.level == "error" and "no longer a valid PDF" in f.message and f.file == "documents/DOC0002.pdf"
    p.write_bytes(data.replace(b"/Title (", b"/Title (X", 1))  # still a PDF, other bytes
    f = only(check(ws), "DOC-FILE-CHANGED")
    assert "SHA-256 differs" in f.message
    p.write_bytes(data)
    assert "DOC-FILE-CHANGED" not in codes(check(ws))


def test_index_path_outside_the_workspace_counts_as_missing(ws):
    _edit(ws, "DOC0004", path="../../etc/hostname")
    assert only(check(ws), "DOC-FILE-MISSING").file == "../../etc/hostname"


def test_rcp_undated(ws):
    _edit(ws, "DOC0001", date=None)
    report = check(ws)
    f = only(report, "RCP-UNDATED")
    assert f.level == "warning" and no_document_error(report)


def test_rcp_lacking_specialties_and_proposal(ws):
    _drop_kind(ws, "rcp")
    add_documents(ws, [BROKEN / "rcp-incomplete.pdf"], kind="rcp")
    report = check(ws)
    assert only(report, "RCP-NO-PROPOSAL").level == "warning"
    few = only(report, "RCP-FEW-SPECIALTIES")
    assert "found 1 (oncologie médicale)" in few.message and "3" in few.message
    assert "RCP-NO-MEETING-DATE" not in codes(report) and "RCP-NO-TUMOUR-SITE" not in codes(report)
    assert no_document_error(report)  # content gaps are warnings


def test_rcp_lacking_meeting_date_and_tumour_site(ws, tmp_path):
    _drop_kind(ws, "rcp")
    pdf = make_pdf(tmp_path / "rcp.pdf", [
        "Fiche de Réunion de Concertation Pluridisciplinaire", *IDENTITY,
        "Présents : Dr A, oncologue ; Dr B, radiothérapeute ; Dr C, chirurgien",
        "Proposition : chimiothérapie adjuvante."])
    add_documents(ws, [pdf], kind="rcp", date="2026-10-28")
    report = check(ws)
    assert "RCP-NO-MEETING-DATE" in codes(report) and "RCP-NO-TUMOUR-SITE" in codes(report)
    assert "RCP-NO-PROPOSAL" not in codes(report) and "RCP-FEW-SPECIALTIES" not in codes(report)


def test_specialty_threshold_is_a_profile_parameter(ws, tmp_path):
    text = (tmp_path / "p.toml")
    text.write_text('[profile]\nname = "strict"\n[[rule]]\nuse = "rcp-content"\nitem = "specialties"\n'
                    'min_specialties = 6\ncode = "RCP-FEW-SPECIALTIES"\nlevel = "error"\n')
    report = run_checks(ws, str(text), today=TODAY)
    assert only(report, "RCP-FEW-SPECIALTIES").level == "error" and "found 5" in report.findings[0].message


def test_document_naming_another_patient_is_an_error(ws):
    (rec,) = add_documents(ws, [BROKEN / "other-patient.pdf"], kind="imaging-report")
    report = check(ws)
    f = only(report, "DOC-IDENTITY-MISMATCH")
    assert f.level == "error" and f.file == rec.path and rec.id in f.message
    assert "name and birth date" in f.message and not report.complete
    assert "DURAND" not in f.message.upper() and "1962" not in f.message  # never repeat the other identity


def test_identity_matches_despite_accents_and_case(ws, tmp_path):
    pdf = make_pdf(tmp_path / "c.pdf", ["Compte rendu de consultation", "NOM : lefevre  Prénom : HELENE",
                                        "Date de naissance : 1958-03-14", "NIR : 2580375123456"])
    add_documents(ws, [pdf], kind="consultation", date="2026-10-22")
    assert "DOC-IDENTITY-MISMATCH" not in codes(check(ws))


def test_identity_not_stated_is_info(ws, tmp_path):
    pdf = make_pdf(tmp_path / "n.pdf", ["Compte rendu de consultation", "Examen clinique sans particularité."])
    add_documents(ws, [pdf], kind="consultation", date="2026-10-22")
    report = check(ws)
    assert only(report, "DOC-IDENTITY-NOT-STATED").level == "info" and no_document_error(report)


def test_scanned_document_is_info(ws):
    add_documents(ws, [BROKEN / "scanned.pdf"], kind="consultation")
    report = check(ws)
    f = only(report, "DOC-SCANNED")
    assert f.level == "info" and "could not be checked" in f.message and no_document_error(report)


def test_scanned_rcp_skips_content_rules(ws):
    _drop_kind(ws, "rcp")
    add_documents(ws, [BROKEN / "scanned.pdf"], kind="rcp")
    report = check(ws)
    assert not [c for c in codes(report) if c.startswith("RCP-NO") or c == "RCP-FEW-SPECIALTIES"]
    assert "DOC-SCANNED" in codes(report)


def test_document_with_active_content_is_a_warning(ws, tmp_path):
    """Each PDF that could run something in the recipient's viewer is named,
    with what it holds; the sample dossier's own PDFs are not (first test)."""
    src = SAMPLES / "documents" / "05-biologie.pdf"
    js = with_active_content(src, tmp_path / "js.pdf", "open-js", "attachment")
    launch = with_active_content(src, tmp_path / "launch.pdf", "launch")
    a, b = add_documents(ws, [js, launch], kind="consultation")
    report = check(ws)
    found = {f.file: f for f in report.findings if f.code == "DOC-ACTIVE-CONTENT"}
    assert set(found) == {a.path, b.path}
    assert all(f.level == "warning" for f in found.values()) and no_document_error(report)
    assert "JavaScript" in found[a.path].message and "embedded files" in found[a.path].message
    assert "a program launch" in found[b.path].message and "print it to a new PDF" in found[b.path].message


def test_old_document_is_outdated(ws):
    (rec,) = add_documents(ws, [BROKEN / "old-document.pdf"], kind="biology")
    f = only(check(ws), "DOC-OUTDATED")
    assert f.level == "warning" and f.file == rec.path and "2025-01-14" in f.message and "2026-10-28" in f.message


def test_freshness_window_and_reference_without_rcp(ws):
    _edit(ws, "DOC0003", date="2025-10-29")  # 364 days before the RCP: within the window
    assert "DOC-OUTDATED" not in codes(check(ws))
    _edit(ws, "DOC0003", date="2025-10-27")
    assert only(check(ws), "DOC-OUTDATED").file == "documents/DOC0003.pdf"
    _drop_kind(ws, "rcp")  # then the reference is today
    assert "before today" in only(check(ws, today=dt.date(2026, 11, 23)), "DOC-OUTDATED").message


def test_future_dated_document(ws):
    (rec,) = add_documents(ws, [BROKEN / "old-document.pdf"], kind="biology", date="2026-12-01")
    report = check(ws)
    assert only(report, "DOC-DATE-FUTURE").file == rec.path
    assert "DOC-DATE-FUTURE" not in codes(check(ws, today=dt.date(2026, 12, 1)))


def test_undated_document_is_info(ws):
    _edit(ws, "DOC0005", date=None)
    report = check(ws)
    assert only(report, "DOC-UNDATED").file == "documents/DOC0005.pdf" and no_document_error(report)


def test_every_profile_code_is_documented():
    from tests.conftest import REPO

    doc = (REPO / "docs/findings.md").read_text(encoding="utf-8")
    prof = load_profile("second-opinion")
    missing = [r.code for r in prof.rules if f"`{r.code}`" not in doc]
    missing += [f"{r.code}-PARTIAL" for r in prof.rules if r.use == "consent-recorded"
                and f"`{r.code}-PARTIAL`" not in doc]
    assert missing == []
