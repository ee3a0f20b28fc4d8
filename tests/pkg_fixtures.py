"""Package test workspaces, built the way import/add leave them: real DICOM
files (pydicom's CT_small/MR_small, re-identified to the dossier's patient,
some stripped of the attributes directory records need, names in ISO_IR 100
and ISO_IR 192) and the real sample PDFs, indexed through the Workspace API."""

from __future__ import annotations

import copy
import hashlib
import shutil
import threading
import time
from pathlib import Path

from pydicom import dcmread

from dossierkit.archive import zipreader
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

from dossierkit.check import run_checks
from dossierkit.model import DocumentRecord, ImageInstance
from dossierkit.resources import samples_dir
from dossierkit.trust.signing import fingerprint
from dossierkit.trust.store import TrustStore
from dossierkit.workspace import Workspace, init_workspace, read_toml_file

PATIENT = {"family_name": "Lefèvre", "given_names": ["Hélène", "Marie"], "birth_date": "1958-03-14", "sex": "F",
           "identifier": {"value": "2580375123456", "system": "INS-NIR"}, "other_ids": ["CHU-00482913"]}
# Forms of the patient's identity that must never appear in cleartext bytes.
PHI_FORMS = ["Lefèvre", "LEFÈVRE", "Lefevre", "LEFEVRE", "Hélène", "HÉLÈNE", "Helene", "HELENE",
             "2580375123456", "CHU-00482913", "19580314", "1958-03-14", "14/03/1958"]

SAMPLE_DOCS = [
    ("01-fiche-rcp.pdf", "rcp", "2026-10-12", "Fiche RCP thoracique"),
    ("02-anatomopathologie.pdf", "pathology", "2026-09-30", "Biopsie bronchique : adénocarcinome"),
    ("03-scanner-tap.pdf", "imaging-report", "2026-09-25", "Scanner thoraco-abdomino-pelvien"),
    ("04-cr-operatoire.pdf", "operative-report", "2026-08-20", "Compte rendu opératoire"),
    ("05-biologie.pdf", "biology", "2026-10-05", "Bilan biologique"),
    ("06-pps.pdf", "treatment-plan", "2026-10-14", "Programme personnalisé de soins"),
    ("07-lettre-adressage.pdf", "referral-letter", "2026-10-20", "Lettre d'adressage pour second avis")]

# Attributes real CDs often lack; the DICOMDIR must still be valid.
STRIPPED = ("StudyTime", "StudyID", "SeriesNumber", "InstanceNumber")


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def new_workspace(root: Path) -> Workspace:
    data = read_toml_file(samples_dir() / "dossier.toml")
    data.pop("id", None)
    data.pop("created", None)
    data["patient"] = copy.deepcopy(PATIENT)
    return init_workspace(root, data)


def add_documents(ws: Workspace, docs=SAMPLE_DOCS) -> list[DocumentRecord]:
    records = []
    for n, (name, kind, date, title) in enumerate(docs, 1):
        src = samples_dir() / "documents" / name
        rel = f"documents/DOC{n:04d}.pdf"
        shutil.copyfile(src, ws.path(rel))
        p = ws.path(rel)
        records.append(DocumentRecord(id=f"DOC{n:04d}", kind=kind, path=rel, sha256=_sha(p), size=p.stat().st_size,
                                      original_name=name, title=title, date=date, pages=1,
                                      has_text=True))
    ws.save_documents(records)
    return records


def _instance(ds, path: Path, rel: str) -> ImageInstance:
    def g(k):
        v = ds.get(k)
        return None if v is None or v == "" else v
    return ImageInstance(
        sop_instance_uid=str(ds.SOPInstanceUID), sop_class_uid=str(ds.SOPClassUID),
        study_instance_uid=str(ds.StudyInstanceUID), series_instance_uid=str(ds.SeriesInstanceUID), path=rel,
        sha256=_sha(path), size=path.stat().st_size, transfer_syntax=str(ds.file_meta.TransferSyntaxUID),
        patient_name=str(ds.PatientName), patient_id=g("PatientID"), patient_birth_date=g("PatientBirthDate"),
        patient_sex=g("PatientSex"), study_date=g("StudyDate"), study_time=g("StudyTime"), study_id=g("StudyID"),
        study_description=g("StudyDescription"), accession_number=g("AccessionNumber"), modality=g("Modality"),
        series_number=int(ds.SeriesNumber) if ds.get("SeriesNumber") not in (None, "") else None,
        series_description=g("SeriesDescription"),
        instance_number=int(ds.InstanceNumber) if ds.get("InstanceNumber") not in (None, "") else None,
        specific_character_set=str(ds.get("SpecificCharacterSet")) if "SpecificCharacterSet" in ds else None)


