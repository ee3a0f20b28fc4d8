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

import hashlib
import io
import secrets
import zlib
from pathlib import Path

from dossierkit.archive import container as C
from dossierkit.package import layout as L
from dossierkit.archive import zipformat as zf
from dossierkit.archive.agefile import age_reader, age_writer
from dossierkit.package.seal import make_seal
from dossierkit.package.sums import parse_sums
from dossierkit.archive.winzip_aes import SALT_LEN, EntryCipher
from dossierkit.archive.zipaes import AES_OVERHEAD, ZipStreamWriter


class CraftWriter(ZipStreamWriter):
    """dossierkit's writer, plus entries whose compressed payload and declared
    size the test chooses (zip bombs, lying headers)."""

    def add_deflated(self, name: str, payload: bytes, *, declared_size: int, crc: int = 0) -> None:
        if self._password is None:
            self._begin(name, size=declared_size, csize=len(payload), crc=crc, actual_method=zf.METHOD_DEFLATED)
            self._write(payload)
            return
        self._begin(name, size=declared_size, csize=len(payload) + AES_OVERHEAD, crc=0,
                    actual_method=zf.METHOD_DEFLATED)
        ec = EntryCipher(self._password, secrets.token_bytes(SALT_LEN), scratch=self._scratch)
        out = bytearray(len(payload))
        ec.encrypt_into(payload, out)
        self._write(ec.salt + ec.verifier)
        self._write(out)
        self._write(ec.auth_code())


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
    if kind == C.PASSWORD:
        return path.read_bytes()
    with open(path, "rb") as fh, age_reader(fh, identities) as plain:
        return plain.read()


def wrap(zip_bytes: bytes, kind: str, recipients=None) -> bytes:
    """Inverse of :func:`zip_layer`: encrypt for *recipients* when age."""
    if kind == C.PASSWORD:
        return zip_bytes
    out = io.BytesIO()
    with age_writer(out, recipients) as sink:
        sink.write(zip_bytes)
    return out.getvalue()


def entries(path: Path, kind: str, *, password=None, identities=None) -> list[tuple[str, bytes]]:
    """Every (name, plaintext) of a package, in order (small test packages)."""
    out = []
    with open(path, "rb") as fh, C.zip_reader(fh, kind, password=password, identities=identities) as it:
        for e in it:
            out.append((e.name, b"".join(bytes(c) for c in e.chunks())))
    return out


def write_package(path: Path, kind: str, items, *, password=None, recipients=None, bombs=()) -> Path:
    """A canonical package holding *items* ((name, bytes) in order), then the
    *bombs* ((name, payload, declared_size, crc)) as deflated entries."""
    spec = (C.ContainerSpec(C.PASSWORD, password=password.encode()) if kind == C.PASSWORD
            else C.ContainerSpec(C.RECIPIENTS, recipients=list(recipients)))
    with open(path, "wb") as fh:
        if kind == C.PASSWORD:
            zw = CraftWriter(fh, password=spec.password)
            _fill(zw, items, bombs)
        else:
            with age_writer(fh, spec.recipients) as sink:
                _fill(CraftWriter(sink, password=None), items, bombs)
    return path


def _fill(zw: CraftWriter, items, bombs) -> None:
    with zw:
        for name, data in items:
            zw.add_bytes(name, data)
        for name, payload, declared, crc in bombs:
            zw.add_deflated(name, payload, declared_size=declared, crc=crc)


def reseal(items: list[tuple[str, bytes]], key, *, manifest=None, sums=None) -> list[tuple[str, bytes]]:
    """Re-sign *items* with *key* after replacing the manifest and/or sums
    bytes; SHA256SUMS's line for the manifest follows the new manifest."""
    d = dict(items)
    m = manifest if manifest is not None else d[L.MANIFEST]
    s = sums if sums is not None else d[L.SUMS]
    if sums is None:
        old = hashlib.sha256(d[L.MANIFEST]).hexdigest().encode()
        s = s.replace(old, hashlib.sha256(m).hexdigest().encode())
    d[L.MANIFEST], d[L.SUMS], d[L.SIGNATURE] = m, s, make_seal(key, m, s)
    return [(n, d[n]) for n, _ in items]


def sums_of(items) -> dict[str, str]:
    return parse_sums(dict(items)[L.SUMS])


def rename_entry(zip_bytes: bytes, old: str, new: str) -> bytes:
    """Rename one entry in its local header and central record only (same
    length: every offset stays valid). Contents that quote the name (README,
    SHA256SUMS) are left alone."""
    o, n = old.encode(), new.encode()
    assert len(o) == len(n)
    out = bytearray(zip_bytes)
    hits = 0
    for i in _find_all(zip_bytes, o):
        if zip_bytes[i - 30:i - 26] == zf.SIG_LOCAL or zip_bytes[i - 46:i - 42] == zf.SIG_CENTRAL:
            out[i:i + len(o)] = n
            hits += 1
    assert hits == 2, (old, hits)
    return bytes(out)


def central_directory_offset(zip_bytes: bytes) -> int:
    """Where the central directory starts (small archives: no Zip64)."""
    eocd = zip_bytes.rindex(zf.SIG_EOCD)
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
