"""Printable, bilingual (FR/EN) PDF of a signed receipt or acknowledgement.

The PDF is a rendering for the paper record: the signed JSON beside it is
the proof. The package SHA-256 is printed in full and as a QR code (vector
modules drawn from segno's matrix, so it stays sharp at any zoom and needs
no image library); it decodes to the 64 lowercase hex digits that
``sha256sum`` prints.

Font: DejaVu Sans from Debian's ``fonts-dejavu-core`` when present (full
Unicode: every European name and title prints as written); otherwise the
PDF core fonts (Latin-1, which covers French), with characters outside
Latin-1 transliterated. Document metadata carries no patient data.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path
from typing import IO, Any

import segno
from fpdf import FPDF
from fpdf.fonts import FontFace

from dossierkit.model import DOCUMENT_KINDS
from dossierkit.trace.channels import CHANNELS
from dossierkit.trust.signing import short_fingerprint, spaced_fingerprint

FONT_DIRS = [Path("/usr/share/fonts/truetype/dejavu")]
_FONT_FILES = {"": "DejaVuSans.ttf", "B": "DejaVuSans-Bold.ttf", "I": "DejaVuSans-Oblique.ttf"}
_MONO_FILE = "DejaVuSansMono.ttf"
_WITHHELD = {"no-copy-to-initial-physician": ("au médecin initial", "to the initial physician"),
             "no-copy-to-treating-gp": ("au médecin traitant", "to the treating GP")}
_TRANSLIT = {"œ": "oe", "Œ": "OE", "’": "'", "‘": "'", "“": '"', "”": '"', "–": "-", "—": "-", "…": "...",
             "€": "EUR", "\u00a0": " ", "\u202f": " "}


def find_unicode_fonts() -> dict[str, Path] | None:
    for d in FONT_DIRS:
        files = {style: d / name for style, name in {**_FONT_FILES, "mono": _MONO_FILE}.items()}
        if all(p.is_file() for p in files.values()):
            return files
    return None


class _Doc(FPDF):
    def __init__(self, footer_text: str, fonts: dict[str, Path] | None):
        super().__init__(format="A4")
        self.footer_text = footer_text
        self.unicode = fonts is not None
        if fonts:
            for style in ("", "B", "I"):
                self.add_font("Body", style, str(fonts[style]))
            self.add_font("Mono", "", str(fonts["mono"]))
            self.body, self.mono = "Body", "Mono"
        else:
            self.body, self.mono = "Helvetica", "Courier"
        self.set_margins(15, 15, 15)
        self.set_auto_page_break(True, margin=18)

    def t(self, text: Any) -> str:
        """Text safe for the current font."""
        s = "" if text is None else str(text)
        if self.unicode:
            return s
        s = "".join(_TRANSLIT.get(c, c) for c in s)
        out = []
        for c in s:
            try:
                c.encode("latin-1")
                out.append(c)
            except UnicodeEncodeError:
                base = unicodedata.normalize("NFKD", c).encode("latin-1", "ignore").decode("latin-1")
                out.append(base or "?")
        return "".join(out)

    def footer(self) -> None:
        self.set_y(-13)
        self.set_font(self.body, "", 7)
        self.set_text_color(110)
        self.cell(0, 5, self.t(f"{self.footer_text} — page {self.page_no()}/{{nb}}"), align="C")
        self.set_text_color(0)


def _heading(pdf: _Doc, fr: str, en: str) -> None:
    pdf.ln(2)
    pdf.set_font(pdf.body, "B", 10.5)
    pdf.set_fill_color(228, 234, 242)
    pdf.cell(0, 6.5, pdf.t(f"{fr} / {en}"), new_x="LMARGIN", new_y="NEXT", fill=True)
    pdf.ln(1)


def _field(pdf: _Doc, fr: str, en: str, value: Any, *, mono: bool = False, width: float = 58) -> None:
    pdf.set_font(pdf.body, "", 8)
    pdf.set_text_color(80)
    x, y = pdf.get_x(), pdf.get_y()
    pdf.multi_cell(width, 4.2, pdf.t(f"{fr}\n{en}"), align="L", new_x="RIGHT", new_y="TOP")
    label_bottom = pdf.get_y() + 8.4
    pdf.set_text_color(0)
    pdf.set_xy(x + width, y)
    if mono:
        pdf.set_font(pdf.mono, "", 8.5)
    else:
        pdf.set_font(pdf.body, "", 9.5)
    pdf.multi_cell(0, 4.6, pdf.t(value if value not in (None, "") else "—"), align="L", new_x="LMARGIN",
                   new_y="NEXT")
    pdf.set_y(max(pdf.get_y(), label_bottom) + 0.8)


def _qr(pdf: _Doc, data: str, x: float, y: float, size: float) -> None:
    qr = segno.make(data, error="m", micro=False)
    matrix = [list(row) for row in qr.matrix]
    quiet = 4
    n = len(matrix) + 2 * quiet
    mod = size / n
    pdf.set_fill_color(255)
    pdf.rect(x, y, size, size, style="F")
    pdf.set_fill_color(0)
    for r, row in enumerate(matrix):
        c = 0
        while c < len(row):
            if row[c]:
                start = c
                while c < len(row) and row[c]:
                    c += 1
                # one rectangle per run of dark modules: fewer seams between modules
                pdf.rect(x + (start + quiet) * mod, y + (r + quiet) * mod, (c - start) * mod, mod, style="F")
            else:
                c += 1


def _person(p: dict[str, Any] | None) -> str:
    if not p:
        return "—"
    parts = [p.get("name"), p.get("establishment"), p.get("email")]
    return ", ".join(x for x in parts if x)


def _table(pdf: _Doc, header: list[str], rows: list[list[str]], widths: tuple[int, ...], mono_col: int | None = None):
    pdf.set_font(pdf.body, "", 8.5)
    with pdf.table(col_widths=widths, text_align="LEFT", line_height=4.6, padding=1,
                   headings_style=FontFace(emphasis="BOLD", fill_color=(240, 240, 240))) as table:
        head = table.row()
        for h in header:
            head.cell(pdf.t(h))
        for r in rows:
            row = table.row()
            for i, v in enumerate(r):
                row.cell(pdf.t(v), style=FontFace(family=pdf.mono) if i == mono_col else None)


def _header(pdf: _Doc, fr: str, en: str, doc_id: str, package_sha: str) -> None:
    pdf.add_page()
    qr_size = 34
    _qr(pdf, package_sha, pdf.w - pdf.r_margin - qr_size, 12, qr_size)
    pdf.set_font(pdf.body, "B", 14)
    pdf.multi_cell(pdf.epw - qr_size - 4, 7, pdf.t(fr), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(pdf.body, "I", 11)
    pdf.multi_cell(pdf.epw - qr_size - 4, 6, pdf.t(en), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(1)
    pdf.set_font(pdf.body, "", 9.5)
    pdf.cell(0, 5, pdf.t(f"N° / No. {doc_id}"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(pdf.body, "", 7)
    pdf.set_text_color(90)
    pdf.set_xy(pdf.w - pdf.r_margin - qr_size, 12 + qr_size)
    pdf.multi_cell(qr_size, 3, pdf.t("QR : SHA-256 du paquet\npackage SHA-256"), align="C",
                   new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0)
    pdf.set_y(max(pdf.get_y(), 12 + qr_size + 8))


def _package_block(pdf: _Doc, doc: dict[str, Any], fr: str, en: str) -> None:
    pkg = doc["package"]
    _heading(pdf, fr, en)
    _field(pdf, "Fichier", "File", f"{pkg['file_name']} ({pkg['size']:,} octets / bytes)".replace(",", " "))
    _field(pdf, "Empreinte SHA-256 du paquet", "Package SHA-256", pkg["sha256"], mono=True)
    _field(pdf, "SHA-256 du manifeste", "Manifest SHA-256", doc.get("manifest_sha256"), mono=True)
    _field(pdf, "Identifiant du dossier", "Dossier id", doc.get("dossier_id"))


def _read_aloud(fp: str) -> str:
    """The full fingerprint as 16 groups of 4, two lines of 8: read aloud and
    compared with ``dossierkit verify``'s message or ``trust list``."""
    groups = spaced_fingerprint(fp).split(" ")
    return " ".join(groups[:8]) + "\n" + " ".join(groups[8:])


