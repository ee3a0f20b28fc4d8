"""CLI commands on the workspace: init, set, list, add, set-document, remove, check, demo."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from dossierkit.check import run_checks
from dossierkit.cli import app, options, ui
from dossierkit.demo import run_demo
from dossierkit.errors import ExitCode
from dossierkit.gather.documents import AddedDocuments, add_documents_checked, edit_document, remove_documents
from dossierkit.workspace import Contents, DossierChanges, create_workspace, list_contents, update_dossier

WS = typer.Argument(..., metavar="WS", help="Workspace folder.")
# The dossier's fields, shared by `init` and `set` (docs/dossier-toml.md).
FAMILY_NAME = typer.Option(None, "--family-name", help="Patient family name (nom de naissance or usage).")
GIVEN_NAMES = typer.Option(None, "--given-names", help="Patient given names, space separated.")
BIRTH_DATE = typer.Option(None, "--birth-date", metavar="YYYY-MM-DD", help="Patient birth date.")
SEX = typer.Option(None, "--sex", metavar="F|M|O|U", help="Patient sex.")
PATIENT_ID = typer.Option(None, "--patient-id", help="Patient identifier (INS or local IPP).")
ID_SYSTEM = typer.Option(None, "--id-system", help="Identifier system: INS-NIR, INS-NIA, IPP (default), OTHER.")
OTHER_ID = typer.Option([], "--other-id", help="The patient's ID at another establishment, as found in its images' "
                                               "PatientID (repeatable).")
INITIAL_PHYSICIAN = typer.Option(None, "--initial-physician", help="Initial physician's name.")
TREATING_GP = typer.Option(None, "--treating-gp", help="Treating GP's name.")
SECOND_OPINION = typer.Option(None, "--second-opinion", help="Second practitioner or establishment.")
SENDER = typer.Option(None, "--sender", help="Who sends the dossier (name, service).")
CONSENT_DATE = typer.Option(None, "--consent-date", metavar="YYYY-MM-DD", help="Date the patient consented to "
                                                                               "transmit.")
CONSENT_BY = typer.Option(None, "--consent-by", help="Who gave consent (patient, legal representative…).")
RESTRICTION = typer.Option([], "--restriction", help="e.g. no-copy-to-initial-physician (repeatable).")


@app.command("init")
def init_cmd(
    directory: Path = typer.Argument(..., metavar="WS", help="Workspace folder to create."),
    from_toml: Optional[Path] = typer.Option(None, "--from", help="A dossier.toml-shaped file to start from."),
    family_name: Optional[str] = FAMILY_NAME, given_names: Optional[str] = GIVEN_NAMES,
    birth_date: Optional[str] = BIRTH_DATE, sex: Optional[str] = SEX,
    patient_id: Optional[str] = PATIENT_ID, id_system: Optional[str] = ID_SYSTEM, other_id: list[str] = OTHER_ID,
    initial_physician: Optional[str] = INITIAL_PHYSICIAN, treating_gp: Optional[str] = TREATING_GP,
    second_opinion: Optional[str] = SECOND_OPINION, sender: Optional[str] = SENDER,
    consent_date: Optional[str] = CONSENT_DATE, consent_by: Optional[str] = CONSENT_BY,
    restriction: list[str] = RESTRICTION,
    force: bool = typer.Option(False, "--force", help="Replace an existing dossier.toml (with a complete one)."),
    as_json: bool = options.JSON,
) -> None:
    """Create a dossier workspace from options and/or a TOML file."""
    changes = DossierChanges(family_name=family_name, given_names=given_names, birth_date=birth_date, sex=sex,
                             patient_id=patient_id, id_system=id_system, add_other_ids=other_id,
                             people={"initial_physician": initial_physician, "treating_gp": treating_gp,
                                     "second_opinion": second_opinion, "sender": sender},
                             consent_date=consent_date, consent_by=consent_by, add_restrictions=restriction)
    ws = create_workspace(directory, changes, from_toml=from_toml, force=force)
    if as_json:
        ui.emit_json({"workspace": str(ws.root), "dossier_id": ws.dossier.id})
    else:
        ui.say(f"workspace created: {ws.root} (dossier {ws.dossier.id}) — next: dossierkit add {ws.root} FILE.pdf…")


@app.command("set")
def set_cmd(
    directory: Path = WS,
    family_name: Optional[str] = FAMILY_NAME, given_names: Optional[str] = GIVEN_NAMES,
    birth_date: Optional[str] = BIRTH_DATE, sex: Optional[str] = SEX,
    patient_id: Optional[str] = PATIENT_ID, id_system: Optional[str] = ID_SYSTEM, other_id: list[str] = OTHER_ID,
    remove_other_id: list[str] = typer.Option([], "--remove-other-id", help="Take this ID out of the patient's."),
    initial_physician: Optional[str] = INITIAL_PHYSICIAN, treating_gp: Optional[str] = TREATING_GP,
    second_opinion: Optional[str] = SECOND_OPINION, sender: Optional[str] = SENDER,
    consent_date: Optional[str] = CONSENT_DATE, consent_by: Optional[str] = CONSENT_BY,
    restriction: list[str] = RESTRICTION,
    remove_restriction: list[str] = typer.Option([], "--remove-restriction", help="Lift this restriction."),
    as_json: bool = options.JSON,
) -> None:
    """Change the dossier's patient, people, IDs, consent or restrictions (dossier.toml, validated)."""
    changes = DossierChanges(family_name=family_name, given_names=given_names, birth_date=birth_date, sex=sex,
                             patient_id=patient_id, id_system=id_system, add_other_ids=other_id,
                             remove_other_ids=remove_other_id, consent_date=consent_date, consent_by=consent_by,
                             people={"initial_physician": initial_physician, "treating_gp": treating_gp,
                                     "second_opinion": second_opinion, "sender": sender},
                             add_restrictions=restriction, remove_restrictions=remove_restriction)
    changed = update_dossier(directory, changes)
    if as_json:
        ui.emit_json({"changed": [name for name, _old, _new in changed]})
    for name, old, new in [] if as_json else changed or [("nothing changed", None, None)]:
        ui.say(name if name == "nothing changed" else f"{name}: {new if new is not None else '(removed)'}"
               f"{f'  (was {old})' if old is not None else ''}")


