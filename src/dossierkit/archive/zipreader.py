"""Streaming zip reader (non-seekable input, bounded memory) with strict
checks against the central directory. Public API and format notes:
:mod:`dossierkit.archive.zipaes`, docs/containers.md."""

from __future__ import annotations

import hashlib
import io
import os
import threading
import zlib
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

from zlib_ng.zlib_ng import crc32

from dossierkit.archive import zipformat
from dossierkit.archive.winzip_aes import MAC_LEN, PV_LEN, CTRScratch, EntryCipher, derive_keys
from dossierkit.archive.worker import Job, Ring, Worker
from dossierkit.archive.zipcommon import ASIDE_MIN, CHUNK, RING, NameRegistry
from dossierkit.errors import DecryptionError, UsageError

KEYS_AHEAD = 16  # entries whose headers are scanned ahead of the stream (their salts)


class _Source:
    """Exact reads from a forward-only binary stream, tracking the offset."""

    def __init__(self, fh: IO[bytes]):
        self._fh = fh
        self.pos = 0
        self._readinto = getattr(fh, "readinto", None)

    def read_upto(self, n: int) -> bytes:
        """Up to *n* bytes: fewer only at the end of the stream (no error)."""
        data = b""
        while len(data) < n:
            block = self._fh.read(n - len(data))
            if not block:
                break
            data += block
        self.pos += len(data)
        return data

    def read_exact(self, n: int, what: str) -> bytes:
        parts, got = [], 0
        while got < n:
            block = self._fh.read(n - got)
            if not block:
                raise zipformat.bad(f"the package is truncated ({what})")
            parts.append(block)
            got += len(block)
        self.pos += n
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def readinto_exact(self, mv: memoryview, what: str) -> None:
        if self._readinto is None:
            mv[:] = self.read_exact(len(mv), what)
            return
        got, n = 0, len(mv)
        while got < n:
            k = self._readinto(mv[got:])
            if not k:
                raise zipformat.bad(f"the package is truncated ({what})")
            got += k
        self.pos += n

    def at_eof(self) -> bool:
        return not self._fh.read(1)


def _altered(name: str):
    exc = zipformat.bad(f"entry {name!r} fails authentication (HMAC): it was altered")
    exc.entry = name  # a deferred verdict surfaces while a later entry is read: name the altered one
    return exc


class _KeySlot:
    """One entry's keys, derived by whichever thread comes first: the
    worker (in its idle time) or the caller (the entry is reached)."""

    __slots__ = ("offset", "salt", "key_len", "mac", "lock", "keys")

    def __init__(self, offset: int, salt: bytes, key_len: int, mac: bool):
        self.offset, self.salt, self.key_len, self.mac = offset, salt, key_len, mac
        self.lock = threading.Lock()
        self.keys = None

    def fill(self, password: bytes) -> None:
        """Derive the keys unless done (waits while the other thread derives them)."""
        with self.lock:
            if self.keys is None:
                self.keys = derive_keys(password, self.salt, self.key_len, mac=self.mac)

    def fill_if_free(self, password: bytes) -> None:
        """The worker's side: skip a slot the caller is deriving or has derived."""
        if self.lock.acquire(blocking=False):
            try:
                if self.keys is None:
                    self.keys = derive_keys(password, self.salt, self.key_len, mac=self.mac)
            finally:
                self.lock.release()


