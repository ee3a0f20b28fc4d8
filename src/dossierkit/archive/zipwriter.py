"""Streaming zip writer: WinZip AES-256 (AE-2) with a password, or a plain
STORED zip (the inner layer of the age container). Public API and format
notes: :mod:`dossierkit.archive.zipaes`, docs/containers.md."""

from __future__ import annotations

import hashlib
import os
import stat
import zlib
from array import array
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import IO

from zlib_ng.zlib_ng import crc32

from dossierkit.archive import zipformat
from dossierkit.archive.winzip_aes import (KEY_LEN, PV_LEN, SALT_LEN, CTRScratch, EntryCipher, Keys, derive_keys,
                                          fresh_salt)
from dossierkit.archive.worker import Job, Worker
from dossierkit.archive.zipcommon import AES_OVERHEAD, CHUNK, NameRegistry
from dossierkit.errors import InputError, OutputError, UsageError
from dossierkit.progress import NULL_PROGRESS, Progress

KEYS_BATCH = 32  # pairs per worker job before writing starts
KEYS_AHEAD = 4096  # pairs derived ahead before writing starts, at most
PACE_READY = 16  # once writing: pairs the worker keeps ready, at most (derived in its idle time)
_PAIR = SALT_LEN + 2 * KEY_LEN + PV_LEN  # a salt and its keys, packed


class FreshKeys:
    """(salt, keys) pairs for the entries to be written.

    A salt does not depend on the entry, so PBKDF2 — with thousands of
    small files the largest single cost — can run on the flow's *worker*
    before an entry is named. Two phases:

    * before writing (pack checks and plans): batches up to ``ahead`` pairs
      are queued on the worker (:meth:`start`);
    * from the first :meth:`take`: the batches not begun yet are dropped
      (they would hold the package windows behind them in the worker's
      queue), and the worker derives pairs in its idle time only
      (``Worker.fill_idle_time``: one pair at a time while no window waits,
      up to ``PACE_READY`` ready).

    :meth:`take` never waits for the worker: with no pair ready it derives
    one on the caller's thread. So the key work goes to whichever core is
    free. :meth:`expect` caps the derivations at the number of entries once
    it is known. Without a worker every pair is derived on :meth:`take`.

    A batch writes its pairs (salt and keys end to end) into a buffer the
    caller allocated when it queued the batch; :meth:`take` unpacks them.
    The look-ahead runs on the worker while pack checks and plans: objects
    it allocated there and kept (a pair's salt and keys, a batch's result)
    lay among the check's short-lived ones and kept its freed memory from
    being returned (≈ 25 MB of RSS at 50 000 files; issue #18).
    """

    def __init__(self, password: bytes, worker: Worker | None, *, ahead: int = KEYS_AHEAD):
        self._password = password
        self._worker = worker
        self._ahead = ahead
        # batches submitted and not collected, in order, with the buffer each fills
        self._jobs: deque[tuple[Job, bytearray]] = deque()
        self._ready: deque[bytearray] = deque()  # batches' pairs, packed (_PAIR bytes each)
        self._paced: deque[tuple[bytes, Keys]] = deque()  # pairs derived in the worker's idle time
        self._at = 0  # of the next pair in self._ready[0]
        self._count = 0  # pairs in self._ready not taken
        self._queued = 0  # pairs asked of the look-ahead batches
        self._taken = 0
        self._derived = 0  # pairs derived by the batches (written by the worker only)
        self._inline = 0  # pairs derived by take (written by the caller only)
        self._writing = False  # set by the first take: look-ahead batches not begun stop at once
        self._limit: int | None = None  # pairs to derive in all; None: not known yet

    def _pair(self) -> tuple[bytes, Keys]:
        salt = fresh_salt()
        return salt, derive_keys(self._password, salt)

    def _enough(self) -> bool:
        return self._limit is not None and self._derived + self._inline >= self._limit

    def _batch(self, out: bytearray) -> int:
        """A look-ahead batch: fill *out* with pairs, fewer once writing has
        started or enough are derived; how many."""
        done = 0
        for at in range(0, len(out), _PAIR):
            if self._writing or self._enough():
                break
            salt, (aes, mac, pv) = self._pair()
            out[at:at + _PAIR] = b"".join((salt, aes, mac, pv))
            done += 1
            self._derived += 1
        return done

    def _submit(self, n: int) -> None:
        assert self._worker is not None
        out = bytearray(n * _PAIR)
        self._jobs.append((self._worker.submit(self._batch, out, borrows=False), out))

    def start(self) -> FreshKeys:
        """Queue the look-ahead batches on the worker (before writing)."""
        while self._worker is not None and not self._writing and self._queued < self._ahead:
            n = min(KEYS_BATCH, self._ahead - self._queued)
            self._submit(n)
            self._queued += n
        return self

    def expect(self, n: int) -> None:
        """At most *n* more pairs will be taken: derive no more than that."""
        self._limit = self._taken + n

    def take(self) -> tuple[bytes, Keys]:
        first = not self._writing
        self._writing = True
        while self._jobs and self._jobs[0][0].done():
            job, packed = self._jobs.popleft()
            n = job.result()
            if n:
                del packed[n * _PAIR:]
                self._ready.append(packed)
                self._count += n
        if self._ready:
            pair = self._unpack()
        elif self._paced:
            pair = self._paced.popleft()
        else:
            pair = self._pair()
            self._inline += 1
        self._taken += 1
        if first and self._worker is not None:  # after this pair: the first one is never the worker's
            self._worker.fill_idle_time(self._idle_step)
        return pair

    def _idle_step(self) -> bool:
        """The worker's idle time, once writing: one more pair ready, unless
        enough are (False: nothing to do until the caller takes some)."""
        if len(self._paced) + self._count >= PACE_READY or self._enough():
            return False
        self._paced.append(self._pair())
        self._derived += 1
        return True

    def _unpack(self) -> tuple[bytes, Keys]:
        packed, at = self._ready[0], self._at
        salt = bytes(packed[at:at + SALT_LEN])
        at += SALT_LEN
        aes, mac, pv = bytes(packed[at:at + KEY_LEN]), bytes(packed[at + KEY_LEN:at + 2 * KEY_LEN]), \
            bytes(packed[at + 2 * KEY_LEN:at + 2 * KEY_LEN + PV_LEN])
        self._at = at + 2 * KEY_LEN + PV_LEN
        if self._at == len(packed):
            self._ready.popleft()
            self._at = 0
        self._count -= 1
        return salt, (aes, mac, pv)


