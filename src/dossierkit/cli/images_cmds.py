"""CLI commands: images_cmds (see the capability module)."""

from __future__ import annotations

from . import app  # noqa: F401