class _KeyPrefetcher:
    """Keys of the entries ahead of the stream, shared between the caller
    and the worker.

    On a seekable input (a package file) the local headers ahead are read
    with ``os.pread`` — without moving the stream — to learn the salts. The
    worker derives keys in its idle time only (``Worker.fill_idle_time``),
    one entry at a time, taken from the far end of the look-ahead; the
    caller derives the keys of an entry it reaches that the worker has not
    (:class:`_KeySlot`: whoever comes first). So the two rarely meet on one
    entry, the worker's jobs never wait behind key work for more than one
    entry, and the key work goes to whichever core is free. This is
    speculation only: the reader uses a slot only if the salt it reads
    itself is the same, and any oddity just stops the scan (the real parser
    reports it)."""

    def __init__(self, fd: int, base: int, password: bytes, mac: bool, worker: Worker):
        self._fd, self._base, self._password, self._mac = fd, base, password, mac
        self._worker = worker
        self._next = 0
        self._pending: dict[int, _KeySlot] = {}
        self._order: deque[_KeySlot] = deque()  # slots ahead the worker may take (from the far end)
        self._offsets: deque[int] = deque()  # headers scanned ahead of the stream
        self._stopped = False

    @classmethod
    def for_stream(cls, fh: IO[bytes], password: bytes, mac: bool, worker: Worker) -> _KeyPrefetcher | None:
        try:
            if fh.seekable():
                return cls(fh.fileno(), fh.tell(), password, mac, worker)
        except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
            pass
        return None

    def _pread(self, n: int, off: int) -> bytes:
        data = os.pread(self._fd, n, self._base + off)
        if len(data) != n:
            raise ValueError("short read")
        return data

    def _scan_one(self) -> None:
        off = self._next
        fields = zipformat.LOCAL_STRUCT.unpack(self._pread(zipformat.LOCAL_STRUCT.size, off))
        sig, _, flags, method, _, _, _, csize, usize, nlen, xlen = fields
        if sig != zipformat.SIG_LOCAL:
            raise ValueError("end of entries")
        var = self._pread(nlen + xlen, off + zipformat.LOCAL_STRUCT.size) if nlen + xlen else b""
        extras = zipformat.parse_extras(var[nlen:], "prefetch")
        usize, csize = zipformat.resolve_zip64(extras, [(usize, zipformat.U32, 8), (csize, zipformat.U32, 8)],
                                               "prefetch")
        data_off = off + zipformat.LOCAL_STRUCT.size + nlen + xlen
        if flags & zipformat.FLAG_ENCRYPTED and method == zipformat.METHOD_AES:
            _, strength, _ = zipformat.parse_aes_extra(extras, "prefetch")
            # the first entry is always authenticated: it tells a wrong password (hence its MAC key)
            slot = _KeySlot(off, self._pread(zipformat.AES_SALT_LEN[strength], data_off), 8 * (strength + 1),
                            self._mac or off == 0)
            self._pending[off] = slot
            self._order.append(slot)
        self._next = data_off + csize

    def idle_step(self) -> bool:
        """The worker's idle time: derive the keys of the entry furthest
        ahead (the stream reaches it last). False when there is none."""
        try:
            slot = self._order.pop()
        except IndexError:  # none left (the caller empties it from the other end)
            return False
        slot.fill_if_free(self._password)
        return True

    def keys_for(self, offset: int, salt: bytes, key_len: int):
        while self._offsets and self._offsets[0] <= offset:
            self._offsets.popleft()
        while not self._stopped and (self._next <= offset or (
                len(self._pending) < KEYS_AHEAD and len(self._offsets) < 4 * KEYS_AHEAD)):
            try:
                self._offsets.append(self._next)
                self._scan_one()
            except Exception:  # speculation: the stream parser judges
                self._stopped = True
        slot = self._pending.pop(offset, None)
        try:
            while self._order[0].offset <= offset:
                self._order.popleft()  # reached by the stream: no longer the worker's to take
        except IndexError:  # empty (the worker takes from the other end meanwhile)
            pass
        if slot is None or slot.salt != salt or slot.key_len != key_len:
            return None
        slot.fill(self._password)
        return slot.keys


@dataclass(slots=True)  # one per entry, kept until the central directory (#18)
class _Streamed:
    header: zipformat.EntryHeader
    offset: int
    local_zip64: bool


