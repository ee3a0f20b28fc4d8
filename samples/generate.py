"""Generate the sample dossier's PDFs (fictional patient) and its broken variants.

Run from the repository root:  python samples/generate.py

Everything here is fictional: the patient Hélène Marie LEFÈVRE, born
1958-03-14, INS-NIR 2580375123456, IPP CHU-00482913, and every practitioner.
Output is deterministic (fixed creation dates, content-derived file IDs, RC4
for the password-protected variant because AES would draw a random IV), so
re-running the script with the same fpdf2 version yields identical bytes.

Fonts: fpdf2's core Helvetica with the cp1252 encoding (WinAnsiEncoding in the
PDF), which covers French accents, "œ" and "—" without embedding a font.
Images (DICOM) are generated separately by samples/generate_images.py.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

from fpdf import FPDF
from fpdf.enums import EncryptionMethod

HERE = Path(__file__).resolve().parent
DOCS = HERE / "documents"
BROKEN = HERE / "broken"

PATIENT_LINE = "Patient(e) : Mme LEFÈVRE Hélène Marie"
BIRTH_LINE = "Née le : 14/03/1958        Sexe : F"
INS_LINE = "INS (NIR) : 2 58 03 75 123 456        IPP : CHU-00482913"
FOOTER = "Document fictif généré pour dossierkit — aucune donnée réelle"


class Doc(FPDF):
    """A4 report: establishment header, bold title, identity block, sections."""

    def __init__(self, title: str, created: dt.date, establishment: str, service: str):
        super().__init__(format="A4")
        self.core_fonts_encoding = "cp1252"
        self.set_creation_date(dt.datetime(created.year, created.month, created.day, 12, 0, tzinfo=dt.timezone.utc))
        self.set_title(title)
        self.set_author(establishment)
        self.set_creator("dossierkit samples/generate.py")
        self.set_margins(18, 16, 18)
        self.set_auto_page_break(True, margin=18)
        self.establishment, self.service = establishment, service
        self.add_page()
        self.set_font("Helvetica", "B", 15)
        self.multi_cell(0, 8, title, new_x="LMARGIN", new_y="NEXT")
        self.ln(2)

    def header(self):
        self.set_font("Helvetica", "B", 10)
        self.cell(0, 5, self.establishment, new_x="LMARGIN", new_y="NEXT")
        self.set_font("Helvetica", "", 9)
        self.cell(0, 5, self.service, new_x="LMARGIN", new_y="NEXT")
        self.line(18, self.get_y() + 1, 192, self.get_y() + 1)
        self.ln(4)

    def footer(self):
        self.set_y(-14)
        self.set_font("Helvetica", "I", 7)
        self.cell(0, 5, f"{FOOTER} — page {self.page_no()}/{{nb}}", align="C")

    def lines(self, *texts: str, bold: bool = False, size: float = 10):
        self.set_font("Helvetica", "B" if bold else "", size)
        for t in texts:
            self.multi_cell(0, 5.2, t, new_x="LMARGIN", new_y="NEXT")

    def section(self, heading: str, *paragraphs: str):
        self.ln(2)
        self.lines(heading, bold=True, size=10.5)
        self.lines(*paragraphs)

    def identity(self, *texts: str):
        self.set_fill_color(238, 238, 238)
        self.set_font("Helvetica", "", 10)
        for t in texts:
            self.multi_cell(0, 5.6, t, fill=True, new_x="LMARGIN", new_y="NEXT")
        self.ln(2)

    def save(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.output(str(path))


CHU = "CHU de Nantes"


def fiche_rcp(*, complete: bool = True) -> Doc:
    d = Doc("Fiche de Réunion de Concertation Pluridisciplinaire (RCP)", dt.date(2026, 10, 28), CHU,
            "Centre de coordination en cancérologie (3C) — RCP Sénologie")
    d.identity(PATIENT_LINE, BIRTH_LINE, INS_LINE,
               "Médecin traitant : Dr Anne Roux — Médecin présentant le dossier : Dr Paul Garnier")
    d.lines("Date de la réunion : 28/10/2026        Lieu : CHU de Nantes, salle RCP Sénologie",
            "Type de présentation : première présentation post-opératoire")
    if complete:
        d.section("Médecins présents (quorum)",
                  "- Dr Paul Garnier, oncologue médical (coordonnateur)",
                  "- Dr Claire Besson, oncologue radiothérapeute",
                  "- Dr Julien Morel, chirurgien sénologue",
                  "- Dr Isabelle Caradec, anatomopathologiste",
                  "- Dr Marc Le Goff, radiologue")
    else:
        d.section("Médecins présents", "- Dr Paul Garnier, oncologue médical")
    d.section("Tumeur",
              "Localisation : sein gauche, quadrant supéro-externe",
              "Histologie : carcinome infiltrant de type non spécifique, grade SBR II",
              "Stade : pT2 (24 mm) pN1a (2/12) M0 — TNM 8e édition",
              "Récepteurs hormonaux : RE 90 %, RP 60 % ; HER2 score 1+ (négatif) ; Ki-67 25 %")
    d.section("Historique",
              "Mammographie et échographie de dépistage anormales en août 2026 ; microbiopsie le 21/08/2026.",
              "Bilan d'extension : scanner thoraco-abdomino-pelvien du 10/09/2026 sans lésion secondaire.",
              "Traitement réalisé : tumorectomie gauche et curage axillaire le 06/10/2026, marges saines.",
              "État général : OMS 0. Pas d'antécédent notable. Ménopausée.")
    if complete:
        d.section("Proposition thérapeutique de la RCP",
                  "Chimiothérapie adjuvante (4 cures EC puis 12 paclitaxel hebdomadaires), puis radiothérapie du "
                  "sein gauche et des aires ganglionnaires, puis hormonothérapie par inhibiteur de l'aromatase "
                  "pendant 5 ans.",
                  "Proposition conforme au référentiel régional : oui. Essai thérapeutique proposé : non.")
        d.lines("", "Fiche validée par Dr Paul Garnier, coordonnateur de la RCP, le 28/10/2026.")
    else:
        d.section("Discussion", "Dossier à représenter après complément d'information.")
    return d


def pathology() -> Doc:
    d = Doc("Compte rendu d'anatomie et de cytologie pathologiques", dt.date(2026, 10, 15), CHU,
            "Service d'anatomie et cytologie pathologiques")
    d.identity(PATIENT_LINE, BIRTH_LINE, "IPP : CHU-00482913")
    d.lines("Date du compte rendu : 15/10/2026        N° d'examen : H26-018734",
            "Date de prélèvement : 06/10/2026        Prescripteur : Dr Julien Morel, chirurgien")
    d.section("Nature du prélèvement",
              "Pièce de tumorectomie du sein gauche orientée (3 fils) et curage axillaire gauche.")
    d.section("Examen macroscopique",
              "Pièce de 62 x 48 x 35 mm pesant 48 g. Lésion stellaire blanchâtre de 24 mm, à 8 mm de la berge "
              "la plus proche (profonde). Curage : 12 ganglions isolés.")
    d.section("Examen microscopique",
              "Prolifération carcinomateuse infiltrante de type non spécifique, grade SBR II (3+2+1). "
              "Composante intracanalaire minoritaire (< 10 %). Pas d'embole vasculaire visible. "
              "Berges saines, marge minimale 8 mm. Métastases dans 2 des 12 ganglions (taille maximale 6 mm), "
              "sans rupture capsulaire.")
    d.section("Immunohistochimie",
              "Récepteurs des oestrogènes : 90 % (intensité forte). Récepteurs de la progestérone : 60 %.",
              "HER2 : score 1+ (négatif). Ki-67 : 25 %.")
    d.section("Conclusion",
              "Carcinome infiltrant de type non spécifique du sein gauche, grade SBR II, 24 mm, exérèse complète. "
              "pT2 pN1a (2/12) selon la classification TNM 8e édition (UICC).")
    d.lines("", "Dr Isabelle Caradec, anatomopathologiste")
    return d


def imaging(*, other_patient: bool = False) -> Doc:
    d = Doc("Compte rendu d'imagerie", dt.date(2026, 9, 10), CHU, "Service de radiologie et imagerie médicale")
    if other_patient:
        d.identity("Patient(e) : Mme DURAND Sophie Anne", "Née le : 02/07/1962        Sexe : F",
                   "IPP : CHU-00517220")
    else:
        d.identity(PATIENT_LINE, BIRTH_LINE, "IPP : CHU-00482913")
    d.lines("Examen : scanner thoraco-abdomino-pelvien (TDM TAP) avec injection de produit de contraste",
            "Date de l'examen : 10/09/2026        N° d'examen : A26-0910-0042",
            "Prescripteur : Dr Paul Garnier, oncologue")
    d.section("Indication", "Bilan d'extension d'un carcinome du sein gauche.")
    d.section("Technique",
              "Acquisition hélicoïdale thoraco-abdomino-pelvienne après injection intraveineuse de 80 mL "
              "d'iohexol, temps portal. Reconstructions en coupes de 1,25 mm, fenêtres parenchymateuses et "
              "osseuses.")
    d.section("Résultats",
              "Thorax : pas de nodule pulmonaire suspect. Pas d'épanchement pleural. Pas d'adénopathie "
              "médiastinale. Adénopathie axillaire gauche de 14 mm de petit axe.",
              "Abdomen et pelvis : foie de taille normale, sans lésion focale. Rate, pancréas, surrénales et "
              "reins sans particularité. Pas d'ascite. Pas d'adénopathie rétropéritonéale.",
              "Os : pas de lésion ostéolytique ni ostéocondensante suspecte.")
    d.section("Conclusion",
              "Adénopathie axillaire gauche suspecte. Pas de lésion secondaire à distance décelable.")
    d.lines("", "Dr Marc Le Goff, radiologue")
    return d


def operative() -> Doc:
    d = Doc("Compte rendu opératoire", dt.date(2026, 10, 6), CHU, "Service de chirurgie sénologique et gynécologique")
    d.identity("Patient(e) : Mme LEFÈVRE Hélène Marie, née le 14/03/1958", "IPP : CHU-00482913")
    d.lines("Date de l'intervention : 06/10/2026",
            "Opérateur : Dr Julien Morel ; aide : Dr Léa Simon ; anesthésiste : Dr Hugo Petit")
    d.section("Intervention",
              "Tumorectomie du sein gauche après repérage préopératoire, recherche du ganglion sentinelle "
              "(technique combinée isotopique et colorimétrique), complétée par un curage axillaire gauche.")
    d.section("Déroulement",
              "Installation en décubitus dorsal, bras gauche en abduction. Incision péri-aréolaire supéro-externe. "
              "Exérèse de la lésion repérée, pièce orientée par 3 fils et radiographiée : lésion et repère en "
              "place. Ganglion sentinelle unique, chaud et bleu, envoyé en examen extemporané : métastatique. "
              "Curage axillaire des niveaux I et II. Hémostase soigneuse, pose d'un drain aspiratif, fermeture "
              "plan par plan.")
    d.section("Suites", "Pas d'incident per-opératoire. Sortie prévue à J2. Consultation post-opératoire à 3 semaines.")
    d.lines("", "Dr Julien Morel, chirurgien")
    return d


def biology(*, date: dt.date = dt.date(2026, 10, 20)) -> Doc:
    d = Doc("Compte rendu de biologie médicale", date, CHU, "Laboratoire de biologie médicale")
    d.identity(PATIENT_LINE, BIRTH_LINE)
    d.lines(f"Date de prélèvement : {date:%d/%m/%Y} 08:15        Prescripteur : Dr Paul Garnier")
    d.set_font("Helvetica", "", 9.5)
    rows = [("Analyse", "Résultat", "Unité", "Valeurs de référence"),
            ("Hémoglobine", "13,1", "g/dL", "12,0 - 16,0"),
            ("Leucocytes", "6,4", "G/L", "4,0 - 10,0"),
            ("Polynucléaires neutrophiles", "3,9", "G/L", "1,8 - 7,5"),
            ("Plaquettes", "254", "G/L", "150 - 400"),
            ("Créatinine", "68", "µmol/L", "45 - 90"),
            ("DFG (CKD-EPI)", "84", "mL/min/1,73 m²", "> 60"),
            ("ASAT", "22", "UI/L", "< 35"),
            ("ALAT", "19", "UI/L", "< 35"),
            ("Bilirubine totale", "8", "µmol/L", "< 21"),
            ("CA 15-3", "18", "kU/L", "< 30")]
    d.ln(2)
    with d.table(col_widths=(60, 30, 35, 45), text_align="LEFT", line_height=5.5) as table:
        for r in rows:
            table.row(r)
    d.lines("", "Résultats validés par Dr Nadia Benali, biologiste médicale.")
    return d


def treatment_plan() -> Doc:
    d = Doc("Programme personnalisé de soins (PPS)", dt.date(2026, 10, 30), CHU, "Département d'oncologie médicale")
    d.identity(PATIENT_LINE, BIRTH_LINE)
    d.lines("Date de remise : 30/10/2026        Oncologue référent : Dr Paul Garnier",
            "Établi suite à la RCP Sénologie du 28/10/2026.")
    d.section("Votre traitement",
              "1. Chimiothérapie : 4 cures EC toutes les 3 semaines, puis 12 injections hebdomadaires de "
              "paclitaxel (novembre 2026 à avril 2027), hôpital de jour d'oncologie.",
              "2. Radiothérapie : sein gauche et aires ganglionnaires, 5 semaines (mai à juin 2027).",
              "3. Hormonothérapie : inhibiteur de l'aromatase, un comprimé par jour pendant 5 ans.")
    d.section("Vos contacts",
              "Infirmière de coordination : Mme Julie Renaud, 02 40 00 00 01",
              "Oncologue référent : Dr Paul Garnier — Médecin traitant : Dr Anne Roux",
              "Soins de support : psychologue, diététicienne, assistante sociale, activité physique adaptée.")
    return d


def referral_letter() -> Doc:
    d = Doc("Lettre d'adressage — demande de second avis", dt.date(2026, 11, 5), CHU,
            "Dr Paul Garnier — Oncologie médicale")
    d.lines("Pr Sophie Marchand", "Institut Curie — Département d'oncologie médicale", "26 rue d'Ulm, 75005 Paris",
            "", "Nantes, le 05/11/2026", "",
            "Objet : demande de second avis thérapeutique pour Mme LEFÈVRE Hélène, née le 14/03/1958",
            "IPP : CHU-00482913", "", "Chère Consœur,", "",
            "Je vous adresse Madame Hélène LEFÈVRE, née le 14/03/1958, âgée de 68 ans, pour un second avis "
            "sur la prise en charge adjuvante d'un carcinome infiltrant du sein gauche pT2 pN1a (2/12) M0, "
            "RH positif, HER2 négatif, Ki-67 25 %, opéré le 06/10/2026.",
            "La RCP Sénologie du CHU de Nantes du 28/10/2026 a proposé une chimiothérapie adjuvante puis une "
            "radiothérapie et une hormonothérapie. La patiente souhaite un second avis, en particulier sur "
            "l'intérêt d'une signature génomique avant chimiothérapie. Elle y a consenti le 02/11/2026.",
            "Vous trouverez ci-joint la fiche RCP, les comptes rendus d'anatomopathologie, d'imagerie, "
            "opératoire et de biologie, ainsi que le programme personnalisé de soins. Les images du scanner "
            "sont jointes au dossier.", "",
            "Je vous remercie de votre avis et vous prie de croire, Chère Consœur, à mes sentiments confraternels.",
            "", "Dr Paul Garnier, oncologue médical", "Copie : Dr Anne Roux, médecin traitant")
    return d


def password_protected() -> Doc:
    d = Doc("Compte rendu de consultation", dt.date(2026, 10, 22), CHU, "Consultation d'oncologie médicale")
    d.identity(PATIENT_LINE, BIRTH_LINE)
    d.lines("Date de consultation : 22/10/2026", "Consultation d'annonce après chirurgie.")
    d.set_encryption(owner_password="owner-sample", user_password="patient-sample",
                     encryption_method=EncryptionMethod.RC4)
    return d


def scanned_pdf(path: Path) -> None:
    """An image-only page, as a scanner without OCR produces: no text layer."""
    from PIL import Image, ImageDraw, ImageFont

    img = Image.new("L", (827, 1169), 255)  # A4 at 100 dpi: small but legible
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=16)
    lines = ["CHU de Nantes - Consultation d'oncologie medicale", "", "COMPTE RENDU DE CONSULTATION", "",
             "Patient(e) : Mme LEFEVRE Helene Marie", "Nee le : 14/03/1958", "",
             "Date de consultation : 22/10/2026", "", "Consultation d'annonce apres chirurgie.",
             "Document numerise sans reconnaissance de texte."]
    for i, t in enumerate(lines):
        draw.text((70, 80 + i * 28), t, fill=30, font=font)
    d = FPDF(format="A4")
    d.set_creation_date(dt.datetime(2026, 10, 22, 12, 0, tzinfo=dt.timezone.utc))
    d.set_title("Compte rendu de consultation (numérisé)")
    d.set_creator("dossierkit samples/generate.py")
    d.add_page()
    d.image(img, x=0, y=0, w=210, h=297)
    d.output(str(path))


# A PDF whose page tree is empty, written by hand (fpdf2 always writes a page).
_NO_PAGES_OBJECTS = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [] /Count 0 >>"]


def no_pages_pdf() -> bytes:
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(_NO_PAGES_OBJECTS, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(offsets) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(offsets) + 1, xref)
    return bytes(out)


CURIE = "Institut Curie"


def second_opinion_letter(*, restricted: bool = False) -> Doc:
    """Pr Marchand's second-opinion letter (INCa step 6). *restricted*: the
    patient refused that the initial physician be informed — the letter goes
    to the treating GP with a copy to the patient, and names no one else."""
    d = Doc("Courrier de second avis thérapeutique", dt.date(2026, 11, 24), CURIE,
            "Pr Sophie Marchand — Département d'oncologie médicale")
    to = ["Dr Anne Roux, médecin traitant"] if restricted else \
        ["Dr Paul Garnier, oncologue médical, CHU de Nantes", "Dr Anne Roux, médecin traitant"]
    d.lines(*to, "", "Paris, le 24/11/2026", "",
            "Objet : second avis thérapeutique pour Mme LEFÈVRE Hélène Marie, née le 14/03/1958")
    d.identity(PATIENT_LINE, BIRTH_LINE, INS_LINE)
    d.lines("", "Chère Consœur," if restricted else "Chers Confrères,", "",
            "J'ai reçu le 18/11/2026 le dossier de Madame Hélène LEFÈVRE pour un second avis sur la prise en "
            "charge adjuvante d'un carcinome infiltrant du sein gauche pT2 pN1a (2/12) M0, RH positif, HER2 "
            "négatif, Ki-67 25 %.",
            "Le dossier a été présenté en RCP Sénologie de l'Institut Curie le 21/11/2026 (fiche RCP « 2d avis » "
            "jointe). Au vu de l'atteinte ganglionnaire, nous confirmons l'indication d'une chimiothérapie "
            "adjuvante ; une signature génomique n'apporterait pas d'élément décisionnel ici.",
            "Second avis : proposition initiale confirmée — chimiothérapie adjuvante (4 EC puis 12 paclitaxel "
            "hebdomadaires), radiothérapie, puis hormonothérapie par inhibiteur de l'aromatase pendant 5 ans.",
            "J'ai revu Madame LEFÈVRE en consultation le 24/11/2026 et lui ai expliqué cet avis.", "")
    if restricted:
        d.lines("À la demande de la patiente, recueillie le 24/11/2026, ce courrier n'est adressé qu'à son "
                "médecin traitant, avec copie à la patiente.", "")
    d.lines("Je vous prie de croire, " + ("Chère Consœur" if restricted else "Chers Confrères")
            + ", à mes sentiments confraternels.", "", "Pr Sophie Marchand, oncologue médicale",
            "Copie : la patiente" if restricted else "Copie : Dr Anne Roux, médecin traitant ; la patiente")
    return d


def fiche_rcp_second_opinion(*, marked: bool = True) -> Doc:
    """The fiche of the new RCP that examined the dossier, marked « 2d avis » (INCa)."""
    d = Doc("Fiche de Réunion de Concertation Pluridisciplinaire (RCP)" + (" — 2d avis" if marked else ""),
            dt.date(2026, 11, 21), CURIE, "RCP Sénologie — Institut Curie")
    d.identity(PATIENT_LINE, BIRTH_LINE, INS_LINE, "Médecin présentant le dossier : Pr Sophie Marchand")
    d.lines("Date de la réunion : 21/11/2026        Lieu : Institut Curie, Paris",
            "Type de présentation : " + ("2d avis (second avis thérapeutique)" if marked else "présentation"))
    d.section("Médecins présents (quorum)",
              "- Pr Sophie Marchand, oncologue médicale (coordonnatrice)",
              "- Dr Thomas Vidal, oncologue radiothérapeute",
              "- Dr Léa Fontaine, chirurgienne sénologue",
              "- Dr Hugo Perrin, anatomopathologiste")
    d.section("Tumeur", "Localisation : sein gauche, quadrant supéro-externe",
              "Histologie : carcinome infiltrant de type non spécifique, grade SBR II, pT2 pN1a (2/12) M0")
    d.section("Proposition thérapeutique de la RCP",
              "Proposition initiale confirmée : chimiothérapie adjuvante, radiothérapie, puis hormonothérapie.")
    return d


REPLY = HERE / "reply"
REPLY_SAMPLES = {
    "01-courrier-second-avis.pdf": second_opinion_letter,
    "02-courrier-second-avis-restreint.pdf": lambda: second_opinion_letter(restricted=True),
    "03-fiche-rcp-2d-avis.pdf": fiche_rcp_second_opinion,
    "04-fiche-rcp-non-marquee.pdf": lambda: fiche_rcp_second_opinion(marked=False),
}


def write_reply_samples() -> None:
    for name, make in REPLY_SAMPLES.items():
        make().save(REPLY / name)


SAMPLES = {
    "01-fiche-rcp.pdf": fiche_rcp,
    "02-anatomopathologie.pdf": pathology,
    "03-scanner-tap.pdf": imaging,
    "04-cr-operatoire.pdf": operative,
    "05-biologie.pdf": biology,
    "06-pps.pdf": treatment_plan,
    "07-lettre-adressage.pdf": referral_letter,
}


def main() -> int:
    for name, make in SAMPLES.items():
        make().save(DOCS / name)
    BROKEN.mkdir(exist_ok=True)
    password_protected().save(BROKEN / "password-protected.pdf")
    (BROKEN / "empty.pdf").write_bytes(b"")
    whole = bytes(pathology().output())
    (BROKEN / "truncated.pdf").write_bytes(whole[: len(whole) * 6 // 10])
    imaging(other_patient=True).save(BROKEN / "other-patient.pdf")
    fiche_rcp(complete=False).save(BROKEN / "rcp-incomplete.pdf")
    scanned_pdf(BROKEN / "scanned.pdf")
    biology(date=dt.date(2025, 1, 14)).save(BROKEN / "old-document.pdf")
    (BROKEN / "not-a-pdf.pdf").write_bytes("Ceci n'est pas un PDF.\n".encode())
    (BROKEN / "no-pages.pdf").write_bytes(no_pages_pdf())
    write_reply_samples()
    total = sum(p.stat().st_size for p in HERE.rglob("*.pdf"))
    print(f"samples written under {HERE} ({total / 1024:.0f} KiB of PDF)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
