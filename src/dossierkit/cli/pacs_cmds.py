"""CLI: ``pacs echo``, ``pacs find``, ``deliver`` and the PACS route of ``import-images``
(library: :mod:`dossierkit.gather.pacs.gather`, :mod:`dossierkit.trace.deliver`; docs/pacs.md)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer
from rich.table import Table

from dossierkit.cli import app, options, ui
from dossierkit.trace.secrets import SecretSources

if TYPE_CHECKING:
    from dossierkit.gather.pacs.gather import PacsImportReport
    from dossierkit.trace.deliver import DeliverReport

# The PACS library (pydicom, pynetdicom, requests, dicomweb-client) is imported by the commands that use it,
# not at start-up, which every other command would pay (docs/performance.md, "Imports kept out of start-up").

pacs_app = typer.Typer(help="Named PACS ($DOSSIERKIT_HOME/pacs.toml): echo, find.", no_args_is_help=True)
app.add_typer(pacs_app, name="pacs")

PATIENT_ID = typer.Option(None, "--patient-id", help="The patient's ID on that PACS.")
SINCE = typer.Option(None, "--since", metavar="YYYY-MM-DD", help="Studies on or after this date.")
MODALITY = typer.Option([], "--modality", help="Studies holding this modality (repeatable).")


@pacs_app.command("echo")
def echo_cmd(name: str = typer.Argument(..., help="PACS name in pacs.toml."), as_json: bool = options.JSON) -> None:
    """C-ECHO (DIMSE) or a QIDO-RS ping (DICOMweb). Exit 0 it answers, 7 it does not, 2 not configured."""
    from dossierkit.gather.pacs.gather import pacs_echo  # start-up cost: see the note at the top
    res = pacs_echo(name)
    if as_json:
        ui.emit_json(res.to_dict())
    else:
        ui.out.print(f"PACS {res.name} ({res.where}) answers the {res.kind} in {res.milliseconds:.0f} ms",
                     markup=False, highlight=False)


@pacs_app.command("find")
def find_cmd(name: str = typer.Argument(..., help="PACS name in pacs.toml."),
             patient_id: str = typer.Option(..., "--patient-id", help="The patient's ID on that PACS."),
             since: Optional[str] = SINCE, modality: list[str] = MODALITY, as_json: bool = options.JSON) -> None:
    """List a patient's studies on the PACS (C-FIND or QIDO-RS). Exit 0 found, 1 none, 7 PACS unreachable."""
    from dossierkit.gather.pacs.gather import find_studies  # start-up cost: see the note at the top
    rows = find_studies(name, patient_id=patient_id, since=since, modalities=modality)
    if as_json:
        ui.emit_json({"pacs": name, "patient_id": patient_id, "studies": [r.to_dict() for r in rows]})
    else:
        table = Table(title=f"{len(rows)} stud{'y' if len(rows) == 1 else 'ies'} on {name}")
        for col in ("date", "modalities", "description", "series", "images", "study UID"):
            table.add_column(col, overflow="fold")
        for r in rows:
            table.add_row(r.date or "", "/".join(r.modalities), r.description or "", str(r.series or ""),
                          str(r.instances or ""), r.study_instance_uid)
        ui.out.print(table)
    raise typer.Exit(0 if rows else 1)


def render_pacs_import(report: PacsImportReport, as_json: bool) -> int:
    data = report.to_dict()
    if as_json:
        ui.emit_json(data)
        return report.exit_code
    ui.out.print(f"PACS {data['pacs']} ({data['route']}): {len(data['studies'])} stud"
                 f"{'y' if len(data['studies']) == 1 else 'ies'}, {data['instances_on_pacs']} instance(s) listed, "
                 f"{data['already_in_workspace']} already in the workspace, {data['fetched']} fetched "
                 f"({data['bytes_fetched'] / 1e6:.1f} MB in {data['seconds']:.1f} s), {data['imported']} imported",
                 markup=False, highlight=False)
    for p in data["problems"]:
        ui.error_line(f"{p['kind']}: {p.get('file') or ''}: {p['reason']}")
    return report.exit_code


