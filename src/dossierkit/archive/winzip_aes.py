"""WinZip AES (AE-1/AE-2) entry encryption, built on OpenSSL primitives.

Spec (WinZip "AES Encryption Information", Brian Gladman's fileenc):
PBKDF2-HMAC-SHA1, 1000 iterations, over a per-entry random salt gives
``AES key || HMAC key || 2-byte password verifier``; the data is encrypted
with AES in CTR mode whose counter block is a *little-endian* integer
starting at 1 (bytes 0–7, upper half zero); HMAC-SHA1 over the ciphertext,
truncated to 10 bytes, follows the data.

Why not ``modes.CTR``: OpenSSL's CTR increments a big-endian counter, so its
keystream differs from the second block on. We build the counter blocks
ourselves (a precomputed 1 MiB template per 65 536 blocks), encrypt them with
AES-ECB into a reused buffer (``update_into``, no allocation) and XOR with
pycryptodome's C ``strxor`` into a preallocated output (figures:
docs/containers.md).
Allocating a fresh 1 MiB object per chunk costs more than the AES itself on
these machines (page faults), hence the reused buffers everywhere.

``strxor`` is imported by the first :class:`WinZipCTR`: pycryptodome loads
it through cffi and pycparser, a start-up cost (docs/performance.md,
"Imports kept out of start-up") that the commands without a password package
(import, check, the recipients route, the trace commands) need not pay.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import struct

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

KDF_ITERATIONS = 1000
KEY_LEN = 32  # AES-256
SALT_LEN = 16
PV_LEN = 2
MAC_LEN = 10

SEG_BLOCKS = 1 << 16  # counter blocks per keystream segment
SEG = SEG_BLOCKS * 16  # 1 MiB
_LOOKAHEAD = 64 * 1024  # keystream generated ahead of need, to amortise calls

_template: bytes | None = None


def _counter_template() -> bytes:
    """Counter blocks for k = 0…65535 holding (k+1) mod 2**16, little-endian.

    The blocks of segment *c* are this template with LE48(c) in bytes 2–7,
    except the last one which carries into c+1 (fixed up separately)."""
    global _template
    if _template is None:
        _template = b"".join(struct.pack("<H14x", (k + 1) & 0xFFFF) for k in range(SEG_BLOCKS))
    return _template


Keys = tuple[bytes, bytes | None, bytes | None]


def derive_keys(password: bytes, salt: bytes, key_len: int = KEY_LEN, *, mac: bool = True) -> Keys:
    """(AES key, HMAC key, password verifier) for one entry. ``key_len`` 32
    is AES-256 (what we write); 16/24 only to read other writers' entries.
    With thousands of small entries the largest single cost (figures:
    docs/performance-history.md); `cryptography`'s PBKDF2 releases the GIL, so it may
    run on the flow's worker. ``mac=False`` derives the AES key only (half
    the PBKDF2 blocks); the other two are None."""
    if not mac:
        return PBKDF2HMAC(hashes.SHA1(), key_len, salt, KDF_ITERATIONS).derive(password), None, None
    dk = PBKDF2HMAC(hashes.SHA1(), 2 * key_len + PV_LEN, salt, KDF_ITERATIONS).derive(password)
    return dk[:key_len], dk[key_len:2 * key_len], dk[2 * key_len:]


def fresh_salt() -> bytes:
    """A random salt for a new entry (its keys do not depend on anything else)."""
    return secrets.token_bytes(SALT_LEN)


class CTRScratch:
    """The 2 MiB of counter/keystream buffers, reused from entry to entry:
    touching fresh pages for every small file costs more than its AES."""

    def __init__(self) -> None:
        self.ctr = bytearray(SEG)
        self.ks = bytearray(SEG + 16)  # update_into wants len(in) + 15 bytes of room
        self.seg = -1  # whose counter blocks ctr holds (they do not depend on the key)


class WinZipCTR:
    """AES-CTR with WinZip's little-endian counter starting at 1.

    ``process(src, dst)`` XORs the next ``len(src)`` keystream bytes into
    *dst* (a writable buffer of the same length); encryption and decryption
    are the same operation. Pieces of any length may be fed in sequence.
    """

    def __init__(self, aes_key: bytes, scratch: CTRScratch | None = None):
        from Cryptodome.Util.strxor import strxor  # start-up cost: see the module docstring

        self._strxor = strxor
        self._ecb = Cipher(algorithms.AES(aes_key), modes.ECB()).encryptor()
        scratch = scratch or CTRScratch()
        self._scratch = scratch
        self._ctr = scratch.ctr
        self._ctr_mv = memoryview(scratch.ctr)
        self._ks_mv = memoryview(scratch.ks)
        self._seg = -1
        self._gen = 0  # keystream bytes ready in the current segment
        self._pos = 0  # absolute keystream position

    def _load_segment(self, seg: int) -> None:
        self._seg = seg
        self._gen = 0
        if self._scratch.seg == seg:
            return
        tmpl = _counter_template()
        if seg == 0:
            self._ctr[:] = tmpl
        else:
            fill = self._ks_mv  # the keystream buffer is free: nothing of this segment is generated yet
            fill[:16] = struct.pack("<2x6s8x", seg.to_bytes(6, "little"))
            done = 16
            while done < SEG:
                n = min(done, SEG - done)
                fill[done:done + n] = fill[:n]
                done += n
            self._strxor(tmpl, fill[:SEG], output=self._ctr_mv)
        self._ctr_mv[SEG - 16:SEG - 8] = ((seg + 1) * SEG_BLOCKS).to_bytes(8, "little")
        self._scratch.seg = seg

    def process(self, src, dst) -> None:
        src, dst = memoryview(src), memoryview(dst)  # slicing a bytearray would copy
        n = len(src)
        done = 0
        while done < n:
            seg, off = divmod(self._pos, SEG)
            if seg != self._seg:
                self._load_segment(seg)
            take = min(n - done, SEG - off)
            need = off + take
            if need > self._gen:
                g1 = min(SEG, max(-(-need // 16) * 16, self._gen + _LOOKAHEAD))
                self._ecb.update_into(self._ctr_mv[self._gen:g1], self._ks_mv[self._gen:])
                self._gen = g1
            self._strxor(src[done:done + take], self._ks_mv[off:need], output=dst[done:done + take])
            done += take
            self._pos += take


class EntryCipher:
    """One entry's WinZip AES state: keystream and HMAC over the ciphertext."""

    def __init__(self, password: bytes, salt: bytes, *, key_len: int = KEY_LEN, scratch: CTRScratch | None = None,
                 keys: Keys | None = None):
        aes_key, mac_key, self.verifier = keys or derive_keys(password, salt, key_len)
        self.salt = salt
        self.ctr = WinZipCTR(aes_key, scratch)
        self.mac = hmac.new(mac_key, digestmod=hashlib.sha1) if mac_key is not None else None

    def encrypt_into(self, plain, out) -> None:
        self.ctr.process(plain, out)
        self.mac.update(out)

    def seal(self, payload) -> bytes:
        """A whole small entry's data as stored: salt, password verifier,
        ciphertext of *payload*, authentication code."""
        out = bytearray(len(payload))
        self.encrypt_into(payload, out)
        return b"".join((self.salt, self.verifier, out, self.auth_code()))

    def decrypt_into(self, cipher, out) -> None:
        if self.mac is not None:
            self.mac.update(cipher)
        self.ctr.process(cipher, out)

    def auth_code(self) -> bytes:
        return self.mac.digest()[:MAC_LEN]

    def check_auth_code(self, code: bytes) -> bool:
        return hmac.compare_digest(self.auth_code(), code)
