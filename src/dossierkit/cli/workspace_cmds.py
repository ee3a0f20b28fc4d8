"""CLI commands on the workspace: init, add, check, demo."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from dossierkit.check import run_checks
from dossierkit.cli import app, options, ui
from dossierkit.demo import run_demo
from dossierkit.errors import ExitCode
from dossierkit.gather.documents import add_documents, remove_documents
from dossierkit.workspace import Workspace, init_workspace, read_toml_file


@app.command("init")
def init_cmd(
    directory: Path = typer.Argument(..., help="Workspace folder to create."),
    from_toml: Optional[Path] = typer.Option(None, "--from", help="A dossier.toml-shaped file to start from."),
    family_name: Optional[str] = typer.Option(None, help="Patient family name (nom de naissance or usage)."),
    given_names: Optional[str] = typer.Option(None, help="Patient given names, space separated."),
    birth_date: Optional[str] = typer.Option(None, help="Patient birth date, YYYY-MM-DD."),
    sex: Optional[str] = typer.Option(None, help="F, M, O or U."),
    patient_id: Optional[str] = typer.Option(None, "--patient-id", help="Patient identifier (INS or local IPP)."),
    id_system: str = typer.Option("IPP", help="Identifier system: INS-NIR, INS-NIA, IPP, OTHER."),
    other_id: list[str] = typer.Option([], "--other-id", help="The patient's ID at another establishment, as found "
                                                              "in its images' PatientID (repeatable)."),
    initial_physician: Optional[str] = typer.Option(None, help="Initial physician's name."),
    treating_gp: Optional[str] = typer.Option(None, help="Treating GP's name."),
    second_opinion: Optional[str] = typer.Option(None, help="Second practitioner or establishment."),
    sender: Optional[str] = typer.Option(None, help="Who sends the dossier (name, service)."),
    consent_date: Optional[str] = typer.Option(None, help="Date the patient consented to transmit, YYYY-MM-DD."),
    consent_by: Optional[str] = typer.Option(None, help="Who gave consent (patient, legal representative…)."),
    restriction: list[str] = typer.Option([], "--restriction", help="e.g. no-copy-to-initial-physician."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing dossier.toml."),
    as_json: bool = options.JSON,
) -> None:
    """Create a dossier workspace from options and/or a TOML file."""
    data = read_toml_file(from_toml) if from_toml else {}
    patient = dict(data.get("patient", {}))
    for key, value in (("family_name", family_name), ("given_names", given_names), ("birth_date", birth_date),
                       ("sex", sex)):
        if value is not None:
            patient[key] = value
    if patient_id:
        patient["identifier"] = {"value": patient_id, "system": id_system}
    if other_id:
        patient["other_ids"] = sorted(set(patient.get("other_ids", [])) | set(other_id))
    data["patient"] = patient
    for key, value in (("initial_physician", initial_physician), ("treating_gp", treating_gp),
                       ("second_opinion", second_opinion), ("sender", sender)):
        if value:
            data[key] = {"name": value}
    if consent_date or consent_by:
        data["consent"] = {**data.get("consent", {}), "given": True,
                           **({"date": consent_date} if consent_date else {}),
                           **({"given_by": consent_by} if consent_by else {})}
    if restriction:
        data["restrictions"] = sorted(set(data.get("restrictions", [])) | set(restriction))
    ws = init_workspace(directory, data, force=force)
    if as_json:
        ui.emit_json({"workspace": str(ws.root), "dossier_id": ws.dossier.id})
    else:
        ui.note(f"workspace created: {ws.root} (dossier {ws.dossier.id})")


@app.command("add")
def add_cmd(
    directory: Path = typer.Argument(..., help="Workspace folder."),
    files: list[Path] = typer.Argument(..., help="PDF files to add."),
    kind: str = typer.Option("auto", "--kind", "-k",
                             help="rcp, pathology, imaging-report, operative-report, biology, treatment-plan, "
                                  "referral-letter, consultation, second-opinion-letter, other, or auto (guess from "
                                  "the text)."),
    title: Optional[str] = typer.Option(None, help="Document title (default: read from the PDF)."),
    date: Optional[str] = typer.Option(None, help="Document date YYYY-MM-DD (default: read from the PDF)."),
    as_json: bool = options.JSON,
) -> None:
    """Add PDF documents (validated, copied under neutral names)."""
    records = add_documents(Workspace(directory), files, kind=kind, title=title, date=date)
    if as_json:
        ui.emit_json({"added": [r.to_dict() for r in records]})
    else:
        for r in records:
            ui.note(f"added {r.id}: {r.kind} — {r.title or '(untitled)'} — {r.date or 'undated'}"
                    f"{'' if r.has_text else ' (scanned: no extractable text)'}")


@app.command("remove")
def remove_cmd(
    directory: Path = typer.Argument(..., help="Workspace folder."),
    ids: list[str] = typer.Argument(..., help="Document ids to take out (e.g. DOC0003), see `dossierkit check`."),
    as_json: bool = options.JSON,
) -> None:
    """Take documents out of the dossier (e.g. another patient's report)."""
    removed = remove_documents(directory, ids)
    if as_json:
        ui.emit_json({"removed": [r.id for r in removed]})
    else:
        for r in removed:
            ui.note(f"removed {r.id} ({r.kind})")


@app.command("check")
def check_cmd(
    directory: Path = typer.Argument(..., help="Workspace folder."),
    profile: Optional[str] = typer.Option(None, "--profile", "-p", help="Profile name or .toml path."),
    as_json: bool = options.JSON,
) -> None:
    """Completeness and consistency checklist. Exit 0 complete, 1 incomplete, 2 bad input."""
    report = run_checks(directory, profile)
    data = report.to_dict()
    if as_json:
        ui.emit_json(data)
    else:
        ui.out.print(ui.findings_table(data["findings"], title=f"dossierkit check — {report.profile}"))
        c = data["counts"]
        style = "green" if report.complete else "bold red"
        ui.out.print(f"[{style}]{report.status}[/]: {c['error']} error(s), {c['warning']} warning(s), "
                     f"{c['info']} info")
    raise typer.Exit(ExitCode.OK if report.complete else ExitCode.INCOMPLETE)


@app.command("demo")
def demo_cmd(
    directory: Path = typer.Argument(Path("dossierkit-demo"), help="Where to build the demo (recreated)."),
    as_json: bool = options.JSON,
) -> None:
    """Run the whole flow on the bundled sample dossier."""
    with ui.progress_for(not as_json) as progress:
        summary = run_demo(directory, progress=progress, log=(lambda _m: None) if as_json else ui.note)
    if as_json:
        ui.emit_json(summary)
    raise typer.Exit(summary.get("exit_code", 0))
