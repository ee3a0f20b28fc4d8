"""CLI commands for traceability: receipt (create, verify), ack, journal (show, verify).

``dossierkit receipt PACKAGE …`` is accepted as a short form of
``dossierkit receipt create PACKAGE …`` (see :class:`_DefaultCreate`).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Optional

import typer
from typer.core import TyperGroup

from dossierkit.errors import ExitCode
from dossierkit.cli import app, ui

JSON_OPT = typer.Option(False, "--json", help="Write one JSON document to stdout (no progress, no prompts).")
JOURNAL_OPT = typer.Option(None, "--journal", help="Journal file (default: $DOSSIERKIT_JOURNAL, the workspace's "
                                                   "journal.jsonl, else $DOSSIERKIT_HOME/journal.jsonl).")
KEY_OPT = typer.Option(None, "--signing-key", help="Ed25519 signing key (default: the keys folder's "
                                                   "signing-key.pem).")
PASSWORD_FILE_OPT = typer.Option(None, "--password-file", help="File holding the package passphrase.")
PASSWORD_ENV_OPT = typer.Option(None, "--password-env", help="Environment variable holding the passphrase.")
IDENTITY_OPT = typer.Option(None, "--identity", "-i", help="age identity file (recipients packages).")


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


def _secrets(password_file, password_env, identity, *, prompt_ok: bool) -> dict[str, Any]:
    found = {k: v for k, v in (("password_file", password_file), ("password_env", password_env),
                               ("identity", identity)) if v is not None}
    if not found and prompt_ok and sys.stdin.isatty():
        found["password_prompt"] = lambda: typer.prompt("package password", hide_input=True)
    return found


@receipt_app.command("create")
def receipt_create(
    package: Path = typer.Argument(..., help="The package file exactly as handed over."),
    channel: str = typer.Option(..., "--channel", "-c", help="usb-patient, mssante, sftp or hand."),
    out: Path = typer.Option(..., "--output", "-o", help="Folder (→ RC-….json + .pdf) or FILE.json (+ FILE.pdf). "
                                                         "They hold minimal patient identity: keep them with the "
                                                         "patient record."),
    to: list[str] = typer.Option([], "--to", help="Recipient (repeatable): name/establishment, or second-opinion, "
                                                  "treating-gp. Default: the dossier's second-opinion practitioner."),
    copy: Optional[list[str]] = typer.Option(None, "--copy", help="Copy to (repeatable), or `none`. Default: the "
                                                                  "dossier's initial physician and treating GP, "
                                                                  "minus the patient's restrictions."),
    workspace: Optional[Path] = typer.Option(None, "--workspace", "-w", help="Take the content from this workspace "
                                                                             "(when you cannot decrypt the package)."),
    password_file: Optional[Path] = PASSWORD_FILE_OPT,
    password_env: Optional[str] = PASSWORD_ENV_OPT,
    identity: Optional[Path] = IDENTITY_OPT,
    signing_key: Optional[Path] = KEY_OPT,
    journal_file: Optional[Path] = JOURNAL_OPT,
    no_pdf: bool = typer.Option(False, "--no-pdf", help="Write the signed JSON only."),
    as_json: bool = JSON_OPT,
) -> None:
    """Issue a signed transmission receipt (JSON + bilingual PDF) for PACKAGE."""
    from dossierkit.trust.keys import load_signing_key
    from dossierkit.trace.flows import receipt_for_package

    key = load_signing_key(signing_key)
    with ui.progress_for(not as_json) as progress:
        issued = receipt_for_package(package, channel=channel, out=out, to=to or None, copies=copy, key=key,
                                     workspace=workspace, journal_file=journal_file, pdf=not no_pdf,
                                     progress=progress,
                                     **_secrets(password_file, password_env, identity,
                                                prompt_ok=workspace is None and not as_json))
    _report_issued(issued, as_json, "receipt")


def _report_issued(issued, as_json: bool, what: str) -> None:
    if as_json:
        ui.emit_json(issued.to_dict())
        return
    d = issued.to_dict()
    ui.out.print(f"{what} {d['id']}", markup=False)
    ui.out.print(f"  json: {d['json']}", markup=False)
    if d["pdf"]:
        ui.out.print(f"  pdf:  {d['pdf']}", markup=False)
    ui.out.print(f"  package sha256:     {d['package_sha256']}", markup=False)
    ui.out.print(f"  signer fingerprint: {d['signer_fingerprint']}", markup=False)
    if d["journal_seq"]:
        ui.out.print(f"  journal entry:      {d['journal_seq']}", markup=False)


@receipt_app.command("verify")
def receipt_verify(
    files: list[Path] = typer.Argument(..., help="Receipt or acknowledgement JSON file(s)."),
    package: Optional[Path] = typer.Option(None, "--package", help="Check that this file is the package they name."),
    expect_signer: Optional[str] = typer.Option(None, "--expect-signer", help="Signer fingerprint known out of band "
                                                                              "(≥ 16 hex digits)."),
    journal_file: Optional[Path] = typer.Option(None, "--journal", help="Also check this journal still holds what "
                                                                        "was recorded at issue time."),
    as_json: bool = JSON_OPT,
) -> None:
    """Check receipt/ack signatures, and their package and journal. Exit 0 valid, 3 not."""
    from dossierkit.trace.receipt import verify_file

    results = [verify_file(f, package=package, expect_signer=expect_signer, journal_path=journal_file).to_dict()
               for f in files]
    ok = all(r["ok"] for r in results)
    if as_json:
        ui.emit_json(results[0] if len(results) == 1 else {"ok": ok, "documents": results})
    else:
        for r in results:
            ui.out.print(f"{'valid' if r['ok'] else 'INVALID'}: {r['type']} {r['id']} — signed by "
                         f"{r['signer_fingerprint']}", markup=False)
            ui.out.print(f"  package sha256 {r['package_sha256']}"
                         f"{' (matches the file given)' if r['package_checked'] else ''}", markup=False)
            if r["journal"]:
                ui.out.print(f"  journal: {'holds its anchor and entry' if r['journal']['ok'] else 'BROKEN'}",
                             markup=False)
            for p in r["problems"]:
                ui.error_line(p)
    raise typer.Exit(ExitCode.OK if ok else ExitCode.INTEGRITY)


@app.command("ack")
def ack_cmd(
    package: Path = typer.Argument(..., help="The package file as received."),
    out: Path = typer.Option(..., "--output", "-o", help="Folder (→ AK-….json + .pdf) or FILE.json (+ FILE.pdf)."),
    receipt_file: Optional[Path] = typer.Option(None, "--receipt", help="The sender's receipt (JSON) to bind to."),
    expect_signer: Optional[str] = typer.Option(None, "--expect-signer", help="Sender's fingerprint (checks the "
                                                                              "receipt and the manifest)."),
    by: Optional[str] = typer.Option(None, "--by", help="Who acknowledges (name, establishment)."),
    password_file: Optional[Path] = PASSWORD_FILE_OPT,
    password_env: Optional[str] = PASSWORD_ENV_OPT,
    identity: Optional[Path] = IDENTITY_OPT,
    signing_key: Optional[Path] = KEY_OPT,
    journal_file: Optional[Path] = JOURNAL_OPT,
    no_pdf: bool = typer.Option(False, "--no-pdf", help="Write the signed JSON only."),
    as_json: bool = JSON_OPT,
) -> None:
    """Verify PACKAGE and issue a signed acknowledgement (JSON + PDF).
    Exit 0 intact and complete, 1 intact but incomplete, 3 altered (the ack is written in every case)."""
    from dossierkit.trust.keys import load_signing_key
    from dossierkit.trace.flows import ack_for_package

    key = load_signing_key(signing_key)
    with ui.progress_for(not as_json) as progress:
        issued = ack_for_package(package, out=out, key=key, receipt_file=receipt_file, by=by,
                                 expect_signer=expect_signer, journal_file=journal_file, pdf=not no_pdf,
                                 progress=progress,
                                 **_secrets(password_file, password_env, identity, prompt_ok=not as_json))
    _report_issued(issued, as_json, "acknowledgement")
    v = issued.document["verification"]
    if not as_json:
        ui.out.print(f"  verification: {v['result']}, {v['completeness']}", markup=False)
        for p in v["problems"]:
            ui.error_line(p)
    raise typer.Exit(ExitCode.INTEGRITY if not v["intact"] else
                     ExitCode.OK if v["complete"] is not False else ExitCode.INCOMPLETE)


def _journal_path(file: Optional[Path]) -> Path:
    from dossierkit.trace.journal import DEFAULT_NAME, resolve_path

    if file is not None and file.is_dir():
        return file / DEFAULT_NAME  # a workspace folder
    return resolve_path(file)


@journal_app.command("show")
def journal_show(
    file: Optional[Path] = typer.Argument(None, help="Journal file or workspace folder (default as for --journal)."),
    as_json: bool = JSON_OPT,
) -> None:
    """List the journal's entries (ids and hashes only)."""
    from rich.table import Table

    from dossierkit.trace.journal import read_entries

    path = _journal_path(file)
    entries = read_entries(path)
    if as_json:
        ui.emit_json({"journal": str(path), "entries": entries})
        return
    table = Table(title=f"journal {path}")
    for col in ("seq", "time (UTC)", "event", "ids", "hash"):
        table.add_column(col, overflow="fold")
    for e in entries:
        ids = ", ".join(f"{k}={_short(v)}" for k, v in e.items()
                        if k not in ("seq", "time", "event", "prev", "hash") and v not in (None, ""))
        table.add_row(str(e.get("seq")), str(e.get("time")), str(e.get("event")), ids, str(e.get("hash", ""))[:16])
    ui.out.print(table)


