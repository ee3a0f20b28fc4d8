"""Terminal output for the CLI: JSON, tables, progress bars, error lines.

Human output goes to stderr except tables/reports (stdout); ``--json`` writes
exactly one JSON document to stdout and nothing else there.
"""

from __future__ import annotations

import json
import sys
import traceback
from collections.abc import Callable
from contextlib import contextmanager
from typing import Any

import typer
from rich.console import Console
from rich.progress import (BarColumn, DownloadColumn, MofNCompleteColumn, Progress as RichProgress, TextColumn,
                           TimeRemainingColumn, TransferSpeedColumn)
from rich.table import Table
from rich.text import Text

from dossierkit import phi
from dossierkit.progress import NULL_PROGRESS

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

LEVEL_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan", "ok": "green"}


def emit_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, indent=2, default=str) + "\n")
    sys.stdout.flush()


def error_line(text: str) -> None:
    for line in phi.scrub(str(text)).splitlines() or [""]:
        err.print(f"dossierkit: error: {line}", style="red", markup=False, highlight=False)


def note(text: str) -> None:
    err.print(phi.scrub(text), markup=False, highlight=False)


def debug_trace(exc: BaseException) -> None:
    """The traceback for --debug, with patient data masked (phi.scrub)."""
    text = "".join(traceback.format_exception(exc))
    err.print(phi.scrub(text), markup=False, highlight=False, style="dim")


def passphrase_prompt(enabled: bool = True, *, confirm: bool = False) -> Callable[[], str] | None:
    """A hidden passphrase prompt (asked twice with *confirm*), only when a
    person is at the terminal: None unless *enabled* and stdin is a TTY."""
    if not enabled or not sys.stdin.isatty():
        return None

    asked = [0]

    def ask() -> str:
        # On stderr: the prompt stays visible when stdout goes to a file or a pipe.
        asked[0] += 1
        if asked[0] > 1:
            note(f"this passphrase does not open the package — try again ({asked[0]}/3) / "
                 f"ce mot de passe n'ouvre pas le paquet — réessayez ({asked[0]}/3)")
        return typer.prompt("Passphrase / mot de passe", hide_input=True, confirmation_prompt=confirm, err=True)

    return ask


def findings_table(findings: list[dict[str, Any]], title: str | None = None) -> Table:
    table = Table(title=title, show_lines=False)
    for col in ("level", "code", "message", "file"):
        table.add_column(col, overflow="fold")
    for f in findings:
        table.add_row(f"[{LEVEL_STYLE.get(f['level'], '')}]{f['level']}[/]", f["code"], f["message"],
                      f.get("file") or "")
    return table


class _RichProgress:
    """Adapter from :class:`dossierkit.progress.Progress` to a rich bar."""

    def __init__(self, bar: RichProgress):
        self.bar = bar
        self.task = None
        self.unit = "B"

    def start(self, label: str, total: int | None = None, unit: str = "B") -> None:
        if self.task is not None:
            self.bar.update(self.task, visible=False)
        self.unit = unit
        self.task = self.bar.add_task(label, total=total, unit=unit)

    def advance(self, amount: int = 1) -> None:
        if self.task is not None:
            self.bar.advance(self.task, amount)

    def finish(self) -> None:
        if self.task is not None:
            t = self.bar.tasks[self.task] if isinstance(self.task, int) else None
            if t is not None and t.total is not None:
                self.bar.update(self.task, completed=t.total)


class _RateColumn(TextColumn):
    """files/s for counted units, bytes/s for bytes."""

    def __init__(self):
        super().__init__("")

    def render(self, task):  # type: ignore[override]
        if task.fields.get("unit") == "B":
            return TransferSpeedColumn().render(task)
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f} {task.fields.get('unit', '')}/s" if speed else "", style="progress.data.speed")


class _AmountColumn(TextColumn):
    def __init__(self):
        super().__init__("")

    def render(self, task):  # type: ignore[override]
        if task.fields.get("unit") == "B":
            return DownloadColumn().render(task)
        return MofNCompleteColumn().render(task)


@contextmanager
def progress_for(enabled: bool):
    """Yield a :class:`Progress`: a rich bar on an interactive stderr, else a no-op."""
    if not enabled or not err.is_terminal:
        yield NULL_PROGRESS
        return
    bar = RichProgress(TextColumn("{task.description}"), BarColumn(), _AmountColumn(), _RateColumn(),
                       TimeRemainingColumn(), console=err, transient=False)
    with bar:
        yield _RichProgress(bar)
