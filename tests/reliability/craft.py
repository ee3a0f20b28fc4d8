"""Crafting tampered and hostile packages for the reliability matrix.

Two ways in:
- *canonical* packages written with dossierkit's own zip writer (so the
  strict reader's "every header byte as dossierkit writes it" check passes)
  and then edited at the zip layer — what an attacker who holds the password
  or the recipient's public key can produce;
- foreign archives written with Python's zipfile / pyzipper.

The zip layer of a recipients package is reached by decrypting the age file
(the test holds the identity) and re-encrypting after the edit.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import zlib
from pathlib import Path

from dossierkit.archive import PASSWORD, RECIPIENTS, ContainerSpec, zip_reader, zipformat
from dossierkit.archive.agefile import age_reader, age_writer
from dossierkit.archive.winzip_aes import EntryCipher, derive_keys, fresh_salt
from dossierkit.package import layout
from dossierkit.package.seal import make_seal
from dossierkit.package.sums import parse_sums


class CraftZip:
    """A zip assembled record by record with zipformat's public builders,
    laid out exactly as dossierkit's writer lays it out (so the strict
    reader accepts what the test does not alter), plus entries whose
    compressed payload and declared size the test chooses (zip bombs,
    lying headers). ``finish()`` returns the bytes."""

    def __init__(self, password: bytes | None):
        self._password = password
        self._out = bytearray()
        self._central: list[bytes] = []

    def _entry(self, name: str, stored: bytes, *, size: int, crc: int, method: int) -> None:
        raw = zipformat.writer_name_check(name)
        aes = self._password is not None
        if aes:
            stored = EntryCipher(self._password, fresh_salt()).seal(stored)
        h = zipformat.entry_header(name, raw, size=size, compressed_size=len(stored), crc32=crc,
                                   actual_method=method, aes=aes, zip64=False)
        self._central.append(zipformat.build_central_record(h, len(self._out), zip64=False))
        self._out += zipformat.build_local_header(h, zip64=False) + stored

    def add_bytes(self, name: str, data: bytes) -> None:
        self._entry(name, data, size=len(data), crc=zlib.crc32(data), method=zipformat.METHOD_STORED)

    def add_deflated(self, name: str, payload: bytes, *, declared_size: int, crc: int = 0) -> None:
        self._entry(name, payload, size=declared_size, crc=crc, method=zipformat.METHOD_DEFLATED)

    def finish(self) -> bytes:
        cd_offset = len(self._out)
        cd = b"".join(self._central)
        return bytes(self._out + cd + zipformat.build_end_records(len(self._central), cd_offset, len(cd)))


def zeros_bomb(megabytes: int) -> tuple[bytes, int]:
    """A raw deflate stream inflating to *megabytes* MiB of zeros (~1 KiB per
    MiB) and its CRC-32, built from one repeated full-flush block."""
    co = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = bytes(1 << 20)
    piece = co.compress(block) + co.flush(zlib.Z_FULL_FLUSH)
    again = co.compress(block) + co.flush(zlib.Z_FULL_FLUSH)
    assert again == piece  # a full flush resets the window: blocks repeat exactly
    stream = piece * megabytes + co.flush()
    crc = 0
    for _ in range(megabytes):
        crc = zlib.crc32(block, crc)
    return stream, crc


# ---------------------------------------------------------------- zip layer

def zip_layer(path: Path, kind: str, identities=None) -> bytes:
    """The zip bytes of a package: the file itself, or the age plaintext."""
    if kind == PASSWORD:
        return path.read_bytes()
    with open(path, "rb") as fh, age_reader(fh, identities) as plain:
        return plain.read()


def wrap(zip_bytes: bytes, kind: str, recipients=None) -> bytes:
    """Inverse of :func:`zip_layer`: encrypt for *recipients* when age."""
    if kind == PASSWORD:
        return zip_bytes
    out = io.BytesIO()
    with age_writer(out, recipients) as sink:
        sink.write(zip_bytes)
    return out.getvalue()


def entries(path: Path, kind: str, *, password=None, identities=None) -> list[tuple[str, bytes]]:
    """Every (name, plaintext) of a package, in order (small test packages)."""
    out = []
    with open(path, "rb") as fh, zip_reader(fh, kind, password=password, identities=identities) as it:
        for e in it:
            out.append((e.name, b"".join(bytes(c) for c in e.chunks())))
    return out


def write_package(path: Path, kind: str, items, *, password=None, recipients=None, bombs=()) -> Path:
    """A canonical package holding *items* ((name, bytes) in order), then the
    *bombs* ((name, payload, declared_size, crc)) as deflated entries."""
    spec = (ContainerSpec(PASSWORD, password=password.encode()) if kind == PASSWORD
            else ContainerSpec(RECIPIENTS, recipients=list(recipients)))
    z = CraftZip(spec.password)
    for name, data in items:
        z.add_bytes(name, data)
    for name, payload, declared, crc in bombs:
        z.add_deflated(name, payload, declared_size=declared, crc=crc)
    path.write_bytes(wrap(z.finish(), kind, spec.recipients))
    return path


def reseal(items: list[tuple[str, bytes]], key, *, manifest=None, sums=None) -> list[tuple[str, bytes]]:
    """Re-sign *items* with *key* after replacing the manifest and/or sums
    bytes; SHA256SUMS's line for the manifest follows the new manifest."""
    d = dict(items)
    m = manifest if manifest is not None else d[layout.MANIFEST]
    s = sums if sums is not None else d[layout.SUMS]
    if sums is None:
        old = hashlib.sha256(d[layout.MANIFEST]).hexdigest().encode()
        s = s.replace(old, hashlib.sha256(m).hexdigest().encode())
    d[layout.MANIFEST], d[layout.SUMS], d[layout.SIGNATURE] = m, s, make_seal(key, m, s)
    return [(n, d[n]) for n, _ in items]


