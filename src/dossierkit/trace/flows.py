"""The flows that tie packages to the journal, receipts and acks: what the
``pack``, ``verify``, ``unpack``, ``receipt``, ``ack`` and ``journal
verify`` commands (and ``demo``) run, each one documented function here.

* :func:`pack_and_record` — pack, journal the pack, issue the receipt when
  asked (``pack --receipt``, :func:`receipt_after_pack`);
* :func:`verify_and_record`, :func:`unpack_and_record` — verify (extract),
  then journal the verdict;
* :func:`receipt_for_package`, :func:`ack_for_package` — a receipt or an
  acknowledgement for a package file;
* :func:`verify_journal` — the hash chain and the anchors receipts recorded.

The secrets that open or protect a package come from :mod:`dossierkit.trace.secrets`.

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

import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dossierkit.archive import write_password_file
from dossierkit.fsutil import check_output_path
from dossierkit.check import run_checks
from dossierkit.errors import InputError, IntegrityError, OutputError, UntrustedError, UsageError
from dossierkit.interrupts import HeldInterrupt
from dossierkit.package.manifest import manifest_outline
from dossierkit.package.pack import PackResult, pack
from dossierkit.package.readme import BESIDE_README
from dossierkit.package.unpack import UnpackResult, unpack_package
from dossierkit.package.verify import CHECKS as VERIFY_CHECKS, VerifyReport, verify_package
from dossierkit.progress import NULL_PROGRESS, Progress
from dossierkit.trace import journal
from dossierkit.trace.channels import check_channel
from dossierkit.trust.keys import SIGNING_KEY, default_keys_dir, load_signing_key
from dossierkit.trace.receipt import (Issued, PackageFacts, VerificationFacts, check_document, check_journal_against,
                                      check_addressees, check_receipt_out,
                                      issue_ack, issue_receipt, load_document, package_facts, reply_link_event,
                                      summary_from_manifest, summary_from_workspace)
from dossierkit.trace.secrets import PackageSecrets, Prompt, Protection, SecretSources, pack_protection, secrets_for
from dossierkit.trust.cms import load_ca, load_cert_signer
from dossierkit.trust.signing import fingerprint
from dossierkit.trust.store import SenderPolicy
from dossierkit.workspace import Workspace

Warn = Callable[[str], None]
SigningKey = Ed25519PrivateKey | str | os.PathLike | None  # a key, its PEM file, or None: the keys folder's
_RECEIPT_ID = re.compile(r"RC-\d{8}-[0-9A-F]{12}")


# ---------------------------------------------------------------------------
# pack → journal → receipt


@dataclass(frozen=True)
class ReceiptRequest:
    """``pack --receipt``: where and how the new package's receipt is issued."""

    out: Path
    channel: str
    to: list[str] | None = None
    copies: list[str] | None = None


def receipt_request(out: str | os.PathLike | None, channel: str | None, to: Sequence[str] = (),
                    copies: Sequence[str] | None = None) -> ReceiptRequest | None:
    """The receipt ``pack`` is asked for (None: no receipt), checked before
    packing rather than after: *out* and *channel* go together, and *out*
    can take it (:func:`~dossierkit.trace.receipt.check_receipt_out`)."""
    if out is not None and channel is None:
        raise UsageError("--receipt needs --channel (usb-patient, mssante, sftp or hand)")
    if channel is not None:
        check_channel(channel)
        if out is None:
            raise UsageError("--channel goes with --receipt FOLDER")
    if out is None or channel is None:
        return None
    # before the pack: a receipt that cannot be written must not leave a package behind
    check_receipt_out(out, option="--receipt")
    return ReceiptRequest(Path(out), channel, list(to) or None, None if copies is None else list(copies))


