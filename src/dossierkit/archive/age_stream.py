"""The age v1 payload: a 16-byte nonce, then STREAM — 64 KiB chunks sealed
with ChaCha20-Poly1305 under a key derived from the file key and that nonce,
each chunk's nonce an 11-byte counter and a last-chunk flag. Encrypted and
decrypted :data:`BATCH` chunks per I/O call, in preallocated buffers.
"""

from __future__ import annotations

import io
import secrets
from typing import IO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from dossierkit.archive.age_format import damaged, hkdf_sha256
from dossierkit.errors import OutputError

CHUNK = 64 * 1024
TAG = 16
ENC_CHUNK = CHUNK + TAG
NONCE = 16
BATCH = 16  # chunks per read/write call: 1 MiB of I/O at a time


def _payload_aead(file_key: bytes, nonce: bytes) -> ChaCha20Poly1305:
    return ChaCha20Poly1305(hkdf_sha256(file_key, nonce, b"payload"))


def _chunk_nonce(counter: int, last: bool) -> bytes:
    return counter.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


def emit(out: IO[bytes], data) -> None:
    """Write to the age file's output; a reader gone away is an OutputError."""
    try:
        out.write(data)
    except BrokenPipeError as exc:
        raise OutputError("the output stream was closed early") from exc


class StreamWriter(io.RawIOBase):
    """Write-only file object: plaintext in, the payload (nonce and sealed
    chunks) out to *out*.

    Buffers at most :data:`BATCH` chunks. :meth:`close` writes the final,
    flagged chunk; a writer dropped without ``close`` produces a file that age
    rejects as truncated."""

    def __init__(self, out: IO[bytes], file_key: bytes):
        super().__init__()
        self._out = out
        nonce = secrets.token_bytes(NONCE)
        self._aead = _payload_aead(file_key, nonce)
        emit(out, nonce)
        self._buf = bytearray(CHUNK * BATCH)
        self._fill = 0
        self._enc = bytearray(ENC_CHUNK * BATCH)
        self._counter = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        if self.closed:
            raise ValueError("write to a closed age writer")
        mv = memoryview(data).cast("B")
        n = len(mv)
        pos = 0
        while pos < n:
            take = min(n - pos, len(self._buf) - self._fill)
            self._buf[self._fill:self._fill + take] = mv[pos:pos + take]
            self._fill += take
            pos += take
            if self._fill == len(self._buf):
                # Keep the last full chunk back: only close() knows whether it is the final one.
                self._flush_chunks(keep_last=True)
        return n

    def _flush_chunks(self, *, keep_last: bool) -> None:
        full = self._fill // CHUNK
        if keep_last and full * CHUNK == self._fill:
            full -= 1
        if full <= 0:
            return
        buf, enc = memoryview(self._buf), memoryview(self._enc)
        for i in range(full):
            self._aead.encrypt_into(_chunk_nonce(self._counter, False), buf[i * CHUNK:(i + 1) * CHUNK], None,
                                    enc[i * ENC_CHUNK:(i + 1) * ENC_CHUNK])
            self._counter += 1
        emit(self._out, enc[:full * ENC_CHUNK])
        rest = self._fill - full * CHUNK
        buf[:rest] = buf[full * CHUNK:self._fill]
        self._fill = rest

    def close(self) -> None:
        if self.closed:
            return
        self._flush_chunks(keep_last=True)
        last = self._aead.encrypt(_chunk_nonce(self._counter, True), bytes(self._buf[:self._fill]), None)
        emit(self._out, last)
        flush = getattr(self._out, "flush", None)
        if flush:
            flush()
        super().close()

    def abort(self) -> None:
        """Stop without writing the final chunk (the output is then invalid)."""
        super().close()


