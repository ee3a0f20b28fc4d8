"""Patient identity matching, pure functions.

Names are compared after normalisation: DICOM ``^`` components split, accents
stripped, case folded, hyphens/apostrophes treated as spaces. A wrong
patient's document or image is a safety hazard, so matching is strict on the
family name (or birth name) and the birth date, lenient on given-name order.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass

from dossierkit.model import Patient

_SEP = re.compile(r"[\s\-'’.,]+")


def fold(text: str) -> str:
    """Upper-case ASCII form: accents stripped, ligatures expanded."""
    text = text.replace("Œ", "OE").replace("œ", "oe").replace("Æ", "AE").replace("æ", "ae").replace("ß", "ss")
    norm = unicodedata.normalize("NFKD", text)
    return "".join(c for c in norm if not unicodedata.combining(c)).upper()


def name_tokens(text: str | None) -> list[str]:
    if not text:
        return []
    return [t for t in _SEP.split(fold(text)) if t]


@dataclass(frozen=True)
class PersonName:
    family: tuple[str, ...]
    given: tuple[str, ...]


def parse_dicom_pn(pn: str | None) -> PersonName:
    """Parse a DICOM PN value ``Family^Given^Middle^Prefix^Suffix`` (first,
    alphabetic component group only; ideographic/phonetic groups after ``=``
    are ignored)."""
    if not pn:
        return PersonName((), ())
    alpha = str(pn).split("=")[0]
    parts = alpha.split("^")
    family = tuple(name_tokens(parts[0]))
    given = tuple(t for p in parts[1:3] for t in name_tokens(p))
    return PersonName(family, given)


def parse_dicom_date(value: str | None) -> dt.date | None:
    if not value:
        return None
    s = str(value).strip().replace(".", "").replace("-", "")
    try:
        return dt.datetime.strptime(s[:8], "%Y%m%d").date()
    except ValueError:
        return None


def family_names(patient: Patient) -> set[tuple[str, ...]]:
    names = {tuple(name_tokens(patient.family_name))}
    if patient.birth_name:
        names.add(tuple(name_tokens(patient.birth_name)))
    return names


def family_matches(patient: Patient, family: tuple[str, ...]) -> bool:
    """True when *family* is the patient's family or birth name, or one of the
    parts of a compound name (``DUPONT MARTIN`` matches ``MARTIN``)."""
    if not family:
        return False
    for known in family_names(patient):
        if family == known:
            return True
        if set(family) <= set(known) or set(known) <= set(family):
            return True
    return False


def given_matches(patient: Patient, given: tuple[str, ...]) -> bool:
    """True when the first given name found is one of the patient's."""
    if not given:
        return True  # absent given name is not a contradiction
    mine = {t for g in patient.given_names for t in name_tokens(g)}
    return given[0] in mine


@dataclass
class IdentityComparison:
    """Result of comparing an identity found in a file with the dossier's."""

    name_ok: bool | None  # None: no name found
    birth_date_ok: bool | None
    identifier_ok: bool | None

    @property
    def mismatch(self) -> bool:
        return any(v is False for v in (self.name_ok, self.birth_date_ok, self.identifier_ok))

    def reasons(self) -> list[str]:
        out = []
        if self.name_ok is False:
            out.append("name")
        if self.birth_date_ok is False:
            out.append("birth date")
        if self.identifier_ok is False:
            out.append("identifier")
        return out


def compare_dicom_identity(patient: Patient, pn: str | None, patient_id: str | None,
                           birth_date: str | None, *, known_ids: set[str] | None = None) -> IdentityComparison:
    """Compare DICOM PatientName/PatientID/PatientBirthDate with the dossier.

    ``known_ids`` are identifiers accepted for this patient besides the
    dossier's own (e.g. the other hospital's IPP, confirmed by staff). An ID
    is only judged when the dossier states an identifier or known ids.
    """
    name_ok = None
    if pn and str(pn).strip("^ "):
        parsed = parse_dicom_pn(pn)
        name_ok = family_matches(patient, parsed.family) and given_matches(patient, parsed.given)
    bd_ok = None
    if birth_date and str(birth_date).strip():
        d = parse_dicom_date(birth_date)
        bd_ok = d == patient.birth_date if d else False
    id_ok = None
    accepted = set(known_ids or ()) | set(patient.other_ids)
    if patient.identifier:
        accepted.add(patient.identifier.value)
    if patient_id and str(patient_id).strip() and accepted:
        norm = {a.replace(" ", "").upper() for a in accepted}
        id_ok = str(patient_id).replace(" ", "").upper() in norm
    return IdentityComparison(name_ok, bd_ok, id_ok)