def sums_of(items) -> dict[str, str]:
    return parse_sums(dict(items)[layout.SUMS])


def rename_entry(zip_bytes: bytes, old: str, new: str) -> bytes:
    """Rename one entry in its local header and central record only (same
    length: every offset stays valid). Contents that quote the name (README,
    SHA256SUMS) are left alone."""
    o, n = old.encode(), new.encode()
    assert len(o) == len(n)
    out = bytearray(zip_bytes)
    hits = 0
    for i in _find_all(zip_bytes, o):
        if zip_bytes[i - 30:i - 26] == zipformat.SIG_LOCAL or zip_bytes[i - 46:i - 42] == zipformat.SIG_CENTRAL:
            out[i:i + len(o)] = n
            hits += 1
    assert hits == 2, (old, hits)
    return bytes(out)


def central_directory_offset(zip_bytes: bytes) -> int:
    """Where the central directory starts (small archives: no Zip64)."""
    eocd = zip_bytes.rindex(zipformat.SIG_EOCD)
    return int.from_bytes(zip_bytes[eocd + 16:eocd + 20], "little")


def _find_all(blob: bytes, needle: bytes):
    i = blob.find(needle)
    while i >= 0:
        yield i
        i = blob.find(needle, i + 1)


def replace_all(blob: bytes, old: bytes, new: bytes, count: int | None = None) -> bytes:
    """Same-length byte replacement (keeps every offset valid)."""
    assert len(old) == len(new)
    n = blob.count(old)
    assert n and (count is None or n == count), (old, n)
    return blob.replace(old, new)


def many_entries_package(path: Path, kind: str, items, count: int, *, password: str | None = None,
                         recipients=None, name: str = "EXTRA/E{:07d}") -> Path:
    """A canonical package holding *items* then *count* empty entries the
    manifest does not list (issue #14: 400 000 of them, 37 MB). Streamed to
    *path*: for age only the recipients' public keys are needed (what an
    attacker has); for a password package one salt and its keys serve every
    entry (so crafting stays fast: the reader derives per entry)."""
    with open(path, "wb") as fh, contextlib.ExitStack() as stack:
        out = fh if kind == PASSWORD else stack.enter_context(age_writer(fh, recipients))
        pos, central = 0, []
        salt = fresh_salt()
        keys = derive_keys(password.encode(), salt, 32) if kind == PASSWORD else None
        sealed: dict[bytes, bytes] = {}  # same keys, same data: same bytes (the empty entries)

        def add(entry_name: str, data: bytes) -> None:
            nonlocal pos
            stored = data
            if keys is not None:
                if data not in sealed:
                    sealed[data] = EntryCipher(password.encode(), salt, keys=keys).seal(data)
                stored = sealed[data]
            h = zipformat.entry_header(entry_name, zipformat.writer_name_check(entry_name), size=len(data),
                                       compressed_size=len(stored), crc32=0 if keys else zlib.crc32(data),
                                       actual_method=zipformat.METHOD_STORED, aes=keys is not None, zip64=False)
            central.append(zipformat.build_central_record(h, pos, zip64=False))
            block = zipformat.build_local_header(h, zip64=False) + stored
            out.write(block)
            pos += len(block)

        for entry_name, data in items:
            add(entry_name, data)
        for i in range(count):
            add(name.format(i), b"")
        cd_size = sum(len(c) for c in central)
        for c in central:
            out.write(c)
        out.write(zipformat.build_end_records(len(central), pos, cd_size))
    return path