def pacs_import(directory: Path, pacs: str, study: list[str], patient_id: Optional[str], since: Optional[str],
                modality: list[str], move_to_self: bool, as_json: bool) -> None:
    """``import-images DIR --pacs NAME …`` (called by images_cmds)."""
    from dossierkit.gather.pacs.gather import import_from_pacs  # start-up cost: see the note at the top
    with ui.progress_for(not as_json) as progress:
        report = import_from_pacs(directory, pacs, study_uids=study, patient_id=patient_id, since=since,
                                  modalities=modality, move_to_self=move_to_self, progress=progress)
    raise typer.Exit(render_pacs_import(report, as_json))


def render_deliver(report: DeliverReport, as_json: bool) -> None:
    if as_json:
        ui.emit_json(report.to_dict())
        return
    c = report.counts()
    bad = [r for r in report.results if r.result not in ("stored", "already-present")]
    for r in bad:  # one line per image not delivered: the name stays whole at 80 columns
        ui.out.print(f"{r.name}: {r.result}" + (f" ({r.status})" if r.status else "") + f" — {r.reason}",
                     markup=False, highlight=False)
    ui.out.print(f"PACS {report.pacs} ({report.route}): {c['instances']} image(s) in the manifest — {c['stored']} "
                 f"stored, {c['already_present']} already present, {c['refused'] + c['not_found_after_store']} "
                 "not delivered", markup=False, highlight=False)


@app.command("deliver")
def deliver_cmd(
    package: Path = typer.Argument(..., help="Package file."),
    pacs: str = typer.Option(..., "--pacs", help="Receiving PACS (name in pacs.toml)."),
    patient_id: Optional[str] = typer.Option(None, "--patient-id", help="PatientID in the copies sent (the package "
                                                                         "is not changed)."),
    issuer: Optional[str] = typer.Option(None, "--issuer", help="With --patient-id: IssuerOfPatientID."),
    password_file: Optional[Path] = options.PASSWORD_FILE, password_env: Optional[str] = options.PASSWORD_ENV,
    identity: Optional[Path] = options.IDENTITY, expect_signer: Optional[str] = options.EXPECT_SIGNER,
    trust_store: Optional[Path] = options.TRUST_STORE, ca_file: Optional[Path] = options.CA_FILE,
    journal_file: Optional[Path] = options.JOURNAL, as_json: bool = options.JSON,
) -> None:
    """Verify the package, then send every image of its manifest into the PACS (C-STORE or STOW-RS).
    Exit 0 only if every image is in the PACS; 7 some refused or PACS unreachable; 3 does not verify."""
    from dossierkit.trace.deliver import deliver_package  # start-up cost: see the note at the top
    secrets = SecretSources(password_file=password_file, password_env=password_env, identity=identity,
                            password_prompt=ui.passphrase_prompt(not as_json), default_identity=True)
    with ui.progress_for(not as_json) as progress:
        report = deliver_package(package, pacs, secrets, expect_signer=expect_signer, patient_id=patient_id,
                                 issuer=issuer, journal_file=journal_file, progress=progress, warn=ui.warning,
                                 trust_store=trust_store, ca_file=ca_file)
    render_deliver(report, as_json)
    raise typer.Exit(report.exit_code)


def unpack_deliver(package: Path, dest: Path, pacs: str, secrets: SecretSources, *, expect_signer: Optional[str],
                   force: bool, journal_file: Optional[Path], trust_store: Optional[Path], ca_file: Optional[Path],
                   as_json: bool) -> None:
    """``unpack PACKAGE DEST --deliver PACS`` (called by package_cmds)."""
    from dossierkit.trace.deliver import unpack_and_deliver  # start-up cost: see the note at the top

    with ui.progress_for(not as_json) as progress:
        result, report = unpack_and_deliver(package, dest, pacs, secrets, expect_signer=expect_signer, force=force,
                                            journal_file=journal_file, progress=progress, warn=ui.warning,
                                            trust_store=trust_store, ca_file=ca_file)
    if as_json:
        ui.emit_json({"unpacked": str(result.destination), "deliver": report.to_dict()})
    else:
        ui.out.print(f"unpacked and verified: {result.destination}", markup=False, highlight=False)
        render_deliver(report, False)
    raise typer.Exit(report.exit_code)
