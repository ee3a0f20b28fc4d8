"""The house rule of the CLI (docs/ARCHITECTURE.md, issue #11): every command
function is at most 30 lines and calls the library, not the other way round.
Measured on the source with ast, so it cannot regress unseen."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import dossierkit.cli

CLI = Path(dossierkit.cli.__file__).parent
MAX_LINES = 30


def _commands(folder: Path = CLI) -> list[tuple[str, int, int]]:
    """(file:function, first line, line count) of every @….command(...) function."""
    found = []
    for path in sorted(folder.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef):
                continue
            decorated = [d for d in node.decorator_list if isinstance(d, ast.Call)
                         and isinstance(d.func, ast.Attribute) and d.func.attr in ("command", "callback")]
            if decorated:
                found.append((f"{path.name}:{node.name}", node.lineno, node.end_lineno - node.lineno + 1))
    return found


def test_every_command_function_is_at_most_30_lines():
    commands = _commands()
    assert len(commands) >= 20, commands  # the scan finds the commands (init, add, pack, verify, receipt…)
    too_long = [(name, n) for name, _, n in commands if n > MAX_LINES]
    assert too_long == [], f"command functions over {MAX_LINES} lines (move the work into a library function)"


def test_the_measure_catches_a_31_line_command(tmp_path):
    """The counter is not blind: a 31-line command (signature and body) is caught."""
    body = "\n".join(f"    x{i} = {i}" for i in range(29))
    (tmp_path / "long_cmds.py").write_text(f"@app.command('x')\ndef long_cmd(\n) -> None:\n{body}\n")
    (tmp_path / "sub_cmds.py").write_text("@journal_app.command('y')\ndef short_cmd() -> None:\n    pass\n")
    assert _commands(tmp_path) == [("long_cmds.py:long_cmd", 2, 31), ("sub_cmds.py:short_cmd", 2, 2)]


# Libraries only some commands use, imported by the functions that need them (docs/ARCHITECTURE.md;
# their cost: docs/performance.md, "Imports kept out of start-up").
KEPT_OUT_OF_START_UP = ("pypdf", "cryptography.x509", "cryptography.hazmat.primitives.serialization.pkcs7",
                        "Cryptodome", "pydicom", "fpdf", "segno", "zxcvbn", "pynetdicom", "dicomweb_client")


def test_the_cli_starts_without_the_libraries_kept_out_of_its_start_up():
    """A fresh interpreter importing the CLI (what every command does first)
    loads none of them: a module-level import of one would put its cost on
    every command again."""
    code = ("import sys, dossierkit.cli\n"
            f"print(' '.join(m for m in {KEPT_OUT_OF_START_UP!r} if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [], f"loaded at start-up: {r.stdout.strip()}"