class StreamEntry:
    """One entry of a package being read. ``chunks()`` once, in order."""

    def __init__(self, reader: _ZipStreamReader, streamed: _Streamed, cipher: EntryCipher | None):
        h = streamed.header
        self.name = h.name
        self.size = h.size
        self.compressed_size = h.compressed_size
        self.method = h.actual_method
        self.encrypted = h.encrypted
        self.offset = streamed.offset
        self._reader = reader
        self._h = h
        self._cipher = cipher
        self._sha: str | None = None
        self._sha_job: Job | None = None  # the SHA-256 still computed on the worker (deferred_hash, see _entry_data)
        self._mac_check: Job | None = None  # deferred HMAC verdict (see _entry_data)
        self._started = False
        self._done = False
        # False when read with check_mac=False (MAC skipped): only a SHA-256
        # comparison against a signed manifest then proves the content.
        self.authenticated = True

    @property
    def sha256(self) -> str:
        """The plaintext's SHA-256 (hex). With ``deferred_hash`` it may still
        be computed on the worker: this waits for it (:meth:`sha256_ready`
        tells without waiting)."""
        if self._sha is None and self._sha_job is not None:
            self._sha = self._sha_job.result()
            self._sha_job = None
        if self._sha is None:
            raise UsageError("sha256 is known only after the entry was read to the end")
        return self._sha

    def sha256_ready(self) -> bool:
        """True once :attr:`sha256` can be read without waiting (the entry was
        read to its end and its hash is computed)."""
        return self._sha is not None or (self._sha_job is not None and self._sha_job.done())

    def chunks(self) -> Iterator[memoryview]:
        """Plaintext pieces. Each is a view of a reused buffer, valid until the
        next one is requested (``bytes(chunk)`` to keep it). Raises
        IntegrityError/DecryptionError if the entry is not authentic: at its
        end for the first encrypted entry, later for the others (their MAC
        is computed on the worker: at a following entry, at the
        latest before the central directory is read, or at once with
        :meth:`authenticate`). Trust nothing before the iteration of all
        entries has ended without an error."""
        if self._started:
            raise UsageError(f"entry {self.name!r} was already read")
        self._started = True
        yield from self._reader._entry_data(self)
        self._done = True

    def authenticate(self) -> None:
        """Wait for this entry's MAC verdict if it is still being computed,
        and raise IntegrityError if it fails (otherwise it is raised at a
        later entry or before the central directory). A caller that sees a
        SHA-256 mismatch asks first: an altered container is the truer
        diagnosis, and it names this entry."""
        if self._mac_check is not None and not self._mac_check.result():
            raise _altered(self.name)

    def drain(self) -> str:
        """Read and authenticate the entry without keeping it; returns sha256."""
        for _ in self.chunks():
            pass
        return self.sha256

    def copy_to(self, out: IO[bytes]) -> str:
        """Write the plaintext to *out*; returns sha256 (verified entry)."""
        for chunk in self.chunks():
            out.write(chunk)
        return self.sha256

    def _finish(self) -> None:
        if not self._started:
            self.drain()
        elif not self._done:
            raise UsageError(f"entry {self.name!r} was not read to the end before the next one")


