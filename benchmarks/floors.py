"""The floor of each command on this machine, measured in the same run as the
commands themselves (issue #18; method in docs/performance.md).

Two kinds of floor:

* **CPU floors** (pack, verify, unpack): the work a command cannot avoid,
  priced with the primitives measured here and now — a key derivation per
  entry (PBKDF2-HMAC-SHA1 ×1000, WinZip AES), AES-256-CTR, HMAC-SHA1 of the
  ciphertext, SHA-256 of every file (the manifest's hashes) and SHA-256 of
  the package (the journal's); ChaCha20-Poly1305 for the age container.
  Divided by the cores: the wall time if every core stayed busy with
  nothing but that work. No I/O is counted (the data are in the page
  cache for every tool), so the floor is a lower bound.
* **The file-creation floor** (import-images): the same files created the
  way the importer creates them — read the source, write a new file in a
  staging folder, rename it into ``images/IMG000001.dcm``…, one ``syncfs``
  at the end — with no DICOM parsing and no hashing. What the kernel
  charges for N files, whatever the program above it does.

    python benchmarks/floors.py --files 4000 --bytes 2G     # the CPU floors alone
"""

from __future__ import annotations

import argparse
import ctypes
import hashlib
import hmac
import os
import shutil
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.generate import parse_size

PBKDF2_ROUNDS = 1000  # WinZip AES (AE-2), fixed by the format
KEY_MATERIAL = 2 * 32 + 2  # AES-256 key, HMAC key, password verifier


def _rate(fn, chunk: bytes, total: int) -> float:
    """Bytes per second of *fn* over *total* bytes in *chunk*-sized calls."""
    n = max(1, total // len(chunk))
    fn(chunk)
    t0 = time.perf_counter()
    for _ in range(n):
        fn(chunk)
    return n * len(chunk) / (time.perf_counter() - t0)


def primitives(total: int = 256 * 10**6, chunk_size: int = 1 << 20, keys: int = 400) -> dict[str, float]:
    """Single-core speeds: bytes/s for the stream primitives, seconds for one
    entry's key derivation."""
    from cryptography.hazmat.primitives import hashes as crypto_hashes
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
    from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

    chunk = os.urandom(chunk_size)
    aes = Cipher(algorithms.AES(os.urandom(32)), modes.CTR(b"\0" * 16)).encryptor()
    mac = hmac.new(os.urandom(32), digestmod=hashlib.sha1)
    sha = hashlib.sha256()
    aead = ChaCha20Poly1305(os.urandom(32))
    nonce = bytes(12)
    age_chunk = chunk[:64 * 1024]  # age encrypts in 64 KiB chunks, each sealed on its own
    pw = b"correct horse battery staple"
    t0 = time.perf_counter()
    for _ in range(keys):  # the implementation dossierkit uses (cryptography's OpenSSL; hashlib's may be older and slower)
        PBKDF2HMAC(crypto_hashes.SHA1(), KEY_MATERIAL, os.urandom(16), PBKDF2_ROUNDS).derive(pw)
    kdf = (time.perf_counter() - t0) / keys
    return {
        "aes_ctr": _rate(aes.update, chunk, total),
        "hmac_sha1": _rate(mac.update, chunk, total),
        "sha256": _rate(sha.update, chunk, total),
        "chacha20_poly1305": _rate(lambda b: aead.encrypt(nonce, b, None), age_chunk, total // 4),
        "kdf_seconds": kdf,
    }


def cpu_floors(prim: dict[str, float], *, files: int, nbytes: int, cores: int) -> dict[str, dict[str, float]]:
    """{command: {"cpu": seconds of unavoidable work, "wall": cpu / cores}}.

    ``files`` entries (every DICOM file and document: each is an AES entry
    with its own key), ``nbytes`` the bytes they hold."""
    hashes = 2 * nbytes / prim["sha256"]  # every file's SHA-256 + the package's
    password = files * prim["kdf_seconds"] + nbytes / prim["aes_ctr"] + nbytes / prim["hmac_sha1"] + hashes
    recipients = nbytes / prim["chacha20_poly1305"] + hashes
    out = {}
    for command, cpu in (("pack (password)", password), ("verify (password)", password),
                         ("unpack (password)", password), ("pack (recipients)", recipients),
                         ("verify (recipients)", recipients), ("unpack (recipients)", recipients)):
        out[command] = {"cpu": cpu, "wall": cpu / max(1, cores)}
    return out


def _syncfs(folder: Path) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(folder, os.O_RDONLY)
    try:
        if libc.syncfs(fd) != 0:
            os.sync()
    finally:
        os.close(fd)


def file_creation_floor(sources: list[Path], dest: Path) -> float:
    """Seconds to copy *sources* into ``dest/images/`` the way import-images
    does (read; create in a staging folder; write; drop the written pages
    from the cache as the importer asks; rename; one ``syncfs``), without
    parsing or hashing. *dest* is created and removed."""
    images = dest / "images"
    stage = images / ".stage"
    stage.mkdir(parents=True)
    buf = bytearray(1 << 20)
    t0 = time.perf_counter()
    for n, src in enumerate(sources, 1):
        tmp = stage / f"{n}.dcm"
        with open(src, "rb", buffering=0) as fin, open(tmp, "xb", buffering=0) as fout:
            while True:
                k = fin.readinto(buf)
                if not k:
                    break
                fout.write(memoryview(buf)[:k])
            os.posix_fadvise(fout.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
        os.replace(tmp, images / f"IMG{n:06d}.dcm")
    stage.rmdir()
    _syncfs(images)
    seconds = time.perf_counter() - t0
    shutil.rmtree(dest)
    return seconds


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=4000)
    ap.add_argument("--bytes", type=parse_size, default=parse_size("2G"))
    ap.add_argument("--cores", type=int, default=os.cpu_count() or 1)
    a = ap.parse_args(argv)
    prim = primitives()
    print("primitives (one core): " + ", ".join(
        f"{k} {v * 1e3:.3f} ms" if k == "kdf_seconds" else f"{k} {v / 1e9:.2f} GB/s" for k, v in prim.items()))
    for command, f in cpu_floors(prim, files=a.files, nbytes=a.bytes, cores=a.cores).items():
        print(f"{command:22s} CPU {f['cpu']:6.2f} s   floor on {a.cores} cores {f['wall']:6.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
