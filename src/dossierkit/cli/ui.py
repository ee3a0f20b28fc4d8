"""Terminal output for the CLI: JSON, reports, progress bars, error lines.

One rule for every command: what the command *reports* (its result: a
workspace created, documents added, a checklist, a package written) goes to
stdout (:func:`say`, :func:`findings`); what is *about* the run (progress,
warnings, errors) goes to stderr (:func:`note`, :func:`error_line`).
``--json`` writes exactly one JSON document to stdout and nothing else there.

Patient data (issue #15): the user's own terminal shows the user's own
paths and names as they are. Lines on stderr are masked with ``[PHI]``
(:mod:`dossierkit.phi`) only when stderr is not a terminal — a log file, a
pipeline's journal —, and ``--debug`` tracebacks always are: they are made
to be pasted into a bug report. docs/security.md says the same.
"""

from __future__ import annotations

import errno
import json
import os
import sys
import textwrap
import traceback
from collections.abc import Callable
from contextlib import contextmanager
from typing import Any

import typer
from rich.console import Console
from rich.progress import (BarColumn, DownloadColumn, MofNCompleteColumn, Progress as RichProgress, TextColumn,
                           TimeRemainingColumn, TransferSpeedColumn)
from rich.text import Text

from dossierkit import phi
from dossierkit.errors import OutputError, UsageError
from dossierkit.progress import NULL_PROGRESS

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

LEVEL_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan", "ok": "green"}