def add_images(ws: Workspace, *, ct: int = 4, mr: int = 3, strip_ct: bool = True) -> list[ImageInstance]:
    """A CT study (ISO_IR 100 names, attributes stripped when *strip_ct*) and
    an MR study (ISO_IR 192 names, complete), all for the dossier's patient."""
    instances = []
    plans = [("CT_small.dcm", ct, "ISO_IR 100", strip_ct, "Scanner thoraco-abdo-pelvien"),
             ("MR_small.dcm", mr, "ISO_IR 192", False, "IRM hépatique")]
    for study_n, (name, count, charset, strip, desc) in enumerate(plans, 1):
        base = dcmread(get_testdata_file(name))
        study_uid, series_uid = generate_uid(), generate_uid()
        for i in range(count):
            ds = copy.deepcopy(base)
            ds.SpecificCharacterSet = charset
            ds.PatientName = "LEFÈVRE^Hélène^Marie"
            ds.PatientID = "CHU-00482913"
            ds.PatientBirthDate = "19580314"
            ds.PatientSex = "F"
            ds.StudyDescription = desc
            ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, series_uid
            ds.SOPInstanceUID = generate_uid()
            ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
            ds.InstanceNumber = i + 1
            if strip:
                for k in STRIPPED:
                    if k in ds:
                        delattr(ds, k)
            rel = f"images/S{study_n}/I{i:04d}.dcm"
            p = ws.path(rel)
            p.parent.mkdir(parents=True, exist_ok=True)
            ds.save_as(p, enforce_file_format=True)
            instances.append(_instance(ds, p, rel))
    ws.save_images_index({"instances": [i.to_dict() for i in instances], "problems": []})
    return instances


def full_workspace(root: Path, **kw) -> Workspace:
    ws = new_workspace(root)
    add_documents(ws)
    add_images(ws, **kw)
    return Workspace(root)


def add_non_image_instances(ws: Workspace) -> list[ImageInstance]:
    """Append a structured report (pydicom's test-SR), an RT plan and an RT
    dose to the MR study, re-identified like the images: the DICOMDIR must
    give them SR DOCUMENT / RT PLAN / RT DOSE records."""
    current = ws.images()
    mr = next(i for i in current if i.modality == "MR")
    added = []
    for n, name in enumerate(("test-SR.dcm", "rtplan.dcm", "rtdose.dcm"), 1):
        ds = dcmread(get_testdata_file(name))
        ds.PatientName, ds.PatientID, ds.PatientBirthDate = "LEFÈVRE^Hélène^Marie", "CHU-00482913", "19580314"
        ds.SpecificCharacterSet = "ISO_IR 100"
        if "ConceptNameCodeSequence" in ds:  # a standard title instead of the file's private "TEST" code
            code = ds.ConceptNameCodeSequence[0]
            code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = "18748-4", "LN", "Diagnostic imaging report"
        ds.StudyInstanceUID = mr.study_instance_uid
        ds.SeriesInstanceUID = generate_uid()
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        rel = f"images/S9/O{n:04d}.dcm"
        p = ws.path(rel)
        p.parent.mkdir(parents=True, exist_ok=True)
        ds.save_as(p, enforce_file_format=True)
        added.append(_instance(ds, p, rel))
    ws.save_images_index({"instances": [i.to_dict() for i in current + added], "problems": []})
    return added


def derivation_threads(monkeypatch, *, slow_main: float = 0.0) -> list[str]:
    """Record the name of the thread on which the zip reader derives each
    entry's keys (the list fills as the test reads a package). *slow_main*:
    seconds each derivation on the main thread sleeps (a reading thread
    slower than the worker, which then derives ahead)."""
    real = zipreader.derive_keys
    threads: list[str] = []

    def spy(*a, **k):
        name = threading.current_thread().name
        threads.append(name)
        if slow_main and name == threading.main_thread().name:
            time.sleep(slow_main)
        return real(*a, **k)

    monkeypatch.setattr(zipreader, "derive_keys", spy)
    return threads


def trust_sender(key, name: str = "Test sender (CHU de Nantes)") -> None:
    """Trust *key* (an Ed25519 private key) in the trust store of the
    session's $DOSSIERKIT_HOME, as a receiver does with `trust add` once it
    compared the fingerprint with the sender's printed receipt."""
    TrustStore().add(fingerprint(key.public_key()), name)


def findings_by_code(ws: Workspace) -> dict[str, list]:
    """The findings of ``check`` on *ws*, grouped by code."""
    out: dict[str, list] = {}
    for f in run_checks(ws).findings:
        out.setdefault(f.code, []).append(f)
    return out