class _ZipStreamReader:
    def __init__(self, fh: IO[bytes], *, password: bytes | None, max_entry_size: int | None, strict: bool,
                 label: str, check_mac: bool = True, worker: Worker | None = None, deferred_hash: bool = False):
        self._src = _Source(fh)
        self._check_mac = check_mac
        self._deferred_hash = deferred_hash
        self._password = bytes(password) if password is not None else None
        self._max = max_entry_size
        self._strict = strict
        self._label = label
        self._streamed: list[_Streamed] = []
        self._names = NameRegistry(zipformat.bad)
        self._first = True  # no local header read yet
        self._password_ok = False
        # The flow's worker (verify shares its own), or one of the reader's.
        self._owns_worker = worker is None
        self._worker = worker if worker is not None else Worker("dk-zip")
        # ciphertext (plane 0) and plaintext (plane 1) of a chunk, lent to the worker's jobs
        self._ring = Ring(self._worker, CHUNK, count=RING, planes=2)
        self._mac_checks: deque[tuple[Job, str]] = deque()  # deferred MAC checks (entry name)
        self._scratch = CTRScratch()
        self._prefetch = (_KeyPrefetcher.for_stream(fh, self._password, check_mac, self._worker)
                          if self._password is not None else None)
        if self._prefetch is not None:
            self._worker.fill_idle_time(self._prefetch.idle_step)

    def _settle_macs(self, *, wait: bool) -> None:
        """Raise for the first deferred MAC check that failed (those done;
        with *wait*, all of them)."""
        while self._mac_checks and (wait or self._mac_checks[0][0].done()):
            job, name = self._mac_checks.popleft()
            if not job.result():
                raise _altered(name)

    def _mac_needed(self) -> bool:
        # Even with check_mac=False the first encrypted entry is authenticated:
        # that is what tells a wrong password from a damaged package.
        return self._check_mac or not self._password_ok

    def _keys(self, offset: int, salt: bytes, key_len: int):
        mac = self._mac_needed()
        keys = None
        if self._prefetch is not None:
            keys = self._prefetch.keys_for(offset, salt, key_len)
        if keys is None or (mac and keys[1] is None):
            keys = derive_keys(self._password, salt, key_len, mac=mac)
        return keys if mac else (keys[0], None, None)

    def entries(self) -> Iterator[StreamEntry]:
        ending = "error"
        try:
            while True:
                self._settle_macs(wait=False)
                sig = self._first_signature() if self._first else self._src.read_exact(4, "record signature")
                if sig != zipformat.SIG_LOCAL:
                    break
                entry = self._local_entry()
                yield entry
                entry._finish()
            self._settle_macs(wait=True)
            self._central_directory(sig)
            ending = "end"
        except GeneratorExit:
            ending = "abandoned"
            raise
        finally:
            # An abandoned stream (close(), or the garbage collector when a
            # caller dropped it) never waits for the worker: the collector
            # may run this on any thread — a thread being started, holding
            # threading's own locks, deadlocked on joining ours (CI hung so).
            # Its jobs only touch what they were given (worker.py).
            self._mac_checks.clear()
            if self._prefetch is not None:
                self._worker.fill_idle_time(None)
            self._prefetch = None
            if self._owns_worker:
                if ending == "abandoned":
                    self._worker.abandon()
                else:
                    self._worker.close(drop=ending == "error")

    def _first_signature(self) -> bytes:
        """The stream's first 4 bytes, which a package's zip starts with. A
        password package was sniffed as a zip already; what an age file
        decrypts to is authenticated, so anything but a zip there is not a
        dossierkit package (exit 4), not an altered one."""
        sig = self._src.read_upto(4)  # the container's own errors (an altered age chunk) go through as they are
        if sig != zipformat.SIG_LOCAL:
            raise DecryptionError(f"not a dossierkit package: {self._label} holds no zip archive",
                                  hint="ask the sender for the package dossierkit made")
        return sig

    # -- local headers
    def _local_entry(self) -> StreamEntry:
        offset = self._src.pos - 4
        fixed = self._src.read_exact(zipformat.LOCAL_STRUCT.size - 4, "local header")
        (_, ver, flags, method, dtime, ddate, crc, csize, usize, nlen, xlen) = zipformat.LOCAL_STRUCT.unpack(
            zipformat.SIG_LOCAL + fixed)
        raw_name = self._src.read_exact(nlen, "entry name")
        extra = self._src.read_exact(xlen, "extra field")
        where = f"local header at offset {offset}"
        extras = zipformat.parse_extras(extra, where)
        usize, csize = zipformat.resolve_zip64(extras, [(usize, zipformat.U32, 8), (csize, zipformat.U32, 8)], where)
        h = zipformat.header_from_fields(raw_name=raw_name, version_needed_=ver, flags=flags, method=method, dos_time=dtime,
                                  dos_date=ddate, crc=crc, csize=csize, usize=usize, extras=extras, where=where)
        zipformat.check_entry_name(h.name)
        if self._first and self._password is not None and not h.encrypted:
            # a dossierkit password package encrypts every entry, the first one too: this is someone else's zip
            raise DecryptionError(f"not a dossierkit package: {self._label} is a zip whose entries are not encrypted",
                                  hint="ask the sender for the package dossierkit made")
        self._first = False
        self._names.add(h.name)
        local_zip64 = zipformat.EXTRA_ZIP64 in extras
        self._check_flags(h)
        if self._strict:
            expected = zipformat.build_local_header(self._canonical(h, local_zip64), zip64=local_zip64)
            if zipformat.SIG_LOCAL + fixed + raw_name + extra != expected:
                raise zipformat.bad(f"entry {h.name!r}: local header differs from what dossierkit writes")
        if self._max is not None and h.size > self._max:
            raise zipformat.bad(f"entry {h.name!r} declares {h.size} bytes, more than the {self._max} allowed")
        cipher = None
        if h.encrypted:
            if self._password is None:
                raise DecryptionError(f"{self._label} is password-protected: a password is needed")
            salt_len = zipformat.AES_SALT_LEN[h.aes_strength]
            if h.compressed_size < salt_len + PV_LEN + MAC_LEN:
                raise zipformat.bad(f"entry {h.name!r}: encrypted size too small")
            data_len = h.compressed_size - salt_len - PV_LEN - MAC_LEN
            salt = self._src.read_exact(salt_len, f"salt of {h.name}")
            pv = self._src.read_exact(PV_LEN, f"password check of {h.name}")
            key_len = 8 * (h.aes_strength + 1)
            cipher = EntryCipher(self._password, salt, key_len=key_len, scratch=self._scratch,
                                 keys=self._keys(offset, salt, key_len))
            if cipher.verifier is not None and pv != cipher.verifier:
                self._wrong_password(h.name)
        else:
            if self._password is not None:
                raise zipformat.bad(f"entry {h.name!r} is not encrypted in a password-protected package")
            data_len = h.compressed_size
        if h.actual_method == zipformat.METHOD_STORED and data_len != h.size:
            raise zipformat.bad(f"entry {h.name!r}: stored size {data_len} differs from its declared size {h.size}")
        st = _Streamed(h, offset, local_zip64)
        self._streamed.append(st)
        entry = StreamEntry(self, st, cipher)
        entry._data_len = data_len
        return entry

    def _wrong_password(self, name: str) -> None:
        if self._password_ok:
            raise zipformat.bad(f"entry {name!r} fails its password check although earlier entries passed")
        raise DecryptionError(f"wrong password for {self._label}", hint="check the password (or the package is damaged)")

    def _check_flags(self, h: zipformat.EntryHeader) -> None:
        if h.flags & zipformat.FLAG_DATA_DESCRIPTOR:
            raise zipformat.bad(f"entry {h.name!r} uses a data descriptor (sizes unknown before its data); refused")
        if h.flags & zipformat.FLAG_STRONG_ENCRYPTION or h.flags & 0x2000:
            raise zipformat.bad(f"entry {h.name!r} uses an unsupported encryption scheme")
        if h.encrypted != (h.method == zipformat.METHOD_AES):
            raise zipformat.bad(f"entry {h.name!r}: only WinZip AES encryption is supported (not ZipCrypto)")
        allowed = zipformat.FLAG_ENCRYPTED | zipformat.FLAG_UTF8 | (zipformat.FLAG_DEFLATE_OPTIONS if h.actual_method else 0)
        if h.flags & ~allowed:
            raise zipformat.bad(f"entry {h.name!r}: unexpected flags 0x{h.flags:04x}")

    @staticmethod
    def _canonical(h: zipformat.EntryHeader, zip64: bool) -> zipformat.EntryHeader:
        """*h* as dossierkit's writer would have written it (strict mode)."""
        return zipformat.entry_header(h.name, h.raw_name, size=h.size, compressed_size=h.compressed_size,
                                      crc32=h.crc32, actual_method=h.actual_method,
                                      aes=h.method == zipformat.METHOD_AES, zip64=zip64,
                                      dos=(h.dos_time, h.dos_date))

    # -- entry data
    def _entry_data(self, entry: StreamEntry) -> Iterator[memoryview]:
        h = entry._h
        remaining = entry._data_len
        cipher = entry._cipher
        sha = hashlib.sha256()
        crc = 0
        produced = 0
        inflater = zlib.decompressobj(-15) if h.actual_method == zipformat.METHOD_DEFLATED else None
        mac = cipher.mac if cipher is not None else None
        # Once the password is known good (the first entry authenticated),
        # the HMAC of the ciphertext runs on the worker and its verdict is
        # collected later (``_settle_macs``: at the next entries, at the
        # latest before the central directory), so the worker may lag a few
        # chunks behind across entries while this thread decrypts and hashes
        # — both cores busy even with thousands of small entries. The first
        # entry is authenticated before anything else is read: that is what
        # tells a wrong password from damage. Without a MAC (the plain zip
        # inside age) the worker hashes the plaintext of big entries.
        defer = mac is not None and self._password_ok
        # deferred_hash (a plain zip): every entry's SHA-256 on the worker,
        # collected by the caller (StreamEntry.sha256) when it needs it; the
        # CRC-32 stays here and fails at once (the worker has the package
        # hash too: with both on it, it became the slower thread — A/B in
        # docs/performance-history.md)
        later = cipher is None and inflater is None and self._deferred_hash
        aside = defer or later or entry._data_len >= ASIDE_MIN
        worker = self._worker
        want_crc = cipher is None or h.aes_vendor == zipformat.AES_VENDOR_AE1
        crc_box = [0]

        def hash_piece(piece) -> None:
            sha.update(piece)
            if want_crc:
                crc_box[0] = crc32(piece, crc_box[0])

        hash_aside = aside and mac is None and inflater is None
        job: Job | None = None
        while remaining:
            n = min(remaining, CHUNK)
            self._ring.take()
            cb = self._ring.view(0)[:n]
            self._src.readinto_exact(cb, f"data of {h.name}")
            remaining -= n
            if mac is not None:
                if aside:
                    job = worker.submit(mac.update, cb)
                else:
                    mac.update(cb)
            if cipher is not None:
                plain = self._ring.view(1)[:n]
                cipher.ctr.process(cb, plain)
            else:
                plain = cb
            pieces = self._inflate(inflater, plain, h, produced) if inflater else (plain,)
            for piece in pieces:
                produced += len(piece)
                if produced > h.size:
                    raise zipformat.bad(f"entry {h.name!r} holds more data than its declared {h.size} bytes")
                if later:
                    job = worker.submit(sha.update, piece)
                    crc_box[0] = crc32(piece, crc_box[0])
                elif hash_aside:
                    job = worker.submit(hash_piece, piece)
                else:
                    hash_piece(piece)
                yield piece
        if later:
            if produced != h.size:
                raise zipformat.bad(f"entry {h.name!r} holds {produced} bytes, not its declared {h.size}")
            if crc_box[0] != h.crc32:
                raise zipformat.bad(f"entry {h.name!r} fails its CRC-32 check: it was altered")
            entry._sha_job = worker.submit(sha.hexdigest, borrows=False)
            return
        if job is not None and not defer:
            job.result()
        crc = crc_box[0]
        if inflater is not None:
            if not inflater.eof or inflater.unused_data or inflater.unconsumed_tail:
                raise zipformat.bad(f"entry {h.name!r}: compressed data is corrupt")
        if produced != h.size:
            raise zipformat.bad(f"entry {h.name!r} holds {produced} bytes, not its declared {h.size}")
        if cipher is not None:
            code = self._src.read_exact(MAC_LEN, f"authentication code of {h.name}")
            if mac is None:
                entry.authenticated = False  # check_mac=False: the caller's SHA-256 check decides
            elif defer:
                entry._mac_check = worker.submit(cipher.check_auth_code, code)
                self._mac_checks.append((entry._mac_check, h.name))
            elif not cipher.check_auth_code(code):
                if not self._password_ok:
                    raise DecryptionError(f"wrong password for {self._label}, or the package is damaged",
                                          hint=f"first entry {h.name!r} fails authentication")
                raise _altered(h.name)
            self._password_ok = True
        if (cipher is None or h.aes_vendor == zipformat.AES_VENDOR_AE1) and crc != h.crc32:
            raise zipformat.bad(f"entry {h.name!r} fails its CRC-32 check: it was altered")
        entry._sha = sha.hexdigest()

    @staticmethod
    def _inflate(inflater, data, h: zipformat.EntryHeader, produced: int) -> Iterator[bytes]:
        """Inflate *data* in pieces of at most CHUNK bytes (bounded memory even
        for an honest, highly compressible entry), never producing more than
        one byte beyond the declared size (a lying header cannot make us
        inflate a bomb)."""
        try:
            while True:
                out = inflater.decompress(data, min(CHUNK, h.size - produced + 1))
                produced += len(out)
                if out:
                    yield out
                data = inflater.unconsumed_tail
                if not data or inflater.eof or produced > h.size:
                    return
        except zlib.error as exc:
            raise zipformat.bad(f"entry {h.name!r}: compressed data is corrupt ({exc})") from None

    # -- central directory and end records
    def _central_directory(self, sig: bytes) -> None:
        cd_offset = self._src.pos - 4
        for st in self._streamed:
            if sig != zipformat.SIG_CENTRAL:
                raise zipformat.bad(f"the central directory lacks entry {st.header.name!r}")
            self._central_record(st)
            sig = self._src.read_exact(4, "record signature")
        if sig == zipformat.SIG_CENTRAL:
            raise zipformat.bad("the central directory lists more entries than the package holds")
        cd_size = self._src.pos - 4 - cd_offset
        self._end_records(sig, cd_offset, cd_size)
        if not self._src.at_eof():
            raise zipformat.bad("unexpected data after the end of the zip")

    def _central_record(self, st: _Streamed) -> None:
        start = self._src.pos - 4
        fixed = self._src.read_exact(zipformat.CENTRAL_STRUCT.size - 4, "central directory")
        (_, made_by, ver, flags, method, dtime, ddate, crc, csize, usize, nlen, xlen, clen, disk, iattr, eattr,
         off) = zipformat.CENTRAL_STRUCT.unpack(zipformat.SIG_CENTRAL + fixed)
        raw_name = self._src.read_exact(nlen, "central directory name")
        extra = self._src.read_exact(xlen, "central directory extra field")
        where = f"central directory record at offset {start}"
        if clen:
            raise zipformat.bad(f"{where} has an entry comment (refused)")
        extras = zipformat.parse_extras(extra, where)
        usize, csize, off, disk = zipformat.resolve_zip64(
            extras, [(usize, zipformat.U32, 8), (csize, zipformat.U32, 8), (off, zipformat.U32, 8), (disk, zipformat.U16, 4)], where)
        h = zipformat.header_from_fields(raw_name=raw_name, version_needed_=ver, flags=flags, method=method, dos_time=dtime,
                                  dos_date=ddate, crc=crc, csize=csize, usize=usize, extras=extras, where=where)
        name = st.header.name
        if h != st.header or off != st.offset or disk != 0:
            raise zipformat.bad(f"central directory record of {name!r} disagrees with its local header")
        if zipformat.is_link_or_special(made_by, eattr):
            raise zipformat.bad(f"entry {name!r} is a link, a folder or a special file (refused)")
        if self._strict:
            zip64 = st.local_zip64 or st.offset >= zipformat.U32
            expected = zipformat.build_central_record(self._canonical(st.header, st.local_zip64), st.offset, zip64=zip64)
            if zipformat.SIG_CENTRAL + fixed + raw_name + extra != expected:
                raise zipformat.bad(f"central directory record of {name!r} differs from what dossierkit writes")

    def _end_records(self, sig: bytes, cd_offset: int, cd_size: int) -> None:
        count = len(self._streamed)
        raw = b""
        z64 = None
        if sig == zipformat.SIG_ZIP64_EOCD:
            z64_offset = self._src.pos - 4
            body = self._src.read_exact(zipformat.ZIP64_EOCD_STRUCT.size - 4, "Zip64 end record")
            raw += sig + body
            (_, rsize, _made, _need, disk, cd_disk, n_disk, n_total, z_cd_size, z_cd_offset) = \
                zipformat.ZIP64_EOCD_STRUCT.unpack(sig + body)
            if rsize != 44 or disk or cd_disk:
                raise zipformat.bad("unsupported Zip64 end record (multi-disk or extensible data)")
            if (n_disk, n_total, z_cd_size, z_cd_offset) != (count, count, cd_size, cd_offset):
                raise zipformat.bad("the Zip64 end record disagrees with the entries read")
            loc = self._src.read_exact(zipformat.ZIP64_LOCATOR_STRUCT.size, "Zip64 locator")
            raw += loc
            lsig, ldisk, loffset, ndisks = zipformat.ZIP64_LOCATOR_STRUCT.unpack(loc)
            if lsig != zipformat.SIG_ZIP64_LOCATOR or ldisk != 0 or loffset != z64_offset or ndisks != 1:
                raise zipformat.bad("bad Zip64 end locator")
            z64 = True
            sig = self._src.read_exact(4, "end record")
        if sig != zipformat.SIG_EOCD:
            raise zipformat.bad("unexpected record after the central directory")
        body = self._src.read_exact(zipformat.EOCD_STRUCT.size - 4, "end record")
        raw += sig + body
        _, disk, cd_disk, n_disk, n_total, e_cd_size, e_cd_offset, clen = zipformat.EOCD_STRUCT.unpack(sig + body)
        if clen:
            raise zipformat.bad("the zip has a comment (refused: dossierkit writes none)")
        if disk or cd_disk:
            raise zipformat.bad("multi-disk zip (refused)")

        def agrees(value: int, real: int, sentinel: int) -> bool:
            return value == real or (z64 and value == sentinel)

        if not (agrees(n_disk, count, zipformat.U16) and agrees(n_total, count, zipformat.U16)
                and agrees(e_cd_size, cd_size, zipformat.U32) and agrees(e_cd_offset, cd_offset, zipformat.U32)):
            raise zipformat.bad("the end record disagrees with the entries read")
        if self._strict and raw != zipformat.build_end_records(count, cd_offset, cd_size, force_zip64=bool(z64)):
            raise zipformat.bad("the end records differ from what dossierkit writes")


