"""Rules on documents (DESIGN §4): presence, file integrity, fiche RCP
content, scans, active content, freshness (patient identity: check/identity.py).
Codes: docs/findings.md.

Messages name documents by their neutral id and kind, never by the patient
data they hold (the original file name may contain a name, and another
patient's identity found in a document is never repeated).
"""

from __future__ import annotations

import datetime as dt

from dossierkit.check.engine import CheckContext, RuleSpec, rule
from dossierkit.errors import InputError
from dossierkit.fsutil import sha256_file
from dossierkit.gather.doctext import rcp_content
from dossierkit.gather.documents import PdfInfo, validate_pdf
from dossierkit.model import DOCUMENT_KINDS, DocumentRecord

OK, MISSING, CHANGED = "ok", "missing", "changed"


def label(rec: DocumentRecord) -> str:
    return f"{rec.id} ({'fiche RCP' if rec.kind == 'rcp' else rec.kind})"


def document_date(rec: DocumentRecord) -> dt.date | None:
    try:
        return dt.date.fromisoformat(rec.date) if rec.date else None
    except ValueError:
        return None


def file_state(ctx: CheckContext, rec: DocumentRecord) -> str:
    """ok, missing, or changed (size or SHA-256 differ from the index)."""

    def compute() -> str:
        root = ctx.root.resolve()
        path = (ctx.root / rec.path).resolve()
        if root not in path.parents or not path.is_file():
            return MISSING
        try:
            if path.stat().st_size != rec.size or sha256_file(path) != rec.sha256:
                return CHANGED
        except OSError:
            return MISSING
        return OK

    return ctx.memo(f"doc-file:{rec.id}", compute)


def doc_info(ctx: CheckContext, rec: DocumentRecord) -> PdfInfo | None:
    """What validation learns of an intact document (read once per check), else None."""

    def compute() -> PdfInfo | None:
        if file_state(ctx, rec) != OK:
            return None
        try:
            return validate_pdf(ctx.root / rec.path)
        except InputError:
            return None

    return ctx.memo(f"doc-info:{rec.id}", compute)


def doc_text(ctx: CheckContext, rec: DocumentRecord) -> str | None:
    """Extracted text of an intact document with a text layer, else None."""
    info = doc_info(ctx, rec) if rec.has_text else None
    return (info.text or None) if info is not None else None


@rule("document-required")
def document_required(ctx: CheckContext, spec: RuleSpec):
    kind = spec.params["kind"]
    if not ctx.documents_of(kind):
        fr, en = DOCUMENT_KINDS[kind][1], DOCUMENT_KINDS[kind][2]
        yield spec.finding(f"{en} ({fr}) is missing — add it with `dossierkit add DIR FILE --kind {kind}`")


@rule("document-file")
def document_file(ctx: CheckContext, spec: RuleSpec):
    """``state = "missing"``: the workspace copy is gone; ``state = "changed"``:
    its bytes differ from what was added (corrupted or edited)."""
    want = spec.params.get("state", CHANGED)
    for rec in ctx.documents:
        state = file_state(ctx, rec)
        if state != want:
            continue
        if state == MISSING:
            yield spec.finding(f"{label(rec)}: the workspace copy is missing — restore it or add the original "
                               "again", rec.path)
        else:
            try:
                validate_pdf(ctx.root / rec.path)
                why = "its SHA-256 differs from the one recorded"
            except InputError as exc:
                why = f"it is no longer a valid PDF: {exc.message}"
            yield spec.finding(f"{label(rec)} has changed since it was added ({why}) — restore the original "
                               "file", rec.path)


@rule("rcp-dated")
def rcp_dated(ctx: CheckContext, spec: RuleSpec):
    for rec in ctx.documents_of("rcp"):
        if document_date(rec) is None:
            yield spec.finding(f"{label(rec)} has no date (none given, none found in the PDF) — the date of the "
                               "meeting anchors the dossier; add it again with --date YYYY-MM-DD", rec.path)