@app.command("list")
def list_cmd(directory: Path = WS, as_json: bool = options.JSON) -> None:
    """What the dossier holds: documents (id, kind, date, title, original file name) and image series."""
    contents = list_contents(directory)
    if as_json:
        ui.emit_json(contents.to_dict())
    else:
        _report_list(contents)


def _report_list(contents: Contents) -> None:
    ui.say(f"Documents ({len(contents.documents)})", style="bold underline")
    ui.entries([(f"{d.id}  {d.kind}  {d.date or 'undated'}  {d.title or '(untitled)'}",
                 f"from {d.original_name}, {d.pages} page(s){'' if d.has_text else ', scanned (no text)'}")
                for d in contents.documents] or [("none — add them with `dossierkit add WS FILE.pdf…`", "")])
    ui.say(f"Image series ({len(contents.series)})", style="bold underline")
    ui.entries([(f"{s['study_date'] or 'undated'}  {s['modality'] or '?'}  {s['description'] or '(no description)'}"
                 f"  {s['images']} image(s)", f"study {s['study_instance_uid']} series {s['series_instance_uid']}"
                 f"{'; PatientID ' + ', '.join(s['patient_ids']) if s['patient_ids'] else ''}"
                 f"{'; from ' + ', '.join(s['sources']) if s['sources'] else ''}")
                for s in contents.series] or [("none — import them with `dossierkit import-images WS SOURCE`", "")])


