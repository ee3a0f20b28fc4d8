"""A small file system of a test's own: a tmpfs mounted for the test
(full disk, read-only destination). Root only: where mounting is
forbidden the test is skipped, with the reason."""

from __future__ import annotations

import contextlib
import subprocess
from pathlib import Path

import pytest


@contextlib.contextmanager
def mounted_tmpfs(where: Path, options: str):
    """Mount a tmpfs with *options* (``size=2m``, ``size=1m,ro``) at *where*
    for the ``with`` block, unmounted (lazily) after it."""
    where.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"this machine forbids mounting a tmpfs ({r.stderr.strip() or r.returncode})")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)
