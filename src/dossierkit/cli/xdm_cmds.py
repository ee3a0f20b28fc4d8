"""CLI command: export-xdm (the documents as an IHE XDM zip for an MSSanté message)."""

from __future__ import annotations

from pathlib import Path

import typer

from dossierkit.cli import app, options, ui
from dossierkit.package.xdm_export import export_xdm


@app.command("export-xdm")
def export_xdm_cmd(
    directory: Path = typer.Argument(..., help="Workspace folder."),
    out: Path = typer.Option(..., "--output", "-o", help="The zip to write, e.g. IHE_XDM.ZIP."),
    force: bool = typer.Option(False, "--force", help="Replace an existing file."),
    as_json: bool = options.JSON,
) -> None:
    """The documents (no images) as an IHE XDM zip to attach to an MSSanté message; prints its subject line."""
    with ui.progress_for(not as_json) as progress:
        result = export_xdm(directory, out, force=force, progress=progress)
    if as_json:
        ui.emit_json(result.to_dict())
        return
    for warning in result.warnings:
        ui.note(f"warning: {warning}")
    ui.out.print(f"Écrit / written: {result.path} ({result.documents} document(s), {result.size} octets / bytes)",
                 highlight=False, markup=False)
    ui.out.print("Objet du message MSSanté / MSSanté message subject:", highlight=False)
    ui.out.print(result.subject, highlight=False, markup=False, soft_wrap=True)
    ui.out.print("Zip non chiffré (identité du patient) : joignez-le au message MSSanté,\npuis supprimez-le. "
                 "/ Plain zip (patient identity): attach it to the MSSanté\nmessage, then delete it.",
                 highlight=False, markup=False)
