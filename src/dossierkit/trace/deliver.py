"""``dossierkit deliver``: verify a package, then send its images into a PACS.

Nothing is sent from a package that does not verify: the package is
verified and its root extracted in one streaming pass (package.verify,
as ``unpack`` does) into a private temporary folder beside the package,
removed afterwards. Every image the manifest lists is then sent
(gather.pacs.send: C-STORE in its own transfer syntax, or STOW-RS), and
the outcome journalled with its counts. ``deliver_unpacked`` does the same
from a folder ``unpack`` just verified (``unpack --deliver``).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets as token_source
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dossierkit.errors import DossierkitError, OutputError, UsageError
from dossierkit.fsutil import TEMP_PREFIX
from dossierkit.gather.pacs.config import PacsConfig, load_pacs
from dossierkit.gather.pacs.send import SendResult, ToSend, send
from dossierkit.package.unpack import unpack_failure
from dossierkit.package.verify import verify_package
from dossierkit.progress import NULL_PROGRESS, Progress
from dossierkit.package.unpack import UnpackResult
from dossierkit.trace.flows import Warn, record, unpack_and_record
from dossierkit.trace.secrets import PackageSecrets, SecretSources, secrets_for
from dossierkit.trust.cms import load_ca
from dossierkit.trust.store import SenderPolicy


@dataclass
class DeliverReport:
    pacs: str
    route: str
    package_sha256: str | None
    manifest_sha256: str | None
    dossier_id: str | None
    results: list[SendResult] = field(default_factory=list)
    coercion: dict[str, str] | None = None

    def counts(self) -> dict[str, int]:
        out = {"instances": len(self.results), "stored": 0, "already_present": 0, "refused": 0,
               "not_found_after_store": 0}
        for r in self.results:
            out[r.result.replace("-", "_")] += 1
        return out

    def coercion_record(self) -> dict[str, Any]:
        """The coercion as the journal and the ack record it: which attributes were replaced, the issuer (an
        assigning authority, not patient data) and on how many images sent; never the identifier's value."""
        c = self.coercion or {}
        return {"attributes": ["PatientID", *(["IssuerOfPatientID"] if "issuer" in c else [])],
                **({"issuer": c["issuer"]} if "issuer" in c else {}),
                "instances": sum(1 for r in self.results if r.result in ("stored", "not-found-after-store"))}

    @property
    def exit_code(self) -> int:
        """0 only when every image of the manifest is in the PACS (stored now or already there)."""
        c = self.counts()
        return 0 if c["stored"] + c["already_present"] == c["instances"] else 7

    def to_dict(self) -> dict[str, Any]:
        return {"pacs": self.pacs, "route": self.route, "package_sha256": self.package_sha256,
                "manifest_sha256": self.manifest_sha256, "dossier_id": self.dossier_id, **self.counts(),
                "coercion": self.coercion, "results": [r.to_dict() for r in self.results],
                "exit_code": self.exit_code}


def manifest_images(manifest: dict[str, Any], root: Path) -> list[ToSend]:
    """Every image the manifest lists, as files under the extracted *root*."""
    out = []
    for st in manifest.get("studies", []):
        for se in st.get("series", []):
            for inst in se.get("instances", []):
                out.append(ToSend(root.joinpath(*inst["path"].split("/")), inst["path"], inst["sop_instance_uid"],
                                  inst.get("sop_class_uid") or "", st["study_instance_uid"],
                                  inst.get("transfer_syntax"), int(inst.get("size", 0))))
    return out


def _deliver(cfg: PacsConfig, manifest: dict[str, Any], root: Path, facts: dict[str, Any], *,
             patient_id: str | None, issuer: str | None, journal_file, progress: Progress,
             warn: Warn | None) -> DeliverReport:
    if issuer is not None and patient_id is None:
        raise UsageError("--issuer needs --patient-id")
    report = DeliverReport(cfg.name, "STOW-RS" if cfg.dicomweb else "C-STORE", facts.get("package_sha256"),
                           facts.get("manifest_sha256"), facts.get("dossier_id"),
                           coercion=None if patient_id is None else {"patient_id": patient_id,
                                                                    **({"issuer": issuer} if issuer else {})})
    try:
        report.results = send(cfg, manifest_images(manifest, root), patient_id=patient_id, issuer=issuer,
                              progress=progress)
    finally:
        record(journal_file, {"event": "deliver", **facts, "pacs": cfg.name, "route": report.route,
                              **report.counts(), "complete": bool(report.results) and report.exit_code == 0,
                              **({"coercion": report.coercion_record()} if report.coercion else {})}, warn=warn)
    return report


