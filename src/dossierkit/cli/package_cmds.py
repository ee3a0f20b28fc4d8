"""CLI commands: pack, verify, unpack (library: dossierkit.trace.flows over
dossierkit.package; secrets: dossierkit.trace.secrets)."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from dossierkit.archive import how_to_type
from dossierkit.cli import app, options, pacs_cmds, ui
from dossierkit.errors import ExitCode
from dossierkit.package.unpack import UnpackResult
from dossierkit.package.verify import VerifyReport
from dossierkit.trace.flows import PackRequest, Packed, pack_requested, unpack_and_record, verify_and_record
from dossierkit.trace.secrets import SecretSources
from dossierkit.trust.signing import spaced_fingerprint

# Options of `pack` alone.
OUTPUT = typer.Option(..., "--output", "-o", help="Package file to create (e.g. dossier.zip or dossier.age). "
                                                  "Name it neutrally: the name is visible.")
GENERATE_PASSWORD = typer.Option(False, "--generate-password", help="Generate a passphrase (≥ 80 bits); printed "
                                                                    "once, or written to --password-out.")
PASSWORD_OUT = typer.Option(None, "--password-out", help="With --generate-password: write it to this new file "
                                                         "(0600).")
WEAK_PASSWORD_OK = typer.Option(False, "--weak-password-ok", help="Accept a password zxcvbn estimates under 10^18 guesses.")
RECIPIENT = typer.Option([], "--recipient", "-r", help="age recipient age1… (repeatable): encrypt for keys instead "
                                                       "of a password.")
RECIPIENTS_FILE = typer.Option(None, "--recipients-file", help="File of age1… recipients.")
ALLOW_INCOMPLETE = typer.Option(False, "--allow-incomplete", help="Pack despite check errors (needs --reason; "
                                                                  "recorded in the manifest).")
REASON = typer.Option(None, "--reason", help="Why the dossier is sent incomplete.")
PROFILE = typer.Option(None, "--profile", "-p", help="Check profile (default: the dossier's).")
REPLACE_PACKAGE = typer.Option(False, "--force", help="Replace an existing package file.")
SIGNING_CERT = typer.Option(None, "--signing-cert", help="Establishment X.509 certificate (PEM): also sign the "
                                                         "manifest as DOSSIER/MANIFEST.P7S (CMS).")
SIGNING_CERT_KEY = typer.Option(None, "--signing-cert-key", help="Its private key (PEM; default: in the "
                                                                 "--signing-cert file).")
NO_README = typer.Option(False, "--no-readme", help="Do not write LISEZMOI-README.TXT beside the package.")


def _say(text: object) -> None:
    ui.out.print(text, highlight=False)


@app.command("pack")
def pack_cmd(
    directory: Path = typer.Argument(..., metavar="WS", help="Workspace folder."), out: Path = OUTPUT,
    password_file: Optional[Path] = options.PASSWORD_FILE, password_env: Optional[str] = options.PASSWORD_ENV,
    generate_password: bool = GENERATE_PASSWORD, password_out: Optional[Path] = PASSWORD_OUT,
    weak_password_ok: bool = WEAK_PASSWORD_OK, recipient: list[str] = RECIPIENT,
    recipients_file: Optional[Path] = RECIPIENTS_FILE, signing_key: Optional[Path] = options.SIGNING_KEY,
    signing_cert: Optional[Path] = SIGNING_CERT, signing_cert_key: Optional[Path] = SIGNING_CERT_KEY,
    allow_incomplete: bool = ALLOW_INCOMPLETE, reason: Optional[str] = REASON, profile: Optional[str] = PROFILE,
    force: bool = REPLACE_PACKAGE, no_readme: bool = NO_README,
    receipt_out: Optional[Path] = options.RECEIPT_OUT, channel: Optional[str] = options.CHANNEL,
    to: list[str] = options.TO, copy: Optional[list[str]] = options.COPY,
    journal_file: Optional[Path] = options.JOURNAL, as_json: bool = options.JSON,
) -> None:
    """Check, then build the encrypted, signed package; it is read back and verified before success."""
    request = PackRequest(password_file=password_file, password_env=password_env, generate_password=generate_password,
                          password_out=password_out, weak_password_ok=weak_password_ok, recipients=recipient,
                          recipients_file=recipients_file, signing_key=signing_key, signing_cert=signing_cert,
                          signing_cert_key=signing_cert_key, allow_incomplete=allow_incomplete, reason=reason,
                          profile=profile, force=force, write_readme=not no_readme, receipt_out=receipt_out,
                          channel=channel, to=to, copies=copy, journal_file=journal_file)
    prompt = ui.passphrase_prompt(not as_json, confirm=True)
    with ui.progress_for(not as_json) as progress:  # the bar shows once packing starts, after any prompt
        packed = pack_requested(directory, out, request, password_prompt=prompt, can_show_passphrase=not as_json,
                                progress=progress, warn=ui.warning)
    _report_pack(packed, as_json)


def _report_pack(packed: Packed, as_json: bool) -> None:
    if as_json:
        ui.emit_json(packed.to_dict())
        return
    res, receipt, protection = packed.result, packed.receipt, packed.protection
    counts = res.counts
    _say(f"[green]package written and verified[/]: {res.package}")
    how = "WinZip AES-256 zip: open with 7-Zip" if res.container == "password" else f"age, {res.recipients} " \
        "recipient(s)"
    _say(f"  container:   {res.container} ({how})")
    _say(f"  contents:    {counts['documents']} documents, {counts['studies']} studies, {counts['series']} series, "
         f"{counts['instances']} images ({counts['bytes'] / 1e6:.1f} MB)")
    _say(f"  completeness: {res.completeness}" + (f" (waived: {', '.join(res.waived)})" if res.waived else ""))
    _say(f"  SHA-256:     {res.sha256}")
    groups = spaced_fingerprint(res.signer_fingerprint).split(" ")  # as the receipt prints it, within 80 columns
    _say(f"  signer:      {' '.join(groups[:8])}\n               {' '.join(groups[8:])}")
    _say(f"  time:        {res.seconds:.1f} s ({res.mb_per_s:.{0 if res.mb_per_s >= 10 else 1}f} MB/s)")
    if res.readme:
        _say(f"  readme:      {res.readme}")
    if receipt:
        _say(f"  receipt:     {receipt.id}\n               {receipt.json_path}\n               {receipt.pdf_path}")
    if protection.generated:
        if protection.password_out:
            _say(f"  passphrase:  written to {protection.password_out} (0600)")
        else:
            ui.err.print("\nPassphrase (shown once — give it separately from the package / transmettez-la "
                         "séparément du paquet):", style="bold")
            ui.err.print(f"    {protection.password}", markup=False, highlight=False)
            ui.err.print("\n".join(textwrap.fill(line, 78, initial_indent="  ", subsequent_indent="  ")
                                   for line in how_to_type(protection.password or "")) + "\n",
                         markup=False, highlight=False, soft_wrap=True)


@app.command("verify")
def verify_cmd(
    package: Path = typer.Argument(..., help="Package file."),
    password_file: Optional[Path] = options.PASSWORD_FILE,
    password_env: Optional[str] = options.PASSWORD_ENV,
    identity: Optional[Path] = options.IDENTITY,
    expect_signer: Optional[str] = options.EXPECT_SIGNER,
    trust_store: Optional[Path] = options.TRUST_STORE,
    ca_file: Optional[Path] = options.CA_FILE,
    journal_file: Optional[Path] = options.JOURNAL,
    as_json: bool = options.JSON,
) -> None:
    """Decrypt in streaming and check every hash, the signature and its sender, the DICOMDIR and the completeness.
    Exit 0 only if all hold (6 authentic but unknown sender, 3 otherwise, 4 for a wrong password or key)."""
    secrets = SecretSources(password_file=password_file, password_env=password_env, identity=identity,
                            password_prompt=ui.passphrase_prompt(not as_json), default_identity=True)
    with ui.progress_for(not as_json) as progress:
        report = verify_and_record(package, secrets, expect_signer=expect_signer, journal_file=journal_file,
                                   progress=progress, warn=ui.warning, trust_store=trust_store, ca_file=ca_file)
    _report_verify(report, as_json)
    raise typer.Exit(report.exit_code)


def _report_verify(report: VerifyReport, as_json: bool) -> None:
    data = report.to_dict()
    if as_json:
        ui.emit_json(data)
        return
    table = Table(title=f"dossierkit verify — {report.package.name}")
    table.add_column("check")
    table.add_column("status")
    for check, status in data["checks"].items():
        style = {"ok": "green", "failed": "bold red"}.get(status, "yellow")
        table.add_row(check, f"[{style}]{status}[/]")
    ui.out.print(table)
    if report.failures and report.verdict != "untrusted":
        failures = Table(title="failures")
        for col in ("check", "file", "message"):
            failures.add_column(col, overflow="fold")
        for failure in report.failures:
            failures.add_row(failure.check, failure.file or "", failure.message)
        _say(failures)
    if report.certificate:
        cert = report.certificate
        ui.say(f"  establishment certificate: {cert.name} ({cert.subject}; "
               f"{'chained to your CA' if cert.chained else 'not checked against a CA: give --ca-file'})")
    completeness = data["completeness"]
    if completeness.get("status") == "incomplete":
        ui.say(f"packed incomplete: waived {', '.join(completeness.get('waived') or [])} — "
               f"reason: {completeness.get('reason')}", style="yellow")
    if report.ok:
        ui.say(f"verified: signed by {report.signer.describe() if report.signer else '?'}; "  # wrapped at words
               f"SHA-256 {report.package_sha256}", style="green")
    elif report.verdict == "untrusted" and report.signer:
        _report_unknown_sender(report.signer.fingerprint, expected="expected signer" in report.failures[0].message)
    else:
        _say(f"[bold red]NOT verified[/]: {len(report.failures)} failure(s)")


def _report_unknown_sender(fingerprint: str, *, expected: bool) -> None:
    """Authentic, unknown sender (exit 6): the full fingerprint on two lines
    of 8 groups to compare with the printed receipt, then what to do."""
    groups = spaced_fingerprint(fingerprint).split(" ")
    _say("[bold yellow]authentic but NOT trusted[/] (exit 6): " + (
        "signed by another key than the expected signer" if expected else "the sender's key is not in your "
                                                                          "trust store"))
    _say(f"  signer key:  {' '.join(groups[:8])}\n               {' '.join(groups[8:])}")
    ui.say("  Compare these 16 groups with the fingerprint printed on the sender's receipt (or read them to the "
           "sender by phone).")  # wrapped at words at 80 columns
    ui.out.print(f"  If they match: dossierkit trust add {fingerprint} --name \"ESTABLISHMENT\"", markup=False,
                 highlight=False, soft_wrap=True)
    _say("  If not: do not use this package.")


@app.command("unpack")
def unpack_cmd(
    package: Path = typer.Argument(..., help="Package file."),
    dest: Path = typer.Argument(..., help="Folder to create with the package's contents."),
    password_file: Optional[Path] = options.PASSWORD_FILE,
    password_env: Optional[str] = options.PASSWORD_ENV,
    identity: Optional[Path] = options.IDENTITY,
    expect_signer: Optional[str] = options.EXPECT_SIGNER,
    trust_store: Optional[Path] = options.TRUST_STORE,
    ca_file: Optional[Path] = options.CA_FILE,
    force: bool = typer.Option(False, "--force", help="Replace DEST if it exists (only once the package verified)."),
    journal_file: Optional[Path] = options.JOURNAL,
    deliver: Optional[str] = typer.Option(None, "--deliver", metavar="PACS", help="Then send the images into this "
                                                                              "PACS (as `deliver`; docs/pacs.md)."),
    as_json: bool = options.JSON,
) -> None:
    """Verify, then extract safely: all or nothing, no path traversal, no links, bounded sizes."""
    secrets = SecretSources(password_file=password_file, password_env=password_env, identity=identity,
                            password_prompt=ui.passphrase_prompt(not as_json), default_identity=True)
    if deliver:
        pacs_cmds.unpack_deliver(package, dest, deliver, secrets, expect_signer=expect_signer, force=force,
                                 journal_file=journal_file, trust_store=trust_store, ca_file=ca_file,
                                 as_json=as_json)
    with ui.progress_for(not as_json) as progress:
        result = unpack_and_record(package, dest, secrets, expect_signer=expect_signer, force=force,
                                   journal_file=journal_file, progress=progress, warn=ui.warning,
                                   trust_store=trust_store, ca_file=ca_file)
    _report_unpack(result, as_json)


def _report_unpack(result: UnpackResult, as_json: bool) -> None:
    if as_json:
        ui.emit_json(result.to_dict())
        return
    report = result.report
    ui.say(f"verified and extracted: {result.destination} ({report.counts.get('files', 0) + 3} files; "
           f"signed by {report.signer.describe() if report.signer else '?'})")  # wrapped at words (80 columns)
    ui.say(f"  open {result.destination / 'INDEX.HTM'} in a browser; import {result.destination / 'DICOMDIR'} "
           "into the PACS")