@dataclass
class Packed:
    """What :func:`pack_and_record` did: the package, its receipt if one
    was asked for, and the protection (a generated passphrase is shown
    once, or was written to ``protection.password_out``)."""

    result: PackResult
    protection: Protection
    receipt: Issued | None = None
    # {"path", "seq"} of the pack's journal entry; None when the journal could not be written (warned)
    journal: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """``pack --json``: the package summary, the journal entry, the passphrase file, the receipt."""
        data = self.result.to_dict() | {"journal": self.journal}
        if self.protection.password_out is not None:
            data["password_file"] = str(self.protection.password_out)
        if self.receipt is not None:
            data["receipt"] = self.receipt.to_dict()
        return data


def pack_and_record(workspace: Workspace | str | os.PathLike, out: str | os.PathLike, *, protection: Protection,
                    key: Ed25519PrivateKey, receipt: ReceiptRequest | None = None,
                    journal_file: str | os.PathLike | None = None, allow_incomplete: bool = False,
                    reason: str | None = None, force: bool = False, profile: str | None = None,
                    write_readme: bool = True, progress: Progress = NULL_PROGRESS,
                    warn: Warn | None = None, signing_cert: str | os.PathLike | None = None,
                    signing_cert_key: str | os.PathLike | None = None) -> Packed:
    """``dossierkit pack``: pack *workspace* into *out*
    (package.pack.pack: checked, encrypted as *protection* says, signed with
    *key*, read back), then write a generated passphrase to
    ``protection.password_out`` (:func:`check_password_out` first: a pack
    that fails — refused, target exists, disk full, Ctrl-C — leaves no
    passphrase file; a passphrase file that cannot be written takes the new
    package away: never a package without its key, never a key without its
    package), append the ``pack`` entry to the journal
    (:func:`record`; with *warn*, a journal that cannot be written is
    reported through it, the package being already written), then issue the
    *receipt* asked for (:func:`receipt_after_pack`, anchored on that entry).
    Ctrl-C: until the package has been read back it stops the pack and
    nothing is left (no package, passphrase file, journal entry or
    receipt); from then on — package renamed into place, passphrase file,
    journal entry, receipt: a second or so — it is held
    (:class:`~dossierkit.interrupts.HeldInterrupt`) and the pack finishes
    whole, *warn* saying the interrupt came too late to stop it.
    With *signing_cert* (PEM; key in *signing_cert_key* or the same file) the
    package also carries the establishment's CMS signature (MANIFEST.P7S)."""
    ws = workspace if isinstance(workspace, Workspace) else Workspace(workspace)
    cert_signer = load_cert_signer(signing_cert, signing_cert_key) if signing_cert else None
    password_out = protection.password_out if protection.generated else None
    if password_out is not None:
        check_password_out(password_out)
    if receipt is not None:  # refused addressees must not leave a package behind
        check_addressees(ws, receipt.to, receipt.copies)
    readme_was_there = (Path(out).parent / BESIDE_README).exists()
    with HeldInterrupt() as held:
        result = pack(ws, out, signing_key=key, password=protection.password, recipients=protection.recipients,
                      allow_incomplete=allow_incomplete, reason=reason, force=force, profile=profile,
                      write_readme=write_readme, progress=progress, cert_signer=cert_signer, on_commit=held.hold)
        if password_out is not None:
            _write_passphrase_after(result, password_out, protection.password or "", warn, readme_was_there)
        journal_path = journal.resolve_path(journal_file, workspace=ws.root)
        event = {**pack_event(result), **reply_link_event((ws.dossier.to_dict()).get("reply_to"))}
        entry = record(journal_path, event, workspace=ws.root, warn=warn)
        issued = None
        if receipt is not None:
            issued = receipt_after_pack(result, channel=receipt.channel, out=receipt.out, key=key, workspace=ws,
                                        reason=reason, to=receipt.to, copies=receipt.copies,
                                        journal_path=journal_path)
    if held.received and warn is not None:
        made = ["the package", *(["its passphrase file"] if password_out is not None else []), "its journal entry",
                *(["its receipt"] if issued is not None else [])]
        warn(f"Ctrl-C came once the package was written: the pack was finished rather than left half-done "
             f"({', '.join(made)} are in place)")
    return Packed(result, protection, issued,
                  journal={"path": str(journal_path), "seq": entry["seq"]} if entry is not None else None)


