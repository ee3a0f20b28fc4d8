"""Ctrl-C held over a commit that must not be cut in two (issue #15).

``pack`` streams for minutes; Ctrl-C there stops it and leaves nothing (the
temporary file is removed). Once the package has been read back, what
remains is short and must happen as a whole: the package renamed into
place, its passphrase file, the journal entry, the receipt. Cut in the
middle, it would leave a package and passphrase with no journal entry, or a
journal entry with no receipt. :class:`HeldInterrupt` holds SIGINT over
that section: a Ctrl-C that comes during it is noted, not raised, and the
command finishes; the caller then says that the interrupt came too late to
stop it. Only the main thread can install a signal handler: elsewhere
(a library caller's thread) nothing is held.
"""

from __future__ import annotations

import signal
import threading
from typing import Any


class HeldInterrupt:
    """``hold()`` from the commit point, ``release()`` at the end (also as a
    context manager); ``received`` tells whether a Ctrl-C came meanwhile."""

    def __init__(self) -> None:
        self.received = False
        self._previous: Any = None
        self._holding = False

    def hold(self) -> None:
        if self._holding or threading.current_thread() is not threading.main_thread():
            return
        self._previous = signal.signal(signal.SIGINT, self._note)
        self._holding = True

    def _note(self, signum: int, frame: Any) -> None:
        self.received = True

    def release(self) -> None:
        if self._holding:
            signal.signal(signal.SIGINT, self._previous)
            self._holding = False

    def __enter__(self) -> HeldInterrupt:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