def _short(v: Any) -> str:
    s = str(v)
    return s[:16] + "…" if len(s) == 64 and all(c in "0123456789abcdef" for c in s) else s


@journal_app.command("verify")
def journal_verify(
    file: Optional[Path] = typer.Argument(None, help="Journal file or workspace folder (default as for --journal)."),
    receipts: list[Path] = typer.Option([], "--receipt", help="Receipt or ack JSON whose recorded journal head "
                                                              "must still be there (catches a cut tail)."),
    as_json: bool = JSON_OPT,
) -> None:
    """Check the hash chain; name the first broken entry. Exit 0 intact, 3 broken or truncated."""
    from dossierkit.trace.receipt import check_document, check_journal_against, load_document
    from dossierkit.trace import journal as jr

    path = _journal_path(file)
    report = jr.verify(path)
    docs = []
    for r in receipts:
        doc, raw = load_document(r)
        check_document(doc, raw)  # an anchor only counts from a genuine document
        docs.append(doc)
    report.anchors = check_journal_against(path, docs, report) if docs else None
    ok = report.ok and all(a["ok"] for a in report.anchors or [])
    if as_json:
        ui.emit_json(report.to_dict() | {"ok": ok})
    else:
        if report.ok:
            ui.out.print(f"journal hash chain intact: {report.entries} entries, head {report.head.seq} "
                         f"{report.head.hash}", markup=False)
        else:
            ui.error_line(f"journal broken: {report.problem}")
        for a in report.anchors or []:
            if a["ok"]:
                ui.out.print(f"{a['document']}: anchor at entry {a['anchor']['seq']} present", markup=False)
            else:
                ui.error_line(a["problem"])
    raise typer.Exit(ExitCode.OK if ok else ExitCode.INTEGRITY)


