"""Printable, bilingual (FR/EN) PDF of a signed receipt or acknowledgement.

The PDF is a rendering for the paper record: the signed JSON beside it is
the proof. Page 1 is for people (local time, who, what, completeness in
words, a patient's section without command lines); hashes, keys and the
journal are on a technical page of their own. The QR code (vector modules
drawn from segno's matrix, sharp at any zoom, no image library) decodes to
a short bilingual text a phone shows as is — receipt number, dossier id,
local date, file name and the package SHA-256 (:func:`receipt_qr_text`):
something a patient or a receiving team can read and compare with the
SHA-256 7-Zip, ``certutil`` or ``sha256sum`` shows for the file.

Font: DejaVu Sans from Debian's ``fonts-dejavu-core`` when present (full
Unicode: every European name and title prints as written); otherwise the
PDF core fonts (Latin-1, which covers French), with characters outside
Latin-1 transliterated. Document metadata carries no patient data.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from typing import IO, Any

import segno
from fpdf import FPDF
from fpdf.fonts import FontFace

from dossierkit.check.for_recipient import recipient_text
from dossierkit.model import DOCUMENT_KINDS, modality_in_words
from dossierkit import localtime
from dossierkit.trace.channels import CHANNELS
from dossierkit.trust.signing import spaced_fingerprint

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
    if pdf.get_y() + 30 > pdf.page_break_trigger:  # never a heading alone at the foot of a page
        pdf.add_page()
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


def receipt_qr_text(doc: dict[str, Any]) -> str:
    """What the receipt's QR code holds (issue #15, point 26): plain text a
    phone camera shows as is — the receipt number, the dossier id, the local
    date and time of handing over, the file name and the package SHA-256 to
    compare with what 7-Zip (CRC SHA > SHA-256), ``certutil -hashfile`` or
    ``sha256sum`` shows for the file on the key. Nothing the printed page
    does not already show."""
    return _qr_text("Récépissé / Receipt", doc.get("receipt_id"), doc)


def ack_qr_text(doc: dict[str, Any]) -> str:
    """The ack's QR text, in the same form as :func:`receipt_qr_text`."""
    return _qr_text("Accusé de réception / Acknowledgement", doc.get("ack_id"), doc)


def _qr_text(label: str, doc_id: Any, doc: dict[str, Any]) -> str:
    fr_time, _ = localtime.local(str(doc.get("issued_at") or ""))
    pkg = doc.get("package") or {}
    return "\n".join([f"{label} {doc_id}", f"Dossier {doc.get('dossier_id') or '—'}", f"Date {fr_time}",
                      f"Fichier / File {pkg.get('file_name')}", f"SHA-256 {pkg.get('sha256')}"])


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


def _header(pdf: _Doc, fr: str, en: str, doc_id: str, qr_data: str, qr_caption: str) -> None:
    pdf.add_page()
    qr_size = 38
    _qr(pdf, qr_data, pdf.w - pdf.r_margin - qr_size, 12, qr_size)
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
    pdf.multi_cell(qr_size, 3, pdf.t(qr_caption), align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0)
    pdf.set_y(max(pdf.get_y(), 12 + qr_size + 4))


def _when(pdf: _Doc, fr: str, en: str, stamp: str | None) -> None:
    """A signed UTC time, printed in local time with its zone (dossierkit.localtime)."""
    fr_time, en_time = localtime.local(stamp or "")
    _field(pdf, fr, en, f"{fr_time}\n{en_time}" if fr_time != en_time else fr_time)


