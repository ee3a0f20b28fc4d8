"""The age v1 header (https://age-encryption.org/v1): stanzas in canonical
unpadded base64, closed by an HMAC-SHA256 of the header::

    age-encryption.org/v1
    -> X25519 <base64 ephemeral share>
    <base64 wrapped file key, 64-column lines>
    --- <base64 HMAC-SHA256 of the header>

What the stanzas mean is age_keys' business; the payload that follows the
header is age_stream's.
"""

from __future__ import annotations

import base64
import hmac
import re
from typing import IO, NamedTuple

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from dossierkit.errors import DecryptionError, IntegrityError

INTRO = b"age-encryption.org/v1\n"
MAX_HEADER = 1 << 20  # a header is a few hundred bytes per recipient


class Stanza(NamedTuple):
    args: list[bytes]  # the type first, e.g. [b"X25519", <base64 share>]
    body: bytes


def damaged(msg: str) -> IntegrityError:
    return IntegrityError(msg, hint="the age file is damaged or was tampered with; get a fresh copy")


def hkdf_sha256(ikm: bytes, salt: bytes, info: bytes) -> bytes:
    return HKDF(hashes.SHA256(), 32, salt, info).derive(ikm)


def b64(data: bytes) -> bytes:
    return base64.b64encode(data).rstrip(b"=")


def unb64(text: bytes) -> bytes:
    # age uses canonical unpadded standard base64: reject padding and stray characters
    if not re.fullmatch(rb"[A-Za-z0-9+/]*", text) or len(text) % 4 == 1:
        raise ValueError("bad base64")
    raw = base64.b64decode(text + b"=" * (-len(text) % 4), validate=True)
    if b64(raw) != text:
        raise ValueError("non-canonical base64")
    return raw


def encode_stanza(args: list[bytes], body: bytes) -> bytes:
    enc = b64(body)
    lines = [enc[i:i + 64] for i in range(0, len(enc), 64)]
    if not lines or len(lines[-1]) == 64:
        lines.append(b"")  # the body ends with a line shorter than 64 columns
    return b"-> " + b" ".join(args) + b"\n" + b"\n".join(lines) + b"\n"


def _header_mac(file_key: bytes, header: bytes) -> bytes:
    return hmac.new(hkdf_sha256(file_key, b"", b"header"), header, "sha256").digest()


def encode_age_header(file_key: bytes, stanzas: list[bytes]) -> bytes:
    """The whole header: intro, the encoded stanzas, and the MAC line keyed by *file_key*."""
    header = INTRO + b"".join(stanzas) + b"---"
    return header + b" " + b64(_header_mac(file_key, header)) + b"\n"


class AgeHeader(NamedTuple):
    stanzas: list[Stanza]
    covered: bytes  # the bytes the MAC covers: everything up to and including "---"
    mac: bytes

    def check_mac(self, file_key: bytes) -> None:
        if not hmac.compare_digest(_header_mac(file_key, self.covered), self.mac):
            raise damaged("the age header was altered (MAC mismatch)")


class _LineReader:
    """Header lines, one byte at a time so nothing of the payload is consumed."""

    def __init__(self, fh: IO[bytes]):
        self._fh = fh
        self.raw = bytearray()

    def line(self) -> bytes:
        out = bytearray()
        while True:
            b = self._fh.read(1)
            if not b:
                raise damaged("the age header is truncated")
            self.raw += b
            if len(self.raw) > MAX_HEADER:
                raise damaged("the age header is too large")
            if b == b"\n":
                return bytes(out)
            out += b


def read_age_header(fh: IO[bytes]) -> AgeHeader:
    """Read the header from *fh*, leaving it at the first byte of the payload."""
    lines = _LineReader(fh)
    first = b""
    while len(first) < len(INTRO):  # a pipe may return short reads
        more = fh.read(len(INTRO) - len(first))
        if not more:
            break
        first += more
    if first != INTRO:
        raise DecryptionError("not an age v1 file", hint="is this the right file? (a password package is a .zip)")
    lines.raw += first
    stanzas = []
    while True:
        line = lines.line()
        if line.startswith(b"--- "):
            covered = bytes(lines.raw[:len(lines.raw) - len(line) - 1]) + b"---"
            try:
                mac = unb64(line[4:])
            except ValueError:
                raise damaged("bad age header MAC encoding") from None
            if len(mac) != 32:
                raise damaged("bad age header MAC length")
            return AgeHeader(stanzas, covered, mac)
        if not line.startswith(b"-> "):
            raise damaged("malformed age header")
        args = line[3:].split(b" ")
        if not args or any(not a or not all(33 <= c <= 126 for c in a) for a in args):
            raise damaged("malformed age stanza")
        body_parts = []
        while True:
            body_line = lines.line()
            if len(body_line) > 64:
                raise damaged("malformed age stanza body")
            body_parts.append(body_line)
            if len(body_line) < 64:
                break
        try:
            body = unb64(b"".join(body_parts))
        except ValueError:
            raise damaged("malformed age stanza body") from None
        stanzas.append(Stanza(args, body))