def deliver_package(package: str | os.PathLike, pacs: PacsConfig | str,
                    package_secrets: PackageSecrets | SecretSources, *,
                    expect_signer: str | None = None, patient_id: str | None = None, issuer: str | None = None,
                    journal_file: str | os.PathLike | None = None, progress: Progress = NULL_PROGRESS,
                    warn: Warn | None = None, trust_store: str | os.PathLike | None = None,
                    ca_file: str | os.PathLike | None = None) -> DeliverReport:
    """Verify *package* (IntegrityError, exit 3, or UntrustedError, exit 6, from a signer neither in the trust
    store nor *expect_signer* nor certified by the CA of *ca_file* — trust.cms.load_ca: nothing sent), then send
    every image of its manifest into the PACS *pacs*. Journalled (``deliver``, with the counts).
    *package_secrets*: the package's, or their sources (trace.secrets.SecretSources), read first thing (a missing
    one is a UsageError)."""
    package_secrets = secrets_for(package, package_secrets, require=True)
    cfg = pacs if isinstance(pacs, PacsConfig) else load_pacs(pacs)
    senders = SenderPolicy.load(expect_signer=expect_signer, store=trust_store)
    pkg = Path(package)
    try:
        tmp = pkg.absolute().parent / f"{TEMP_PREFIX}deliver-{token_source.token_hex(6)}"
        tmp.mkdir(mode=0o700)
    except OSError as exc:
        raise OutputError(f"cannot create a temporary folder beside the package ({exc.strerror})",
                          path=pkg.parent) from exc
    try:
        report = verify_package(pkg, senders=senders, ca=load_ca(ca_file), extract_to=tmp, progress=progress,
                                **package_secrets.open_kwargs())
        if not report.ok:
            raise unpack_failure(report, "sent")
        manifest = json.loads(report.manifest_json.decode("utf-8"))
        facts = {"package_sha256": report.package_sha256, "manifest_sha256": report.manifest_sha256,
                 "dossier_id": report.dossier_id}
        return _deliver(cfg, manifest, tmp, facts, patient_id=patient_id, issuer=issuer,
                        journal_file=journal_file, progress=progress, warn=warn)
    finally:
        with contextlib.suppress(OSError):
            shutil.rmtree(tmp)


def deliver_unpacked(root: str | os.PathLike, pacs: PacsConfig | str, facts: dict[str, Any], *,
                     patient_id: str | None = None, issuer: str | None = None,
                     journal_file: str | os.PathLike | None = None, progress: Progress = NULL_PROGRESS,
                     warn: Warn | None = None) -> DeliverReport:
    """Send the images of a folder ``unpack`` has just verified and extracted (``unpack --deliver``)."""
    cfg = pacs if isinstance(pacs, PacsConfig) else load_pacs(pacs)
    root = Path(root)
    manifest = json.loads((root / "DOSSIER" / "MANIFEST.JSON").read_bytes())
    return _deliver(cfg, manifest, root, facts, patient_id=patient_id, issuer=issuer, journal_file=journal_file,
                    progress=progress, warn=warn)


def unpack_and_deliver(package: str | os.PathLike, dest: str | os.PathLike, pacs: PacsConfig | str,
                       package_secrets: PackageSecrets | SecretSources, *, expect_signer: str | None = None,
                       force: bool = False, patient_id: str | None = None, issuer: str | None = None,
                       journal_file: str | os.PathLike | None = None, progress: Progress = NULL_PROGRESS,
                       warn: Warn | None = None, trust_store: str | os.PathLike | None = None,
                       ca_file: str | os.PathLike | None = None) -> tuple[UnpackResult, DeliverReport]:
    """``unpack PACKAGE DEST --deliver PACS``: verify and extract (trace.flows.unpack_and_record), then send
    the images of DEST (:func:`deliver_unpacked`). *package_secrets*: as for :func:`deliver_package`.
    A sending that fails (a PACS down: RemoteError, exit 7) leaves DEST unpacked and verified, and its
    line says so, with the command that sends later (re-running this one would find DEST there)."""
    package_secrets = secrets_for(package, package_secrets, require=True)
    cfg = pacs if isinstance(pacs, PacsConfig) else load_pacs(pacs)  # a PACS not configured: exit 2 before unpacking
    result = unpack_and_record(package, dest, package_secrets, expect_signer=expect_signer, force=force,
                               journal_file=journal_file, progress=progress, warn=warn, trust_store=trust_store,
                               ca_file=ca_file)
    rep = result.report
    facts = {"package_sha256": rep.package_sha256, "manifest_sha256": rep.manifest_sha256,
             "dossier_id": rep.dossier_id}
    try:
        report = deliver_unpacked(result.destination, cfg, facts, patient_id=patient_id, issuer=issuer,
                                  journal_file=journal_file, progress=progress, warn=warn)
    except DossierkitError as exc:
        kept = (f"{result.destination} is unpacked and verified, its images not sent: send them once the PACS "
                f"answers with `dossierkit deliver {package} --pacs {cfg.name}`")
        exc.hint = f"{exc.hint}; {kept}" if exc.hint else kept
        exc.args = (exc.line(),)
        raise
    return result, report
