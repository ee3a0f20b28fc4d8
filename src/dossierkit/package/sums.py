"""``DOSSIER/SHA256SUMS``: the GNU coreutils ``sha256sum`` format, so a
recipient can check the unpacked root with no dossierkit at all::

    cd <root> && sha256sum -c DOSSIER/SHA256SUMS

One line per file: 64 lower-case hex digits, two spaces (text mode marker;
identical result on Linux), the path relative to the root, ``\\n``. Paths
are the package's neutral names (no spaces, no backslashes), so no escaping
is ever needed; the parser refuses anything else.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from dossierkit.errors import IntegrityError
from dossierkit.package.layout import is_safe_entry_path

_LINE = re.compile(r"^([0-9a-f]{64}) [ *](.+)\Z")
MAX_SUMS_BYTES = 32 * 1024 * 1024


def format_sums(entries: Iterable[tuple[str, str]]) -> bytes:
    """*entries*: (path, sha256 hex) in package order."""
    out = bytearray()  # not a list of every line, then their join, then its encoding (#18)
    for path, digest in entries:
        if not is_safe_entry_path(path) or not re.fullmatch(r"[0-9a-f]{64}", digest):
            raise ValueError(f"not a SHA256SUMS entry: {path!r} {digest!r}")
        out += f"{digest}  {path}\n".encode("ascii")
    return bytes(out)


def iter_sums(data: bytes) -> Iterator[tuple[str, str]]:
    """(path, sha256 hex) a line at a time, in the file's order, without a
    copy of the text or a map of every line (verify's per-file memory, #18).
    Raises IntegrityError on a malformed line when it reaches it (duplicates
    are the caller's to find: :func:`parse_sums` does)."""
    if len(data) > MAX_SUMS_BYTES:
        raise IntegrityError("DOSSIER/SHA256SUMS: larger than any dossier needs")
    if not data.isascii():
        raise IntegrityError("DOSSIER/SHA256SUMS: not ASCII text")
    pos, n = 0, 0
    while pos < len(data):
        n += 1
        end = data.find(b"\n", pos)
        cut = end < 0
        line = data[pos:len(data) if cut else end].decode("ascii")
        pos = len(data) if cut else end + 1
        if not line:
            continue
        m = _LINE.match(line)
        if not m or not is_safe_entry_path(m.group(2)):
            raise IntegrityError(f"DOSSIER/SHA256SUMS: line {n} is not '<sha256>  <path>'")
        if cut:
            raise IntegrityError("DOSSIER/SHA256SUMS: truncated (no final newline)")
        yield m.group(2), m.group(1)


def parse_sums(data: bytes) -> dict[str, str]:
    """Path → sha256 hex. Raises IntegrityError on any malformed or duplicate line."""
    out: dict[str, str] = {}
    for path, digest in iter_sums(data):
        if path in out:
            raise IntegrityError(f"DOSSIER/SHA256SUMS: {path} is listed twice")
        out[path] = digest
    return out
