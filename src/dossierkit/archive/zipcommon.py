"""Pieces shared by the streaming zip writer and reader."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from dossierkit.archive.winzip_aes import MAC_LEN, PV_LEN, SALT_LEN

CHUNK = 1024 * 1024
RING = 4  # chunk buffers in turn: the helper thread may work up to RING - 1 chunks behind
PARALLEL_MIN = 4 * CHUNK  # entries from this size hash/authenticate on two threads
AES_OVERHEAD = SALT_LEN + PV_LEN + MAC_LEN  # 28 bytes around the ciphertext


class HelperThread:
    """The one helper thread of a zip stream, started on first use:
    hashlib/HMAC/zlib release the GIL on big buffers, so its work (a hash,
    a MAC) runs beside the cipher on the second core."""

    def __init__(self) -> None:
        self._pool: ThreadPoolExecutor | None = None

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dk-zip")
        return self._pool.submit(fn, *args)

    def shutdown(self, *, wait: bool = True) -> None:
        """Stop the thread once its jobs are done (it restarts if used
        again); *wait* for them unless the caller is abandoning the stream."""
        if self._pool is not None:
            self._pool.shutdown(wait=wait, cancel_futures=not wait)
            self._pool = None


class BufferRing:
    """RING chunk buffers handed out in turn and shared with the helper
    thread: a buffer comes round again only once the helper's last job on
    it is done, so the helper may work up to RING - 1 chunks behind the
    thread that fills them, across entries. ``planes`` buffers per slot
    (the reader keeps a ciphertext and a plaintext buffer of one chunk)."""

    def __init__(self, planes: int = 1):
        self._planes = [[bytearray(CHUNK) for _ in range(RING)] for _ in range(planes)]
        self._jobs: list[Future | None] = [None] * RING
        self._next = 0
        self._slot = 0

    def take(self) -> None:
        """Move to the next slot, waiting for the helper's job on it."""
        k = self._next
        self._next = (k + 1) % RING
        job, self._jobs[k] = self._jobs[k], None
        if job is not None:
            job.result()
        self._slot = k

    def view(self, plane: int = 0) -> memoryview:
        """The current slot's buffer of *plane*."""
        return memoryview(self._planes[plane][self._slot])

    def hold(self, job: Future) -> Future:
        """The current slot is in use by *job* until it is done."""
        self._jobs[self._slot] = job
        return job

    def forget(self) -> None:
        """Drop the jobs (after the helper was shut down)."""
        self._jobs = [None] * RING


class NameRegistry:
    """Duplicate detection as a case-insensitive file system sees it, including
    a file that is also used as a folder ("A" and "A/B")."""

    def __init__(self, error: Callable[[str], Exception]):
        self._files: set[str] = set()
        self._dirs: set[str] = set()
        self._error = error

    def add(self, name: str) -> None:
        key = name.casefold()
        if key in self._files or key in self._dirs:
            raise self._error(f"duplicate entry {name!r}")
        parts = key.split("/")
        prefixes = ["/".join(parts[:i]) for i in range(1, len(parts))]
        if any(p in self._files for p in prefixes):
            raise self._error(f"entry {name!r} is inside another entry that is a file")
        self._files.add(key)
        self._dirs.update(prefixes)
