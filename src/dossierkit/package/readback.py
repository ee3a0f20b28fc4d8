"""pack's byte read-back: the disk holds exactly the bytes that were written.

The writer's output is hashed as it goes out (:class:`HashingWriter`: one
SHA-256 over the package's exact bytes, which is also the package SHA-256
of the result, the receipt and the journal). After the fsync,
:func:`read_back` re-reads the temporary file from the disk and compares
size and SHA-256; for a zip it also parses the central directory with an
independent parser (:mod:`zipfile`) and compares it with the entries the
writer produced. Why this is sufficient, and not a decrypting pass: the
writer's format is proven by the interop tests (7-Zip, pyzipper, age) and
the content by the in-memory plan check and the per-file re-hash of pack;
what is left to prove is the storage (docs/package-format.md).
"""

from __future__ import annotations

import ctypes
import hashlib
import sys
import zipfile
from pathlib import Path
from typing import IO

from ..errors import IntegrityError
from ..fsutil import CHUNK
from ..progress import NULL_PROGRESS, Progress


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
WRITE_BEHIND = 16 * CHUNK


class HashingWriter:
    """Write-through wrapper hashing and counting every byte written.

    ``write_behind``: every 16 MiB, ask the kernel to start writing the
    previous 16 MiB to the disk (``sync_file_range(SYNC_FILE_RANGE_WRITE)``,
    asynchronous). With plenty of RAM nothing else starts the write-back
    before the final fsync, which then waits for the whole package after
    all the CPU work is done; this overlaps the two. A hint only: the fsync
    still decides durability."""

    def __init__(self, fh: IO[bytes], *, write_behind: bool = False):
        self._fh = fh
        self._sha = hashlib.sha256()
        self.size = 0
        self._flushed = 0
        self._sfr = _sync_file_range() if write_behind else None
        self._fd = fh.fileno() if self._sfr is not None else -1

    def write(self, data) -> int:
        self._fh.write(data)
        self._sha.update(data)
        self.size += len(data)
        if self._sfr is not None and self.size - self._flushed >= 2 * WRITE_BEHIND:
            end = self.size - WRITE_BEHIND  # leave the last stretch: it may sit in the write buffer
            if self._sfr(self._fd, self._flushed, end - self._flushed, _SYNC_FILE_RANGE_WRITE) != 0:
                self._sfr = None  # unsupported here (e.g. some file systems): stop asking
            self._flushed = end
        return len(data)

    def flush(self) -> None:
        self._fh.flush()

    def hexdigest(self) -> str:
        return self._sha.hexdigest()


def _failed(what: str, path: Path) -> IntegrityError:
    return IntegrityError(f"the package written does not read back ({what})", path=path,
                          hint="the disk or the file system may be faulty; nothing was kept")


def read_back(tmp: Path, written: HashingWriter, entries: list[tuple[str, int, int]] | None = None, *,
              label: Path | None = None, progress: Progress = NULL_PROGRESS) -> None:
    """Raise IntegrityError unless *tmp* holds exactly the bytes *written*
    hashed; *entries* ``(name, offset, stored size)`` are compared with the
    zip's central directory when given (the password container)."""
    where = label or tmp
    buf = bytearray(CHUNK)
    mv = memoryview(buf)
    sha = hashlib.sha256()
    total = 0
    progress.start("reading back", total=written.size, unit="B")
    # O_DIRECT would bypass the page cache but needs aligned buffers and is
    # not portable; after the fsync the cached pages are the file's pages.
    with open(tmp, "rb", buffering=0) as fh:
        while True:
            n = fh.readinto(mv)
            if not n:
                break
            sha.update(mv[:n])
            total += n
            progress.advance(n)
    progress.finish()
    if total != written.size:
        raise _failed(f"{total} bytes on disk, {written.size} written", where)
    if sha.hexdigest() != written.hexdigest():
        raise _failed("SHA-256 differs from the bytes written", where)
    if entries is not None:
        try:
            with zipfile.ZipFile(tmp) as zf:
                found = [(i.filename, i.header_offset, i.compress_size) for i in zf.infolist()]
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            raise _failed(f"its central directory does not parse: {exc}", where) from exc
        if found != entries:
            raise _failed("its central directory differs from the entries written", where)
