"""CLI: ``import-images`` (library: :func:`dossierkit.gather.import_images`) and
``remove-images`` (:func:`dossierkit.gather.image_removal.remove_images`)."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import typer
from rich.progress import (BarColumn, DownloadColumn, Progress as RichProgress, ProgressColumn, TextColumn,
                           TimeRemainingColumn, TransferSpeedColumn)
from rich.text import Text

from dossierkit.cli import app, options, pacs_cmds, ui
from dossierkit.errors import UsageError
from dossierkit.gather import import_images
from dossierkit.gather.image_removal import remove_images
from dossierkit.progress import NULL_PROGRESS


class _FileRateColumn(ProgressColumn):
    def render(self, task):  # type: ignore[override]
        files = task.fields.get("files", 0)
        rate = files / task.elapsed if task.elapsed else 0
        return Text(f"{files:,} files, {rate:,.0f}/s", style="progress.data.speed")


class _ImportBar:
    """Progress adapter showing bytes, bytes/s, files and files/s:
    ``import_images`` advances once per file by its size."""

    def __init__(self, bar: RichProgress):
        self.bar = bar
        self.task = None
        self.total: int | None = None
        self.files = 0

    def start(self, label: str, total: int | None = None, unit: str = "B") -> None:
        self.total = total
        self.task = self.bar.add_task(label, total=total, files=0)

    def advance(self, amount: int = 1) -> None:
        self.files += 1
        self.bar.update(self.task, advance=amount, files=self.files)

    def finish(self) -> None:
        if self.task is not None and self.total is not None:
            self.bar.update(self.task, completed=self.total)


@contextmanager
def _import_progress(enabled: bool):
    if not enabled or not ui.is_tty(ui.err):
        yield NULL_PROGRESS
        return
    # a short bar: the whole line stays within 80 columns (rich wraps the cells of a wider one)
    bar = RichProgress(TextColumn("{task.description}"), BarColumn(bar_width=12), DownloadColumn(),
                       TransferSpeedColumn(), _FileRateColumn(), TimeRemainingColumn(), console=ui.err)
    with bar:
        yield _ImportBar(bar)


def _size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1000
    return f"{n} B"


def _render(data: dict) -> None:
    out = ui.out
    secs = data["seconds"]
    out.print(f"Imported {data['imported']} image(s), {_size(data['bytes_copied'])}, from "
              f"{len(data['sources'])} source(s) in {secs:.1f} s — {data['files_per_second']:,.0f} files/s, "
              f"{_size(data['bytes_per_second'])}/s")
    if data["duplicates"]:
        out.print(f"Already present (same UID, same bytes): {data['duplicates']}")
    if data["restored"]:
        out.print(f"Restored (copies gone from the workspace or altered, copied again): {data['restored']}")
    if data["without_meta"]:
        out.print(f"[yellow]Without DICOM preamble/meta header (copied as found): {data['without_meta']}[/]")
    sk = data["skipped"]
    if sk["total"]:
        kinds = ", ".join(f"{k} {v}" for k, v in sk["by_type"].items())
        out.print(f"Skipped {sk['total']} non-image file(s): {kinds}")
    if data["problems"]:
        _render_problems(data["problems"])
    if data["study_list"]:
        ui.say(f"Workspace images: {data['patients']} patient{'' if data['patients'] == 1 else 's'}, "
               f"{data['studies']} stud{'y' if data['studies'] == 1 else 'ies'}, {data['series']} series, "
               f"{data['instances']} images", style="bold")
        for st in data["study_list"]:
            ui.say(f"  {st['date'] or 'undated'}  {'/'.join(st['modalities']) or '?'}  "
                   f"{st['description'] or '(no description)'} — {st['series']} series, {st['instances']} images")
    if data["nothing_found"]:
        why = "; ".join(s["why_nothing"] for s in data["sources"] if s.get("why_nothing"))
        ui.error_line("no DICOM image found in the sources" + (f": {why}" if why else ""))
    elif data["errors"]:
        ui.error_line(f"{data['errors']} file(s) not imported (see the problems above); "
                      "`dossierkit check` will report them")


PROBLEMS_SHOWN = 10  # a folder with many problems: the first ones, counts by kind, `check` has them all


def _render_problems(problems: list[dict]) -> None:
    kinds: dict[str, int] = {}
    for p in problems:
        kinds[p["kind"]] = kinds.get(p["kind"], 0) + 1
    ui.say(f"Problems ({len(problems)}): " + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())), style="bold")
    ui.entries([(f"{p['kind']}: {_relative(p.get('path') or p.get('file') or '', p.get('source'))}", p["reason"])
                for p in problems[:PROBLEMS_SHOWN]])
    if len(problems) > PROBLEMS_SHOWN:
        ui.say(f"… and {len(problems) - PROBLEMS_SHOWN} more: `dossierkit check WS` lists them all")


def _relative(file: str, source: str | None) -> str:
    """A file named from its source folder (``PAT1/IM0001``), not from the root of the disk."""
    if source and file.startswith(source.rstrip("/") + "/"):
        return file[len(source.rstrip("/")) + 1:]
    return file


@app.command("import-images")
def import_images_cmd(
    directory: Path = typer.Argument(..., help="Workspace folder."),
    sources: Optional[list[Path]] = typer.Argument(None, help="Folders, DICOMDIR files, zip files or DICOM files."),
    reset: bool = typer.Option(False, "--reset", help="Remove every image of the workspace first."),
    workers: Optional[int] = typer.Option(None, "--workers", min=1, max=16, help="1: no worker thread (default: one worker copies while the index is written)."),
    pacs: Optional[str] = typer.Option(None, "--pacs", help="Retrieve from this PACS (pacs.toml) instead; "
                                                            "see docs/pacs.md."),
    study: list[str] = typer.Option([], "--study", help="With --pacs: a Study Instance UID (repeatable)."),
    patient_id: Optional[str] = pacs_cmds.PATIENT_ID, since: Optional[str] = pacs_cmds.SINCE,
    modality: list[str] = pacs_cmds.MODALITY,
    move_to_self: bool = typer.Option(False, "--move-to-self", help="With --pacs: C-MOVE to our own storage SCP "
                                                                    "instead of C-GET."),
    as_json: bool = options.JSON,
) -> None:
    """Copy DICOM images bit-exact into the workspace and index them, or retrieve them from a PACS (--pacs).
    Exit 0 all imported, 1 some files not imported (corrupt, conflict) or none found, 2 bad source, 7 PACS."""
    if not pacs and (study or patient_id or since or modality or move_to_self):
        raise UsageError("--study, --patient-id, --since, --modality and --move-to-self go with --pacs NAME")
    if pacs:
        pacs_cmds.pacs_import(directory, pacs, study, patient_id, since, modality, move_to_self, as_json)
    with _import_progress(not as_json) as progress:
        report = import_images(directory, sources or [], progress=progress, workers=workers, reset=reset)
    data = report.to_dict()
    if as_json:
        ui.emit_json(data)
    else:
        _render(data)
    raise typer.Exit(report.exit_code)


@app.command("remove-images")
def remove_images_cmd(
    directory: Path = typer.Argument(..., help="Workspace folder."),
    ids: Optional[list[str]] = typer.Argument(None, help="Image ids to take out (e.g. IMG000003), see `check`."),
    series: list[str] = typer.Option([], "--series", help="Take out every image of this Series Instance UID."),
    study: list[str] = typer.Option([], "--study", help="Take out every image of this Study Instance UID."),
    as_json: bool = options.JSON,
) -> None:
    """Take images out of the dossier: one image, a series or a study (e.g. a file a PACS would refuse, another
    patient's study). Exit 2 if a name matches nothing."""
    report = remove_images(directory, ids or [], series=series, studies=study)
    if as_json:
        ui.emit_json(report.to_dict())
        return
    data = report.to_dict()
    ui.note(f"removed {data['count']} image(s) of {data['series']} series in {data['studies']} stud"
            f"{'y' if data['studies'] == 1 else 'ies'}: {', '.join(r['id'] for r in report.removed[:10])}"
            f"{' …' if data['count'] > 10 else ''}")
