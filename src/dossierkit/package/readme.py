"""README.TXT (in the root) and the LISEZMOI-README.TXT written beside the
package — bilingual plain text from ``templates/package/``.

Neither holds patient data: the root README only names the dossier id (a
random, PHI-free token) and counts; the one beside the package is the same
for every package of a kind — a dossier sent for a second opinion, or the
reply that brings the opinion back (*reply*) — so it can sit in cleartext on
the USB key.
CRLF line ends: the first reader is often Windows Notepad.
"""

from __future__ import annotations

import os
from pathlib import Path
from string import Template

from dossierkit import localtime
from dossierkit.errors import OutputError
from dossierkit.fsutil import atomic_writer
from dossierkit.resources import templates_dir

BESIDE_README = "LISEZMOI-README.TXT"
_MARK = "dossierkit — LISEZ-MOI / README"

_TITLE = {False: "DOSSIER MÉDICAL POUR UN SECOND AVIS — MEDICAL DOSSIER FOR A SECOND OPINION",
          True: "RÉPONSE DE SECOND AVIS — SECOND OPINION REPLY"}
_IMAGES_FR = """  DICOMDIR, DICOM/       Les images médicales (DICOM). Pour les importer dans un PACS ou les ouvrir
                         dans une visionneuse, choisissez « Importer un CD/DVD/support » et désignez
                         le fichier DICOMDIR de ce dossier.
"""
_IMAGES_EN = """  DICOMDIR, DICOM/       The medical images (DICOM). To import them into a PACS or open them in a
                         viewer, choose "import CD/DVD/media" and point it at the DICOMDIR file here.
"""
# The patient's paragraph and the receiving team's first line, beside a dossier / beside a reply.
_BESIDE = {
    False: {
        "patient_fr": "Le fichier à côté de celui-ci est votre dossier médical, chiffré. Il ne s'ouvre qu'avec\n"
                      "le mot de passe qui vous a été donné à part (sur papier ou par téléphone) : ne le gardez\n"
                      "jamais avec la clé USB. Donnez-le vous-même à l'équipe qui vous reçoit.",
        "patient_en": "The file next to this one is your medical dossier, encrypted. It opens only with the\n"
                      "password you were given separately (on paper or by phone): never keep it with the USB\n"
                      "key. Give it yourself to the team who sees you.",
        "team_fr": "Le fichier à côté de celui-ci est un dossier médical chiffré, préparé pour un second avis.",
        "team_en": "The file next to this one is an encrypted medical dossier prepared for a second opinion.",
    },
    True: {
        "patient_fr": "Le fichier à côté de celui-ci est la réponse du second avis sur votre dossier médical,\n"
                      "chiffrée. Elle ne s'ouvre qu'avec le mot de passe qui vous a été donné à part (sur papier\n"
                      "ou par téléphone) : ne le gardez jamais avec la clé USB. Vous pouvez la montrer à votre\n"
                      "médecin traitant, avec ce mot de passe.",
        "patient_en": "The file next to this one is the second opinion on your medical dossier, encrypted. It\n"
                      "opens only with the password you were given separately (on paper or by phone): never\n"
                      "keep it with the USB key. You may show it to your GP, with that password.",
        "team_fr": "Le fichier à côté de celui-ci est la réponse chiffrée à une demande de second avis.",
        "team_en": "The file next to this one is the encrypted reply to a request for a second opinion.",
    },
}


def _template(name: str) -> str:
    return (templates_dir() / "package" / name).read_text(encoding="utf-8")


def _crlf(text: str) -> bytes:
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")


def root_readme(*, dossier_id: str, created: str, version: str, documents: int, studies: int,
                images: int, reply: bool = False) -> bytes:
    """The root README.TXT; *created* is the manifest's UTC stamp, printed
    in local time with its zone (dossierkit.localtime). *reply*: the root
    of a second opinion's reply. The images' lines only when it has images."""
    created_fr, created_en = localtime.local(created)
    title = _TITLE[reply]
    text = Template(_template("README.TXT")).substitute(
        title=f"{title}\n{'=' * len(title)}", dossier_id=dossier_id, created_fr=created_fr, created_en=created_en,
        version=version, document_count=documents, study_count=studies, image_count=images,
        images_fr=_IMAGES_FR if images else "", images_en=_IMAGES_EN if images else "")
    return _crlf(text)


def beside_readme(*, reply: bool = False) -> bytes:
    """LISEZMOI-README.TXT: beside a dossier, or beside a reply (*reply*)."""
    return _crlf(Template(_template(BESIDE_README)).substitute(_BESIDE[reply]))


def write_beside_readme(package: str | os.PathLike, *, reply: bool = False) -> Path | None:
    """Write LISEZMOI-README.TXT next to *package*. An existing file is
    replaced only when it is ours (starts with our title); returns the path
    written, or None when an unrelated file of that name was left alone."""
    target = Path(package).parent / BESIDE_README
    if target.exists():
        try:
            head = target.read_bytes()[:200].decode("utf-8", "replace")
        except OSError as exc:
            raise OutputError(f"cannot read ({exc.strerror})", path=target) from exc
        if _MARK not in head:
            return None
    with atomic_writer(target) as fh:
        fh.write(beside_readme(reply=reply))
    return target
