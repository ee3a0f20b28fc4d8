"""CLI commands for traceability: receipt (create, verify), ack, journal (show, verify).

``dossierkit receipt PACKAGE …`` is accepted as a short form of
``dossierkit receipt create PACKAGE …`` (see :class:`_DefaultCreate`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer
from typer.core import TyperGroup

from dossierkit import localtime
from dossierkit.cli import app, options, ui
from dossierkit.trace.flows import ack_for_package, receipt_for_package, verify_journal
from dossierkit.trace.journal import JournalReport, resolve_path as journal_default
from dossierkit.trace.receipt import DocumentChecks, Issued, verify_files
from dossierkit.trace.reply import JournalsRead, read_journals
from dossierkit.trace.secrets import SecretSources
from dossierkit.trust.signing import spaced_fingerprint


class _DefaultCreate(TyperGroup):
    """``receipt PACKAGE …`` (the issue's spelling) means ``receipt create PACKAGE …``."""

    def parse_args(self, ctx, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = ["create", *args]
        return super().parse_args(ctx, args)


receipt_app = typer.Typer(cls=_DefaultCreate, no_args_is_help=True,
                          help="Transmission receipts: `receipt PACKAGE --channel … -o OUT` (= `receipt create`), "
                               "`receipt verify FILE`.")
journal_app = typer.Typer(no_args_is_help=True, help="The append-only, hash-chained transmission journal.")
app.add_typer(receipt_app, name="receipt")
app.add_typer(journal_app, name="journal")

# Options of `receipt create` alone.
RECEIPT_OUTPUT = typer.Option(..., "--output", "-o", help="Folder (→ RC-….json + .pdf) or FILE.json (+ FILE.pdf). "
                                                          "They hold minimal patient identity: keep them with the "
                                                          "patient record.")
RECEIPT_TO = typer.Option([], "--to", help="Recipient (repeatable): name/establishment, or second-opinion, "
                                           "treating-gp. Default: the dossier's second-opinion practitioner.")
RECEIPT_COPY = typer.Option(None, "--copy", help="Copy to (repeatable), or `none`. Default: the dossier's initial "
                                                 "physician and treating GP, minus the patient's restrictions.")
RECEIPT_WORKSPACE = typer.Option(None, "--workspace", "-w", help="The dossier's workspace: the receipt goes in its "
                                                                 "journal; with no password or identity, the "
                                                                 "content comes from it too.")
# No default identity here: a sender who encrypted to recipients' keys cannot decrypt (--workspace instead).
RECEIPT_IDENTITY = typer.Option(None, "--identity", "-i", help="age identity file for a recipients package.")
NO_PDF = typer.Option(False, "--no-pdf", help="Write the signed JSON only.")


@receipt_app.command("create")
def receipt_create(
    package: Path = typer.Argument(..., help="The package file exactly as handed over."),
    channel: str = typer.Option(..., "--channel", "-c", help="usb-patient, mssante, sftp or hand."),
    out: Path = RECEIPT_OUTPUT,
    to: list[str] = RECEIPT_TO,
    copy: Optional[list[str]] = RECEIPT_COPY,
    workspace: Optional[Path] = RECEIPT_WORKSPACE,
    password_file: Optional[Path] = options.PASSWORD_FILE,
    password_env: Optional[str] = options.PASSWORD_ENV,
    identity: Optional[Path] = RECEIPT_IDENTITY,
    signing_key: Optional[Path] = options.SIGNING_KEY,
    journal_file: Optional[Path] = options.JOURNAL,
    no_pdf: bool = NO_PDF,
    as_json: bool = options.JSON,
) -> None:
    """Issue a signed transmission receipt (JSON + bilingual PDF) for PACKAGE."""
    secrets = SecretSources(password_file=password_file, password_env=password_env, identity=identity,
                            password_prompt=ui.passphrase_prompt(workspace is None and not as_json))
    with ui.progress_for(not as_json) as progress:
        issued = receipt_for_package(package, channel=channel, out=out, to=to or None, copies=copy,
                                     key=signing_key, secrets=secrets, workspace=workspace, journal_file=journal_file,
                                     pdf=not no_pdf, progress=progress)
    _report_issued(issued, as_json, "receipt")


def _report_issued(issued: Issued, as_json: bool, what: str) -> None:
    if as_json:
        ui.emit_json(issued.to_dict())
        return
    d = issued.to_dict()
    ui.out.print(f"{what} {d['id']}", markup=False)
    ui.out.print(f"  json: {d['json']}", markup=False)
    if d["pdf"]:
        ui.out.print(f"  pdf:  {d['pdf']}", markup=False)
    groups = spaced_fingerprint(d["signer_fingerprint"]).split(" ")  # within 80 columns, as the PDF prints them
    ui.out.print(f"  package SHA-256:\n    {d['package_sha256']}", markup=False)
    ui.out.print(f"  signer fingerprint: {' '.join(groups[:8])}\n{'':22}{' '.join(groups[8:])}", markup=False)
    if d["journal_seq"]:
        ui.out.print(f"  journal entry:      {d['journal_seq']} in {d['journal']}", markup=False)
        if issued.journal_path == journal_default() and what == "receipt":  # an ack has no workspace
            ui.note(f"note: recorded in this computer's own journal ({d['journal']}), not in a dossier's: "
                    "give --workspace DIR to record it in the workspace's journal")


@receipt_app.command("verify")
def receipt_verify(
    files: list[Path] = typer.Argument(..., help="Receipt or acknowledgement JSON file(s)."),
    package: Optional[Path] = typer.Option(None, "--package", help="Check that this file is the package they name."),
    expect_signer: Optional[str] = typer.Option(None, "--expect-signer", help="Signer fingerprint known out of band "
                                                                              "(full: 64 hex digits)."),
    journal_file: Optional[Path] = typer.Option(None, "--journal", help="Also check this journal (a file or a "
                                                                        "workspace folder) still holds what was "
                                                                        "recorded at issue time."),
    as_json: bool = options.JSON,
) -> None:
    """Check receipt/ack signatures, and their package and journal. Exit 0 valid, 3 not."""
    checks = verify_files(files, package=package, expect_signer=expect_signer, journal_path=journal_file)
    _report_checks(checks, as_json)
    raise typer.Exit(checks.exit_code)


def _report_checks(checks: DocumentChecks, as_json: bool) -> None:
    if as_json:
        ui.emit_json(checks.to_dict())
    else:
        for r in (c.to_dict() for c in checks.checks):
            ui.out.print(f"{'valid' if r['ok'] else 'INVALID'}: {r['type']} {r['id']} — signed by "
                         f"{r['signer_fingerprint']}", markup=False)
            ui.out.print(f"  package sha256 {r['package_sha256']}"
                         f"{' (matches the file given)' if r['package_checked'] else ''}", markup=False)
            if r["journal"]:
                ui.out.print(f"  journal: {'holds its anchor and entry' if r['journal']['ok'] else 'BROKEN'}",
                             markup=False)
            for p in r["problems"]:
                ui.error_line(p)


@app.command("ack")
def ack_cmd(
    package: Path = typer.Argument(..., help="The package file as received."),
    out: Path = typer.Option(..., "--output", "-o", help="Folder (→ AK-….json + .pdf) or FILE.json (+ FILE.pdf)."),
    receipt_file: Optional[Path] = typer.Option(None, "--receipt", help="The sender's receipt to bind to: its JSON "
                                                                        "file, or its number read on the paper "
                                                                        "receipt (RC-…)."),
    expect_signer: Optional[str] = typer.Option(None, "--expect-signer", help="Sender's full fingerprint (checks "
                                                                              "the receipt and the manifest)."),
    trust_store: Optional[Path] = options.TRUST_STORE, ca_file: Optional[Path] = options.CA_FILE,
    by: Optional[str] = typer.Option(None, "--by", help="Who acknowledges (name, establishment)."),
    password_file: Optional[Path] = options.PASSWORD_FILE, password_env: Optional[str] = options.PASSWORD_ENV,
    identity: Optional[Path] = options.IDENTITY, signing_key: Optional[Path] = options.SIGNING_KEY,
    journal_file: Optional[Path] = options.JOURNAL, no_pdf: bool = NO_PDF, as_json: bool = options.JSON,
) -> None:
    """Verify PACKAGE and issue a signed acknowledgement (JSON + PDF).
    Exit 0 intact and complete, 1 intact but incomplete, 6 intact from an unknown sender, 3 altered
    (the ack is written in every case)."""
    secrets = SecretSources(password_file=password_file, password_env=password_env, identity=identity,
                            password_prompt=ui.passphrase_prompt(not as_json), default_identity=True)
    with ui.progress_for(not as_json) as progress:
        issued = ack_for_package(package, out=out, key=signing_key, secrets=secrets, receipt_file=receipt_file, by=by,
                                 expect_signer=expect_signer, journal_file=journal_file, pdf=not no_pdf,
                                 progress=progress, trust_store=trust_store, ca_file=ca_file)
    _report_ack(issued, as_json)
    raise typer.Exit(issued.exit_code)


def _report_ack(issued: Issued, as_json: bool) -> None:
    """Print the ack and what it records of the package."""
    _report_issued(issued, as_json, "acknowledgement")
    verification = issued.document["verification"]
    if not as_json:
        ui.out.print(f"  verification: {verification['result']}, {verification['completeness']}", markup=False)
        sender = verification.get("sender") or {}
        if sender:
            who = sender.get("name") or ("known key" if sender.get("known") else "UNKNOWN key")
            ui.say(f"  signed by:    {who} {spaced_fingerprint(sender['fingerprint'])}")  # wrapped at words
            if not sender.get("known"):
                ui.error_line("the package is authentic but its sender's key is unknown: compare the fingerprint "
                              "with the sender's printed receipt, then `dossierkit trust add FINGERPRINT --name …`")
        for problem in verification["problems"]:
            ui.error_line(problem)


@journal_app.command("show")
def journal_show(
    files: Optional[list[Path]] = typer.Argument(None, help="Journal file(s) or workspace folder(s) (default as "
                                                            "for --journal); give both hospitals' to see the "
                                                            "whole story."),
    as_json: bool = options.JSON,
) -> None:
    """List the journal's entries (ids and hashes only), then the story of each dossier:
    sent → received → opinion returned → acknowledged."""
    _report_journals(read_journals(files or []), as_json)


def _report_journals(read: JournalsRead, as_json: bool) -> None:
    if as_json:
        ui.emit_json(read.to_dict())
        return
    for path, entries in read.journals:
        _report_entries(path, entries)
    for text in read.story_text():
        ui.out.print(text, markup=False)


def _report_entries(path: Path, entries: list[dict[str, Any]]) -> None:
    ui.say(f"journal {path} ({len(entries)} entries; local times)", style="bold")
    ui.entries([(f"#{e.get('seq')}  {localtime.on_screen(str(e.get('time', '')), seconds=True)}  "
                 f"{e.get('event')}  hash {str(e.get('hash', ''))[:16]}",
                 "  ".join(f"{k}={_short(v)}" for k, v in e.items()
                           if k not in ("seq", "time", "event", "prev", "hash") and v not in (None, "")))
                for e in entries])


def _short(v: Any) -> str:
    s = str(v)
    return s[:16] + "…" if len(s) == 64 and all(c in "0123456789abcdef" for c in s) else s


@journal_app.command("verify")
def journal_verify(
    file: Optional[Path] = typer.Argument(None, help="Journal file or workspace folder (default as for --journal)."),
    receipts: list[Path] = typer.Option([], "--receipt", help="Receipt or ack JSON whose recorded journal head "
                                                              "must still be there (catches a cut tail)."),
    as_json: bool = options.JSON,
) -> None:
    """Check the hash chain; name the first broken entry. Exit 0 intact, 3 broken or truncated."""
    report = verify_journal(file, receipts)
    _report_journal(report, as_json)
    raise typer.Exit(report.exit_code)


def _report_journal(report: JournalReport, as_json: bool) -> None:
    if as_json:
        ui.emit_json(report.to_dict() | {"ok": report.holds})
    else:
        if report.ok:
            ui.out.print(f"journal hash chain intact: {report.entries} entries, head {report.head.seq} "
                         f"{report.head.hash}", markup=False)
        else:
            ui.error_line(f"journal broken: {report.problem}")
        for anchor in report.anchors or []:
            if anchor["ok"]:
                ui.out.print(f"{anchor['document']}: anchor at entry {anchor['anchor']['seq']} present",
                             markup=False)
            else:
                ui.error_line(anchor["problem"])