class GuardedStdout:
    """``sys.stdout``, except that a write or flush that fails (a full disk,
    a closed pipe) raises OutputError — one line, exit 5 — where a bare
    OSError would read as a bug (exit 70). What is still buffered then goes
    to /dev/null, so the interpreter's own flush at exit does not fail again."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except OSError as exc:
            raise self._failed(exc) from exc

    def flush(self) -> None:
        try:
            self._stream.flush()
        except OSError as exc:
            raise self._failed(exc) from exc

    def _failed(self, exc: OSError) -> OutputError:
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), self._stream.fileno())
        except (OSError, ValueError, AttributeError):
            pass
        error = OutputError(f"cannot write the output (standard output: {exc.strerror or exc})")
        # the reader of a pipe went away (`| head`): what it wanted it has; no line about it
        error.quiet = exc.errno == errno.EPIPE  # type: ignore[attr-defined]
        return error

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def emit_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, indent=2, default=str) + "\n")
    sys.stdout.flush()


def is_tty(console: Console) -> bool:
    """Whether *console* writes to a terminal for real. rich's ``is_terminal``
    also says yes under ``FORCE_COLOR`` or ``TTY_COMPATIBLE`` (colours asked
    for in a CI log): that must neither unmask patient data in a file nor put
    progress frames or folded lines into it."""
    try:
        return bool(console.file.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def for_stderr(text: str) -> str:
    """*text* as stderr may show it: as is on a terminal (the user's own
    data on the user's own screen), patient data masked anywhere else."""
    return str(text) if is_tty(err) else phi.scrub(str(text))


def error_line(text: str) -> None:
    for line in for_stderr(text).splitlines() or [""]:
        err.print(f"dossierkit: error: {line}", style="red", markup=False, highlight=False)


def note(text: str) -> None:
    """A line about the run (a warning, a step) on stderr."""
    err.print(wrap(for_stderr(text), console=err), markup=False, highlight=False)


def warning(text: str) -> None:
    """A warning line on stderr: ``warning: …`` (what the library's *warn*
    callbacks say: a passphrase beside its package, a journal not written)."""
    note(f"warning: {text}")


def debug_trace(exc: BaseException) -> None:
    """The traceback for --debug, with patient data always masked (phi.scrub):
    it is made to be pasted into a bug report."""
    text = "".join(traceback.format_exception(exc))
    err.print(phi.scrub(text), markup=False, highlight=False, style="dim")


def passphrase_prompt(enabled: bool = True, *, confirm: bool = False) -> Callable[[], str] | None:
    """A hidden passphrase prompt (asked twice with *confirm*), only when a
    person is at the terminal: None unless *enabled* and stdin is a TTY."""
    if not enabled or sys.stdin is None or not sys.stdin.isatty():
        return None

    asked = [0]

    def ask() -> str:
        # On stderr: the prompt stays visible when stdout goes to a file or a pipe.
        asked[0] += 1
        if asked[0] > 1:
            note(f"this passphrase does not open the package — try again ({asked[0]}/3) / "
                 f"ce mot de passe n'ouvre pas le paquet — réessayez ({asked[0]}/3)")
        try:
            return typer.prompt("Passphrase / mot de passe", hide_input=True, confirmation_prompt=confirm, err=True)
        except typer.Abort as exc:
            # click turns Ctrl-C and Ctrl-D alike into Abort; Ctrl-D (end of input) is no passphrase, not an interrupt
            if isinstance(exc.__context__, EOFError):
                raise UsageError("no passphrase was typed (Ctrl-D ends the input): nothing was done",
                                 hint="run the command again and type it, or give --password-file FILE") from None
            raise

    return ask


def wrap(text: str, indent: int = 0, console: Console | None = None) -> str:
    """*text* wrapped at words to the terminal's width with *indent* spaces
    (never inside a word nor at a hyphen: ``DOC-IDENTITY-MISMATCH`` stays
    whole; only a word wider than the terminal is cut). Not a terminal
    (a pipe, a file): one line, for grep and scripts."""
    console = console or out
    pad = " " * indent
    if not is_tty(console):
        return "\n".join(pad + line for line in str(text).splitlines())
    width = max(console.width, indent + 20)
    return "\n".join(textwrap.fill(line, width=width, initial_indent=pad, subsequent_indent=pad + "  " * (indent == 0),
                                    break_on_hyphens=False) or pad for line in str(text).splitlines())


def say(text: str, style: str | None = None) -> None:
    """A line of the command's report on stdout, wrapped at words."""
    out.print(wrap(text), style=style, markup=False, highlight=False)


def findings(items: list[dict[str, Any]], title: str | None = None) -> None:
    """Print findings one under the other, wrapped at words whatever the
    terminal's width (80 columns included): a table squeezes its columns
    and breaks codes and file names mid-word (issue #15)."""
    if title:
        say(title, style="bold")
    for f in items:
        out.print(f"{f['level']:<8}", style=LEVEL_STYLE.get(f["level"], ""), end="", markup=False, highlight=False)
        out.print(f["code"], style="bold", markup=False, highlight=False)
        out.print(wrap(f["message"], 8), markup=False, highlight=False)
        if f.get("file"):
            out.print(wrap(f"file: {f['file']}", 8), style="dim", markup=False, highlight=False)


def entries(rows: list[tuple[str, str]]) -> None:
    """Print (head, detail) pairs: the head on its line, the detail under it,
    indented and wrapped at words (journal entries, listings, problems)."""
    for head, detail in rows:
        say(head, style="bold")
        if detail:
            out.print(wrap(detail, 4), markup=False, highlight=False)


class _RichProgress:
    """Adapter from :class:`dossierkit.progress.Progress` to a rich bar."""

    def __init__(self, bar: RichProgress):
        self.bar = bar
        self.task = None
        self.unit = "B"
        self.shown = False

    def start(self, label: str, total: int | None = None, unit: str = "B") -> None:
        if not self.shown:  # shown from the first step on: a passphrase prompt before it stays readable
            self.bar.start()
            self.shown = True
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
    """Yield a :class:`Progress`: a rich bar on an interactive stderr, else a
    no-op. The bar appears at the first step (``start``), not on entry."""
    if not enabled or not is_tty(err):
        yield NULL_PROGRESS
        return
    bar = RichProgress(TextColumn("{task.description}"), BarColumn(), _AmountColumn(), _RateColumn(),
                       TimeRemainingColumn(), console=err, transient=False)
    adapter = _RichProgress(bar)
    try:
        yield adapter
    finally:
        if adapter.shown:
            bar.stop()


_PLAIN_TYPES = {"str": "TEXT", "int": "N", "float": "NUMBER", "Path": "PATH", "path": "PATH", "file": "FILE",
                "directory": "FOLDER", "datetime": "DATE"}


def tidy_help() -> None:
    """``--help`` in the words of its reader: recent typer prints each
    parameter's Python type (``<bool>`` after every flag, ``{directory}``,
    ``<list[Path]>``). Here arguments read as their upper-case names (``WS``,
    ``FILES...``), an option shows its metavar or a plain type word (``TEXT``,
    ``PATH``) and a flag nothing. Only display methods are replaced; typer
    versions without them are left as they are."""
    core = getattr(typer, "core", None)
    param, argument = getattr(core, "_TyperParameter", None), getattr(core, "TyperArgument", None)
    if param is None or argument is None or not hasattr(argument, "_usage_display_name"):
        return
    plain_type = param.display_type

    def display_type(self, ctx):  # type: ignore[no-untyped-def]
        if getattr(self, "is_flag", False) or self.param_type_name == "argument":
            return ""
        if self.metavar:
            return self.metavar
        label = plain_type(self, ctx).strip("<>")
        inner = label[5:-1] if label.startswith("list[") else label
        return _PLAIN_TYPES.get(inner, inner.upper())

    def display_name_raw(self) -> str:  # type: ignore[no-untyped-def]
        return self.metavar or (self.name or "").upper()

    def usage_display_name(self) -> str:  # type: ignore[no-untyped-def]
        name = display_name_raw(self)
        return (name if self.required else f"[{name}]") + ("..." if self.nargs != 1 else "")

    param.display_type = display_type
    param.display_name_raw = property(display_name_raw)
    argument._usage_display_name = usage_display_name
