"""The least a Python verify of a password package can do, on one thread
(issue #18): the bound under every implementation built on the same
primitives, measured on the package itself.

For each entry, in one pass over the file: read it (one ``readinto`` into a
reused buffer), derive its keys (PBKDF2-HMAC-SHA1 ×1000, 66 bytes, with
`cryptography`, as dossierkit does), HMAC-SHA1 of the ciphertext, WinZip
AES-CTR (dossierkit's ``WinZipCTR``: AES-ECB of the little-endian counter
blocks, then XOR), SHA-256 of the plaintext; and SHA-256 of every byte of
the file. Nothing else: no manifest, no signature, no DICOMDIR, no bound on
sizes, no thread, no journal — so it is a lower bound, not a verifier (it
trusts the package's local headers; use it on packages you made).

Its CPU seconds ÷ the cores is the wall time a perfectly parallel Python
verify would need for that work; add the command's fixed cost (the
``verify, missing package`` row of run.py) for the best case of the command.

    python benchmarks/ideal_verify.py PACKAGE --password-file pw.txt [--json]
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from dossierkit.archive.winzip_aes import MAC_LEN, PV_LEN, CTRScratch, WinZipCTR, derive_keys
from dossierkit.archive.zipformat import (AES_SALT_LEN, LOCAL_STRUCT, SIG_LOCAL, U32, parse_aes_extra, parse_extras,
                                           resolve_zip64)
from dossierkit.errors import DossierkitError

PARTS = ("read", "keys", "hmac", "aes", "sha256_files", "sha256_package")


def ideal_verify(package: str | os.PathLike, password: bytes) -> dict:
    """CPU seconds of the bare work of verifying *package*, in total and by
    part (``PARTS``), and the entry count. Raises ValueError when an
    entry's MAC does not match (wrong password or damage) or the file is not
    a zip; IntegrityError when a local header is malformed."""
    parts = dict.fromkeys(PARTS, 0.0)
    clock = time.thread_time  # this thread's CPU: the parts add up to the total
    package_sha = hashlib.sha256()
    scratch = CTRScratch()
    cipher_buf = bytearray(1 << 20)
    plain_buf = bytearray(1 << 20)
    entries = 0
    cpu0 = clock()
    with open(package, "rb", buffering=0) as fh:
        while True:
            t = clock()
            fixed = fh.read(LOCAL_STRUCT.size)
            if fixed[:4] != SIG_LOCAL and not entries:
                raise ValueError("not a password package (no zip entry at its start; an age package?)")
            if fixed[:4] != SIG_LOCAL:
                rest = fixed + fh.read()  # the central directory and the end records
                parts["read"] += clock() - t
                t = clock()
                package_sha.update(rest)
                parts["sha256_package"] += clock() - t
                break
            *_, data_size, size, name_len, extra_len = LOCAL_STRUCT.unpack(fixed)
            variable = fh.read(name_len + extra_len)
            extras = parse_extras(variable[name_len:], "ideal_verify")
            size, data_size = resolve_zip64(extras, [(size, U32, 8), (data_size, U32, 8)], "ideal_verify")
            _, strength, _ = parse_aes_extra(extras, "ideal_verify")
            salt_len = AES_SALT_LEN[strength]
            head = fh.read(salt_len + PV_LEN)
            n = data_size - salt_len - PV_LEN - MAC_LEN
            if n > len(cipher_buf):
                cipher_buf, plain_buf = bytearray(n), bytearray(n)
            cipher, plain = memoryview(cipher_buf)[:n], memoryview(plain_buf)[:n]
            got = fh.readinto(cipher)
            code = fh.read(MAC_LEN)
            if got != n or len(code) != MAC_LEN:
                raise ValueError("truncated package")
            t2 = clock()
            parts["read"] += t2 - t
            for piece in (fixed, variable, head, cipher, code):
                package_sha.update(piece)
            t3 = clock()
            parts["sha256_package"] += t3 - t2
            aes_key, mac_key, _ = derive_keys(password, head[:salt_len], 8 * (strength + 1))
            t4 = clock()
            parts["keys"] += t4 - t3
            if not hmac.compare_digest(hmac.new(mac_key, cipher, hashlib.sha1).digest()[:MAC_LEN], code):
                raise ValueError("an entry fails its MAC: wrong password, or a damaged package")
            t5 = clock()
            parts["hmac"] += t5 - t4
            WinZipCTR(aes_key, scratch).process(cipher, plain)
            t6 = clock()
            parts["aes"] += t6 - t5
            hashlib.sha256(plain).digest()
            parts["sha256_files"] += clock() - t6
            entries += 1
    cpu = clock() - cpu0
    return {"entries": entries, "cpu_seconds": round(cpu, 3), "parts": {k: round(v, 3) for k, v in parts.items()},
            "package_sha256": package_sha.hexdigest()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("package")
    ap.add_argument("--password-file", required=True, type=Path)
    ap.add_argument("--json", action="store_true", help="print the result as JSON")
    a = ap.parse_args(argv)
    password = a.password_file.read_text(encoding="utf-8").strip().encode()
    try:
        result = ideal_verify(a.package, password)
    except (OSError, ValueError, DossierkitError) as exc:
        print(f"ideal_verify: {a.package}: {exc}", file=sys.stderr)
        return 2
    if a.json:
        print(json.dumps(result))
    else:
        cores = os.cpu_count() or 1
        print(f"{result['entries']} entries, {result['cpu_seconds']:.2f} s of CPU on one thread "
              f"(÷ {cores} cores: {result['cpu_seconds'] / cores:.2f} s); "
              + ", ".join(f"{k} {v:.2f}" for k, v in result["parts"].items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
