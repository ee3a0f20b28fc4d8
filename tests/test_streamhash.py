"""archive.StreamHash: the package's SHA-256 on the flow's worker."""

from __future__ import annotations

import hashlib
import os
import threading

from dossierkit.archive import StreamHash, Worker


def _feed(sh: StreamHash, data: bytes, sizes: list[int]) -> None:
    """Feed *data* through one reused buffer, overwritten right after each
    update: the hash must not depend on the caller's buffer afterwards."""
    buf = bytearray(max(sizes))
    pos = 0
    i = 0
    while pos < len(data):
        n = min(sizes[i % len(sizes)], len(data) - pos)
        buf[:n] = data[pos:pos + n]
        sh.update(memoryview(buf)[:n])
        buf[:n] = b"\xff" * n  # the caller reuses its buffer at once
        pos += n
        i += 1


def test_stream_hash_on_a_worker_equals_hashlib():
    data = os.urandom(5 * 1024 * 1024 + 77)
    sizes = [1, 30, 4096, 1024 * 1024 + 3, 65536, 2 * 1024 * 1024]
    with Worker("dk-test") as worker:
        sh = StreamHash(worker, window=256 * 1024, count=3)
        _feed(sh, data, sizes)
        assert sh.hexdigest() == hashlib.sha256(data).hexdigest()


def test_stream_hash_runs_on_the_worker_and_inline_without_one(monkeypatch):
    data = os.urandom(3 * 1024 * 1024)
    seen: list[str] = []
    real = hashlib.sha256

    class Spy:
        def __init__(self):
            self._h = real()

        def update(self, b):
            seen.append(threading.current_thread().name)
            self._h.update(b)

        def hexdigest(self):
            return self._h.hexdigest()

    monkeypatch.setattr("dossierkit.archive.streamhash.hashlib.sha256", Spy)
    with Worker("dk-test") as worker:
        sh = StreamHash(worker)
        _feed(sh, data, [100_000])
        assert sh.hexdigest() == real(data).hexdigest()
    assert seen and set(seen) == {"dk-test"}, seen
    seen.clear()
    sh = StreamHash(None)
    _feed(sh, data, [100_000])
    assert sh.hexdigest() == real(data).hexdigest() and set(seen) == {threading.current_thread().name}