def _signature_block(pdf: _Doc, doc: dict[str, Any], verify_hint: str) -> None:
    sig = doc["signature"]
    j = doc.get("journal") or {}
    _heading(pdf, "Signature et vérification", "Signature and verification")
    _field(pdf, "Signé (Ed25519) par la clé", "Signed (Ed25519) by key", _read_aloud(sig["fingerprint"]), mono=True)
    _field(pdf, "Journal à l'émission", "Journal at issue time",
           f"entrée / entry {j.get('seq')}\n{j.get('hash')}", mono=True)
    pdf.set_font(pdf.body, "", 8)
    pdf.multi_cell(0, 4, pdf.t(verify_hint), align="L", new_x="LMARGIN", new_y="NEXT")


RECEIPT_HINT = (
    "Ce document imprimé reproduit le récépissé signé (fichier JSON). Pour le vérifier : "
    "`dossierkit receipt verify RECU.json --package PAQUET`, ou comparer l'empreinte ci-dessus (et le QR code) "
    "avec `sha256sum PAQUET`.\n"
    "This printout reproduces the signed receipt (JSON file). To verify it: "
    "`dossierkit receipt verify RECEIPT.json --package PACKAGE`, or compare the fingerprint above (and the QR code) "
    "with `sha256sum PACKAGE`.")