@dataclass
class PackRequest:
    """What ``dossierkit pack`` is asked, as its options say it: the
    secrets' sources (read by :func:`dossierkit.trace.secrets.pack_protection`),
    the signing key file, the pack's own choices and the receipt wanted."""

    password_file: Path | None = None
    password_env: str | None = None
    generate_password: bool = False
    password_out: Path | None = None
    weak_password_ok: bool = False
    recipients: Sequence[str] = ()
    recipients_file: Path | None = None
    signing_key: Path | None = None  # default: the keys folder's signing-key.pem
    signing_cert: Path | None = None  # the establishment's X.509 certificate (MANIFEST.P7S), with its key
    signing_cert_key: Path | None = None
    allow_incomplete: bool = False
    reason: str | None = None
    profile: str | None = None
    force: bool = False
    write_readme: bool = True
    receipt_out: Path | None = None
    channel: str | None = None
    to: Sequence[str] = ()
    copies: Sequence[str] | None = None
    journal_file: Path | None = None


def pack_requested(workspace: Workspace | str | os.PathLike, out: str | os.PathLike, request: PackRequest, *,
                   password_prompt: Prompt | None = None, can_show_passphrase: bool = True,
                   progress: Progress = NULL_PROGRESS, warn: Warn | None = None) -> Packed:
    """``dossierkit pack`` from its options: the receipt asked for and the
    protection are checked (the passphrase read, prompted through
    *password_prompt*, or generated) and the signing key loaded before
    anything is written, then :func:`pack_and_record`. A generated
    passphrase with no ``password_out`` needs *can_show_passphrase*."""
    receipt = receipt_request(request.receipt_out, request.channel, request.to, request.copies)
    root = workspace.root if isinstance(workspace, Workspace) else Path(workspace)
    # -o must not be a file the pack reads: --force would destroy it, and a journal would be appended to the package
    check_output_path(out, (request.password_file, request.signing_key or default_keys_dir() / SIGNING_KEY,
                            request.signing_cert, request.signing_cert_key, request.recipients_file,
                            journal.resolve_path(request.journal_file, workspace=root)))
    if request.password_out is not None and Path(request.password_out).resolve() == Path(out).resolve():
        raise UsageError("-o and --password-out name the same file", path=out,
                         hint="the package and its passphrase file are two files, best kept apart")
    protection = pack_protection(password_file=request.password_file, password_env=request.password_env,
                                 generate=request.generate_password, password_out=request.password_out,
                                 weak_ok=request.weak_password_ok, recipients=request.recipients,
                                 recipients_file=request.recipients_file, can_show_passphrase=can_show_passphrase,
                                 password_prompt=password_prompt, workspace=workspace)
    key = load_signing_key(request.signing_key)
    return pack_and_record(workspace, out, protection=protection, key=key, receipt=receipt,
                           journal_file=request.journal_file, allow_incomplete=request.allow_incomplete,
                           reason=request.reason, force=request.force, profile=request.profile,
                           write_readme=request.write_readme, progress=progress, warn=warn,
                           signing_cert=request.signing_cert, signing_cert_key=request.signing_cert_key)


def check_password_out(path: str | os.PathLike) -> None:
    """Before packing: the passphrase file *path* can be created (it does
    not exist, its folder does), so that a pack is not thrown away for it."""
    path = Path(path)
    if path.exists() or path.is_symlink():
        raise OutputError("already exists", path=path,
                          hint="a passphrase file is never overwritten: choose another name, or remove the old "
                               "one with its package")
    if not path.parent.is_dir():
        where = next((p for p in path.parents if p.exists()), None)
        if where is not None and not where.is_dir():
            raise OutputError("cannot write the passphrase file here: a folder on this path is a file", path=path)
        raise OutputError("the folder for the passphrase file does not exist", path=path,
                          hint="create it first, or choose another --password-out")