@app.command("add")
def add_cmd(
    directory: Path = WS,
    files: list[Path] = typer.Argument(..., metavar="FILES...", help="PDF files to add."),
    kind: str = typer.Option("auto", "--kind", "-k",
                             help="rcp, pathology, imaging-report, operative-report, biology, treatment-plan, "
                                  "referral-letter, consultation, second-opinion-letter, other, or auto (guess from "
                                  "the text)."),
    title: Optional[str] = typer.Option(None, help="Document title (default: read from the PDF)."),
    date: Optional[str] = typer.Option(None, metavar="YYYY-MM-DD", help="Document date (default: read from the "
                                                                        "PDF)."),
    as_json: bool = options.JSON,
) -> None:
    """Add PDF documents (validated, copied under neutral names). All or nothing: one bad file adds none."""
    added = add_documents_checked(directory, files, kind=kind, title=title, date=date)
    if as_json:
        ui.emit_json(added.to_dict())
    else:
        _report_added(added)


def _report_added(added: AddedDocuments) -> None:
    for r in added.records:
        ui.say(f"added {r.id}: {r.kind} — {r.title or '(untitled)'} — {r.date or 'undated'}"
               f"{'' if r.has_text else ' (scanned: no extractable text)'}")
    for warning in added.warnings:
        ui.note(f"warning: {warning}")


@app.command("set-document")
def set_document_cmd(
    directory: Path = WS,
    doc_id: str = typer.Argument(..., metavar="DOC_ID", help="Document id, e.g. DOC0008 (see `dossierkit list`)."),
    kind: Optional[str] = typer.Option(None, "--kind", "-k", help="The document's kind (as for `add`)."),
    title: Optional[str] = typer.Option(None, "--title", help="The document's title."),
    date: Optional[str] = typer.Option(None, "--date", metavar="YYYY-MM-DD", help="The document's date."),
    as_json: bool = options.JSON,
) -> None:
    """Correct a document's kind, title or date (e.g. a scan's, which its text cannot give)."""
    record = edit_document(directory, doc_id, kind=kind, title=title, date=date)
    if as_json:
        ui.emit_json(record.to_dict())
    else:
        ui.say(f"{record.id}: {record.kind} — {record.title or '(untitled)'} — {record.date or 'undated'}")


@app.command("remove")
def remove_cmd(
    directory: Path = WS,
    ids: list[str] = typer.Argument(..., metavar="IDS...", help="Document ids to take out (e.g. DOC0003), see "
                                                                "`dossierkit list`."),
    as_json: bool = options.JSON,
) -> None:
    """Take documents out of the dossier (e.g. another patient's report)."""
    removed = remove_documents(directory, ids)
    if as_json:
        ui.emit_json({"removed": [r.id for r in removed]})
    else:
        for r in removed:
            ui.say(f"removed {r.id} ({r.kind}, from {r.original_name})")


@app.command("check")
def check_cmd(
    directory: Path = WS,
    profile: Optional[str] = typer.Option(None, "--profile", "-p", help="Profile name or .toml path."),
    as_json: bool = options.JSON,
) -> None:
    """Completeness and consistency checklist. Exit 0 complete, 1 incomplete, 2 bad input."""
    report = run_checks(directory, profile)
    data = report.to_dict()
    if as_json:
        ui.emit_json(data)
    else:
        ui.findings(data["findings"], title=f"dossierkit check — {report.profile}")
        c = data["counts"]
        style = "green" if report.complete else "bold red"
        ui.say(f"{report.status}: {c['error']} error(s), {c['warning']} warning(s), {c['info']} info", style=style)
    raise typer.Exit(ExitCode.OK if report.complete else ExitCode.INCOMPLETE)


@app.command("demo")
def demo_cmd(
    directory: Path = typer.Argument(Path("dossierkit-demo"), metavar="FOLDER", help="Where to build the demo "
                                                                                     "(recreated)."),
    as_json: bool = options.JSON,
) -> None:
    """Run the whole flow on the bundled sample dossier."""
    with ui.progress_for(not as_json) as progress:
        summary = run_demo(directory, progress=progress, log=(lambda _m: None) if as_json else ui.note)
    if as_json:
        ui.emit_json(summary)
    raise typer.Exit(summary.get("exit_code", 0))
