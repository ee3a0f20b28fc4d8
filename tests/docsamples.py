"""Helpers for the document tests: the bundled sample dossier as a workspace,
and small PDFs written on the spot with fpdf2."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

from dossierkit.gather.documents import add_documents
from dossierkit.resources import samples_dir
from dossierkit.workspace import Workspace, init_workspace, read_toml_file

SAMPLES = samples_dir()
BROKEN = SAMPLES / "broken"
TODAY = dt.date(2026, 11, 23)  # checks are pinned to this day: the samples' timeline


def sample_entries() -> list[dict]:
    return read_toml_file(SAMPLES / "documents.toml")["document"]


def build_sample_workspace(root: Path) -> Workspace:
    """The sample dossier as `demo` builds it: documents with their kinds, and
    the sample images once samples/images/ exists (the imaging report needs them)."""
    ws = init_workspace(root, read_toml_file(SAMPLES / "dossier.toml"))
    for e in sample_entries():
        add_documents(ws, [SAMPLES / e["file"]], kind=e["kind"])
    if (SAMPLES / "images").is_dir():
        from dossierkit.gather import import_images

        import_images(ws, [SAMPLES / "images"])
    return ws


# The document rules: document tests judge these findings only, so that they
# do not depend on what other capabilities (images) add to the profile.
DOCUMENT_RULES = {"dossier-identity", "document-required", "document-file", "rcp-dated", "rcp-content", "document-identity",
                  "document-identity-stated", "document-scanned", "document-freshness", "document-future-date",
                  "document-undated", "document-active-content", "consent-recorded", "restriction-contacts"}


def document_findings(report) -> list:
    return [f for f in report.findings if f.rule in DOCUMENT_RULES]


def copy_workspace(src: Workspace, dest: Path) -> Workspace:
    shutil.copytree(src.root, dest)
    return Workspace(dest)


def make_pdf(path: Path, lines: list[str], *, title: str | None = None, created: dt.date | None = None,
             pages: int = 1) -> Path:
    """A text PDF (Helvetica, cp1252) with *lines* on each page."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.core_fonts_encoding = "cp1252"
    if created:
        pdf.set_creation_date(dt.datetime(created.year, created.month, created.day, tzinfo=dt.timezone.utc))
    if title:
        pdf.set_title(title)
    pdf.set_font("Helvetica", size=10)
    for _ in range(pages):
        pdf.add_page()
        for line in lines:
            pdf.multi_cell(0, 5, line, new_x="LMARGIN", new_y="NEXT")
    pdf.output(str(path))
    return path


def many_pages_pdf(n: int, text: str = "Page de test") -> bytes:
    """A flat page tree of *n* pages sharing one content stream, written by hand
    (fpdf2 would take minutes for 100 000 pages)."""
    out = bytearray(b"%PDF-1.4\n")
    offsets: list[int] = []

    def obj(body: bytes) -> None:
        offsets.append(len(out))
        out.extend(b"%d 0 obj\n" % len(offsets) + body + b"\nendobj\n")

    obj(b"<< /Type /Catalog /Pages 2 0 R >>")
    kids = b" ".join(b"%d 0 R" % (i + 4) for i in range(n))
    obj(b"<< /Type /Pages /Kids [" + kids + b"] /Count %d >>" % n)
    content = b"BT /F1 12 Tf 72 720 Td (" + text.encode("latin-1") + b") Tj ET"
    obj(b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream")
    page = (b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 3 0 R "
            b"/Resources << /Font << /F1 << /Type /Font /Subtype /Type1 /BaseFont /Helvetica >> >> >> >>")
    for _ in range(n):
        obj(page)
    xref = len(out)
    out.extend(b"xref\n0 %d\n0000000000 65535 f \n" % (len(offsets) + 1))
    for off in offsets:
        out.extend(b"%010d 00000 n \n" % off)
    out.extend(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(offsets) + 1, xref))
    return bytes(out)


IDENTITY = ["Patient(e) : Mme LEFÈVRE Hélène Marie", "Née le : 14/03/1958"]


def with_active_content(src: Path, out: Path, *what: str) -> Path:
    """A copy of the real PDF *src* carrying *what*: "open-js" (JavaScript run
    on opening), "names-js" (a document-level script in the names tree),
    "page-js" (a page's open action), "attachment" (an embedded
    file), "launch" (a program launch chained after a harmless action),
    "annot-file" (a file-attachment annotation), "xfa" (an XFA form)."""
    from pypdf import PdfWriter
    from pypdf.generic import ArrayObject, DictionaryObject, NameObject, TextStringObject

    def n(x: str) -> NameObject:
        return NameObject(x)

    w = PdfWriter(clone_from=src)
    for item in what:
        if item == "open-js":
            w.root_object[n("/OpenAction")] = DictionaryObject(
                {n("/S"): n("/JavaScript"), n("/JS"): TextStringObject("app.alert('x');")})
        elif item == "names-js":  # document-level script, run by viewers when the file opens
            names = w.root_object.get(n("/Names"))
            if names is None:
                names = w.root_object[n("/Names")] = DictionaryObject()
            names = names.get_object()
            script = DictionaryObject({n("/S"): n("/JavaScript"), n("/JS"): TextStringObject("app.alert(2)")})
            names[n("/JavaScript")] = DictionaryObject({n("/Names"): ArrayObject([TextStringObject("x"), script])})
        elif item == "page-js":
            w.pages[0][n("/AA")] = DictionaryObject({n("/O"): DictionaryObject(
                {n("/S"): n("/JavaScript"), n("/JS"): TextStringObject("app.alert(1)")})})
        elif item == "attachment":
            w.add_attachment("notes.txt", b"hello")
        elif item == "launch":
            launch = DictionaryObject({n("/S"): n("/Launch"), n("/F"): TextStringObject("calc.exe")})
            w.root_object[n("/OpenAction")] = DictionaryObject(
                {n("/S"): n("/GoTo"), n("/D"): ArrayObject([w.pages[0].indirect_reference, n("/Fit")]),
                 n("/Next"): launch})
        elif item == "annot-file":
            w.add_annotation(0, DictionaryObject({n("/Type"): n("/Annot"), n("/Subtype"): n("/FileAttachment"),
                                                  n("/Rect"): ArrayObject([])}))
        elif item == "xfa":
            w.root_object[n("/AcroForm")] = DictionaryObject({n("/Fields"): ArrayObject([]),
                                                               n("/XFA"): TextStringObject("<xdp/>")})
        else:
            raise ValueError(item)
    w.write(out)
    return out
