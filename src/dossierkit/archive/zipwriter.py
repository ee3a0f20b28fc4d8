"""Streaming zip writer: WinZip AES-256 (AE-2) with a password, or a plain
STORED zip (the inner layer of the age container). Public API and format
notes: :mod:`dossierkit.archive.zipaes`, docs/containers.md."""

from __future__ import annotations

import hashlib
import os
import stat
import zlib
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from typing import IO

from dossierkit.errors import InputError, OutputError, UsageError
from dossierkit.progress import NULL_PROGRESS, Progress
from dossierkit.archive import zipformat as zf
from dossierkit.archive.winzip_aes import KDF_MAX_AHEAD, CTRScratch, EntryCipher, KeySupply
from dossierkit.archive.zipcommon import AES_OVERHEAD, CHUNK, BufferRing, HelperThread, NameRegistry


@dataclass(frozen=True)
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
    is fixed to 1980-01-01 00:00, there is no comment and no extra field
    beyond Zip64 and AES. ``force_zip64`` writes Zip64 records even for
    small archives (tests and interop checks).
    """

    def __init__(self, out: IO[bytes], *, password: bytes | None, force_zip64: bool = False,
                 keys: KeySupply | None = None):
        if password is not None and not isinstance(password, bytes | bytearray):
            raise UsageError("the password must be bytes (encode it as UTF-8)")
        if password is not None and not password:
            raise UsageError("empty password")
        self._out = out
        self._password = bytes(password) if password is not None else None
        self._force_zip64 = force_zip64
        self._pos = 0
        self._central: list[bytes] = []
        self._any_zip64 = False
        self._names = NameRegistry(lambda m: UsageError(f"cannot store: {m}"))
        self._ring = BufferRing()
        self._checks: deque[Future] = deque()  # per-file hash checks still running on the helper
        self._outbuf = bytearray(CHUNK)
        self._scratch = CTRScratch()
        self._helper = HelperThread()
        # An external supply (pack starts one before its checks) is owned from here on.
        # The writer's own supply looks only a few keys ahead: a writer left
        # unclosed must not keep a thread deriving thousands of keys.
        self._keys = (keys or KeySupply(self._password, ahead=KDF_MAX_AHEAD)) if self._password is not None else None
        self._closed = False
        self.entries: list[EntryResult] = []

    # -- context manager: on error nothing more is written (the caller's
    # atomic writer then discards the partial output).
    def __enter__(self) -> ZipStreamWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self._shutdown()

    @property
    def bytes_written(self) -> int:
        return self._pos

    def _write(self, data) -> None:
        try:
            self._out.write(data)
        except BrokenPipeError as exc:
            raise OutputError("the output stream was closed early") from exc
        self._pos += len(data)

    def _shutdown(self) -> None:
        self._checks.clear()
        self._ring.forget()
        self._helper.shutdown()
        if self._keys is not None:
            self._keys.close()

    def _begin(self, name: str, *, size: int, csize: int, crc: int, actual_method: int) -> tuple[zf.EntryHeader, int]:
        if self._closed:
            raise UsageError("the zip writer is closed")
        raw = zf.writer_name_check(name)
        self._names.add(name)
        aes = self._password is not None
        zip64 = self._force_zip64 or size >= zf.U32 or csize >= zf.U32
        flags = zf.name_flags(raw) | (zf.FLAG_ENCRYPTED if aes else 0)
        h = zf.EntryHeader(
            name=name, raw_name=raw, version_needed=zf.version_needed(aes=aes, zip64=zip64, method=actual_method),
            flags=flags, method=zf.METHOD_AES if aes else actual_method, dos_time=zf.DOS_TIME, dos_date=zf.DOS_DATE,
            crc32=0 if aes else crc, compressed_size=csize, size=size,
            aes_vendor=zf.AES_VENDOR_AE2 if aes else None, aes_strength=zf.AES_STRENGTH_256 if aes else None,
            actual_method=actual_method)
        offset = self._pos
        self._write(zf.build_local_header(h, zip64=zip64))
        self._central.append(zf.build_central_record(h, offset, zip64=zip64 or offset >= zf.U32))
        self._any_zip64 |= zip64 or offset >= zf.U32
        return h, offset

    def _result(self, h: zf.EntryHeader, offset: int, sha: str) -> EntryResult:
        res = EntryResult(h.name, h.size, sha, h.compressed_size, offset)
        self.entries.append(res)
        return res

    def add_bytes(self, name: str, data: bytes, *, compress: bool = False) -> EntryResult:
        """Store an in-memory blob (manifest, index, readme). ``compress``
        deflates it (worth it for text; the blob is small by contract)."""
        data = bytes(data)
        sha = hashlib.sha256(data).hexdigest()
        payload, method = data, zf.METHOD_STORED
        if compress:
            co = zlib.compressobj(9, zlib.DEFLATED, -15)
            packed = co.compress(data) + co.flush()
            if len(packed) < len(data):
                payload, method = packed, zf.METHOD_DEFLATED
        crc = zlib.crc32(data)
        if self._password is None:
            h, offset = self._begin(name, size=len(data), csize=len(payload), crc=crc, actual_method=method)
            self._write(payload)
        else:
            h, offset = self._begin(name, size=len(data), csize=len(payload) + AES_OVERHEAD, crc=0,
                                    actual_method=method)
            salt, keys = self._keys.take()
            ec = EntryCipher(self._password, salt, scratch=self._scratch, keys=keys)
            out = bytearray(len(payload))
            ec.encrypt_into(payload, out)
            self._write(ec.salt + ec.verifier)
            self._write(out)
            self._write(ec.auth_code())
        return self._result(h, offset, sha)

    def add_file(self, name: str, path: str | os.PathLike, *, progress: Progress = NULL_PROGRESS,
                 on_hashed: Callable[[str], None] | None = None) -> EntryResult:
        """Store a file bit-exact (STORED) and return its plaintext SHA-256.
        ``progress.advance(n)`` is called per chunk; the caller owns
        ``start``/``finish``.

        ``on_hashed``: with a password, the plaintext SHA-256 is then left
        to the helper thread, which may lag a few chunks behind; it calls
        ``on_hashed(hex)`` when the file is hashed, and what that raises
        (say, a file that no longer matches its index) is raised by a later
        call of the writer or by :meth:`close`. The result's ``sha256`` is
        then empty."""
        return self._add_file(name, path, progress, on_hashed)

    def _add_file(self, name: str, path, progress: Progress, on_hashed) -> EntryResult:
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
                sha, crc = self._scan_plain(fh, size, path)
                fh.seek(0)
                h, offset = self._begin(name, size=size, csize=size, crc=crc, actual_method=zf.METHOD_STORED)
                if self._copy_plain(fh, size, path, progress) != crc:
                    raise InputError("the file changed while it was being packed", path=path, hint="pack again")
                after = os.fstat(fh.fileno())
                if (after.st_size, after.st_mtime_ns) != (st.st_size, st.st_mtime_ns):
                    raise InputError("the file changed while it was being packed", path=path, hint="pack again")
                if on_hashed is not None:
                    on_hashed(sha)
            else:
                h, offset = self._begin(name, size=size, csize=size + AES_OVERHEAD, crc=0,
                                        actual_method=zf.METHOD_STORED)
                salt, keys = self._keys.take()
                sha = self._copy_aes(fh, size, path, progress,
                                     EntryCipher(self._password, salt, scratch=self._scratch, keys=keys), on_hashed)
        return self._result(h, offset, sha)

    def _chunks(self, fh, size: int, path) -> Iterator[memoryview]:
        """Read *fh* into the ring of buffers (the helper may still be hashing
        the previous ones: a buffer is reused only once its job is done);
        insist the file still has exactly *size* bytes."""
        total = 0
        while True:
            self._ring.take()
            mv = self._ring.view()
            try:
                n = fh.readinto(mv)
            except OSError as exc:
                raise InputError(f"cannot read: {exc.strerror or exc}", path=path) from exc
            if not n:
                break
            total += n
            if total > size:
                break
            yield mv[:n]
        if total != size:
            raise InputError("the file changed while it was being packed", path=path, hint="pack again")

    def _hand_off(self, fn, *args) -> Future:
        """Run *fn* on the helper thread; the chunk just read stays untouched until it is done."""
        return self._ring.hold(self._helper.submit(fn, *args))

    def _copy_aes(self, fh, size: int, path, progress: Progress, ec: EntryCipher, on_hashed) -> str:
        # This thread: read, AES-CTR, HMAC of the ciphertext, write (the sink
        # copies and returns). The helper: SHA-256 of the plaintext, which no
        # byte of the zip depends on — so it may lag behind by up to RING
        # chunks, across files, and both cores stay busy (measured the best
        # split on 2 cores with the key derivation on a thread of its own).
        while self._checks and self._checks[0].done():
            self._checks.popleft().result()
        self._write(ec.salt + ec.verifier)
        sha = hashlib.sha256()
        out = memoryview(self._outbuf)
        job: Future | None = None
        for chunk in self._chunks(fh, size, path):
            o = out[:len(chunk)]
            ec.ctr.process(chunk, o)
            job = self._hand_off(sha.update, chunk)
            ec.mac.update(o)
            self._write(o)
            progress.advance(len(chunk))
        self._write(ec.auth_code())
        if on_hashed is None:
            if job is not None:
                job.result()
            return sha.hexdigest()
        self._checks.append(self._helper.submit(lambda: on_hashed(sha.hexdigest())))
        return ""

    def _scan_plain(self, fh, size: int, path) -> tuple[str, int]:
        # A plain zip needs the CRC-32 in the local header, before the data:
        # read the file once for SHA-256 (helper) + CRC (here), then copy it.
        sha = hashlib.sha256()
        crc = 0
        job: Future | None = None
        for chunk in self._chunks(fh, size, path):
            job = self._hand_off(sha.update, chunk)
            crc = zlib.crc32(chunk, crc)
        if job is not None:
            job.result()
        return sha.hexdigest(), crc

    def _copy_plain(self, fh, size: int, path, progress: Progress) -> int:
        # The second read comes from the page cache; a change in between is
        # caught by size + mtime and by the CRC-32 of what was copied (cheap:
        # pack's read-back compares bytes, it does not re-hash the plaintext).
        crc = 0
        for chunk in self._chunks(fh, size, path):
            self._write(chunk)
            crc = zlib.crc32(chunk, crc)
            progress.advance(len(chunk))
        return crc

    def close(self) -> int:
        """Write the central directory and end records; return the total size."""
        if self._closed:
            return self._pos
        while self._checks:
            self._checks.popleft().result()
        self._shutdown()
        cd_offset = self._pos
        for rec in self._central:
            self._write(rec)
        cd_size = self._pos - cd_offset
        self._write(zf.build_end_records(len(self._central), cd_offset, cd_size,
                                         force_zip64=self._force_zip64 or self._any_zip64))
        self._closed = True
        flush = getattr(self._out, "flush", None)
        if flush:
            flush()
        return self._pos


def open_writer(out: IO[bytes], *, password: bytes | None, force_zip64: bool = False,
                keys: KeySupply | None = None) -> ZipStreamWriter:
    """A :class:`ZipStreamWriter` on *out* (use it as a context manager)."""
    return ZipStreamWriter(out, password=password, force_zip64=force_zip64, keys=keys)