def render_receipt(doc: dict[str, Any], out: IO[bytes], *, fonts: dict[str, Path] | None = None,
                   use_system_fonts: bool = True) -> None:
    fonts = fonts if fonts is not None else (find_unicode_fonts() if use_system_fonts else None)
    pdf = _Doc(f"Récépissé / Receipt {doc['receipt_id']}", fonts)
    pdf.set_title(f"dossierkit receipt {doc['receipt_id']}")
    pdf.set_creator("dossierkit")
    reply = doc.get("reply_to")
    if reply:
        _header(pdf, "Récépissé de transmission d'un second avis", "Receipt for the transmission of a second "
                "opinion", doc["receipt_id"], doc["package"]["sha256"])
    else:
        _header(pdf, "Récépissé de transmission d'un dossier médical",
                "Receipt for the transmission of a medical dossier", doc["receipt_id"], doc["package"]["sha256"])
    fr_ch, en_ch = _channel_labels(doc.get("channel"))
    _field(pdf, "Date et heure (UTC)", "Date and time (UTC)", doc.get("issued_at"))
    _field(pdf, "Canal de transmission", "Channel", f"{fr_ch} / {en_ch} ({doc.get('channel')})")

    p = doc.get("patient") or {}
    _heading(pdf, "Patient", "Patient")
    _field(pdf, "Nom de famille", "Family name", p.get("family_name"))
    _field(pdf, "Prénoms", "Given names", " ".join(p.get("given_names") or []))
    _field(pdf, "Date de naissance", "Birth date", p.get("birth_date"))

    _heading(pdf, "Expéditeur, destinataires et copies", "Sender, recipients and copies")
    _field(pdf, "Expéditeur", "Sender", _person(doc.get("sender")))
    _field(pdf, "Destinataire(s)", "Recipient(s)", "\n".join(_person(r) for r in doc.get("recipients") or []))
    copies = doc.get("copies") or []
    _field(pdf, "Copie(s)", "Copies", "\n".join(_person(c) for c in copies) if copies else
           "aucune / none")
    for w in doc.get("withheld_copies") or []:
        fr_role, en_role = _WITHHELD.get(w["restriction"], (w["restriction"], w["restriction"]))
        if reply:
            _field(pdf, "Non adressé", "Not sent", f"Second avis non adressé {fr_role}, à la demande du patient / "
                   f"Second opinion not sent {en_role}, at the patient's request ({w['restriction']})")
        else:
            _field(pdf, "Copie non adressée", "Copy withheld",
                   f"Copie {fr_role} non adressée, à la demande du patient / Copy {en_role} withheld at the "
                   f"patient's request ({w['restriction']})")
    restrictions = doc.get("restrictions") or []
    _field(pdf, "Restrictions exprimées par le patient", "Patient's restrictions",
           "\n".join(f"{r.get('text')} ({r.get('code')})" + _recorded(r) for r in restrictions) if restrictions
           else "aucune / none")
    if reply:
        _heading(pdf, "En réponse au dossier", "In reply to the dossier")
        _field(pdf, "Identifiant du dossier reçu", "Dossier received", reply.get("dossier_id"))
        _field(pdf, "SHA-256 du paquet reçu", "Package received SHA-256", reply.get("package_sha256"), mono=True)
        _field(pdf, "Récépissé de l'expéditeur", "Sender's receipt", reply.get("receipt_id") or "—")
        _field(pdf, "Notre accusé de réception", "Our acknowledgement", reply.get("ack_id") or "—")

    _package_block(pdf, doc, "Paquet transmis", "Package handed over")
    _field(pdf, "Conteneur", "Container", {"password": "zip AES-256 (mot de passe / password)",
                                            "recipients": "age (clés / keys)"}.get(doc.get("container") or "",
                                                                                    doc.get("container")))

    docs = doc.get("documents") or []
    _heading(pdf, f"Documents ({len(docs)})", f"Documents ({len(docs)})")
    if docs:
        _table(pdf, ["Type / Kind", "Titre / Title", "Date", "SHA-256 (début / prefix)"],
               [[_kind_label(d.get("kind")), d.get("title") or "", d.get("date") or "", d.get("sha256_prefix") or ""]
                for d in docs], (40, 78, 22, 40), mono_col=3)
    else:
        _field(pdf, "Documents", "Documents", "aucun / none")

    studies = doc.get("studies") or []
    total = sum(int(s.get("count") or 0) for s in studies)
    _heading(pdf, f"Images DICOM : {len(studies)} examen(s), {total} image(s)",
             f"DICOM images: {len(studies)} stud{'y' if len(studies) == 1 else 'ies'}, {total} image(s)")
    if studies:
        _table(pdf, ["Date de l'examen / Study date", "Modalité(s) / Modality", "Séries / Series",
                     "Images"],
               [[s.get("date") or "—", ", ".join(s.get("modalities") or []) or "—", str(s.get("series", "")),
                 str(s.get("count", ""))] for s in studies], (55, 55, 35, 35))

    c = doc.get("completeness") or {}
    _heading(pdf, "Complétude", "Completeness")
    status = c.get("status") or "unknown"
    _field(pdf, "Statut (profil)", "Status (profile)",
           f"{_status_label(status)} ({c.get('profile') or '—'})")
    for f in c.get("waived") or []:
        _field(pdf, "Constat levé", "Waived finding", f"{f.get('code')}: {f.get('message')}")
    if c.get("reason"):
        _field(pdf, "Motif de la levée", "Reason for waiving", c.get("reason"))

    _signature_block(pdf, doc, RECEIPT_HINT)
    pdf.output(out)


