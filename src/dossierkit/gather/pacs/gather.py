"""Gather a patient's studies from a PACS into a workspace.

``find_studies`` lists what the PACS holds (C-FIND or QIDO-RS);
``import_from_pacs`` retrieves it (C-GET, C-MOVE or WADO-RS) into a folder
inside the workspace, one instance at a time to disk, then hands the
received files to the very importer media go through
(:func:`dossierkit.gather.importer.import_images`): same index, same
duplicate and conflict rules, same problems table. Resumable: the PACS is
asked first which instances each study holds, and only those the workspace
does not have yet are fetched. A transfer that fails is retried (bounded,
with back-off) for what is still missing; what arrived is imported even
when the PACS then stops answering.

The copies are the PACS's bytes (its transfer syntax, its meta header as
written by the receiving library), not the modality's original files.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydicom.dataset import Dataset

from dossierkit.errors import IncompleteError, RemoteError, UsageError
from dossierkit.gather.dicomfile import CorruptDicomError, NotDicomError, read_header
from dossierkit.gather.importer import ImportReport, import_images
from dossierkit.gather.pacs import dimse, web
from dossierkit.gather.pacs.config import PacsConfig, load_pacs
from dossierkit.gather.sources import Candidate, SourcePlan
from dossierkit.progress import NULL_PROGRESS, Progress
from dossierkit.workspace import Workspace, utc_now

INBOX = ".pacs-inbox"
UID_BATCH = 100  # SOP Instance UIDs per IMAGE-level retrieve
BACKOFF_SECONDS = 0.5  # first pause before a retry; doubled each time


def _pacs(pacs: PacsConfig | str) -> PacsConfig:
    return pacs if isinstance(pacs, PacsConfig) else load_pacs(pacs)


@dataclass
class EchoResult:
    name: str
    kind: str
    where: str
    milliseconds: float

    def to_dict(self) -> dict[str, Any]:
        return {"pacs": self.name, "kind": self.kind, "where": self.where, "ok": True,
                "milliseconds": round(self.milliseconds, 1)}


def pacs_echo(pacs: PacsConfig | str) -> EchoResult:
    """C-ECHO (DIMSE) or a QIDO-RS ping (DICOMweb). Raises :class:`RemoteError` (exit 7) if it does not answer."""
    cfg = _pacs(pacs)
    ms = web.echo(cfg) if cfg.dicomweb else dimse.echo(cfg)
    return EchoResult(cfg.name, "C-ECHO" if cfg.kind == "dimse" else "QIDO-RS", cfg.where(), ms)


@dataclass
class StudyRow:
    study_instance_uid: str
    patient_id: str
    date: str | None
    description: str | None
    modalities: list[str]
    series: int | None
    instances: int | None
    accession_number: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def _date_arg(since: str | None) -> str | None:
    if not since:
        return None
    digits = since.replace("-", "")
    try:  # a day of the calendar: 2026-13-01 or 2026-02-30 is not one
        dt.date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
    except ValueError:
        digits = ""
    if len(digits) != 8 or not digits.isdigit():
        raise UsageError(f"--since {since!r}: expected a date YYYY-MM-DD")
    return digits


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _row(ds: Dataset) -> StudyRow:
    mods = ds.get("ModalitiesInStudy") or []
    mods = [mods] if isinstance(mods, str) else [str(m) for m in mods]
    return StudyRow(str(ds.get("StudyInstanceUID", "")), str(ds.get("PatientID", "")),
                    str(ds.get("StudyDate", "")) or None, str(ds.get("StudyDescription", "")) or None,
                    [m for m in mods if m], _int(ds.get("NumberOfStudyRelatedSeries")),
                    _int(ds.get("NumberOfStudyRelatedInstances")), str(ds.get("AccessionNumber", "")) or None)


def _study_query(**keys: str) -> Dataset:
    q = Dataset()
    q.QueryRetrieveLevel = "STUDY"
    for kw in ("PatientID", "StudyInstanceUID", "StudyDate", "StudyDescription", "ModalitiesInStudy",
               "NumberOfStudyRelatedSeries", "NumberOfStudyRelatedInstances", "AccessionNumber"):
        setattr(q, kw, keys.get(kw, ""))
    return q


def find_studies(pacs: PacsConfig | str, *, patient_id: str | None = None, since: str | None = None,
                 modalities: Sequence[str] = (), study_uids: Sequence[str] = ()) -> list[StudyRow]:
    """The studies of a patient (or the given study UIDs) the PACS holds, oldest first.

    ``since`` (YYYY-MM-DD) keeps studies on or after that date; ``modalities``
    keeps studies holding at least one of them."""
    cfg = _pacs(pacs)
    if not patient_id and not study_uids:
        raise UsageError("give a patient ID or study UIDs")
    date = _date_arg(since)
    rows: list[StudyRow] = []
    if cfg.dicomweb:
        rows = [_row(ds) for ds in web.find_studies(cfg, patient_id=patient_id, since=date, study_uids=study_uids)]
    else:
        queries = ([_study_query(StudyInstanceUID=uid, **({"PatientID": patient_id} if patient_id else {}))
                    for uid in study_uids] if study_uids else
                   [_study_query(PatientID=patient_id, **({"StudyDate": f"{date}-"} if date else {}))])
        for q in queries:
            rows.extend(_row(ds) for ds in dimse.find(cfg, q))
    wanted = {m.upper() for m in modalities}
    out = [r for r in rows
           if (not date or (r.date or "") >= date) and (not wanted or wanted & {m.upper() for m in r.modalities})]
    seen: set[tuple[str, str]] = set()
    unique = []
    for r in sorted(out, key=lambda r: (r.date or "", r.study_instance_uid)):
        if (r.study_instance_uid, r.patient_id) not in seen:
            seen.add((r.study_instance_uid, r.patient_id))
            unique.append(r)
    return unique


@dataclass
class RemoteInstance:
    series_instance_uid: str
    sop_instance_uid: str
    sop_class_uid: str


def list_instances(cfg: PacsConfig, study_uid: str) -> list[RemoteInstance]:
    if cfg.dicomweb:
        return [RemoteInstance(*t) for t in web.list_instances(cfg, study_uid)]
    q = Dataset()
    q.QueryRetrieveLevel = "IMAGE"
    q.StudyInstanceUID = study_uid
    q.SeriesInstanceUID = ""
    q.SOPInstanceUID = ""
    q.SOPClassUID = ""
    out = []
    for ds in dimse.find(cfg, q):
        out.append(RemoteInstance(str(ds.get("SeriesInstanceUID", "")), str(ds.get("SOPInstanceUID", "")),
                                  str(ds.get("SOPClassUID", ""))))
    return [r for r in out if r.sop_instance_uid]


@dataclass
class PacsImportReport:
    """What one ``import_from_pacs`` did; ``to_dict()`` is the ``--json`` output."""

    pacs: str
    route: str
    studies: list[dict[str, Any]] = field(default_factory=list)
    imports: list[ImportReport] = field(default_factory=list)
    problems: list[dict[str, Any]] = field(default_factory=list)  # wrong patient: not handed to the importer
    fetched: int = 0
    bytes_fetched: int = 0
    already: int = 0
    retries: int = 0
    seconds: float = 0.0

    @property
    def imported(self) -> int:
        return sum(r.imported for r in self.imports)

    @property
    def exit_code(self) -> int:
        if self.problems or any(r.error_problems for r in self.imports):
            return 1
        return 0

    def to_dict(self) -> dict[str, Any]:
        last = self.imports[-1].to_dict() if self.imports else {}
        problems = self.problems + [p for r in self.imports for p in r.problems]
        return {
            "pacs": self.pacs, "route": self.route, "studies": self.studies,
            "instances_on_pacs": sum(s["instances_on_pacs"] for s in self.studies),
            "already_in_workspace": self.already, "fetched": self.fetched, "bytes_fetched": self.bytes_fetched,
            "imported": self.imported, "duplicates": sum(r.duplicates for r in self.imports),
            "problems": problems, "errors": len(self.problems) + sum(len(r.error_problems) for r in self.imports),
            "retries": self.retries, "seconds": round(self.seconds, 3),
            "instances": last.get("instances"), "patients": last.get("patients"),
            "exit_code": self.exit_code,
        }


class _Fetch:
    """Retrieves the missing instances of one study into the inbox."""

    def __init__(self, cfg: PacsConfig, route: str, inbox: Path, progress: Progress, report: PacsImportReport):
        self.cfg, self.route, self.inbox, self.progress, self.report = cfg, route, inbox, progress, report
        self.received: dict[str, dimse.Received] = {}

    def on_instance(self, rec: dimse.Received) -> None:
        self.received[rec.sop_instance_uid] = rec
        self.report.fetched += 1
        self.report.bytes_fetched += rec.size
        self.progress.advance(rec.size)

    def unit(self, study_uid: str, listed: list[RemoteInstance], wanted: list[RemoteInstance]) -> str | None:
        """Fetch *wanted* (the study's missing instances); None when all arrived, else what went wrong."""
        error: str | None = None
        for attempt in range(self.cfg.retries + 1):
            todo = [r for r in wanted if r.sop_instance_uid not in self.received]
            if not todo:
                return None
            if attempt:
                self.report.retries += 1
                time.sleep(BACKOFF_SECONDS * 2 ** (attempt - 1))
            try:
                # first attempt: whole study / whole series where nothing is there yet; retries: by lists of UIDs,
                # then one UID per request, so that one instance the PACS cannot send does not hold back the others
                error = self._once(study_uid, listed if attempt == 0 else [], todo, UID_BATCH if attempt < 2 else 1)
            except RemoteError as exc:
                error = exc.line()
        todo = [r for r in wanted if r.sop_instance_uid not in self.received]
        if not todo:
            return None
        return error or (f"PACS {self.cfg.name!r} did not send {len(todo)} of the {len(wanted)} instance(s) it "
                         f"listed in study {study_uid}")

    @staticmethod
    def queries(study_uid: str, listed: list[RemoteInstance], todo: list[RemoteInstance],
                classes: set[str], chunk_size: int = UID_BATCH) -> list[Dataset]:
        """The retrieve requests for the instances of *todo* of these SOP classes: the study, whole series or
        lists of UIDs, the widest level that brings nothing already there and nothing outside *classes*."""
        batch = [r for r in todo if r.sop_class_uid in classes or not r.sop_class_uid]
        ids = {r.sop_instance_uid for r in batch}
        if listed and {r.sop_instance_uid for r in listed} == ids:
            q = Dataset()
            q.QueryRetrieveLevel = "STUDY"
            q.StudyInstanceUID = study_uid
            return [q]
        members: dict[str, set[str]] = {}
        for r in listed:
            members.setdefault(r.series_instance_uid, set()).add(r.sop_instance_uid)
        by_series: dict[str, list[str]] = {}
        for r in batch:
            by_series.setdefault(r.series_instance_uid, []).append(r.sop_instance_uid)
        out = []
        for series_uid, uids in by_series.items():
            whole = members.get(series_uid) == set(uids)
            chunks = [uids] if whole else [uids[i:i + chunk_size] for i in range(0, len(uids), chunk_size)]
            for chunk in chunks:
                q = Dataset()
                q.QueryRetrieveLevel = "SERIES" if whole else "IMAGE"
                q.StudyInstanceUID = study_uid
                q.SeriesInstanceUID = series_uid
                if not whole:
                    q.SOPInstanceUID = chunk if len(chunk) > 1 else chunk[0]
                out.append(q)
        return out

    def _once(self, study_uid: str, listed: list[RemoteInstance], todo: list[RemoteInstance],
              chunk_size: int) -> str | None:
        if self.cfg.dicomweb:
            levels = self.queries(study_uid, listed, todo, {r.sop_class_uid for r in todo}) if listed else []
            if levels and levels[0].QueryRetrieveLevel == "STUDY":
                web.retrieve_study(self.cfg, study_uid, self.inbox, self.on_instance)
                return None
            whole = {q.SeriesInstanceUID for q in levels if q.QueryRetrieveLevel == "SERIES"}
            for series_uid in sorted(whole):
                web.retrieve_series(self.cfg, study_uid, series_uid, self.inbox, self.on_instance)
            for r in todo:
                if r.series_instance_uid not in whole and r.sop_instance_uid not in self.received:
                    web.retrieve_instance(self.cfg, study_uid, r.series_instance_uid, r.sop_instance_uid, self.inbox,
                                          self.on_instance)
            return None
        batches = dimse.sop_class_batches(r.sop_class_uid for r in todo)
        error = None
        for classes in batches:
            # the widest level that stays within this batch's classes (study level only when one batch has them all)
            queries = self.queries(study_uid, listed, todo, set(classes), chunk_size)
            call = dimse.move if self.route == "C-MOVE" else dimse.get
            out = call(self.cfg, queries, classes, self.inbox, self.on_instance)
            error = error or out.error or (f"PACS {self.cfg.name!r}: {out.failed} sub-operation(s) of the "
                                           f"{self.route} failed (status {out.status})" if out.failed else None)
        return error


def _check_received(plan: SourcePlan, rec_paths: Iterable[tuple[str, Path]], expected_patient: str | None,
                    provenance: dict[str, Any]) -> None:
    """Hand the received files to the plan, holding back another patient's instances."""
    for uid, path in rec_paths:
        size = path.stat().st_size
        if expected_patient is not None:
            try:
                pid = read_header(path).patient_id or ""
            except (NotDicomError, CorruptDicomError):
                pid = None  # the importer reports it as it does for media
            if pid is not None and pid.strip() != expected_patient.strip():
                plan.problem("pacs-wrong-patient", f"{provenance['pacs']}:{uid}",
                             f"the PACS returned an instance of another patient (PatientID {pid!r}, expected "
                             f"{expected_patient!r}) with study {provenance['study']}: not imported")
                with contextlib.suppress(OSError):
                    path.unlink()
                continue
        plan.candidates.append(Candidate(display=f"pacs:{provenance['pacs']}/{provenance['study']}/{uid}",
                                         size=size, path=path))


def import_from_pacs(workspace: Workspace | str | os.PathLike, pacs: PacsConfig | str, *,
                     study_uids: Sequence[str] = (), patient_id: str | None = None, since: str | None = None,
                     modalities: Sequence[str] = (), move_to_self: bool = False,
                     progress: Progress = NULL_PROGRESS) -> PacsImportReport:
    """Retrieve studies (by UID, or a patient's, filtered by date and modality) into the workspace.

    Instances already in the workspace are not fetched again. Raises
    :class:`RemoteError` (exit 7) when the PACS cannot be reached, refuses,
    times out or withholds instances it listed, after importing what arrived;
    :class:`IncompleteError` (exit 1) when no study matches."""
    cfg = _pacs(pacs)
    ws = workspace if isinstance(workspace, Workspace) else Workspace(workspace)
    ws.dossier  # noqa: B018 — a workspace that does not load fails here, before any network traffic
    if move_to_self and cfg.dicomweb:
        raise UsageError(f"PACS {cfg.name!r} is DICOMweb: --move-to-self is for DIMSE")
    if move_to_self and cfg.tls:
        raise UsageError(f"PACS {cfg.name!r}: --move-to-self is not offered with tls = true (our storage SCP for the "
                         "C-MOVE would receive the images without TLS)",
                         hint="leave out --move-to-self: C-GET brings them over the TLS association")
    route = "WADO-RS" if cfg.dicomweb else ("C-MOVE" if move_to_self else "C-GET")
    t0 = time.perf_counter()
    rows = find_studies(cfg, patient_id=patient_id, since=since, modalities=modalities, study_uids=study_uids)
    if study_uids:
        missing = set(study_uids) - {r.study_instance_uid for r in rows}
        if missing:
            raise RemoteError(f"PACS {cfg.name!r} holds no study {sorted(missing)[0]}"
                              + (f" for patient {patient_id}" if patient_id else "")
                              + " (removed since it was listed?)", hint="list the studies with `dossierkit pacs find`")
    if not rows:
        raise IncompleteError(f"PACS {cfg.name!r}: no study of patient {patient_id} matches"
                              + (f" since {since}" if since else "") + (f" ({', '.join(modalities)})" if modalities
                                                                         else ""))
    report = PacsImportReport(cfg.name, route)
    known = {inst.sop_instance_uid for inst in ws.images()}
    inbox = ws.images_dir / INBOX
    shutil.rmtree(inbox, ignore_errors=True)  # leftovers of an interrupted run: fetched again if missing
    inbox.mkdir(parents=True)
    progress.start(f"Retrieving from {cfg.name}", total=None, unit="B")
    try:
        for row in rows:
            _study(ws, cfg, route, row, patient_id or row.patient_id, known, inbox, progress, report)
    finally:
        progress.finish()
        shutil.rmtree(inbox, ignore_errors=True)
        report.seconds = time.perf_counter() - t0
    return report


def _study(ws: Workspace, cfg: PacsConfig, route: str, row: StudyRow, expected_patient: str | None, known: set[str],
           inbox: Path, progress: Progress, report: PacsImportReport) -> None:
    study_uid = row.study_instance_uid
    listed = list_instances(cfg, study_uid)
    if not listed:
        raise RemoteError(f"PACS {cfg.name!r} lists no instance in study {study_uid} (removed since it was found?)",
                          hint="list the studies again with `dossierkit pacs find`")
    todo = [r for r in listed if r.sop_instance_uid not in known]
    report.already += len(listed) - len(todo)
    entry = {"study_instance_uid": study_uid, "date": row.date, "instances_on_pacs": len(listed),
             "already_in_workspace": len(listed) - len(todo), "fetched": 0}
    report.studies.append(entry)
    if not todo:
        return
    folder = inbox / f"{len(report.studies):04d}"
    folder.mkdir()
    fetch = _Fetch(cfg, route, folder, progress, report)
    errors: list[str] = []
    try:
        err = fetch.unit(study_uid, listed, todo)
        if err:
            errors.append(err)
    finally:
        entry["fetched"] = len(fetch.received)
        provenance = {"pacs": cfg.name, "route": route, "retrieved": utc_now(), "study": study_uid}
        plan = SourcePlan(root=f"pacs:{cfg.name}/{study_uid}", kind="pacs", provenance=provenance)
        _check_received(plan, ((uid, rec.path) for uid, rec in fetch.received.items()), expected_patient,
                        provenance)
        if plan.candidates or plan.problems:
            report.imports.append(import_images(ws, [plan]))
            known.update(inst for inst in fetch.received)
    if errors:
        raise RemoteError(errors[0] + f"; {report.imported} instance(s) imported so far are kept",
                          hint="re-run the same command to fetch the rest")