# ---------------------------------------------------------------------------
# Used by package_cmds: `pack --receipt …` and the journal entries of
# pack / verify / unpack.

RECEIPT_OUT_OPT = typer.Option(None, "--receipt", help="Also issue the transmission receipt (JSON + PDF) in this "
                                                       "folder or FILE.json; needs --channel.")
CHANNEL_OPT = typer.Option(None, "--channel", help="With --receipt: usb-patient, mssante, sftp or hand.")
TO_OPT = typer.Option([], "--to", help="With --receipt: recipient (repeatable; default: the second-opinion "
                                       "practitioner).")
COPY_OPT = typer.Option(None, "--copy", help="With --receipt: copy to (repeatable, or none; default: initial "
                                             "physician and treating GP, minus the patient's restrictions).")


def check_receipt_options(receipt_out: Optional[Path], channel: Optional[str]) -> None:
    """Fail before packing, not after, on incomplete receipt options."""
    from dossierkit.errors import UsageError
    from dossierkit.trace.receipt import CHANNELS

    if receipt_out is not None and channel is None:
        raise UsageError("--receipt needs --channel (usb-patient, mssante, sftp or hand)")
    if channel is not None and channel not in CHANNELS:
        raise UsageError(f"unknown channel {channel!r} — use one of {', '.join(CHANNELS)}")
    if channel is not None and receipt_out is None:
        raise UsageError("--channel goes with --receipt FOLDER")


def after_pack(res, *, directory: Path, key, reason: Optional[str], journal_file: Optional[Path],
               receipt_out: Optional[Path], channel: Optional[str], to: list[str],
               copy: Optional[list[str]]) -> Optional[dict[str, Any]]:
    """Journal the pack; issue the receipt when asked. Returns the receipt summary."""
    from dossierkit.trace.journal import resolve_path
    from dossierkit.trace.flows import pack_event, receipt_after_pack, record

    record(journal_file, pack_event(res), workspace=directory, warn=ui.note)
    if receipt_out is None:
        return None
    issued = receipt_after_pack(res, channel=channel, out=receipt_out, key=key, workspace=directory, reason=reason,
                                to=to or None, copies=copy,
                                journal_path=resolve_path(journal_file, workspace=directory))
    return issued.to_dict()


def after_verify(report, journal_file: Optional[Path], event: str = "verify") -> None:
    from dossierkit.trace.flows import record, verify_event

    record(journal_file, verify_event(report, event), warn=ui.note)
