"""CLI commands: pack, verify, unpack (library: dossierkit.package)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Optional

import typer

from dossierkit.errors import ExitCode, UsageError
from dossierkit.cli import app, trace_cmds, ui

JSON_OPT = typer.Option(False, "--json", help="Write one JSON document to stdout (no progress, no prompts).")
PASSWORD_FILE_OPT = typer.Option(None, "--password-file", help="Read the passphrase from the first line of FILE.")
PASSWORD_ENV_OPT = typer.Option(None, "--password-env", metavar="VAR",
                                help="Read the passphrase from environment variable VAR.")
IDENTITY_OPT = typer.Option(None, "--identity", "-i", help="age identity file for a recipients package (default: "
                                                           "the keys folder's age-identity.txt).")
SIGNER_OPT = typer.Option(None, "--expect-signer", metavar="FINGERPRINT",
                          help="Fail unless the manifest is signed by this key (16+ hex digits).")


def _prompt(confirm: bool):
    """A hidden prompt, only when a person is at the terminal."""
    if not sys.stdin.isatty():
        return None

    def ask() -> str:
        return typer.prompt("Passphrase / mot de passe", hide_input=True, confirmation_prompt=confirm)

    return ask


def _password(password_file: Path | None, password_env: str | None, *, confirm: bool, interactive: bool) -> str:
    from dossierkit.archive.passphrase import read_password

    prompt = _prompt(confirm) if interactive else None
    if password_file is None and password_env is None and prompt is None:
        raise UsageError("this package needs a passphrase",
                         hint="give --password-file FILE or --password-env VAR (never on the command line)")
    return read_password(password_file, password_env, prompt)


def _open_secrets(package: Path, password_file: Path | None, password_env: str | None, identity: Path | None,
                  *, interactive: bool) -> dict[str, Any]:
    """``verify_package`` keyword arguments for the package's container kind
    (trace.open_secrets), or one clear line saying which secret is missing."""
    from dossierkit.archive.container import PASSWORD, package_kind
    from dossierkit.trace.flows import open_secrets

    secrets = open_secrets(package, password_file=password_file, password_env=password_env,
                           password_prompt=_prompt(False) if interactive else None, identity=identity,
                           default_identity=True)
    if secrets:
        return secrets
    if package_kind(package) == PASSWORD:
        raise UsageError("this package needs a passphrase",
                         hint="give --password-file FILE or --password-env VAR (never on the command line)")
    raise UsageError("this package is encrypted for age recipients",
                     hint="give the recipient's identity file with --identity FILE")


def _say(text: object) -> None:
    ui.out.print(text, highlight=False)


def _report_table(report) -> None:
    from rich.table import Table

    data = report.to_dict()
    table = Table(title=f"dossierkit verify — {report.package.name}")
    table.add_column("check")
    table.add_column("status")
    for check, status in data["checks"].items():
        style = {"ok": "green", "failed": "bold red"}.get(status, "yellow")
        table.add_row(check, f"[{style}]{status}[/]")
    ui.out.print(table)
    if report.failures:
        failures = Table(title="failures")
        for col in ("check", "file", "message"):
            failures.add_column(col, overflow="fold")
        for f in report.failures:
            failures.add_row(f.check, f.file or "", f.message)
        _say(failures)
    c = data["completeness"]
    if c.get("status") == "incomplete":
        _say(f"[yellow]packed incomplete[/]: waived {', '.join(c.get('waived') or [])} — "
                     f"reason: {c.get('reason')}")


@app.command("pack")
def pack_cmd(
    directory: Path = typer.Argument(..., help="Workspace folder."),
    out: Path = typer.Option(..., "--output", "-o", help="Package file to create (e.g. dossier.zip or dossier.age). "
                                                         "Name it neutrally: the name is visible."),
    password_file: Optional[Path] = PASSWORD_FILE_OPT,
    password_env: Optional[str] = PASSWORD_ENV_OPT,
    generate_password: bool = typer.Option(False, "--generate-password",
                                           help="Generate a passphrase (≥ 80 bits); printed once, or written to "
                                                "--password-out."),
    password_out: Optional[Path] = typer.Option(None, "--password-out",
                                                help="With --generate-password: write it to this new file (0600)."),
    weak_password_ok: bool = typer.Option(False, "--weak-password-ok",
                                          help="Accept a password estimated under 60 bits."),
    recipient: list[str] = typer.Option([], "--recipient", "-r", help="age recipient age1… (repeatable): "
                                                                      "encrypt for keys instead of a password."),
    recipients_file: Optional[Path] = typer.Option(None, "--recipients-file", help="File of age1… recipients."),
    signing_key: Optional[Path] = typer.Option(None, "--signing-key", help="Ed25519 signing key (default: the keys "
                                                                           "folder's signing-key.pem)."),
    allow_incomplete: bool = typer.Option(False, "--allow-incomplete", help="Pack despite check errors (needs "
                                                                            "--reason; recorded in the manifest)."),
    reason: Optional[str] = typer.Option(None, "--reason", help="Why the dossier is sent incomplete."),
    profile: Optional[str] = typer.Option(None, "--profile", "-p", help="Check profile (default: the dossier's)."),
    force: bool = typer.Option(False, "--force", help="Replace an existing package file."),
    no_readme: bool = typer.Option(False, "--no-readme", help="Do not write LISEZMOI-README.TXT beside the "
                                                              "package."),
    receipt_out: Optional[Path] = trace_cmds.RECEIPT_OUT_OPT,
    channel: Optional[str] = trace_cmds.CHANNEL_OPT,
    to: list[str] = trace_cmds.TO_OPT,
    copy: Optional[list[str]] = trace_cmds.COPY_OPT,
    journal_file: Optional[Path] = trace_cmds.JOURNAL_OPT,
    as_json: bool = JSON_OPT,
) -> None:
    """Check, then build the encrypted, signed package; it is read back and verified before success."""
    from dossierkit.trust.keys import load_signing_key
    from dossierkit.package.pack import pack
    from dossierkit.archive.passphrase import check_password_strength, generate_passphrase, write_password_file

    trace_cmds.check_receipt_options(receipt_out, channel)

    wants_password = bool(password_file or password_env or generate_password)
    if (recipient or recipients_file) and wants_password:
        raise UsageError("choose either a password or age recipients, not both")
    if password_out and not generate_password:
        raise UsageError("--password-out goes with --generate-password")
    if generate_password and (password_file or password_env):
        raise UsageError("--generate-password replaces --password-file/--password-env")
    recipients: list[Any] | None = None
    password: str | None = None
    generated = None
    if recipient or recipients_file:
        from dossierkit.archive.agefile import Recipient, load_recipients

        recipients = [Recipient.from_str(r) for r in recipient]
        if recipients_file:
            recipients += load_recipients(recipients_file)
    elif generate_password:
        if as_json and not password_out:
            raise UsageError("with --json the generated passphrase must go to a file",
                             hint="add --password-out FILE (created 0600)")
        generated = generate_passphrase()
        password = generated.text
    else:
        password = _password(password_file, password_env, confirm=True, interactive=not as_json)
        check_password_strength(password, weak_ok=weak_password_ok)
    key = load_signing_key(signing_key)
    if generated is not None and password_out:
        write_password_file(password_out, generated.text)  # before packing: never a package without its key
    with ui.progress_for(not as_json) as progress:
        res = pack(directory, out, signing_key=key, password=password, recipients=recipients,
                   allow_incomplete=allow_incomplete, reason=reason, force=force, profile=profile,
                   write_readme=not no_readme, progress=progress)
    receipt = trace_cmds.after_pack(res, directory=directory, key=key, reason=reason, journal_file=journal_file,
                                    receipt_out=receipt_out, channel=channel, to=to, copy=copy)
    if as_json:
        d = res.to_dict()
        if password_out:
            d["password_file"] = str(password_out)
        if receipt:
            d["receipt"] = receipt
        ui.emit_json(d)
        return
    c = res.counts
    _say(f"[green]package written and verified[/]: {res.package}")
    how = "WinZip AES-256 zip: open with 7-Zip" if res.container == "password" else f"age, {res.recipients} " \
        "recipient(s)"
    _say(f"  container:   {res.container} ({how})")
    _say(f"  contents:    {c['documents']} documents, {c['studies']} studies, {c['series']} series, "
                 f"{c['instances']} images ({c['bytes'] / 1e6:.1f} MB)")
    _say(f"  completeness: {res.completeness}" + (f" (waived: {', '.join(res.waived)})" if res.waived else ""))
    _say(f"  SHA-256:     {res.sha256}")
    _say(f"  signer:      {res.signer_fingerprint}")
    _say(f"  time:        {res.seconds:.1f} s ({res.mb_per_s:.0f} MB/s)")
    if res.readme:
        _say(f"  readme:      {res.readme}")
    if receipt:
        _say(f"  receipt:     {receipt['id']}: {receipt['json']}, {receipt['pdf']}")
    if generated is not None:
        if password_out:
            _say(f"  passphrase:  written to {password_out} (0600)")
        else:
            ui.err.print("\nPassphrase (shown once — give it separately from the package / transmettez-la "
                         "séparément du paquet):", style="bold")
            ui.err.print(f"    {generated.text}\n", markup=False, highlight=False)


@app.command("verify")
def verify_cmd(
    package: Path = typer.Argument(..., help="Package file."),
    password_file: Optional[Path] = PASSWORD_FILE_OPT,
    password_env: Optional[str] = PASSWORD_ENV_OPT,
    identity: Optional[Path] = IDENTITY_OPT,
    expect_signer: Optional[str] = SIGNER_OPT,
    journal_file: Optional[Path] = trace_cmds.JOURNAL_OPT,
    as_json: bool = JSON_OPT,
) -> None:
    """Decrypt in streaming and check every hash, the signature, the DICOMDIR and the completeness.
    Exit 0 only if all hold (3 otherwise, 4 for a wrong password or key)."""
    from dossierkit.package.verify import verify_package

    secrets = _open_secrets(package, password_file, password_env, identity, interactive=not as_json)
    with ui.progress_for(not as_json) as progress:
        report = verify_package(package, expect_signer=expect_signer, progress=progress, **secrets)
    trace_cmds.after_verify(report, journal_file)
    if as_json:
        ui.emit_json(report.to_dict())
    else:
        _report_table(report)
        if report.ok:
            _say(f"[green]verified[/]: signed by {report.signer_fingerprint}; "
                         f"SHA-256 {report.package_sha256}")
        else:
            _say(f"[bold red]NOT verified[/]: {len(report.failures)} failure(s)")
    raise typer.Exit(ExitCode.OK if report.ok else ExitCode.INTEGRITY)


@app.command("unpack")
def unpack_cmd(
    package: Path = typer.Argument(..., help="Package file."),
    dest: Path = typer.Argument(..., help="Folder to create with the package's contents."),
    password_file: Optional[Path] = PASSWORD_FILE_OPT,
    password_env: Optional[str] = PASSWORD_ENV_OPT,
    identity: Optional[Path] = IDENTITY_OPT,
    expect_signer: Optional[str] = SIGNER_OPT,
    force: bool = typer.Option(False, "--force", help="Replace DEST if it exists (only once the package verified)."),
    journal_file: Optional[Path] = trace_cmds.JOURNAL_OPT,
    as_json: bool = JSON_OPT,
) -> None:
    """Verify, then extract safely: all or nothing, no path traversal, no links, bounded sizes."""
    from dossierkit.package.unpack import unpack_package

    secrets = _open_secrets(package, password_file, password_env, identity, interactive=not as_json)
    with ui.progress_for(not as_json) as progress:
        res = unpack_package(package, dest, expect_signer=expect_signer, force=force, progress=progress, **secrets)
    trace_cmds.after_verify(res.report, journal_file, "unpack")
    if as_json:
        ui.emit_json(res.to_dict())
    else:
        r = res.report
        _say(f"[green]verified and extracted[/]: {res.destination} ({r.counts.get('files', 0) + 3} files; "
                     f"signed by {r.signer_fingerprint})")
        _say(f"  open {res.destination / 'INDEX.HTM'} in a browser; import {res.destination / 'DICOMDIR'} "
                     "into the PACS")
