"""Streaming zip container: WinZip AES-256 (AE-2) with a password, or a plain
STORED zip (the inner layer of the age container).

Writer — a pure forward stream (works on a pipe): sizes are known upfront
(files on disk), so every local header carries the real sizes and no data
descriptor is used::

    with open_writer(out, password=b"...") as zw:        # password=None: plain zip
        res = zw.add_file("DICOM/ST000001/SE000001/IM000001", path)
        zw.add_bytes("DOSSIER/MANIFEST.JSON", data, compress=True)
    # res.name, res.size, res.sha256 (hex of the plaintext, for the manifest)

Reader — sequential, works on non-seekable input, bounded memory::

    for entry in iter_package_entries(fh, password=b"...", max_entry_size=...):
        for chunk in entry.chunks():    # plaintext; a reused buffer, valid until the next chunk
            out.write(chunk)
        entry.sha256                    # hex, once chunks() is exhausted
    # after the loop: the central directory was checked against what was streamed
    # a caller that may stop early wraps the iterator in contextlib.closing(...)
    # so its threads stop on its own thread, not when the garbage collector runs

Every entry is authenticated (AES: HMAC-SHA1; plain: CRC-32): the first
encrypted one when its ``chunks()`` ends (a wrong password is told from
damage there), the others' HMAC on the worker (worker.py) whose verdicts are
collected at the following entries and, at the latest, before the central
directory (``entry.authenticate()`` waits for one). Plaintext handed out
before the loop has ended is provisional (write to a temporary file,
rename after). Names, sizes, the central directory and
end records must agree exactly with the stream; with ``strict=True`` (our
own packages) every header byte must be what dossierkit's writer produces,
so one flipped byte anywhere fails. Format notes: docs/containers.md.

Layout: ``zipformat`` (records, name rules), ``winzip_aes`` (keys, cipher),
``zipwriter`` / ``zipreader`` (the streams), ``worker`` (the one worker
thread and its buffer rule); this module is their public face.
"""

from __future__ import annotations

from dossierkit.archive.zipcommon import AES_OVERHEAD, CHUNK
from dossierkit.archive.zipreader import StreamEntry, iter_package_entries
from dossierkit.archive.zipwriter import EntryResult, FreshKeys, ZipStreamWriter, open_writer

__all__ = ["AES_OVERHEAD", "CHUNK", "EntryResult", "FreshKeys", "StreamEntry", "ZipStreamWriter",
           "iter_package_entries", "open_writer"]