ACK_HINT = (
    "Accusé de réception signé par le destinataire, lié au paquet par son empreinte SHA-256. Vérification : "
    "`dossierkit receipt verify ACCUSE.json --package PAQUET`.\n"
    "Acknowledgement signed by the recipient, bound to the package by its SHA-256. To verify: "
    "`dossierkit receipt verify ACK.json --package PACKAGE`.")


def render_ack(doc: dict[str, Any], out: IO[bytes], *, fonts: dict[str, Path] | None = None,
               use_system_fonts: bool = True) -> None:
    fonts = fonts if fonts is not None else (find_unicode_fonts() if use_system_fonts else None)
    pdf = _Doc(f"Accusé de réception / Acknowledgement {doc['ack_id']}", fonts)
    pdf.set_title(f"dossierkit acknowledgement {doc['ack_id']}")
    pdf.set_creator("dossierkit")
    _header(pdf, "Accusé de réception d'un dossier médical", "Acknowledgement of receipt of a medical dossier",
            doc["ack_id"], doc["package"]["sha256"])
    _field(pdf, "Date et heure (UTC)", "Date and time (UTC)", doc.get("issued_at"))
    _field(pdf, "Reçu par", "Received by", (doc.get("recipient") or {}).get("name"))
    r = doc.get("receipt") or {}
    _field(pdf, "Récépissé de l'expéditeur", "Sender's receipt",
           f"{r.get('receipt_id')}\nclé / key {short_fingerprint(r['signer_fingerprint'])}" if r else
           "non fourni / not provided")
    _package_block(pdf, doc, "Paquet reçu", "Package received")
    reply = doc.get("reply_to")
    if reply:
        _field(pdf, "Second avis en réponse au dossier", "Second opinion in reply to dossier",
               f"{reply.get('dossier_id')} ({reply.get('receipt_id') or '—'}, {reply.get('ack_id') or '—'})")
    v = doc.get("verification") or {}
    _heading(pdf, "Résultat de la vérification", "Verification result")
    intact = v.get("result") == "intact"
    _field(pdf, "Intégrité", "Integrity", "intact / intact" if intact else "ALTÉRÉ / ALTERED")
    _field(pdf, "Complétude", "Completeness", _status_label(v.get("completeness") or "unknown"))
    if v.get("manifest_signer"):
        sender = v.get("sender") or {}
        who = sender.get("name") or ("clé connue / known key" if sender.get("known") else
                                     "clé INCONNUE / UNKNOWN key" if sender else "")
        _field(pdf, "Manifeste signé par", "Manifest signed by",
               f"{who}\n{_read_aloud(v['manifest_signer'])}".strip(), mono=True)
    for problem in v.get("problems") or []:
        _field(pdf, "Anomalie", "Problem", problem)
    _signature_block(pdf, doc, ACK_HINT)
    pdf.output(out)


def _recorded(r: dict[str, Any]) -> str:
    """Who recorded the restriction and when (a reply: INCa step 6)."""
    if not r.get("recorded_by"):
        return ""
    return f"\nrecueillie par / recorded by {r['recorded_by']}, {r.get('recorded_at') or ''} (UTC)"


def render(doc: dict[str, Any], out: IO[bytes], **kw: Any) -> None:
    """Render a signed receipt or ack (by its ``type``) to *out*."""
    (render_ack if doc.get("type") == "dossierkit-ack" else render_receipt)(doc, out, **kw)


def _kind_label(kind: str | None) -> str:
    _, fr, en = DOCUMENT_KINDS.get(kind or "other", DOCUMENT_KINDS["other"])
    return f"{fr} / {en}"


def _status_label(status: str) -> str:
    return {"complete": "complet / complete", "incomplete": "incomplet / incomplete",
            "unknown": "inconnu / unknown"}.get(status, status)


def _channel_labels(channel: str | None) -> tuple[str, str]:
    return CHANNELS.get(channel or "", (channel or "—", channel or "—"))
