"""pack's byte read-back: the file holds exactly the bytes that were written.

The writer's output goes through a :class:`ReadBackSink`: bytes are
gathered into 4 MiB windows, and the flow's worker (worker.py; inline
without one) takes each full window and

1. writes it at its offset (``pwrite``) and asks the kernel to start
   writing it to the disk (``sync_file_range``, asynchronous: the final
   fsync then has little left to wait for);
2. adds it to one SHA-256 over the package's exact bytes (the package
   SHA-256 of the result, the receipt and the journal);
3. reads the window back from the file (``preadv`` into a reused buffer)
   and compares it with what was written, byte for byte.

So the read-back costs a memory comparison per window instead of a second
SHA-256 pass over the whole package after the fact, and it runs on the
second core while the packer encrypts the next window. After the fsync,
:func:`read_back` checks the file's size on disk and, for a zip, parses its
central directory with an independent parser (:mod:`zipfile`) and compares
it with the entries the writer produced. Why this is sufficient, and not a
decrypting pass: the writer's format is proven by the interop tests
(7-Zip, pyzipper, age) and the content by the in-memory plan check and the
per-file re-hash of pack; what is left to prove is that the file holds the
bytes (docs/package-format.md). Like any read through the file system, the
comparison sees the page cache: it proves the file, the fsync's error
report proves the medium.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import sys
import zipfile
from collections import deque
from pathlib import Path
from typing import IO

from dossierkit.archive.worker import Job, Ring, Worker
from dossierkit.errors import IntegrityError

WINDOW = 4 * 1024 * 1024
DEPTH = 5  # windows in turn: one filling, the others with the worker (which also derives keys)


def _sync_file_range():
    """libc's ``sync_file_range`` (Linux), or None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.sync_file_range
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


_SYNC_FILE_RANGE_WRITE = 2


def _read_at(fd: int, buf: memoryview, offset: int) -> int:
    """Read ``len(buf)`` bytes at *offset* into *buf* (fewer only at the end
    of the file); the number read. ``preadv`` fills the reused buffer
    directly; where the platform lacks it (some macOS builds), ``pread``."""
    if hasattr(os, "preadv"):
        return os.preadv(fd, [buf], offset)
    done = 0
    while done < len(buf):
        data = os.pread(fd, len(buf) - done, offset + done)
        if not data:
            break
        buf[done:done + len(data)] = data
        done += len(data)
    return done


def _failed(what: str, path: Path | str | None) -> IntegrityError:
    return IntegrityError(f"the package written does not read back ({what})", path=path,
                          hint="the disk or the file system may be faulty; nothing was kept")


class ReadBackSink:
    """A write-only stream over *fh* (opened for reading and writing, at
    offset 0) that writes, hashes and reads back every byte, window by
    window, on *worker* (module docstring) or inline without one. ``write``
    copies into the current window; an error of a window (a full disk, a
    window that does not read back) is raised by a later ``write`` or by
    :meth:`close`. ``label`` names the output in messages."""

    def __init__(self, fh: IO[bytes], *, label: Path | str | None = None, window: int = WINDOW,
                 write_behind: bool = True, worker: Worker | None = None):
        fh.flush()
        self._fd = fh.fileno()
        self._label = label
        self._window = window
        self._worker = worker
        self._ring = Ring(worker, window, count=DEPTH)
        self._ring.take()
        self._cur = self._ring.view()
        self._fill = 0
        self._offset = 0  # file offset of the current window
        self._jobs: deque[Job] = deque()
        self._sha = hashlib.sha256()
        self._rb = bytearray(window)  # the read-back buffer, used by the window jobs only
        self._sfr = _sync_file_range() if write_behind else None
        self._closed = False
        self.size = 0

    # -- the caller's side ----------------------------------------------------
    def write(self, data) -> int:
        mv = memoryview(data)
        if mv.format != "B" or mv.ndim != 1:
            mv = mv.cast("B")
        n = len(mv)
        done = 0
        while done < n:
            take = min(n - done, self._window - self._fill)
            self._cur[self._fill:self._fill + take] = mv[done:done + take]
            self._fill += take
            done += take
            if self._fill == self._window:
                self._submit()
        self.size += n
        return n

    def flush(self) -> None:
        """Nothing to do: bytes reach the file window by window (close() writes the rest)."""

    def _submit(self) -> None:
        n, off = self._fill, self._offset
        if self._worker is None:
            self._put(self._cur, n, off)
        else:
            self._jobs.append(self._worker.submit(self._put, self._cur, n, off))
        self._offset += n
        self._fill = 0
        self._ring.take()
        self._cur = self._ring.view()
        while self._jobs and self._jobs[0].done():
            self._jobs.popleft().result()

    def close(self) -> None:
        """Write the last window and wait for every window to be written,
        hashed and read back; raise the first error."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._fill:
                self._submit()
            while self._jobs:
                self._jobs.popleft().result()
        finally:
            self.abort()

    def abort(self) -> None:
        """Forget the windows not collected (after an error: the caller's
        worker drops or finishes them)."""
        self._jobs.clear()

    def hexdigest(self) -> str:
        return self._sha.hexdigest()

    # -- a window's job -------------------------------------------------------
    def _put(self, mv: memoryview, n: int, off: int) -> None:
        mv = mv[:n]
        done = 0
        while done < n:
            done += os.pwrite(self._fd, mv[done:], off + done)
        if self._sfr is not None and self._sfr(self._fd, off, n, _SYNC_FILE_RANGE_WRITE) != 0:
            self._sfr = None  # unsupported here (e.g. some file systems): stop asking
        self._sha.update(mv)
        got = _read_at(self._fd, memoryview(self._rb)[:n], off)
        if got != n:
            raise _failed(f"{got} of {n} bytes at offset {off}", self._label)
        buf = mv.obj  # the ring's bytearray: compared with memcmp, not byte by byte
        same = self._rb == buf if n == self._window else self._rb[:n] == buf[:n]
        if not same:
            raise _failed(f"the bytes at offset {off}–{off + n} differ from those written", self._label)


def read_back(tmp: Path, written: ReadBackSink, entries: list[tuple[str, int, int]] | None = None, *,
              label: Path | None = None) -> None:
    """After the fsync: raise IntegrityError unless *tmp* has the size of
    the bytes *written* (each window was compared as it was written);
    *entries* ``(name, offset, stored size)`` are compared with the zip's
    central directory when given (the password container)."""
    where = label or tmp
    size = tmp.stat().st_size
    if size != written.size:
        raise _failed(f"{size} bytes on disk, {written.size} written", where)
    if entries is not None:
        try:
            with zipfile.ZipFile(tmp) as archive:
                found = [(i.filename, i.header_offset, i.compress_size) for i in archive.infolist()]
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            raise _failed(f"its central directory does not parse: {exc}", where) from exc
        if found != entries:
            raise _failed("its central directory differs from the entries written", where)