def same_volume(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """True when the files *a* and *b* are on the same file system (device)."""
    try:
        return os.stat(a).st_dev == os.stat(b).st_dev
    except OSError:
        return False


def _write_passphrase_after(result: PackResult, path: Path, password: str, warn: Warn | None,
                            readme_was_there: bool = True) -> None:
    try:
        write_password_file(path, password)
    except BaseException:
        # the package would be unopenable: take it away (failed: nothing new is left)
        made = [Path(result.package)]
        if result.readme is not None and not readme_was_there:
            made.append(Path(result.readme))
        for path_made in made:
            try:
                path_made.unlink()
            except OSError:
                pass
        raise
    if warn is not None and same_volume(path, result.package):
        warn(f"the passphrase file {path} is on the same disk or key as the package: whoever holds one holds "
             "both — move it elsewhere, or give the passphrase separately (by phone, on paper) and delete the file")


def receipt_after_pack(result: PackResult, *, channel: str, out: str | os.PathLike, key: Ed25519PrivateKey,
                       workspace: Workspace | str | os.PathLike, reason: str | None = None,
                       to: list[str] | None = None, copies: list[str] | None = None,
                       journal_path: str | os.PathLike | None = None, pdf: bool = True,
                       progress: Progress = NULL_PROGRESS) -> Issued:
    """``pack --receipt``: a receipt for the package *result* just written
    and verified, without hashing or decrypting it again. Content: the
    *workspace*, which is what was just packed (pack checks every file
    against the index), with the completeness pack recorded
    (``result.completeness``, the waived findings as the manifest records
    them — code, level and message, the same as a receipt issued later from
    the package — and the *reason*)."""
    ws = workspace if isinstance(workspace, Workspace) else Workspace(workspace)
    summary = summary_from_workspace(ws, manifest_sha256=result.manifest_sha256, completeness={
        "status": result.completeness, "waived": list(result.waived_findings),
        "reason": reason, "profile": ws.dossier.profile})
    summary.container = result.container
    summary.manifest_signer = result.signer_fingerprint
    facts = PackageFacts(Path(result.package).name, result.sha256, result.size)
    return issue_receipt(summary, facts, channel=channel, key=key, out=out, to=to, copies=copies,
                         journal_path=journal_path, pdf=pdf, progress=progress)


# ---------------------------------------------------------------------------
# verify, unpack


def verify_and_record(package: str | os.PathLike, secrets: PackageSecrets | SecretSources, *,
                      expect_signer: str | None = None, journal_file: str | os.PathLike | None = None,
                      progress: Progress = NULL_PROGRESS, warn: Warn | None = None,
                      trust_store: str | os.PathLike | None = None, ca_file: str | os.PathLike | None = None,
                      keep_manifest: bool = False) -> VerifyReport:
    """``dossierkit verify``: verify *package* in one streaming pass
    (package.verify.verify_package; whose signature is accepted:
    SenderPolicy.load of *expect_signer* and *trust_store*), then journal the
    verdict (intact, untrusted or altered). A wrong password or key raises
    DecryptionError: nothing is recorded then. *keep_manifest*: keep
    ``report.manifest_json`` (a reply reads it; verify_package). *secrets*:
    the package's, or their sources (:class:`~dossierkit.trace.secrets.SecretSources`),
    read first thing; a missing one is a UsageError."""
    secrets = secrets_for(package, secrets, require=True)
    senders = SenderPolicy.load(expect_signer=expect_signer, store=trust_store)
    report = verify_package(package, senders=senders, ca=load_ca(ca_file), progress=progress,
                            keep_manifest=keep_manifest, **secrets.open_kwargs())
    record(journal_file, verify_event(report), warn=warn)
    return report


def unpack_and_record(package: str | os.PathLike, dest: str | os.PathLike,
                      secrets: PackageSecrets | SecretSources, *,
                      expect_signer: str | None = None, force: bool = False,
                      journal_file: str | os.PathLike | None = None, progress: Progress = NULL_PROGRESS,
                      warn: Warn | None = None, trust_store: str | os.PathLike | None = None,
                      ca_file: str | os.PathLike | None = None) -> UnpackResult:
    """``dossierkit unpack``: verify and extract *package* to *dest*
    (package.unpack.unpack_package: all or nothing; an unknown signer is
    UntrustedError, exit 6), then journal it. *secrets*: as for
    :func:`verify_and_record`."""
    secrets = secrets_for(package, secrets, require=True)
    senders = SenderPolicy.load(expect_signer=expect_signer, store=trust_store)
    result = unpack_package(package, dest, senders=senders, ca=load_ca(ca_file), force=force, progress=progress,
                            **secrets.open_kwargs())
    record(journal_file, verify_event(result.report, "unpack"), warn=warn)
    return result


# ---------------------------------------------------------------------------
# receipts and acknowledgements of a package file


def _verify(package: Path, secrets: PackageSecrets, *, senders: SenderPolicy, progress: Progress,
            ca: list[Any] | None = None) -> tuple[VerificationFacts, dict[str, Any] | None, PackageFacts]:
    """Verify the package once (package.verify); adapt its report, and
    parse the manifest it decrypted when signature and manifest hold. A
    wrong password or key raises DecryptionError: nothing is written then."""
    report = verify_package(package, senders=senders, ca=ca, progress=progress, **secrets.open_kwargs())
    manifest = None
    if report.manifest_json is not None and report.status("signature") == "ok" \
            and report.status("manifest") == "ok":
        # without the images' records: the summary needs each series' count, not its files (issue #18)
        manifest = manifest_outline(report.manifest_json)
    status = (report.completeness or {}).get("status")
    problems = [f"{f.check}: {f.message}" for f in report.failures if f.check != "sender"]
    problems += [f"{c}: not checked" for c in VERIFY_CHECKS if c != "sender" and report.status(c) == "not checked"
                 and not report.failures]
    facts = VerificationFacts(
        intact=report.verdict != "altered",
        # the manifest's claim only once verify checked it (an altered package: not checked, None)
        complete=None if status not in ("complete", "incomplete") or report.status("completeness") == "not checked"
        else status == "complete",
        problems=problems, dossier_id=report.dossier_id, manifest_sha256=report.manifest_sha256,
        manifest_signer=report.signer_fingerprint, sender=report.signer.to_dict() if report.signer else None,
        reply_to=summary_from_manifest(manifest, None).reply_to if isinstance(manifest, dict) else None)
    return facts, manifest, PackageFacts(package.name, report.package_sha256, report.package_size)


def _pack_entry(journal_path: Path, package_sha256: str) -> dict[str, Any] | None:
    if not journal_path.exists():
        return None
    found = None
    for e in journal.read_entries(journal_path):
        if e.get("event") == "pack" and e.get("package_sha256") == package_sha256:
            found = e
    return found


def receipt_for_package(package: str | os.PathLike, *, channel: str, out: str | os.PathLike,
                        key: SigningKey, secrets: PackageSecrets | SecretSources | None = None,
                        to: list[str] | None = None,
                        copies: list[str] | None = None, workspace: str | os.PathLike | None = None,
                        journal_file: str | os.PathLike | None = None, pdf: bool = True,
                        progress: Progress = NULL_PROGRESS, trust_store: str | os.PathLike | None = None) -> Issued:
    """``dossierkit receipt PACKAGE``: with *secrets*
    (:func:`dossierkit.trace.secrets.open_secrets`) the package is verified
    and its manifest, decrypted in that one pass, gives the content; else
    the *workspace* and its journal's ``pack`` entry do (module docstring).
    The package must be signed by a known key: *key* (the sender's own, the
    usual case), the operator's own key or one of the trust store. *key*: the
    signing key, its PEM file or None for the keys folder's (loaded first);
    *secrets* may be their sources (:class:`~dossierkit.trace.secrets.SecretSources`),
    read next."""
    key = signing_key_of(key)
    secrets = secrets_for(package, secrets)
    package = Path(package)
    journal_path = journal.resolve_path(journal_file, workspace=workspace)
    if secrets:
        senders = SenderPolicy.load(store=trust_store, own=(fingerprint(key.public_key()),))
        result, manifest, facts = _verify(package, secrets, senders=senders, progress=progress)
        if not result.intact or manifest is None:
            raise IntegrityError("the package does not verify: no receipt is issued for it — "
                                 + "; ".join(result.problems[:3]), path=package)
        if not (result.sender or {}).get("known"):
            raise UntrustedError(f"no receipt is issued for a package signed by another key than yours or a "
                                 f"trusted sender's: {senders.refusal(senders.judge(result.manifest_signer or ''))}",
                                 path=package)
        summary = summary_from_manifest(manifest, result.manifest_sha256)
        summary.manifest_signer = result.manifest_signer
        if workspace is not None and Workspace(workspace).dossier.id != summary.dossier_id:
            raise UsageError("the package was packed from another dossier than this workspace: its receipt "
                             "does not go in this workspace's journal", path=workspace)
    elif workspace is not None:
        ws = Workspace(workspace)
        facts = package_facts(package, progress)
        entry = _pack_entry(journal_path, facts.sha256)
        if entry is None:
            raise UsageError(f"the journal {journal_path} has no pack entry for this package (SHA-256 "
                             f"{facts.sha256[:16]}…)", hint="give the package's --password-file/--password-env/"
                                                            "--identity so its manifest is read instead")
        if entry.get("dossier_id") not in (None, ws.dossier.id):
            raise UsageError("the package was packed from another dossier than this workspace", path=workspace)
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


def ack_for_package(package: str | os.PathLike, *, out: str | os.PathLike, key: SigningKey,
                    secrets: PackageSecrets | SecretSources | None = None,
                    receipt_file: str | os.PathLike | None = None,
                    by: str | None = None, expect_signer: str | None = None,
                    journal_file: str | os.PathLike | None = None, pdf: bool = True,
                    progress: Progress = NULL_PROGRESS, trust_store: str | os.PathLike | None = None,
                    ca_file: str | os.PathLike | None = None) -> Issued:
    """``dossierkit ack PACKAGE``: verify the package with *secrets*
    (:func:`dossierkit.trace.secrets.open_secrets`), then issue a signed
    ack recording the result (intact/altered, complete/incomplete), bound to
    the package SHA-256 and, with *receipt_file*, to the sender's receipt
    (whose signature must hold and whose package must be this file). Who
    signed the package is recorded (``verification.sender``: name when the
    key is trusted — *expect_signer*, *trust_store* —, ``known: false``
    otherwise: ``Issued.exit_code`` is 6; an establishment certificate chained
    to *ca_file*'s CA — default ``$DOSSIERKIT_HOME/establishment-ca.pem`` — names it
    as ``verify`` does). *key* and *secrets*: as for
    :func:`receipt_for_package` (the key loaded first, the secrets read next)."""
    key = signing_key_of(key)
    ca = load_ca(ca_file)  # a bad CA file is told before any prompt
    secrets = secrets_for(package, secrets)
    package = Path(package)
    senders = SenderPolicy.load(expect_signer=expect_signer, store=trust_store)
    if not secrets:
        raise UsageError("ack verifies the package first: give --password-file or --password-env (password "
                         "package) or --identity (recipients package)")
    receipt_doc = None
    if receipt_file is not None and paper_receipt_id(receipt_file) is not None:
        # The receipt came on paper (the patient's route): its number, typed
        # from the page, binds the ack to it; --expect-signer takes the
        # fingerprint printed on it.
        receipt_doc = {"receipt_id": paper_receipt_id(receipt_file)}
    elif receipt_file is not None:
        if not Path(receipt_file).exists():
            raise InputError("no such receipt file, nor a receipt number", path=receipt_file,
                             hint="give the receipt's JSON file, or its number as printed on the paper receipt "
                                  "(RC-, the date, -, 12 characters: RC-20261201-7F3A9C2E41B0)")
        receipt_doc, raw = load_document(receipt_file)
        check_document(receipt_doc, raw, expect_signer=expect_signer)
        if receipt_doc.get("type") != "dossierkit-receipt":
            raise UsageError("--receipt expects the sender's receipt, not an acknowledgement", path=receipt_file)
    # One pass: verify hashes the package bytes as it decrypts them.
    result, _, facts = _verify(package, secrets, senders=senders, progress=progress, ca=ca)
    journal_path = journal.resolve_path(journal_file)
    return issue_ack(facts, result, key=key, out=out, receipt=receipt_doc, by=by, journal_path=journal_path,
                     pdf=pdf, progress=progress, deliveries=_deliver_entries(journal_path, facts.sha256))


def _deliver_entries(journal_path: Path, package_sha256: str) -> list[dict[str, Any]]:
    """The journal's ``deliver`` entries of this package (trace.deliver): the ack records them."""
    if not journal_path.exists():
        return []
    return [e for e in journal.read_entries(journal_path)
            if e.get("event") == "deliver" and e.get("package_sha256") == package_sha256]


def signing_key_of(key: SigningKey) -> Ed25519PrivateKey:
    """*key* itself, or the Ed25519 key of its PEM file, or (None) the keys
    folder's signing-key.pem (:func:`~dossierkit.trust.keys.load_signing_key`)."""
    return key if isinstance(key, Ed25519PrivateKey) else load_signing_key(key)


def paper_receipt_id(value: str | os.PathLike) -> str | None:
    """``ack --receipt RC-20261201-7F3A9C2E41B0``: the number of a receipt
    read on paper (not a file of that name) — or None for a receipt file."""
    text = str(value).strip().upper()
    if _RECEIPT_ID.fullmatch(text) and not Path(value).exists():
        return text
    return None


def verify_journal(path: str | os.PathLike | None, receipt_files: Sequence[str | os.PathLike] = ()
                   ) -> journal.JournalReport:
    """``dossierkit journal verify``: the journal *path* names — a journal
    file, a workspace folder or None for the default (:func:`journal.locate`)
    —, its hash chain (:func:`journal.verify`)
    and, for each signed receipt or ack in *receipt_files* (genuine: their
    signature is checked first), that the journal still holds the head it
    recorded and its own entry — which catches a cut tail. Read
    ``report.holds`` (``report.exit_code``); ``report.anchors`` lists the
    anchor checks."""
    path = journal.locate(path)
    report = journal.verify(path)
    documents = []
    for file in receipt_files:
        doc, raw = load_document(file)
        check_document(doc, raw)  # an anchor only counts from a genuine document
        documents.append(doc)
    report.anchors = check_journal_against(path, documents, report) if documents else None
    return report


# ---------------------------------------------------------------------------
# Journal events of the package commands (ids and hashes only: never the
# package file name, which the user chose and may name the patient)


def pack_event(result: PackResult) -> dict[str, Any]:
    """The journal event of a successful pack (package.pack.PackResult)."""
    return {"event": "pack", "package_sha256": result.sha256, "manifest_sha256": result.manifest_sha256,
            "dossier_id": result.dossier_id, "container": result.container, "signer": result.signer_fingerprint,
            "completeness": result.completeness, "waived": list(result.waived)}


def verify_event(report: VerifyReport, event: str = "verify") -> dict[str, Any]:
    """The journal event of a verify or unpack (package.verify.VerifyReport)."""
    return {"event": event, "package_sha256": report.package_sha256, "manifest_sha256": report.manifest_sha256,
            "dossier_id": report.dossier_id, "signer": report.signer_fingerprint,
            "signer_known": bool(report.signer and report.signer.known), "result": report.verdict,
            "failed_checks": sorted({f.check for f in report.failures})}


def record(journal_file: str | os.PathLike | None, event: dict[str, Any], *,
           workspace: str | os.PathLike | None = None, warn: Warn | None = None) -> dict[str, Any] | None:
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
        warn(f"not recorded in the journal: {exc.line()}")
        return None
