"""Shared test fixtures and helpers.

Interop tests use real external tools. Off CI a missing tool skips the test
with a reason; with ``CI=true`` a missing tool is a failure (the CI installs
them all in .ci/run).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
IN_CI = os.environ.get("CI", "").lower() == "true"


@pytest.fixture(scope="session", autouse=True)
def _private_dossierkit_home(tmp_path_factory):
    """Commands without a workspace journal to $DOSSIERKIT_HOME/journal.jsonl
    and read default keys there: keep tests off the real home (a test's own
    env= still wins in run_cli)."""
    if "DOSSIERKIT_HOME" not in os.environ:
        os.environ["DOSSIERKIT_HOME"] = str(tmp_path_factory.mktemp("dossierkit-home"))
        yield
        os.environ.pop("DOSSIERKIT_HOME", None)
    else:
        yield


def need_tool(name: str) -> str:
    """Return the path of an external tool, or skip (fail on CI) when absent."""
    path = shutil.which(name)
    if path:
        return path
    if IN_CI:
        pytest.fail(f"required tool {name!r} is not installed on CI (.ci/run must install it)")
    pytest.skip(f"{name!r} not installed (Debian package needed; installed by .ci/run)")


def wait_until(predicate, what: str, guard: float = 30.0) -> None:
    """Poll *predicate* until it holds; *guard* seconds is a hang guard,
    never a time budget."""
    end = time.monotonic() + guard
    while not predicate():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.001)


def run_cli(*args: str, input: str | None = None, env: dict | None = None, cwd: str | Path | None = None):
    """Run the real console entry point in a subprocess; returns CompletedProcess."""
    full_env = {**os.environ, **(env or {})}
    full_env.pop("COLUMNS", None)
    return subprocess.run([sys.executable, "-m", "dossierkit", *map(str, args)], input=input, capture_output=True,
                          text=True, env=full_env, cwd=cwd, timeout=600)


@pytest.fixture
def cli():
    return run_cli


SAMPLE_PATIENT = {
    "patient": {
        "family_name": "Lefèvre",
        "given_names": ["Hélène", "Marie"],
        "birth_date": "1958-03-14",
        "sex": "F",
        "identifier": {"value": "2580375123456", "system": "INS-NIR"},
    },
    "consent": {"given": True, "date": "2026-11-02", "given_by": "patient"},
}


@pytest.fixture
def empty_ws(tmp_path):
    """A fresh workspace for the sample patient with consent, no documents."""
    from dossierkit.workspace import init_workspace

    return init_workspace(tmp_path / "ws", dict(SAMPLE_PATIENT))


def open_files_under(folder: Path) -> list[str]:
    """The files this process holds open under *folder* (Linux: /proc/self/fd)."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/self/fd/{fd}")
            if target.startswith(str(folder)):
                found.append(target)
    return found