_RCP_ITEMS = {
    "meeting-date": "the date of the meeting",
    "proposal": "the proposal (« proposition » / « décision » of the RCP)",
    "specialties": "at least {n} medical specialties among the participants (INCa)",
    "tumour-site": "the tumour site (« localisation » / organ)",
}


@rule("rcp-content")
def rcp_content_rule(ctx: CheckContext, spec: RuleSpec):
    """One essential item of the fiche RCP (``item`` parameter), read from its
    text; scans are reported by ``document-scanned`` instead."""
    item = spec.params["item"]
    n = int(spec.params.get("min_specialties", 3))
    for rec in ctx.documents_of("rcp"):
        text = doc_text(ctx, rec)
        if text is None:
            continue
        content = ctx.memo(f"rcp-content:{rec.id}", lambda text=text: rcp_content(text))
        what = _RCP_ITEMS[item].format(n=n)
        if item == "meeting-date" and content.meeting_date is None:
            yield spec.finding(f"{label(rec)} does not state {what}", rec.path)
        elif item == "proposal" and not content.has_proposal:
            yield spec.finding(f"{label(rec)} does not state {what}", rec.path)
        elif item == "specialties" and len(content.specialties) < n:
            found = ", ".join(content.specialties) or "none"
            yield spec.finding(f"{label(rec)} does not show {what}: found {len(content.specialties)} ({found})",
                               rec.path)
        elif item == "tumour-site" and not content.has_tumour_site:
            yield spec.finding(f"{label(rec)} does not state {what}", rec.path)


@rule("document-scanned")
def document_scanned(ctx: CheckContext, spec: RuleSpec):
    for rec in ctx.documents:
        if not rec.has_text and file_state(ctx, rec) == OK:
            yield spec.finding(f"{label(rec)} is a scan without text: its patient identity and content could not "
                               "be checked — check them by eye", rec.path)


@rule("document-active-content")
def document_active_content(ctx: CheckContext, spec: RuleSpec):
    for rec in ctx.documents:
        info = doc_info(ctx, rec)
        if info is not None and info.active_content:
            yield spec.finding(f"{label(rec)} holds {', '.join(info.active_content)}, which the recipient's PDF "
                               "viewer could run or open — print it to a new PDF and add that copy instead",
                               rec.path)


def _reference_rcp(ctx: CheckContext) -> DocumentRecord | None:
    dated = [r for r in ctx.documents_of("rcp") if document_date(r)]
    return max(dated, key=lambda r: (document_date(r), r.id)) if dated else None


@rule("document-freshness")
def document_freshness(ctx: CheckContext, spec: RuleSpec):
    """Documents dated more than ``window_days`` before the latest fiche RCP
    (or before today when no fiche RCP is dated)."""
    window = int(spec.params.get("window_days", 365))
    ref = _reference_rcp(ctx)
    ref_date = document_date(ref) if ref else ctx.today
    ref_text = f"the fiche RCP of {ref_date.isoformat()}" if ref else "today"
    limit = ref_date - dt.timedelta(days=window)
    for rec in ctx.documents:
        d = document_date(rec)
        if rec is ref or d is None or d >= limit:
            continue
        yield spec.finding(f"{label(rec)} is dated {d.isoformat()}, more than {window} days before {ref_text} "
                           "— add a more recent one if it exists", rec.path)


@rule("document-future-date")
def document_future_date(ctx: CheckContext, spec: RuleSpec):
    for rec in ctx.documents:
        d = document_date(rec)
        if d and d > ctx.today:
            yield spec.finding(f"{label(rec)} is dated {d.isoformat()}, after today — check its date "
                               "(add it again with --date YYYY-MM-DD if it was misread)", rec.path)


@rule("document-undated")
def document_undated(ctx: CheckContext, spec: RuleSpec):
    for rec in ctx.documents:
        if rec.kind != "rcp" and document_date(rec) is None:
            yield spec.finding(f"{label(rec)} has no date: its freshness cannot be checked", rec.path)
