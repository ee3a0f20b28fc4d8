"""Findings told to the people who *receive* a dossier (issue #15).

``check`` speaks to the sender: what to add, which command fixes it. In the
package (INDEX.HTM) and on the receipt the reader is the receiving
physician or the patient, who can do nothing about a missing `dossierkit
add`: they need to know what the dossier lacks or what to be careful about,
in French first, English second. :func:`recipient_text` gives that line
for a finding (a dict as ``CheckReport.to_dict()`` / the manifest hold it);
an unknown code falls back to a neutral line naming the code.
"""

from __future__ import annotations

from typing import Any

from dossierkit.model import DOCUMENT_KINDS

# code -> (French, English): what the receiving reader should know.
_TEXTS: dict[str, tuple[str, str]] = {
    "CONSENT-MISSING": ("Le consentement du patient à la transmission n'est pas enregistré.",
                        "The patient's consent to transmit is not recorded."),
    "RESTRICTION-UNNAMED": ("Le patient a exprimé une restriction de diffusion dont la personne n'est pas nommée "
                            "dans le dossier.",
                            "The patient expressed a restriction on copies for a person the dossier does not "
                            "name."),
    "DOC-FILE-MISSING": ("Un document prévu n'a pas pu être joint.", "A document could not be included."),
    "DOC-FILE-CHANGED": ("Un document a changé après avoir été ajouté au dossier.",
                         "A document changed after it was added to the dossier."),
    "RCP-UNDATED": ("La fiche RCP n'est pas datée.", "The tumour board record (fiche RCP) is not dated."),
    "RCP-NO-MEETING-DATE": ("La date de la réunion n'apparaît pas sur la fiche RCP.",
                            "The meeting date does not appear on the fiche RCP."),
    "RCP-NO-PROPOSAL": ("La proposition thérapeutique n'a pas été repérée sur la fiche RCP.",
                        "No treatment proposal was found on the fiche RCP."),
    "RCP-FEW-SPECIALTIES": ("La fiche RCP ne mentionne pas trois spécialités.",
                            "The fiche RCP does not name three specialties."),
    "RCP-NO-TUMOUR-SITE": ("La localisation tumorale n'a pas été repérée sur la fiche RCP.",
                           "No tumour site was found on the fiche RCP."),
    "DOC-IDENTITY-MISMATCH": ("Un document semble concerner un autre patient : vérifiez l'identité avant usage.",
                              "A document seems to name another patient: check the identity before use."),
    "DOC-IDENTITY-NOT-STATED": ("Un document n'indique pas l'identité du patient.",
                                "A document does not state the patient's identity."),
    "DOC-SCANNED": ("Un document est une image numérisée (texte non sélectionnable).",
                    "A document is a scanned image (no selectable text)."),
    "DOC-ACTIVE-CONTENT": ("Un document PDF contient des scripts ou des fichiers joints : ouvrez-le avec prudence.",
                           "A PDF carries scripts or attached files: open it with care."),
    "DOC-OUTDATED": ("Un document est ancien par rapport à la fiche RCP.",
                     "A document is old compared with the fiche RCP."),
    "DOC-DATE-FUTURE": ("Un document porte une date dans le futur.", "A document bears a date in the future."),
    "DOC-UNDATED": ("Un document n'est pas daté.", "A document is not dated."),
    "IMG-MISSING": ("Un compte rendu d'imagerie est transmis sans les images correspondantes.",
                    "An imaging report comes without its images."),
    "IMG-PATIENT-MISMATCH": ("Des images semblent concerner un autre patient : vérifiez l'identité avant "
                             "import.", "Some images seem to name another patient: check the identity "
                                        "before import."),
    "IMG-MULTIPLE-PATIENTS": ("Les images portent plusieurs identités de patient.",
                              "The images carry more than one patient identity."),
    "IMG-CORRUPT": ("Des fichiers d'images n'étaient pas lisibles et n'ont pas été joints.",
                    "Some image files were unreadable and are not included."),
    "IMG-UID-CONFLICT": ("Deux images différentes portaient le même identifiant ; une seule est jointe.",
                         "Two different images had the same identifier; only one is included."),
    "IMG-COPY-MISSING": ("Des images indexées n'ont pas pu être jointes.",
                         "Some indexed images could not be included."),
    "IMG-PATIENT-UNKNOWN": ("Des images n'indiquent pas l'identité du patient.",
                            "Some images do not state the patient's identity."),
    "IMG-STUDY-NO-REPORT": ("Un examen d'imagerie est transmis sans son compte rendu.",
                            "An imaging study comes without its report."),
    "IMG-MEDIA": ("Le support d'origine des images (CD/USB) était irrégulier ; les images jointes sont "
                  "complètes et vérifiées.", "The images' original CD/USB was irregular; the images included "
                                             "are complete and checked."),
    "IMG-NO-META": ("Des images n'avaient pas d'en-tête DICOM complet.",
                    "Some images lacked a complete DICOM header."),
    "IMG-SKIPPED": ("Des fichiers qui n'étaient pas des images (visionneuse, pages web) ont été laissés de côté.",
                    "Files that were not images (viewer program, web pages) were left out."),
    "SENDER-MISSING": ("L'expéditeur n'est pas indiqué dans le dossier.",
                       "The dossier does not name its sender."),
}
# document-required rules: "<KIND>-MISSING"
_MISSING_KIND = {"RCP-MISSING": "rcp", "PATHOLOGY-MISSING": "pathology",
                 "IMAGING-REPORT-MISSING": "imaging-report", "OPERATIVE-REPORT-MISSING": "operative-report",
                 "BIOLOGY-MISSING": "biology", "TREATMENT-PLAN-MISSING": "treatment-plan",
                 "REFERRAL-LETTER-MISSING": "referral-letter"}
LEVEL_LABELS = {"error": ("Manque bloquant", "Blocking gap"), "warning": ("Avertissement", "Warning"),
                "info": ("Information", "Information")}


def recipient_text(finding: dict[str, Any]) -> tuple[str, str]:
    """(French, English) line for the reader of a received dossier."""
    code = str(finding.get("code") or "")
    kind = _MISSING_KIND.get(code)
    if kind is not None:
        _, fr, en = DOCUMENT_KINDS[kind]
        return f"Absent du dossier : {fr}.", f"Not in the dossier: {en.lower()}."
    if code in _TEXTS:
        return _TEXTS[code]
    return (f"Point signalé lors de la préparation du dossier ({code}).",
            f"Point raised while the dossier was prepared ({code}).")
