"""Progress reporting, decoupled from rich.

Library functions take an optional :class:`Progress`; the CLI passes a rich
implementation (:func:`dossierkit.cli.ui.progress_for`) when stderr is a
TTY and ``--json`` is off, and :data:`NULL_PROGRESS` otherwise.
"""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    def start(self, label: str, total: int | None = None, unit: str = "B") -> None: ...

    def advance(self, amount: int = 1) -> None: ...

    def finish(self) -> None: ...


class NullProgress:
    def start(self, label: str, total: int | None = None, unit: str = "B") -> None:
        pass

    def advance(self, amount: int = 1) -> None:
        pass

    def finish(self) -> None:
        pass


NULL_PROGRESS = NullProgress()
