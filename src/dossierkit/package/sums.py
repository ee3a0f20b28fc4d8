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


def _lines(text: str) -> Iterator[str]:
    """``text.split("\\n")`` one line at a time (not a list of every line)."""
    pos = 0
    while True:
        end = text.find("\n", pos)
        if end < 0:
            yield text[pos:]
            return
        yield text[pos:end]
        pos = end + 1


def parse_sums(data: bytes) -> dict[str, str]:
    """Path → sha256 hex. Raises IntegrityError on any malformed or duplicate line."""
    if len(data) > MAX_SUMS_BYTES:
        raise IntegrityError("DOSSIER/SHA256SUMS: larger than any dossier needs")
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError as exc:
        raise IntegrityError("DOSSIER/SHA256SUMS: not ASCII text") from exc
    out: dict[str, str] = {}
    for n, line in enumerate(_lines(text), 1):
        if not line:
            continue
        m = _LINE.match(line)
        if not m or not is_safe_entry_path(m.group(2)):
            raise IntegrityError(f"DOSSIER/SHA256SUMS: line {n} is not '<sha256>  <path>'")
        if m.group(2) in out:
            raise IntegrityError(f"DOSSIER/SHA256SUMS: {m.group(2)} is listed twice")
        out[m.group(2)] = m.group(1)
    if not text.endswith("\n") and text:
        raise IntegrityError("DOSSIER/SHA256SUMS: truncated (no final newline)")
    return out
