"""The recipients container: an age v1 file (https://age-encryption.org/v1)
for X25519 recipients, written and read as a stream — a header
(age_format) whose X25519 stanzas (age_keys) wrap a random file key, then
the payload sealed under that key (age_stream)::

    age-encryption.org/v1
    -> X25519 <base64 ephemeral share>
    <base64 wrapped file key, 64-column lines>
    --- <base64 HMAC-SHA256 of the header>
    <16-byte nonce><STREAM: 64 KiB ChaCha20-Poly1305 chunks, last one flagged>

Implemented on `cryptography` rather than through pyrage, whose
``encrypt_io`` is far slower (docs/deviations.md); being ordinary file
objects, :func:`age_writer` and :func:`age_reader` also plug straight into
the zip writer/reader without a pipe and a thread. Interoperability with the
``age`` CLI and with pyrage is tested both ways.

Only X25519 stanzas are produced; unknown stanzas are skipped on reading, a
passphrase (scrypt) file is refused. The age format authenticates content
and detects truncation but not the sender (DESIGN §8): the signed manifest
does that.
"""

from __future__ import annotations

import contextlib
import io
import secrets
from collections.abc import Iterable, Iterator
from typing import IO

from dossierkit.archive.age_format import encode_age_header, read_age_header
from dossierkit.archive.age_keys import (Identity, Recipient, as_identities, as_recipients, unwrap_file_key,
                                         wrap_file_key)
from dossierkit.archive.age_stream import CHUNK, StreamReader, StreamWriter, emit
from dossierkit.errors import DecryptionError


@contextlib.contextmanager
def age_writer(out_fileobj: IO[bytes], recipients: Iterable[Recipient | str]) -> Iterator[StreamWriter]:
    """Yield a writable file object whose plaintext is encrypted to *recipients*
    (``age1…`` strings or :class:`Recipient`) and written to *out_fileobj*.
    On an exception the final chunk is not written (the output stays invalid;
    wrap *out_fileobj* in ``fsutil.atomic_writer`` so it disappears)."""
    rcpts = as_recipients(recipients)
    file_key = secrets.token_bytes(16)
    emit(out_fileobj, encode_age_header(file_key, [wrap_file_key(file_key, r) for r in rcpts]))
    w = StreamWriter(out_fileobj, file_key)
    try:
        yield w
    except BaseException:
        w.abort()
        raise
    w.close()


@contextlib.contextmanager
def age_reader(in_fileobj: IO[bytes], identities: Iterable[Identity | str]) -> Iterator[io.BufferedReader]:
    """Yield a readable file object with the plaintext of the age file read
    from *in_fileobj*, decrypted with one of *identities*. Raises
    DecryptionError (no identity matches, not an age file) at entry and
    IntegrityError while reading if anything was altered or truncated."""
    idents = as_identities(identities)
    header = read_age_header(in_fileobj)
    file_key = unwrap_file_key(header.stanzas, idents)
    if file_key is None:
        raise DecryptionError("no identity matches this age file (wrong key)",
                              hint="use the identity file of one of the package's recipients")
    header.check_mac(file_key)
    yield io.BufferedReader(StreamReader(in_fileobj, file_key), buffer_size=CHUNK)
