"""Locate bundled data (``templates/``, ``samples/``) both in a source checkout
(editable install) and in an installed wheel (``dossierkit/_data``)."""

from __future__ import annotations

from pathlib import Path

_PKG = Path(__file__).resolve().parent


def _find(name: str) -> Path:
    for candidate in (_PKG / "_data" / name, _PKG.parents[1] / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"bundled folder {name!r} not found next to {_PKG}")


def templates_dir() -> Path:
    return _find("templates")


def samples_dir() -> Path:
    return _find("samples")


def profile_path(name: str) -> Path:
    return templates_dir() / "profiles" / f"{name}.toml"