def _technical_page(pdf: _Doc, doc: dict[str, Any], package_fr: str, package_en: str, verify_hint: str,
                    journal_entry: dict[str, Any] | None) -> None:
    """Hashes, keys and journal on a page of their own: for whoever checks
    the receipt, apart from what people read (issue #15, point 18)."""
    pdf.add_page()
    pkg = doc["package"]
    pdf.set_font(pdf.body, "B", 12)
    pdf.multi_cell(0, 6, pdf.t("Détails techniques, pour la vérification"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(pdf.body, "I", 10)
    pdf.multi_cell(0, 5, pdf.t("Technical details, for verification"), new_x="LMARGIN", new_y="NEXT")
    _heading(pdf, package_fr, package_en)
    _field(pdf, "Fichier", "File", f"{pkg['file_name']} ({pkg['size']:,} octets / bytes)".replace(",", " "))
    _field(pdf, "Empreinte SHA-256 du paquet", "Package SHA-256", pkg["sha256"], mono=True)
    _field(pdf, "SHA-256 du manifeste", "Manifest SHA-256", doc.get("manifest_sha256"), mono=True)
    _field(pdf, "Identifiant du dossier", "Dossier id", doc.get("dossier_id"))
    if doc.get("container"):
        _field(pdf, "Conteneur", "Container", {"password": "zip AES-256 (mot de passe / password)",
                                                "recipients": "age (clés / keys)"}.get(doc["container"],
                                                                                        doc["container"]))
    _field(pdf, "Émis le (UTC, signé)", "Issued at (UTC, signed)", doc.get("issued_at"), mono=True)
    _signature_block(pdf, doc, verify_hint, journal_entry)


def _read_aloud(fp: str) -> str:
    """The full fingerprint as 16 groups of 4, two lines of 8: read aloud and
    compared with ``dossierkit verify``'s message or ``trust list``."""
    groups = spaced_fingerprint(fp).split(" ")
    return " ".join(groups[:8]) + "\n" + " ".join(groups[8:])


def _signature_block(pdf: _Doc, doc: dict[str, Any], verify_hint: str,
                     journal_entry: dict[str, Any] | None) -> None:
    sig = doc["signature"]
    j = doc.get("journal") or {}
    _heading(pdf, "Signature et journal", "Signature and journal")
    _field(pdf, "Signé (Ed25519) par la clé", "Signed (Ed25519) by key", _read_aloud(sig["fingerprint"]), mono=True)
    if journal_entry is not None:
        _field(pdf, "Inscrit au journal", "Recorded in the journal",
               f"entrée / entry {journal_entry.get('seq')}\n{journal_entry.get('hash')}", mono=True)
    _field(pdf, "Ancre : dernière entrée avant émission", "Anchor: last entry before issue",
           f"entrée / entry {j.get('seq')}" + (" (journal vide / empty journal)" if j.get("seq") == 0 else "")
           + f"\n{j.get('hash')}", mono=True)
    pdf.ln(1)
    pdf.set_font(pdf.body, "", 8)
    pdf.multi_cell(0, 4, pdf.t(verify_hint), align="L", new_x="LMARGIN", new_y="NEXT")


RECEIPT_HINT = (
    "Ce document imprimé reproduit le récépissé signé (fichier JSON). Pour le vérifier : "
    "`dossierkit receipt verify RECU.json --package PAQUET`, ou comparer l'empreinte SHA-256 ci-dessus (et celle "
    "du QR code) avec celle du fichier : `sha256sum PAQUET` (Linux), `shasum -a 256 PAQUET` (macOS), "
    "`certutil -hashfile PAQUET SHA256` (Windows).\n"
    "This printout reproduces the signed receipt (JSON file). To verify it: "
    "`dossierkit receipt verify RECEIPT.json --package PACKAGE`, or compare the SHA-256 above (and in the QR code) "
    "with the file's: `sha256sum PACKAGE` (Linux), `shasum -a 256 PACKAGE` (macOS), "
    "`certutil -hashfile PACKAGE SHA256` (Windows).")

# For the patient: plain words, no command line (issue #15, point 21).
PATIENT_FR = (
    "Gardez ce récépissé : il dit ce qui a été remis, à qui, et quand.",
    "Le mot de passe du dossier vous est donné à part (papier ou téléphone). Ne le rangez jamais avec la clé USB. "
    "Donnez-le vous-même à l'équipe qui vous reçoit.",
    "Pour ouvrir le dossier chez vous : sous Windows, installez 7-Zip (gratuit, www.7-zip.org), faites un clic "
    "droit sur le fichier, puis 7-Zip > Extraire, et tapez le mot de passe. Sur Mac : installez Keka "
    "(www.keka.io) et ouvrez le fichier avec Keka. Sous Linux : ouvrez-le avec 7-Zip (7zz) ou le gestionnaire d'archives. "
    "L'explorateur de Windows et l'utilitaire d'archive du Mac ne savent pas l'ouvrir. Ensuite, ouvrez INDEX.HTM.",
    "Pour vérifier que le fichier n'a pas changé : sous Windows, clic droit sur le fichier, 7-Zip > CRC SHA > "
    "SHA-256 ; le nombre affiché doit être l'empreinte imprimée en haut de ce récépissé (et lue par le QR "
    "code).",
    "En cas de perte de la clé ou du mot de passe, demandez à l'établissement qui a préparé le dossier d'en "
    "refaire un : il le garde.",
)
PATIENT_EN = (
    "Keep this receipt: it says what was handed over, to whom, and when.",
    "The dossier's password is given to you separately (on paper or by phone). Never keep it with the USB key. "
    "Give it yourself to the team who sees you.",
    "To open the dossier at home: on Windows, install 7-Zip (free, www.7-zip.org), right-click the file, then "
    "7-Zip > Extract, and type the password. On a Mac: install Keka (www.keka.io) and open the file with Keka. On "
    "Linux: open it with 7-Zip (7zz) or the archive manager. Windows Explorer and the Mac's Archive Utility cannot open "
    "it. Then open INDEX.HTM.",
    "To check that the file has not changed: on Windows, right-click the file, 7-Zip > CRC SHA > SHA-256; the "
    "number shown must be the fingerprint printed at the top of this receipt (and read from the QR code).",
    "If the key or the password is lost, ask the establishment that prepared the dossier for a new one: it keeps "
    "the dossier.",
)


def _patient_block(pdf: _Doc) -> None:
    _heading(pdf, "Pour vous, patient", "For you, the patient")
    pdf.set_font(pdf.body, "", 9)
    for line in PATIENT_FR:
        pdf.multi_cell(0, 4.4, pdf.t(f"• {line}"), align="L", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(1.5)
    pdf.set_font(pdf.body, "I", 8.5)
    pdf.set_text_color(60)
    for line in PATIENT_EN:
        pdf.multi_cell(0, 4.2, pdf.t(f"• {line}"), align="L", new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0)


def render_receipt(doc: dict[str, Any], out: IO[bytes], *, fonts: dict[str, Path] | None = None,
                   use_system_fonts: bool = True, journal_entry: dict[str, Any] | None = None) -> None:
    fonts = fonts if fonts is not None else (find_unicode_fonts() if use_system_fonts else None)
    pdf = _Doc(f"Récépissé / Receipt {doc['receipt_id']}", fonts)
    pdf.set_title(f"dossierkit receipt {doc['receipt_id']}")
    pdf.set_creator("dossierkit")
    reply = doc.get("reply_to")
    qr_caption = "QR : n° du récépissé, dossier, date, empreinte du fichier\nreceipt no., dossier, date, file " \
                 "fingerprint"
    if reply:
        _header(pdf, "Récépissé de transmission d'un second avis", "Receipt for the transmission of a second "
                "opinion", doc["receipt_id"], receipt_qr_text(doc), qr_caption)
    else:
        _header(pdf, "Récépissé de transmission d'un dossier médical",
                "Receipt for the transmission of a medical dossier", doc["receipt_id"], receipt_qr_text(doc),
                qr_caption)
    fr_ch, en_ch = _channel_labels(doc.get("channel"))
    _when(pdf, "Remis le", "Handed over on", doc.get("issued_at"))
    _field(pdf, "Canal de transmission", "Channel", f"{fr_ch} / {en_ch}")
    _field(pdf, "Fichier remis", "File handed over", doc["package"]["file_name"])
    _field(pdf, "Son empreinte SHA-256", "Its SHA-256 fingerprint", doc["package"]["sha256"], mono=True)

    p = doc.get("patient") or {}
    _heading(pdf, "Patient", "Patient")
    _field(pdf, "Nom de famille", "Family name", p.get("family_name"))
    _field(pdf, "Prénoms", "Given names", " ".join(p.get("given_names") or []))
    _field(pdf, "Date de naissance", "Birth date", p.get("birth_date"))

    _heading(pdf, "Expéditeur, destinataires et copies", "Sender, recipients and copies")
    _field(pdf, "Expéditeur", "Sender", _person(doc.get("sender")) if doc.get("sender") else
           "non indiqué dans le dossier / not recorded in the dossier")
    _field(pdf, "Destinataire(s)", "Recipient(s)", "\n".join(_person(r) for r in doc.get("recipients") or []))
    copies = doc.get("copies") or []
    _field(pdf, "Copie(s)", "Copies", "\n".join(_person(c) for c in copies) if copies else
           "aucune / none")
    for w in doc.get("withheld_copies") or []:
        fr_role, en_role = _WITHHELD.get(w["restriction"], (w["restriction"], w["restriction"]))
        if reply:
            _field(pdf, "Non adressé", "Not sent", f"Second avis non adressé {fr_role}, à la demande du patient / "
                   f"Second opinion not sent {en_role}, at the patient's request")
        else:
            _field(pdf, "Copie non adressée", "Copy withheld",
                   f"Copie {fr_role} non adressée, à la demande du patient / Copy {en_role} withheld at the "
                   f"patient's request")
    restrictions = doc.get("restrictions") or []
    _field(pdf, "Restrictions exprimées par le patient", "Patient's restrictions",
           "\n".join(f"{r.get('text')}" + _recorded(r) for r in restrictions) if restrictions
           else "aucune / none")
    if reply:
        _heading(pdf, "En réponse au dossier", "In reply to the dossier")
        _field(pdf, "Identifiant du dossier reçu", "Dossier received", reply.get("dossier_id"))
        _field(pdf, "SHA-256 du paquet reçu", "Package received SHA-256", reply.get("package_sha256"), mono=True)
        _field(pdf, "Récépissé de l'expéditeur", "Sender's receipt", reply.get("receipt_id") or "—")
        _field(pdf, "Notre accusé de réception", "Our acknowledgement", reply.get("ack_id") or "—")

    docs = doc.get("documents") or []
    _heading(pdf, f"Documents ({len(docs)})", f"Documents ({len(docs)})")
    if docs:
        _table(pdf, ["Type / Kind", "Titre / Title", "Date"],
               [[_kind_label(d.get("kind")), d.get("title") or "—", d.get("date") or "—"] for d in docs],
               (52, 106, 22))
    else:
        _field(pdf, "Documents", "Documents", "aucun / none")

    studies = doc.get("studies") or []
    total = sum(int(s.get("count") or 0) for s in studies)
    _heading(pdf, f"Images DICOM : {len(studies)} examen(s), {total} image(s)",
             f"DICOM images: {len(studies)} stud{'y' if len(studies) == 1 else 'ies'}, {total} image(s)")
    if studies:
        _table(pdf, ["Date de l'examen / Study date", "Modalité(s) / Modality", "Séries / Series",
                     "Images"],
               [[s.get("date") or "—", ", ".join(map(modality_in_words, s.get("modalities") or [])) or "—",
                 str(s.get("series", "")),
                 str(s.get("count", ""))] for s in studies], (55, 55, 35, 35))

    c = doc.get("completeness") or {}
    _heading(pdf, "Complétude", "Completeness")
    status = c.get("status") or "unknown"
    _field(pdf, "Statut", "Status", _status_label(status))
    for f in c.get("waived") or []:
        fr, en = recipient_text(f)
        _field(pdf, "Transmis malgré", "Sent despite", f"{fr}\n{en}")
    if c.get("reason"):
        _field(pdf, "Motif", "Reason", c.get("reason"))

    _patient_block(pdf)
    _technical_page(pdf, doc, "Paquet transmis", "Package handed over", RECEIPT_HINT, journal_entry)
    pdf.output(out)


ACK_HINT = (
    "Accusé de réception signé par le destinataire, lié au paquet par son empreinte SHA-256. Vérification : "
    "`dossierkit receipt verify ACCUSE.json --package PAQUET`.\n"
    "Acknowledgement signed by the recipient, bound to the package by its SHA-256. To verify: "
    "`dossierkit receipt verify ACK.json --package PACKAGE`.")


def render_ack(doc: dict[str, Any], out: IO[bytes], *, fonts: dict[str, Path] | None = None,
               use_system_fonts: bool = True, journal_entry: dict[str, Any] | None = None) -> None:
    fonts = fonts if fonts is not None else (find_unicode_fonts() if use_system_fonts else None)
    pdf = _Doc(f"Accusé de réception / Acknowledgement {doc['ack_id']}", fonts)
    pdf.set_title(f"dossierkit acknowledgement {doc['ack_id']}")
    pdf.set_creator("dossierkit")
    _header(pdf, "Accusé de réception d'un dossier médical", "Acknowledgement of receipt of a medical dossier",
            doc["ack_id"], ack_qr_text(doc), "QR : n° de l'accusé, dossier, date, empreinte du fichier\n"
                                             "ack no., dossier, date, file fingerprint")
    _when(pdf, "Reçu et vérifié le", "Received and checked on", doc.get("issued_at"))
    _field(pdf, "Reçu par", "Received by", (doc.get("recipient") or {}).get("name"))
    _field(pdf, "Fichier reçu", "File received", doc["package"]["file_name"])
    r = doc.get("receipt") or {}
    if r.get("signer_fingerprint"):
        receipt_text = f"{r.get('receipt_id')}\nclé / key {_read_aloud(r['signer_fingerprint'])}"
    elif r:
        receipt_text = f"{r.get('receipt_id')} (récépissé papier / paper receipt)"
    else:
        receipt_text = "non fourni / not provided"
    _field(pdf, "Récépissé de l'expéditeur", "Sender's receipt", receipt_text)
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
        _field(pdf, "Anomalie", "Problem", _problem_text(problem))
    if doc.get("deliveries"):
        _heading(pdf, "Images versées dans notre PACS", "Images delivered into our PACS")
    for d in doc.get("deliveries") or []:
        _field(pdf, "Versement", "Delivery", _delivery_text(d))
    _technical_page(pdf, doc, "Paquet reçu", "Package received", ACK_HINT, journal_entry)
    pdf.output(out)


# verify's checks as the reader says them (the ack's JSON keeps verify's own words)
_CHECK_WORDS = {"container": ("l'enveloppe chiffrée", "the encrypted container"),
                "signature": ("la signature", "the signature"), "sender": ("l'expéditeur", "the sender"),
                "manifest": ("le manifeste", "the manifest"), "sums": ("les empreintes", "the checksums"),
                "files": ("les fichiers", "the files"), "dicomdir": ("le DICOMDIR", "the DICOMDIR"),
                "completeness": ("la complétude", "the completeness"), "xdm": ("les métadonnées IHE XDM",
                                                                              "the IHE XDM metadata"),
                "certificate": ("le certificat de l'établissement", "the establishment's certificate")}
_NOT_THE_RECEIPTS = re.compile(r"the file received is not the package receipt (\S+) names \(SHA-256 (\S+) instead "
                               r"of (\S+)\)")


def _problem_text(problem: str) -> str:
    """An ack's problem, French first: the receipt that names another file in
    words; a failed check by its name in words, verify's detail after it."""
    m = _NOT_THE_RECEIPTS.fullmatch(problem)
    if m:
        rc, got, want = m.groups()
        return (f"le fichier reçu n'est pas le paquet que nomme le récépissé {rc} (empreinte SHA-256 {got} au "
                f"lieu de {want}) : ce récépissé est celui d'un autre envoi, ou le fichier a changé\n"
                f"the file received is not the package receipt {rc} names (SHA-256 {got} instead of {want}): "
                f"the receipt of another sending, or the file changed")
    check, sep, detail = problem.partition(": ")
    if sep and check in _CHECK_WORDS:
        fr, en = _CHECK_WORDS[check]
        if detail == "not checked":
            return f"{fr} : non vérifié(e)\n{en}: not checked"
        return f"{fr} : en échec (détail technique ci-dessous)\n{en}: failed — {detail}"
    return problem


def _delivery_text(d: dict[str, Any]) -> str:
    """One delivery into the PACS (trace.deliver), French then English; a coerced patient identifier by its
    attributes and count only (the ack holds no patient identity)."""
    fr_time, en_time = localtime.local(str(d.get("time") or ""))
    held = int(d.get("stored") or 0) + int(d.get("already_present") or 0)
    n = d.get("instances")
    fr = f"PACS « {d.get('pacs')} » ({d.get('route')}), {fr_time} : {held} image(s) sur {n} dans le PACS"
    en = f"PACS \"{d.get('pacs')}\" ({d.get('route')}), {en_time}: {held} of {n} image(s) in the PACS"
    c = d.get("coercion")
    if c:
        attrs = ", ".join(c.get("attributes") or [])
        issuer = f" ({c['issuer']})" if c.get("issuer") else ""
        fr += (f"\nidentifiant patient remplacé par celui de notre site{issuer} sur {c.get('instances')} "
               f"image(s) envoyée(s) : {attrs}")
        en += (f"\npatient identifier replaced by our site's{issuer} on {c.get('instances')} image(s) sent: "
               f"{attrs}")
    return f"{fr}\n{en}"


def _recorded(r: dict[str, Any]) -> str:
    """Who recorded the restriction and when (a reply: INCa step 6)."""
    if not r.get("recorded_by"):
        return ""
    who = r["recorded_by"]
    if not r.get("recorded_at"):
        return f"\nrecueillie par / recorded by {who}"
    fr_time, en_time = localtime.local(str(r["recorded_at"]))  # local time, zone named (was the UTC stamp)
    return f"\nrecueillie par {who}, le {fr_time} / recorded by {who}, {en_time}"


def render(doc: dict[str, Any], out: IO[bytes], **kw: Any) -> None:
    """Render a signed receipt or ack (by its ``type``) to *out*; keyword
    ``journal_entry``: the journal entry written for it (printed with its
    number, the one the CLI reports)."""
    (render_ack if doc.get("type") == "dossierkit-ack" else render_receipt)(doc, out, **kw)


def _kind_label(kind: str | None) -> str:
    _, fr, en = DOCUMENT_KINDS.get(kind or "other", DOCUMENT_KINDS["other"])
    return f"{fr} / {en}"


def _status_label(status: str) -> str:
    return {"complete": "complet / complete", "incomplete": "incomplet / incomplete",
            "unknown": "inconnu / unknown"}.get(status, status)


def _channel_labels(channel: str | None) -> tuple[str, str]:
    return CHANNELS.get(channel or "", (channel or "—", channel or "—"))
