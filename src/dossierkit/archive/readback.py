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
central directory with an independent parser (:func:`check_central_directory`,
here: nothing shared with the writer's code; it streams, entry by entry)
and compares it with the entries the writer produced. Why this is sufficient, and not a
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
import struct
import sys
from collections import deque
from collections.abc import Iterable
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


def read_back(tmp: Path, written: ReadBackSink, entries: Iterable[tuple[str, int, int]] | None = None, *,
              label: Path | None = None) -> None:
    """After the fsync: raise IntegrityError unless *tmp* has the size of
    the bytes *written* (each window was compared as it was written);
    *entries* ``(name, offset, stored size)``, in order, are compared with
    the zip's central directory when given (the password container). Any
    iterable: it is consumed one entry at a time, as the directory is
    parsed (:func:`check_central_directory`)."""
    where = label or tmp
    size = tmp.stat().st_size
    if size != written.size:
        raise _failed(f"{size} bytes on disk, {written.size} written", where)
    if entries is not None:
        try:
            with open(tmp, "rb", buffering=0) as fh:
                check_central_directory(fh, size, entries, where)
        except OSError as exc:
            raise _failed(f"its central directory cannot be read: {exc.strerror or exc}", where) from exc


# -- the central directory, parsed on its own -------------------------------
# An independent parser (APPNOTE 6.3.x): nothing shared with the writer's
# zipformat module, so a bug there cannot hide itself here. Streaming: the
# directory is read in chunks and compared entry by entry with the entries
# written, which are consumed as they come — memory does not grow with the
# file count (issue #18, docs/performance.md "Memory per file": zipfile's
# ZipInfo a file did).
_EOCD = struct.Struct("<IHHHHIIH")  # 22 bytes
_EOCD_SIG = 0x06054B50
_Z64_LOCATOR = struct.Struct("<IIQI")  # 20 bytes
_Z64_LOCATOR_SIG = 0x07064B50
_Z64_EOCD = struct.Struct("<IQHHIIQQQQ")  # 56 bytes
_Z64_EOCD_SIG = 0x06064B50
_CENTRAL = struct.Struct("<IHHHHHHIIIHHHHHII")  # 46 bytes
_CENTRAL_SIG = 0x02014B50
_Z64_EXTRA = 0x0001
_UTF8 = 0x0800
_READ = 1024 * 1024


def _end_records(fh, size: int, where) -> tuple[int, int, int]:
    """(entry count, central directory offset, its size) from the end
    records, which must end the file (the writer adds no comment); the
    directory must end where they begin."""
    if size < _EOCD.size:
        raise _failed("too short for a zip", where)
    end = size - _EOCD.size
    sig, disk, cd_disk, on_disk, count, cd_size, cd_offset, comment = _EOCD.unpack(_pread(fh, end, _EOCD.size))
    if sig != _EOCD_SIG or comment != 0:
        raise _failed("no end of central directory record at its end", where)
    if disk != 0 or cd_disk != 0 or on_disk != count:
        raise _failed("its end of central directory record names other disks", where)
    if count == 0xFFFF or cd_size == 0xFFFFFFFF or cd_offset == 0xFFFFFFFF:  # Zip64
        if end < _Z64_LOCATOR.size + _Z64_EOCD.size:
            raise _failed("no Zip64 end records", where)
        loc = end - _Z64_LOCATOR.size
        sig, disk, z64_at, disks = _Z64_LOCATOR.unpack(_pread(fh, loc, _Z64_LOCATOR.size))
        if sig != _Z64_LOCATOR_SIG or disk != 0 or disks != 1 or z64_at != loc - _Z64_EOCD.size:
            raise _failed("its Zip64 end of central directory locator is wrong", where)
        (sig, rec_size, _made_by, _needed, disk, cd_disk, on_disk, count64, cd_size64,
         cd_offset64) = _Z64_EOCD.unpack(_pread(fh, z64_at, _Z64_EOCD.size))
        if sig != _Z64_EOCD_SIG or rec_size != _Z64_EOCD.size - 12 or disk != 0 or cd_disk != 0 \
                or on_disk != count64:
            raise _failed("its Zip64 end of central directory record is wrong", where)
        for small, big, sentinel in ((count, count64, 0xFFFF), (cd_size, cd_size64, 0xFFFFFFFF),
                                     (cd_offset, cd_offset64, 0xFFFFFFFF)):
            if small not in (sentinel, big):
                raise _failed("its end of central directory records disagree", where)
        count, cd_size, cd_offset, end = count64, cd_size64, cd_offset64, z64_at
    if cd_offset + cd_size != end:
        raise _failed("its central directory does not end where its end records begin", where)
    return count, cd_offset, cd_size


def _pread(fh, offset: int, n: int) -> bytes:
    data = os.pread(fh.fileno(), n, offset)
    if len(data) != n:
        raise OSError(f"{len(data)} of {n} bytes at offset {offset}")
    return data


class _Directory:
    """The central directory's bytes, read forward in chunks."""

    def __init__(self, fh, offset: int, size: int, where):
        self._fh, self._at, self._left, self._where = fh, offset, size, where
        self._buf = bytearray()
        self._pos = 0

    def take(self, n: int) -> memoryview:
        """The next *n* bytes (valid until the next call)."""
        while len(self._buf) - self._pos < n:
            if self._pos:
                del self._buf[:self._pos]
                self._pos = 0
            want = min(self._left, max(_READ, n))
            if want == 0:
                raise _failed("its central directory is shorter than its end records say", self._where)
            self._buf += _pread(self._fh, self._at, want)
            self._at += want
            self._left -= want
        view = memoryview(self._buf)[self._pos:self._pos + n]
        self._pos += n
        return view

    @property
    def exhausted(self) -> bool:
        return self._left == 0 and self._pos == len(self._buf)


def _zip64_values(extra: bytes, need: list[bool], values: list[int]) -> list[int] | None:
    """The saturated *values* (sizes, offset: APPNOTE order) from the Zip64 extra field, or None."""
    pos = 0
    while pos + 4 <= len(extra):
        hid, ln = struct.unpack_from("<HH", extra, pos)
        pos += 4
        if hid == _Z64_EXTRA:
            field, out, at = extra[pos:pos + ln], [], 0
            for v, n in zip(values, need):
                if n:
                    if at + 8 > len(field):
                        return None
                    v = int.from_bytes(field[at:at + 8], "little")
                    at += 8
                out.append(v)
            return out
        pos += ln
    return None


def check_central_directory(fh, size: int, entries: Iterable[tuple[str, int, int]], where=None) -> None:
    """Raise IntegrityError unless the central directory of the zip *fh*
    (*size* bytes) lists exactly *entries* — ``(name, local header offset,
    stored size)`` in order — and its end records (Zip64 when there)
    agree with it. Reads the directory in chunks, one entry at a time."""
    count, cd_offset, cd_size = _end_records(fh, size, where)
    cd = _Directory(fh, cd_offset, cd_size, where)
    expected = iter(entries)
    n = 0
    for n in range(1, count + 1):
        (sig, _made_by, _needed, flags, _method, _time, _date, _crc, csize, usize, name_len, extra_len,
         comment_len, disk, _iattr, _eattr, offset) = _CENTRAL.unpack(cd.take(_CENTRAL.size))
        if sig != _CENTRAL_SIG or disk != 0:
            raise _failed(f"central directory entry {n} is not one", where)
        raw = bytes(cd.take(name_len))
        extra = bytes(cd.take(extra_len))
        cd.take(comment_len)
        need = [usize == 0xFFFFFFFF, csize == 0xFFFFFFFF, offset == 0xFFFFFFFF]
        if any(need):
            got = _zip64_values(extra, need, [usize, csize, offset])
            if got is None:
                raise _failed(f"central directory entry {n} lacks its Zip64 sizes", where)
            usize, csize, offset = got
        try:
            name = raw.decode("utf-8") if flags & _UTF8 else raw.decode("cp437")
        except UnicodeDecodeError:
            raise _failed(f"central directory entry {n} has a name that does not decode", where) from None
        if (name, offset, csize) != tuple(next(expected, (None, None, None))):
            raise _failed(f"its central directory differs from the entries written (entry {n})", where)
    if not cd.exhausted:
        raise _failed("its central directory is longer than its entries", where)
    if next(expected, None) is not None:
        raise _failed(f"its central directory lists {n} entries, more were written", where)
