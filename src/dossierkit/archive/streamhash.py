"""SHA-256 of a byte stream, computed on the flow's worker.

The bytes fed to :meth:`StreamHash.update` are copied into a ring of
windows lent to the worker (worker.py's buffer rule), so the caller may
reuse or drop its own buffers at once: a copy costs far less than the
hash (docs/performance-history.md). Without a worker the hash runs inline.
"""

from __future__ import annotations

import hashlib

from dossierkit.archive.worker import Ring, Worker

WINDOW = 1024 * 1024
COUNT = 4  # windows in turn: one filling, the others with the worker


class StreamHash:
    """``update`` in stream order, then ``hexdigest`` (once)."""

    def __init__(self, worker: Worker | None, *, window: int = WINDOW, count: int = COUNT):
        self._sha = hashlib.sha256()
        self._worker = worker
        self._ring = Ring(worker, window, count=count) if worker is not None else None
        self._buf = memoryview(b"")
        self._fill = 0
        if self._ring is not None:
            self._ring.take()
            self._buf = self._ring.view()

    def update(self, data) -> None:
        if self._ring is None:
            self._sha.update(data)
            return
        mv = memoryview(data).cast("B")
        while len(mv):
            k = min(len(mv), len(self._buf) - self._fill)
            self._buf[self._fill:self._fill + k] = mv[:k]
            self._fill += k
            mv = mv[k:]
            if self._fill == len(self._buf):
                self._flush()

    def _flush(self) -> None:
        if self._fill and self._worker is not None and self._ring is not None:
            self._worker.submit(self._sha.update, self._buf[:self._fill])
            self._ring.take()
            self._buf = self._ring.view()
            self._fill = 0

    def hexdigest(self) -> str:
        if self._worker is None:
            return self._sha.hexdigest()
        self._flush()
        return self._worker.submit(self._sha.hexdigest, borrows=False).result()
