"""The ``dossierkit`` command line: a thin typer layer over the library.

Each command lives in a module of this package grouped by capability and
only parses options, calls the documented library API, and renders the
result (human table or ``--json``). Errors are :class:`DossierkitError`
lines with documented exit codes (docs/exit-codes.md); a traceback is shown
only with ``--debug``.
"""

from __future__ import annotations

import os
import sys

import typer

from dossierkit import __version__
from dossierkit.cli import ui
from dossierkit.errors import DossierkitError, ExitCode, OutputError

app = typer.Typer(
    name="dossierkit",
    help="Assemble, check, encrypt and trace a cancer patient's dossier for a therapeutic second opinion.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

STATE = {"debug": False}
ui.tidy_help()


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"dossierkit {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks on errors (patient data scrubbed)."),
    version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """Assemble, check, encrypt and trace a cancer patient's dossier for a therapeutic second opinion."""
    STATE["debug"] = debug


# Command modules register themselves on `app` when imported.
from dossierkit.cli import workspace_cmds  # noqa: E402,F401
from dossierkit.cli import images_cmds  # noqa: E402,F401
from dossierkit.cli import package_cmds  # noqa: E402,F401
from dossierkit.cli import trace_cmds  # noqa: E402,F401
from dossierkit.cli import keys_cmds  # noqa: E402,F401
from dossierkit.cli import trust_cmds  # noqa: E402,F401
from dossierkit.cli import xdm_cmds  # noqa: E402,F401
from dossierkit.cli import pacs_cmds  # noqa: E402,F401
from dossierkit.cli import reply_cmds  # noqa: E402,F401


INTERRUPTED_LINE = "interrupted (Ctrl-C): nothing partial was left; run the command again"


def _debug_requested(argv: list[str]) -> bool:
    return STATE["debug"] or "--debug" in argv


def _is_usage_exception(exc: BaseException) -> bool:
    # typer's (vendored) click exceptions: ClickException/UsageError/BadParameter
    return hasattr(exc, "format_message") and isinstance(getattr(exc, "exit_code", None), int)


def _closed_streams_as_devnull() -> None:
    """A closed stdin, stdout or stderr (``<&-``, ``>&-``) reads as empty or
    discards, as /dev/null would: no prompt, no internal error."""
    for name, mode in (("stdin", "r"), ("stdout", "w"), ("stderr", "w")):
        if getattr(sys, name) is None:
            setattr(sys, name, open(os.devnull, mode, encoding="utf-8"))


def main(argv: list[str] | None = None) -> None:
    """Console entry point: run the app, map every outcome to an exit code."""
    _closed_streams_as_devnull()
    stdout = sys.stdout
    sys.stdout = ui.GuardedStdout(stdout)  # a full disk or a closed pipe on stdout: exit 5, not 70
    args = list(sys.argv[1:] if argv is None else argv)
    code: int = ExitCode.OK
    try:
        rv = app(args=args, prog_name="dossierkit", standalone_mode=False)
        code = rv if isinstance(rv, int) else ExitCode.OK
        if code == ExitCode.INTERRUPTED:  # typer turns Ctrl-C into a silent exit 130; no command returns 130
            raise KeyboardInterrupt
    except typer.Exit as exc:
        code = exc.exit_code
    except (typer.Abort, KeyboardInterrupt):
        ui.error_line(INTERRUPTED_LINE)
        code = ExitCode.INTERRUPTED
    except DossierkitError as exc:
        if _debug_requested(args):
            ui.debug_trace(exc)
        if not getattr(exc, "quiet", False):
            ui.error_line(exc.line())
        code = exc.exit_code
    except Exception as exc:
        if _is_usage_exception(exc):
            message = exc.format_message()
            if message:  # a bare `dossierkit` (or group) printed its usage: nothing to add
                ui.error_line(message + " (see --help)")
            code = ExitCode.USAGE
        else:  # a bug: one line unless --debug
            if _debug_requested(args):
                ui.debug_trace(exc)
            ui.error_line(f"internal error ({type(exc).__name__}) — rerun with --debug and report it")
            code = ExitCode.INTERNAL
    try:
        sys.stdout.flush()  # what is still buffered: a report ending on a full disk
    except OutputError as exc:
        if code == ExitCode.OK:
            if not getattr(exc, "quiet", False):
                ui.error_line(exc.line())
            code = ExitCode.OUTPUT
    finally:
        sys.stdout = stdout
    sys.exit(int(code))
