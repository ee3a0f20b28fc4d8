"""Traceability flows that combine the package with receipts, acks and the
journal: what ``receipt``, ``ack`` and ``pack --receipt`` run.

Where a receipt's content comes from (docs/traceability.md):

1. the package's manifest, read by verifying the package (password or age
   identity given) or handed over by ``pack`` in the same run — the truth of
   what was packed; a package that does not verify gets no receipt;
2. otherwise ``--workspace DIR`` (a sender who encrypted to recipients'
   keys cannot decrypt): the workspace's journal must hold the ``pack``
   entry of this exact package (its SHA-256), which gives the manifest
   SHA-256; documents and images are those of the workspace now, and the
   receipt says so (``content_source: "workspace"``).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dossierkit.trace import journal
from dossierkit.errors import IntegrityError, OutputError, UsageError
from dossierkit.progress import NULL_PROGRESS, Progress
from dossierkit.trace.receipt import (Issued, PackageFacts, VerificationFacts, check_document, issue_ack, issue_receipt,
                      load_document, package_facts, summary_from_manifest, summary_from_workspace)


def open_secrets(package: str | os.PathLike, *, password_file: str | os.PathLike | None = None,
                 password_env: str | None = None, password_prompt: Callable[[], str] | None = None,
                 identity: str | os.PathLike | None = None, default_identity: bool = False) -> dict[str, Any]:
    """The ``verify_package`` keyword arguments for *package*'s container
    kind, from the sources given (never a password from argv). Empty when no
    source applies. *default_identity*: fall back to the keys folder's
    age-identity.txt for a recipients package (the recipient's own key)."""
    from dossierkit.archive.container import PASSWORD, package_kind

    if password_file is None and password_env is None and password_prompt is None and identity is None \
            and not default_identity:
        return {}
    if package_kind(package) == PASSWORD:
        if password_file is None and password_env is None and password_prompt is None:
            return {}
        from dossierkit.archive.passphrase import read_password

        return {"password": read_password(password_file, password_env, password_prompt)}
    if identity is None and default_identity:
        from dossierkit.trust.keys import AGE_IDENTITY, default_keys_dir

        if (default_keys_dir() / AGE_IDENTITY).is_file():
            identity = default_keys_dir() / AGE_IDENTITY
    if identity is None:
        return {}
    from dossierkit.archive.agefile import load_identities

    return {"identities": load_identities(identity)}


def _read_manifest(package: Path, sha256: str, secrets: dict[str, Any]) -> dict[str, Any]:
    """The manifest of a package that verify_package has just accepted: the
    first entry, read again and checked against the verified SHA-256."""
    import json

    from dossierkit.archive import container as C
    from dossierkit.package.layout import MANIFEST

    with open(package, "rb") as fh:
        kind = C.sniff(fh, package)
        with C.zip_reader(fh, kind, password=secrets.get("password"), identities=secrets.get("identities")) as it:
            entry = next(iter(it))
            data = b"".join(bytes(c) for c in entry.chunks())
    if entry.name != MANIFEST or hashlib.sha256(data).hexdigest() != sha256:
        raise IntegrityError("the package changed while it was being read", path=package)
    return json.loads(data.decode("utf-8"))


def _verify(package: Path, secrets: dict[str, Any], *, expect_signer: str | None,
            progress: Progress) -> tuple[VerificationFacts, dict[str, Any] | None, PackageFacts]:
    """Verify the package (package.verify); adapt its report. A wrong
    password or key raises DecryptionError: nothing is written then."""
    from dossierkit.package.verify import verify_package

    report = verify_package(package, expect_signer=expect_signer, progress=progress, **secrets)
    manifest = getattr(report, "manifest", None)
    if manifest is None and report.manifest_sha256 and report.status("signature") == "ok" \
            and report.status("manifest") == "ok":
        manifest = _read_manifest(package, report.manifest_sha256, secrets)
    status = (report.completeness or {}).get("status")
    problems = [f"{f.check}: {f.message}" for f in report.failures]
    problems += [f"{c}: not checked" for c in ("container", "signature", "manifest", "sums", "files", "dicomdir",
                                                "completeness") if report.status(c) == "not checked"
                 and not report.failures]
    facts = VerificationFacts(
        intact=report.ok,
        complete=None if status not in ("complete", "incomplete") else status == "complete",
        problems=problems, dossier_id=report.dossier_id, manifest_sha256=report.manifest_sha256,
        manifest_signer=report.signer_fingerprint)
    return facts, manifest, PackageFacts(package.name, report.package_sha256, report.package_size)


def _pack_entry(journal_path: Path, package_sha256: str) -> dict[str, Any] | None:
    if not journal_path.exists():
        return None
    found = None
    for e in journal.read_entries(journal_path):
        if e.get("event") == "pack" and e.get("package_sha256") == package_sha256:
            found = e
    return found


def receipt_for_package(package: str | os.PathLike, *, channel: str, out: str | os.PathLike, key,
                        to: list[str] | None = None, copies: list[str] | None = None,
                        workspace: str | os.PathLike | None = None, journal_file: str | os.PathLike | None = None,
                        pdf: bool = True, progress: Progress = NULL_PROGRESS, **secrets: Any) -> Issued:
    """``dossierkit receipt PACKAGE``: see the module docstring for the
    content source. *secrets*: ``password_file``, ``password_env`` or
    ``identity`` as for ``verify``."""
    package = Path(package)
    journal_path = journal.resolve_path(journal_file, workspace=workspace)
    secrets = open_secrets(package, **secrets)
    if secrets:
        result, manifest, facts = _verify(package, secrets, expect_signer=None, progress=progress)
        if not result.intact or manifest is None:
            raise IntegrityError("the package does not verify: no receipt is issued for it — "
                                 + "; ".join(result.problems[:3]), path=package)
        summary = summary_from_manifest(manifest, result.manifest_sha256)
        summary.manifest_signer = result.manifest_signer
    elif workspace is not None:
        from dossierkit.workspace import Workspace

        ws = Workspace(workspace)
        facts = package_facts(package, progress)
        entry = _pack_entry(journal_path, facts.sha256)
        if entry is None:
            raise UsageError(f"the journal {journal_path} has no pack entry for this package (SHA-256 "
                             f"{facts.sha256[:16]}…)", hint="give the package's --password-file/--password-env/"
                                                            "--identity so its manifest is read instead")
        if entry.get("dossier_id") not in (None, ws.dossier.id):
            raise UsageError("the package was packed from another dossier than this workspace", path=workspace)
        from dossierkit.check import run_checks

        report = run_checks(ws.root)
        errors = [f.to_dict() for f in report.findings if f.level == "error"]
        summary = summary_from_workspace(ws, manifest_sha256=entry.get("manifest_sha256"), completeness={
            "status": report.status, "profile": report.profile, "waived": errors})
        summary.content_source = "workspace"
    else:
        raise UsageError("a receipt needs the package's content: give --password-file, --password-env or "
                         "--identity (the manifest is read), or --workspace DIR")
    return issue_receipt(summary, facts, channel=channel, key=key, out=out, to=to, copies=copies,
                         journal_path=journal_path, pdf=pdf, progress=progress)


def receipt_after_pack(result: Any, *, channel: str, out: str | os.PathLike, key,
                       manifest: dict[str, Any] | None = None, workspace: Any = None, reason: str | None = None,
                       to: list[str] | None = None, copies: list[str] | None = None,
                       journal_path: str | os.PathLike | None = None, pdf: bool = True,
                       progress: Progress = NULL_PROGRESS) -> Issued:
    """``pack --receipt``: a receipt for the package *result*
    (package.pack.PackResult) just written and verified, without hashing or
    decrypting it again. Content: *manifest* (or ``result.manifest``) when
    given; else the *workspace*, which is what was just packed (pack checks
    every file against the index), with the completeness pack recorded
    (``result.completeness``, ``result.waived`` and the *reason*)."""
    facts = PackageFacts(Path(result.package).name, result.sha256, result.size)
    manifest = manifest if manifest is not None else getattr(result, "manifest", None)
    if manifest is not None:
        summary = summary_from_manifest(manifest, result.manifest_sha256)
    elif workspace is not None:
        from dossierkit.workspace import Workspace

        ws = workspace if isinstance(workspace, Workspace) else Workspace(workspace)
        summary = summary_from_workspace(ws, manifest_sha256=result.manifest_sha256, completeness={
            "status": result.completeness, "waived": [{"code": c, "level": "error", "message": ""}
                                                      for c in result.waived],
            "reason": reason, "profile": ws.dossier.profile})
    else:
        raise UsageError("receipt_after_pack needs the manifest or the workspace")
    summary.container = result.container
    summary.manifest_signer = result.signer_fingerprint
    return issue_receipt(summary, facts, channel=channel, key=key, out=out, to=to, copies=copies,
                         journal_path=journal_path, pdf=pdf, progress=progress)


def ack_for_package(package: str | os.PathLike, *, out: str | os.PathLike, key,
                    receipt_file: str | os.PathLike | None = None, by: str | None = None,
                    expect_signer: str | None = None, journal_file: str | os.PathLike | None = None,
                    pdf: bool = True, progress: Progress = NULL_PROGRESS, **secrets: Any) -> Issued:
    """``dossierkit ack PACKAGE``: verify the package, then issue a signed
    ack recording the result (intact/altered, complete/incomplete), bound to
    the package SHA-256 and, with *receipt_file*, to the sender's receipt
    (whose signature must hold and whose package must be this file)."""
    package = Path(package)
    secrets = open_secrets(package, default_identity=True, **secrets)
    if not secrets:
        raise UsageError("ack verifies the package first: give --password-file or --password-env (password "
                         "package) or --identity (recipients package)")
    receipt_doc = None
    if receipt_file is not None:
        receipt_doc, raw = load_document(receipt_file)
        check_document(receipt_doc, raw, expect_signer=expect_signer)
        if receipt_doc.get("type") != "dossierkit-receipt":
            raise UsageError("--receipt expects the sender's receipt, not an acknowledgement", path=receipt_file)
    # One pass: verify hashes the package bytes as it decrypts them.
    result, _, facts = _verify(package, secrets, expect_signer=expect_signer, progress=progress)
    return issue_ack(facts, result, key=key, out=out, receipt=receipt_doc, by=by,
                     journal_path=journal.resolve_path(journal_file), pdf=pdf, progress=progress)


# ---------------------------------------------------------------------------
# Journal events of the package commands (ids and hashes only: never the
# package file name, which the user chose and may name the patient)


def pack_event(result: Any) -> dict[str, Any]:
    """The journal event of a successful pack (package.pack.PackResult)."""
    return {"event": "pack", "package_sha256": result.sha256, "manifest_sha256": result.manifest_sha256,
            "dossier_id": result.dossier_id, "container": result.container, "signer": result.signer_fingerprint,
            "completeness": result.completeness, "waived": list(result.waived)}


def verify_event(report: Any, event: str = "verify") -> dict[str, Any]:
    """The journal event of a verify or unpack (package.verify.VerifyReport)."""
    return {"event": event, "package_sha256": report.package_sha256, "manifest_sha256": report.manifest_sha256,
            "dossier_id": report.dossier_id, "signer": report.signer_fingerprint,
            "result": "intact" if report.ok else "altered",
            "failed_checks": sorted({f.check for f in report.failures})}


def record(journal_file: str | os.PathLike | None, event: dict[str, Any], *,
           workspace: str | os.PathLike | None = None, warn: Callable[[str], None] | None = None
           ) -> dict[str, Any] | None:
    """Append *event* to the journal chosen as documented
    (:func:`journal.resolve_path`). For commands whose real output is
    already written (pack, verify, unpack), a journal that cannot be written
    must not turn success into failure: with *warn*, the problem is reported
    through it and None returned."""
    path = journal.resolve_path(journal_file, workspace=workspace)
    try:
        return journal.append(path, event)
    except (IntegrityError, OutputError) as exc:
        if warn is None:
            raise
        warn(f"warning: not recorded in the journal: {exc.line()}")
        return None
