"""Patients, studies and series of a set of image instances, for reports.

Patient *identities* are told apart by normalised family name, first given
name and birth date (the PatientID is left out on purpose: one patient often
has a different ID at each imaging centre, DESIGN §8). Nothing here returns
a patient's name or identifiers: callers get counts and study descriptions.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from dossierkit.identity import compare_dicom_identity, parse_dicom_date, parse_dicom_pn
from dossierkit.model import ImageInstance, Patient, StudySummary


def identity_key(inst: ImageInstance) -> tuple:
    """A hashable key equal for two instances of the same patient identity."""
    pn = parse_dicom_pn(inst.patient_name)
    bd = parse_dicom_date(inst.patient_birth_date)
    if pn.family or bd:
        return ("name", pn.family, pn.given[:1], bd)
    if inst.patient_id and inst.patient_id.strip():
        return ("id", inst.patient_id.replace(" ", "").upper())
    return ("unknown",)


def patient_identities(instances: Iterable[ImageInstance]) -> dict[tuple, list[ImageInstance]]:
    out: dict[tuple, list[ImageInstance]] = {}
    keys: dict[tuple, tuple] = {}  # thousands of instances share a few raw identities
    for inst in instances:
        raw = (inst.patient_name, inst.patient_id, inst.patient_birth_date)
        key = keys.get(raw)
        if key is None:
            key = keys[raw] = identity_key(inst)
        out.setdefault(key, []).append(inst)
    return out


def format_da(value: str | None) -> str | None:
    """DICOM DA ``20260910`` → ``2026-09-10`` (as found when not a date)."""
    d = parse_dicom_date(value)
    return d.isoformat() if d else (value or None)


def study_row(st: StudySummary | StudyCount) -> dict[str, Any]:
    return {"study_instance_uid": st.study_instance_uid, "date": format_da(st.date), "modalities": st.modalities,
            "description": st.description, "accession_number": st.accession_number, "series": len(st.series),
            "instances": st.instance_count}


def describe_study(st: StudySummary) -> str:
    """One line naming a study without patient data: date, modality, description, count."""
    parts = [format_da(st.date) or "undated", "/".join(st.modalities) or "no modality"]
    if st.description:
        parts.append(f"“{st.description}”")
    return f"study of {parts[0]}, {', '.join(parts[1:])} ({st.instance_count} image{'s' if st.instance_count != 1 else ''})"


@dataclass(slots=True)
class StudyCount:
    """A study as a summary shows it: what :func:`study_row` reads of a
    :class:`~dossierkit.model.StudySummary`, without its instances."""

    study_instance_uid: str
    date: str | None
    description: str | None
    accession_number: str | None
    series: dict[str, str | None]  # Series Instance UID → modality
    instance_count: int = 0

    @property
    def modalities(self) -> list[str]:
        return sorted({m for m in self.series.values() if m})


@dataclass
class ImagesSummary:
    instances: int
    patients: int
    series: int
    studies: list[StudySummary] | list[StudyCount]

    def counts(self) -> dict[str, int]:
        return {"instances": self.instances, "patients": self.patients, "studies": len(self.studies),
                "series": self.series}

    def study_rows(self) -> list[dict[str, Any]]:
        return [study_row(st) for st in self.studies]


def count_patients(instances: Iterable[ImageInstance], patient: Patient | None = None) -> int:
    """Distinct patients in *instances*, counted as ``check`` counts them
    (IMG-MULTIPLE-PATIENTS): with the dossier's *patient*, every identity
    that is this patient under another spelling or another establishment's
    PatientID counts once; identities stating nothing are not counted."""
    firsts: dict[tuple, ImageInstance] = {}
    keys: dict[tuple, tuple] = {}
    for inst in instances:
        raw = (inst.patient_name, inst.patient_id, inst.patient_birth_date)
        key = keys.get(raw)
        if key is None:
            key = keys[raw] = identity_key(inst)
            firsts.setdefault(key, inst)
    return _count_identities(firsts, patient)


def _count_identities(firsts: dict[tuple, ImageInstance], patient: Patient | None) -> int:
    """The patients counted from the first instance of each identity."""
    mine = False
    others = 0
    for key, first in firsts.items():
        if key == ("unknown",):
            continue
        if patient is not None:
            cmp = compare_dicom_identity(patient, first.patient_name, first.patient_id, first.patient_birth_date)
            if not cmp.mismatch or cmp.reasons() == ["identifier"]:
                mine = True
                continue
        others += 1
    return others + mine


def summarize(instances: Iterable[ImageInstance], patient: Patient | None = None) -> ImagesSummary:
    """Counts and studies of *instances*, in one pass that keeps no instance
    but the first of each patient identity (issue #18: the importer streams
    its whole index through it); patients counted as ``check`` does when the
    dossier's *patient* is given (:func:`count_patients`). Studies in
    :func:`~dossierkit.model.group_studies`'s order (date, UID)."""
    studies: dict[str, StudyCount] = {}
    firsts: dict[tuple, ImageInstance] = {}
    keys: dict[tuple, tuple] = {}
    n = 0
    for inst in instances:
        n += 1
        st = studies.get(inst.study_instance_uid)
        if st is None:
            st = studies[inst.study_instance_uid] = StudyCount(
                inst.study_instance_uid, inst.study_date, inst.study_description, inst.accession_number, {})
        st.series.setdefault(inst.series_instance_uid, inst.modality)
        st.instance_count += 1
        raw = (inst.patient_name, inst.patient_id, inst.patient_birth_date)
        if raw not in keys:
            key = keys[raw] = identity_key(inst)
            firsts.setdefault(key, inst)
    rows = sorted(studies.values(), key=lambda s: (s.date or "", s.study_instance_uid))
    return ImagesSummary(instances=n, patients=_count_identities(firsts, patient),
                         series=sum(len(st.series) for st in rows), studies=rows)
