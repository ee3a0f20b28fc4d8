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

import hashlib
import zipfile
from pathlib import Path
from typing import IO

from ..errors import IntegrityError
from ..fsutil import CHUNK
from ..progress import NULL_PROGRESS, Progress


class HashingWriter:
    """Write-through wrapper hashing and counting every byte written."""

    def __init__(self, fh: IO[bytes]):
        self._fh = fh
        self._sha = hashlib.sha256()
        self.size = 0

    def write(self, data) -> int:
        self._fh.write(data)
        self._sha.update(data)
        self.size += len(data)
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
