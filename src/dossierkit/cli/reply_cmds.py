"""CLI of the way back (issue #17): ``reply init``, ``reply restrict``, ``reply pack``.
Library: :mod:`dossierkit.trace.reply`; docs/traceability.md, docs/guide-staff.md."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from dossierkit import localtime
from dossierkit.cli import app, options, ui
from dossierkit.trace.reply import ReplyPackRequest, init_reply, reply_pack_requested, restrict_reply
from dossierkit.trace.secrets import SecretSources

reply_app = typer.Typer(no_args_is_help=True, help="The second opinion's way back: reply init / restrict / pack.")
app.add_typer(reply_app, name="reply")


@reply_app.command("init")
def reply_init(
    directory: Path = typer.Argument(..., help="New folder for the reply workspace."),
    package: Path = typer.Option(..., "--from-package", help="The dossier package received."),
    password_file: Optional[Path] = options.PASSWORD_FILE,
    password_env: Optional[str] = options.PASSWORD_ENV,
    identity: Optional[Path] = options.IDENTITY,
    expect_signer: Optional[str] = options.EXPECT_SIGNER,
    trust_store: Optional[Path] = options.TRUST_STORE,
    ack_file: Optional[Path] = typer.Option(None, "--ack", help="Our acknowledgement of the package (default: "
                                                                "found in the journal)."),
    journal_file: Optional[Path] = options.JOURNAL,
    as_json: bool = options.JSON,
) -> None:
    """Verify the package received and start the reply from its signed manifest."""
    secrets = SecretSources(password_file=password_file, password_env=password_env, identity=identity,
                            password_prompt=ui.passphrase_prompt(not as_json), default_identity=True)
    with ui.progress_for(not as_json) as progress:
        started = init_reply(directory, package, secrets, expect_signer=expect_signer, ack_file=ack_file,
                             journal_file=journal_file, progress=progress, warn=ui.warning, trust_store=trust_store)
    _report_init(started.to_dict(), as_json)


def _report_init(d: dict, as_json: bool) -> None:
    if as_json:
        ui.emit_json(d)
        return
    ui.out.print(f"reply workspace {d['workspace']} (dossier {d['dossier_id']})", markup=False)
    ui.out.print(f"  answers dossier {d['reply_to']['dossier_id']}, package SHA-256:\n"
                 f"    {d['reply_to']['package_sha256']}", markup=False)
    ui.out.print(f"  restrictions: {', '.join(d['restrictions']) or 'none'}", markup=False)
    ui.out.print(f"  addressees: {', '.join(d['addressees'])}", markup=False)


@reply_app.command("restrict")
def reply_restrict(
    directory: Path = typer.Argument(..., help="Reply workspace."),
    recorded_by: str = typer.Option(..., "--recorded-by", help="Who recorded the patient's request (name)."),
    restriction: str = typer.Option("no-copy-to-initial-physician", "--restriction", help="Restriction code."),
    journal_file: Optional[Path] = options.JOURNAL,
    as_json: bool = options.JSON,
) -> None:
    """Record the patient's refusal (who recorded it, when): the person is left out of every addressee list."""
    record = restrict_reply(directory, recorded_by=recorded_by, restriction=restriction, journal_file=journal_file)
    if as_json:
        ui.emit_json(record.to_dict())
        return
    when = localtime.on_screen(record.recorded_at)
    ui.out.print(f"restriction {record.code} recorded by {record.recorded_by} on {when}", markup=False)


@reply_app.command("pack")
def reply_pack(
    directory: Path = typer.Argument(..., help="Reply workspace."),
    out: Path = typer.Option(..., "--output", "-o", help="Folder: one sub-folder per addressee, passwords/, "
                                                         "receipts/."),
    channel: str = typer.Option(..., "--channel", help="usb-patient, mssante, sftp or hand."),
    recipient: list[str] = typer.Option([], "--recipient", help="ROLE=age1… (repeatable): that addressee's age "
                                                                "key; others get their own passphrase."),
    password_file: Optional[Path] = typer.Option(None, "--password-file", help="One passphrase for all "
                                                                               "addressees (one package)."),
    password_env: Optional[str] = typer.Option(None, "--password-env", metavar="VAR",
                                               help="The same, from environment variable VAR."),
    to: list[str] = typer.Option([], "--to", help="Extra addressee (repeatable); a protected person is refused."),
    signing_key: Optional[Path] = options.SIGNING_KEY,
    allow_incomplete: bool = typer.Option(False, "--allow-incomplete", help="Pack despite errors (needs --reason)."),
    reason: Optional[str] = typer.Option(None, "--reason", help="Why an incomplete reply is sent."),
    journal_file: Optional[Path] = options.JOURNAL,
    as_json: bool = options.JSON,
) -> None:
    """Pack the reply for its derived addressees, one package and receipt per addressee."""
    request = ReplyPackRequest(channel=channel, recipients=recipient, password_file=password_file,
                               password_env=password_env, to=to,
                               signing_key=signing_key, allow_incomplete=allow_incomplete, reason=reason,
                               journal_file=journal_file)
    with ui.progress_for(not as_json) as progress:
        packed = reply_pack_requested(directory, out, request, progress=progress, warn=ui.warning)
    _report_pack(packed.to_dict(), as_json)


def _report_pack(packed: dict, as_json: bool) -> None:
    if as_json:
        ui.emit_json(packed)
        return
    for p in packed["packages"]:
        ui.out.print(f"{', '.join(p['addressees'])}: {p['package']} ({p['container']})", markup=False)
        if p["password_file"]:
            ui.out.print(f"  passphrase (hand it separately): {p['password_file']}", markup=False)
        if p["receipt"]:
            ui.out.print(f"  receipt {p['receipt']['id']}: {p['receipt']['pdf'] or p['receipt']['json']}",
                         markup=False)
    for code in packed["withheld"]:
        ui.out.print(f"restriction {code}: the protected person is left out of every addressee list", markup=False)