@dataclass(frozen=True, slots=True)  # returned for each entry, not kept (issue #18)
class EntryResult:
    """What the writer stored for one entry (plaintext SHA-256 for the manifest)."""

    name: str
    size: int
    sha256: str
    compressed_size: int
    offset: int


class ZipStreamWriter:
    """Writes a zip as a forward stream to *out* (any object with ``write``).

    ``password`` (bytes) selects WinZip AES-256 AE-2 for every entry; ``None``
    writes a plain STORED zip (with CRC-32, as the age container needs).
    Entry names are the caller's (neutral, no patient data); the timestamp
    is *dos* (zipformat.dos_stamp: the pack time, which the package file's
    own date shows anyway) or 1980-01-01 00:00, there is no comment and no extra field
    beyond Zip64 and AES. ``force_zip64`` writes Zip64 records even for
    small archives (tests and interop checks). ``keys``: entry keys derived
    ahead (:class:`FreshKeys`); without it each entry's are derived when it
    is written. Everything else runs on the caller's thread.
    """

    def __init__(self, out: IO[bytes], *, password: bytes | None, force_zip64: bool = False,
                 keys: FreshKeys | None = None, dos: tuple[int, int] | None = None):
        if password is not None and not isinstance(password, bytes | bytearray):
            raise UsageError("the password must be bytes (encode it as UTF-8)")
        if password is not None and not password:
            raise UsageError("empty password")
        self._out = out
        self._password = bytes(password) if password is not None else None
        self._force_zip64 = force_zip64
        self._dos = dos or (zipformat.DOS_TIME, zipformat.DOS_DATE)  # every entry's date (zipformat.dos_stamp)
        self._pos = 0
        # Per entry, what close() and pack's read-back need, packed (issue #18:
        # a record object an entry made memory grow with the file count): the central
        # directory's bytes, the local header offsets and the stored sizes.
        self._central = bytearray()
        self._count = 0
        self._offsets = array("Q")
        self._stored = array("Q")
        self._any_zip64 = False
        self._names = NameRegistry(lambda m: UsageError(f"cannot store: {m}"))
        self._inbuf = bytearray(CHUNK)
        self._outbuf = bytearray(CHUNK)
        self._scratch = CTRScratch()
        self._keys = (keys or FreshKeys(self._password, None)) if self._password is not None else None
        self._closed = False
        self._offset = 0  # of the entry being written

    # -- context manager: on error nothing more is written (the caller's
    # atomic writer then discards the partial output).
    def __enter__(self) -> ZipStreamWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()

    def _write(self, data) -> None:
        try:
            self._out.write(data)
        except BrokenPipeError as exc:
            raise OutputError("the output stream was closed early") from exc
        self._pos += len(data)

    def _begin(self, name: str, *, size: int, csize: int, crc: int, actual_method: int) -> zipformat.EntryHeader:
        if self._closed:
            raise UsageError("the zip writer is closed")
        raw = zipformat.writer_name_check(name)
        self._names.add(name)
        zip64 = self._force_zip64 or size >= zipformat.U32 or csize >= zipformat.U32
        h = zipformat.entry_header(name, raw, size=size, compressed_size=csize, crc32=crc,
                                   actual_method=actual_method, aes=self._password is not None, zip64=zip64,
                                   dos=self._dos)
        offset = self._pos
        self._write(zipformat.build_local_header(h, zip64=zip64))
        self._central += zipformat.build_central_record(h, offset, zip64=zip64 or offset >= zipformat.U32)
        self._count += 1
        self._any_zip64 |= zip64 or offset >= zipformat.U32
        self._offset = offset
        return h

    def _result(self, h: zipformat.EntryHeader, sha: str) -> EntryResult:
        self._offsets.append(self._offset)
        self._stored.append(h.compressed_size)
        return EntryResult(h.name, h.size, sha, h.compressed_size, self._offset)

    def placed(self) -> Iterator[tuple[int, int]]:
        """(local header offset, stored size) of each entry written, in order."""
        return zip(self._offsets, self._stored)

    def _cipher(self) -> EntryCipher:
        salt, keys = self._keys.take()
        return EntryCipher(self._password, salt, scratch=self._scratch, keys=keys)

    def add_bytes(self, name: str, data: bytes, *, compress: bool = False) -> EntryResult:
        """Store an in-memory blob (manifest, index, readme). ``compress``
        deflates it (worth it for text; the blob is small by contract)."""
        data = bytes(data)
        sha = hashlib.sha256(data).hexdigest()
        payload, method = data, zipformat.METHOD_STORED
        if compress:
            co = zlib.compressobj(9, zlib.DEFLATED, -15)
            packed = co.compress(data) + co.flush()
            if len(packed) < len(data):
                payload, method = packed, zipformat.METHOD_DEFLATED
        if self._password is None:
            h = self._begin(name, size=len(data), csize=len(payload), crc=crc32(data), actual_method=method)
            self._write(payload)
        else:
            h = self._begin(name, size=len(data), csize=len(payload) + AES_OVERHEAD, crc=0, actual_method=method)
            self._encrypt_pieces((payload,), self._cipher())
        return self._result(h, sha)

    def _encrypt_pieces(self, pieces: Iterable, ec: EntryCipher, sha=None,
                        progress: Progress = NULL_PROGRESS) -> int:
        """Salt and verifier, the ciphertext of *pieces* chunk by chunk
        through the reused buffer (no copy of a large blob: the manifest
        grows with the file count; issue #18), the authentication code; the number
        of plaintext bytes. *sha* is updated with the plaintext."""
        self._write(ec.salt + ec.verifier)
        out = memoryview(self._outbuf)
        total = 0
        for piece in pieces:
            mv = memoryview(piece)
            for at in range(0, len(mv), CHUNK):
                chunk = mv[at:at + CHUNK]
                if sha is not None:
                    sha.update(chunk)
                o = out[:len(chunk)]
                ec.encrypt_into(chunk, o)
                self._write(o)
                total += len(chunk)
                progress.advance(len(chunk))
        self._write(ec.auth_code())
        return total

    def add_stream(self, name: str, size: int, pieces: Callable[[], Iterable]) -> EntryResult:
        """Store a generated file of *size* bytes given as pieces (STORED):
        ``pieces()`` returns an iterable of bytes-like objects, called once
        under AES and twice for a plain zip (its CRC-32 goes before the
        data). The manifest, held deflated, is inflated piece by piece
        instead of whole (issue #18)."""
        def too(got: int) -> UsageError:
            return UsageError(f"cannot store {name!r}: {got} bytes given, {size} announced")
        if self._password is None:
            digest, crc, total = self._scan_plain(pieces())
            if total != size:
                raise too(total)
            h = self._begin(name, size=size, csize=size, crc=crc, actual_method=zipformat.METHOD_STORED)
            if self._copy_plain(pieces()) != (crc, size):
                raise UsageError(f"cannot store {name!r}: its pieces differ the second time")
        else:
            sha = hashlib.sha256()
            h = self._begin(name, size=size, csize=size + AES_OVERHEAD, crc=0,
                            actual_method=zipformat.METHOD_STORED)
            total = self._encrypt_pieces(pieces(), self._cipher(), sha)
            if total != size:
                raise too(total)
            digest = sha.hexdigest()
        return self._result(h, digest)

    def add_file(self, name: str, path: str | os.PathLike, *, progress: Progress = NULL_PROGRESS) -> EntryResult:
        """Store a file bit-exact (STORED) and return its plaintext SHA-256
        (the result's ``sha256``). ``progress.advance(n)`` is called per
        chunk; the caller owns ``start``/``finish``."""
        try:
            if not stat.S_ISREG(os.stat(path).st_mode):  # a FIFO would block, a device never end
                raise InputError("not a regular file", path=path)
            fh = open(path, "rb", buffering=0)
        except OSError as exc:
            raise InputError(f"cannot read: {exc.strerror or exc}", path=path) from exc
        with fh:
            st = os.fstat(fh.fileno())
            size = st.st_size
            if self._password is None:
                sha, crc, _ = self._scan_plain(self._chunks(fh, size, path))
                fh.seek(0)
                h = self._begin(name, size=size, csize=size, crc=crc, actual_method=zipformat.METHOD_STORED)
                if self._copy_plain(self._chunks(fh, size, path), progress)[0] != crc:
                    raise InputError("the file changed while it was being packed", path=path, hint="pack again")
                after = os.fstat(fh.fileno())
                if (after.st_size, after.st_mtime_ns) != (st.st_size, st.st_mtime_ns):
                    raise InputError("the file changed while it was being packed", path=path, hint="pack again")
            else:
                h = self._begin(name, size=size, csize=size + AES_OVERHEAD, crc=0,
                                actual_method=zipformat.METHOD_STORED)
                digest = hashlib.sha256()
                self._encrypt_pieces(self._chunks(fh, size, path), self._cipher(), digest, progress)
                sha = digest.hexdigest()
        return self._result(h, sha)

    def _chunks(self, fh, size: int, path) -> Iterator[memoryview]:
        """Read *fh* in chunks into one reused buffer; insist the file still
        has exactly *size* bytes."""
        buf = memoryview(self._inbuf)
        total = 0
        while True:
            try:
                n = fh.readinto(buf)
            except OSError as exc:
                raise InputError(f"cannot read: {exc.strerror or exc}", path=path) from exc
            if not n:
                break
            total += n
            if total > size:
                break
            yield buf[:n]
        if total != size:
            raise InputError("the file changed while it was being packed", path=path, hint="pack again")

    @staticmethod
    def _scan_plain(pieces: Iterable) -> tuple[str, int, int]:
        # A plain zip needs the CRC-32 in the local header, before the data:
        # read the pieces once for SHA-256 and CRC-32 (and their length), then copy them.
        sha = hashlib.sha256()
        crc = total = 0
        for piece in pieces:
            sha.update(piece)
            crc = crc32(piece, crc)
            total += len(piece)
        return sha.hexdigest(), crc, total

    def _copy_plain(self, pieces: Iterable, progress: Progress = NULL_PROGRESS) -> tuple[int, int]:
        # The second read of a file comes from the page cache; a change in
        # between is caught by size + mtime and by the CRC-32 of what was
        # copied (cheap: pack's read-back compares bytes, it does not re-hash
        # the plaintext). Returns (CRC-32, length) of what was written.
        crc = total = 0
        for piece in pieces:
            self._write(piece)
            crc = crc32(piece, crc)
            total += len(piece)
            progress.advance(len(piece))
        return crc, total

    def close(self) -> int:
        """Write the central directory and end records; return the total size."""
        if self._closed:
            return self._pos
        cd_offset = self._pos
        self._write(self._central)
        self._central = bytearray()
        cd_size = self._pos - cd_offset
        self._write(zipformat.build_end_records(self._count, cd_offset, cd_size,
                                                force_zip64=self._force_zip64 or self._any_zip64))
        self._closed = True
        flush = getattr(self._out, "flush", None)
        if flush:
            flush()
        return self._pos


def open_writer(out: IO[bytes], *, password: bytes | None, force_zip64: bool = False,
                keys: FreshKeys | None = None, dos: tuple[int, int] | None = None) -> ZipStreamWriter:
    """A :class:`ZipStreamWriter` on *out* (use it as a context manager)."""
    return ZipStreamWriter(out, password=password, force_zip64=force_zip64, keys=keys, dos=dos)
