"""Throughput of the primitives a WinZip AES AE-2 package is made of, from
Python on this machine: the ceiling for pack/verify (docs/performance.md).

    python benchmarks/primitives.py [--mb 512] [--chunk 1M]

Per 1 MiB chunk: AES-256-CTR (cryptography), HMAC-SHA1 (the AE-2 MAC,
hashlib/hmac), SHA-256 (hashlib, the manifest hashes), CRC-32 (zlib, what
AE-1 would add), and the serial sum of what one entry costs in one thread.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import os
import sys
import time
import zlib
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.generate import parse_size


def _rate(fn, chunk: bytes, total: int) -> float:
    n = max(1, total // len(chunk))
    fn(chunk)  # warm
    t0 = time.perf_counter()
    for _ in range(n):
        fn(chunk)
    return n * len(chunk) / (time.perf_counter() - t0) / 1e6


def measure(total: int = 512 * 10**6, chunk_size: int = 1 << 20) -> dict[str, float]:
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    chunk = os.urandom(chunk_size)
    enc = Cipher(algorithms.AES(os.urandom(32)), modes.CTR(b"\0" * 16)).encryptor()
    mac = hmac.new(os.urandom(20), digestmod=hashlib.sha1)
    sha = hashlib.sha256()
    out = {
        "AES-256-CTR (cryptography)": _rate(enc.update, chunk, total),
        "HMAC-SHA1 (hmac)": _rate(mac.update, chunk, total),
        "SHA-256 (hashlib)": _rate(sha.update, chunk, total),
        "CRC-32 (zlib)": _rate(zlib.crc32, chunk, total),
    }
    serial = 1.0 / sum(1.0 / out[k] for k in ("AES-256-CTR (cryptography)", "HMAC-SHA1 (hmac)", "SHA-256 (hashlib)"))
    out["one thread: AES + HMAC + SHA-256"] = serial
    return {k: round(v) for k, v in out.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=parse_size, default=parse_size("512M"), help="bytes per primitive")
    ap.add_argument("--chunk", type=parse_size, default=1 << 20)
    a = ap.parse_args(argv)
    for name, mbs in measure(a.mb, a.chunk).items():
        print(f"{mbs:>7,} MB/s  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