def iter_package_entries(in_fileobj: IO[bytes], *, password: bytes | None, max_entry_size: int | None = None,
                         strict: bool = True, label: str = "the package", check_mac: bool = True,
                         worker: Worker | None = None, deferred_hash: bool = False) -> Iterator[StreamEntry]:
    """Stream the entries of a zip written by :class:`ZipStreamWriter`.

    ``password`` bytes for a WinZip AES package, ``None`` for a plain zip
    (encrypted entries are then refused). ``max_entry_size`` refuses larger
    entries before reading them. ``strict=False`` accepts other writers'
    archives (pyzipper, 7-Zip without extra fields), still checking that the
    central directory agrees with the stream. ``label`` names the package in
    messages (keep it free of patient data). Raises IntegrityError (altered,
    truncated, hostile) or DecryptionError (wrong password).

    ``check_mac=False`` authenticates only the first encrypted entry (to tell
    a wrong password from damage) and skips the HMAC of the others, which
    also halves their PBKDF2 work (no HMAC key to derive); those entries have
    ``authenticated == False``. Only for a caller that compares every
    entry's SHA-256 with a signed manifest whose signer it pins: without
    the MAC, someone who knows a file's plaintext can alter it (AES-CTR is
    malleable) and only a pinned signature notices. The skipped entries'
    MAC and password-check bytes are then checked by nobody (verify does
    not use this mode for that reason: docs/security.md). Headers, sizes
    and the central directory are checked either way.

    ``worker``: the flow's :class:`~.worker.Worker` (verify shares one with
    its package hash); by default the reader starts one of its own when it
    first has work for it and stops it when the iteration ends.

    ``deferred_hash=True`` (a plain zip only: the one inside age): every
    entry's SHA-256 runs on the worker, and the next entry is read while it
    finishes; :attr:`StreamEntry.sha256` waits for it,
    :meth:`StreamEntry.sha256_ready` tells without waiting. The CRC-32 is
    still checked on the reading thread, at the entry's end. For a caller
    that compares the hashes a few entries late (verify: the reading thread
    otherwise decrypts and hashes everything while the worker has only the
    package's hash).
    """
    if password is not None and not isinstance(password, bytes | bytearray):
        raise UsageError("the password must be bytes (encode it as UTF-8)")
    return _ZipStreamReader(in_fileobj, password=password, max_entry_size=max_entry_size, strict=strict,
                            label=label, check_mac=check_mac, worker=worker,
                            deferred_hash=deferred_hash).entries()