class StreamReader(io.RawIOBase):
    """Read-only file object yielding the authenticated plaintext of the
    payload read from *fh* (positioned just after the header).

    Each 64 KiB chunk is authenticated before any of its bytes is returned.
    End of file is reported only after the final (flagged) chunk verified and
    nothing follows it: truncation, reordering, appended data and a flipped
    bit all raise IntegrityError."""

    def __init__(self, fh: IO[bytes], file_key: bytes):
        super().__init__()
        self._fh = fh
        nonce = self._read_nonce()
        self._aead = _payload_aead(file_key, nonce)
        self._counter = 0
        self._in = bytearray(ENC_CHUNK * BATCH + 1)
        self._in_fill = 0
        self._plain = bytearray(CHUNK * BATCH)
        self._plain_mv = memoryview(self._plain)
        self._p_start = self._p_end = 0
        self._eof = False
        self._done = False

    def readable(self) -> bool:
        return True

    def _read_nonce(self) -> bytes:
        parts, got = [], 0
        while got < NONCE:
            b = self._fh.read(NONCE - got)
            if not b:
                raise damaged("the age file is truncated (no payload nonce)")
            parts.append(b)
            got += len(b)
        return b"".join(parts)

    def _fill_input(self) -> None:
        mv = memoryview(self._in)
        readinto = getattr(self._fh, "readinto", None)
        while self._in_fill < len(self._in) and not self._eof:
            if readinto is not None:
                k = readinto(mv[self._in_fill:])
            else:
                b = self._fh.read(len(self._in) - self._in_fill)
                k = len(b)
                mv[self._in_fill:self._in_fill + k] = b
            if not k:
                self._eof = True
            self._in_fill += k or 0

    def _decrypt_batch(self) -> None:
        """Decrypt every chunk known not to be the last, or the last one once
        the input is exhausted. The input buffer holds one byte more than a
        batch, so a full batch always reveals whether more follows."""
        self._fill_input()
        src = memoryview(self._in)
        n_full = self._in_fill // ENC_CHUNK
        if not self._eof:
            count, final = min(n_full, BATCH), False
            if count * ENC_CHUNK >= self._in_fill:  # nothing after: cannot tell yet
                count -= 1
        else:
            rest = self._in_fill - n_full * ENC_CHUNK
            count, final = n_full + (1 if rest else 0), True
            if count > BATCH:  # only possible if the last chunk is empty-tailed; keep batches bounded
                count, final = BATCH, False
        out_pos = 0
        in_pos = 0
        for i in range(count):
            last = final and i == count - 1
            size = min(ENC_CHUNK, self._in_fill - in_pos)
            only = last and self._counter == 0  # an empty plaintext is one empty final chunk
            if size < TAG or (size == TAG and not only) or (not last and size != ENC_CHUNK):
                raise damaged("the age payload is truncated")
            try:
                k = self._aead.decrypt_into(_chunk_nonce(self._counter, last), src[in_pos:in_pos + size], None,
                                            self._plain_mv[out_pos:out_pos + size - TAG])
            except InvalidTag:
                if not last and self._eof and in_pos + size == self._in_fill:
                    raise damaged("the age payload is truncated") from None
                raise damaged(f"the age payload was altered or truncated (chunk {self._counter})") from None
            out_pos += k if isinstance(k, int) else size - TAG
            in_pos += size
            self._counter += 1
            if last:
                self._done = True
        if final and count == 0:
            if self._counter == 0:
                raise damaged("the age payload is missing")
            raise damaged("the age payload is truncated")
        src[:self._in_fill - in_pos] = src[in_pos:self._in_fill]
        self._in_fill -= in_pos
        self._p_start, self._p_end = 0, out_pos

    def readinto(self, b) -> int:
        mv = memoryview(b).cast("B")
        while self._p_start == self._p_end:
            if self._done:
                if self._in_fill or self._fh.read(1):
                    raise damaged("data after the end of the age payload")
                return 0
            self._decrypt_batch()
        n = min(len(mv), self._p_end - self._p_start)
        mv[:n] = self._plain_mv[self._p_start:self._p_start + n]
        self._p_start += n
        return n
