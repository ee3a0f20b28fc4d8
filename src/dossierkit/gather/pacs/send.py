"""Send DICOM files into a PACS: C-STORE (DIMSE) or STOW-RS (DICOMweb).

Each file is proposed in its own transfer syntax and sent as its bytes
are; nothing is converted. A file whose (SOP class, transfer syntax) the
PACS accepts no presentation context for is reported by name with that
reason. What the PACS already holds is asked first (C-FIND / QIDO-RS by
study) and not sent again; after sending, the PACS is asked again, so
"stored" means the PACS lists it.

With a patient ID coercion (``patient_id``, ``issuer``) the copies sent
carry the receiving site's identifier: each file is then read, its
PatientID / IssuerOfPatientID replaced in memory and the dataset encoded
again in the same transfer syntax (pixel data untouched); the files on
disk are never changed.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ImplicitVRLittleEndian

from dossierkit.errors import RemoteError
from dossierkit.gather.pacs import dimse, web
from dossierkit.gather.pacs.config import PacsConfig
from dossierkit.progress import NULL_PROGRESS, Progress


@dataclass
class ToSend:
    path: Path  # on disk
    name: str  # as the user knows it (package path)
    sop_instance_uid: str
    sop_class_uid: str
    study_instance_uid: str
    transfer_syntax: str | None
    size: int


@dataclass
class SendResult:
    name: str
    sop_instance_uid: str
    result: str  # stored | already-present | refused | not-found-after-store
    status: str = ""
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def present(cfg: PacsConfig, study_uid: str) -> set[str] | None:
    """SOP Instance UIDs the PACS holds in the study; None if it will not say (query refused)."""
    try:
        if cfg.dicomweb:
            return {uid for _series, uid, _cls in web.list_instances(cfg, study_uid)}
        q = Dataset()
        q.QueryRetrieveLevel = "IMAGE"
        q.StudyInstanceUID = study_uid
        q.SeriesInstanceUID = ""
        q.SOPInstanceUID = ""
        return {str(ds.get("SOPInstanceUID", "")) for ds in dimse.find(cfg, q)}
    except RemoteError as exc:
        if "refused the C-FIND" in exc.message or "HTTP 404" in exc.message:
            return None
        raise


def _dataset(item: ToSend, patient_id: str | None, issuer: str | None) -> Dataset:
    """The file read into memory (one at a time), with the coerced identity if asked."""
    ds = pydicom.dcmread(item.path, force=True)
    if not getattr(ds, "file_meta", None) or "TransferSyntaxUID" not in ds.file_meta:
        ds.file_meta = FileMetaDataset()  # a file without meta header: its raw encoding is implicit little endian
        ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    if patient_id is not None:
        ds.PatientID = patient_id
        if issuer is not None:
            ds.IssuerOfPatientID = issuer
    return ds


def _bytes(ds: Dataset) -> bytes:
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=False)
    return buf.getvalue()


def send(cfg: PacsConfig, items: Sequence[ToSend], *, patient_id: str | None = None, issuer: str | None = None,
         progress: Progress = NULL_PROGRESS) -> list[SendResult]:
    """Send every item not already in the PACS; one result per item, in order."""
    results: dict[str, SendResult] = {}
    studies = sorted({i.study_instance_uid for i in items})
    before: dict[str, set[str] | None] = {st: present(cfg, st) for st in studies}
    todo = []
    for item in items:
        held = before[item.study_instance_uid]
        if held is not None and item.sop_instance_uid in held:
            results[item.sop_instance_uid] = SendResult(item.name, item.sop_instance_uid, "already-present")
        else:
            todo.append(item)
    progress.start(f"Sending to {cfg.name}", total=sum(i.size for i in todo), unit="B")
    try:
        if cfg.dicomweb:
            _stow(cfg, todo, results, patient_id, issuer, progress)
        else:
            _cstore(cfg, todo, results, patient_id, issuer, progress)
    finally:
        progress.finish()
    for st in studies:
        sent = [r for r in results.values() if r.result == "stored"]
        if not sent:
            continue
        after = present(cfg, st)
        if after is None:
            continue
        for item in items:
            r = results.get(item.sop_instance_uid)
            if r is not None and r.result == "stored" and item.study_instance_uid == st \
                    and item.sop_instance_uid not in after:
                r.result = "not-found-after-store"
                r.reason = "the PACS acknowledged the store but does not list the instance"
    return [results[i.sop_instance_uid] for i in items]


def _cstore(cfg: PacsConfig, todo: Sequence[ToSend], results: dict[str, SendResult], patient_id: str | None,
            issuer: str | None, progress: Progress) -> None:
    ts_of = {i.sop_instance_uid: i.transfer_syntax or ImplicitVRLittleEndian for i in todo}
    pairs = sorted({(i.sop_class_uid, ts_of[i.sop_instance_uid]) for i in todo})
    for start in range(0, len(pairs), dimse.MAX_CONTEXTS):
        batch = set(pairs[start:start + dimse.MAX_CONTEXTS])
        items = [i for i in todo if (i.sop_class_uid, ts_of[i.sop_instance_uid]) in batch]
        if not items:
            continue
        with dimse.StoreSession(cfg, batch) as session:
            for item in items:
                ds = _dataset(item, patient_id, issuer) if patient_id is not None or not item.transfer_syntax \
                    else None
                res = session.store(item.path, item.sop_class_uid, ts_of[item.sop_instance_uid], ds)
                progress.advance(item.size)
                if res.status is None:
                    results[item.sop_instance_uid] = SendResult(item.name, item.sop_instance_uid, "refused", "",
                                                                res.reason)
                elif res.status == 0 or (res.status >> 12) == 0xB:
                    results[item.sop_instance_uid] = SendResult(item.name, item.sop_instance_uid, "stored",
                                                                f"0x{res.status:04X}", res.reason)
                else:
                    results[item.sop_instance_uid] = SendResult(item.name, item.sop_instance_uid, "refused",
                                                                f"0x{res.status:04X}", res.reason)


def _stow(cfg: PacsConfig, todo: Sequence[ToSend], results: dict[str, SendResult], patient_id: str | None,
          issuer: str | None, progress: Progress) -> None:
    with web.StowSession(cfg) as session:
        for item in todo:
            data = _bytes(_dataset(item, patient_id, issuer)) if patient_id is not None else None
            code, reason = session.store(item.path, data)
            progress.advance(item.size)
            results[item.sop_instance_uid] = SendResult(item.name, item.sop_instance_uid,
                                                        "stored" if code == 0 else "refused",
                                                        "" if code == 0 else str(code), reason)
