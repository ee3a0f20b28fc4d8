"""Pieces shared by the streaming zip writer and reader."""

from __future__ import annotations

from collections.abc import Callable

from dossierkit.archive.winzip_aes import MAC_LEN, PV_LEN, SALT_LEN

CHUNK = 1024 * 1024
RING = 4  # chunk buffers lent in turn to the worker (worker.Ring)
ASIDE_MIN = 4 * CHUNK  # a plain zip's entries from this size are hashed on the worker
AES_OVERHEAD = SALT_LEN + PV_LEN + MAC_LEN  # 28 bytes around the ciphertext


class NameRegistry:
    """Duplicate detection as a case-insensitive file system sees it, including
    a file that is also used as a folder ("A" and "A/B")."""

    def __init__(self, error: Callable[[str], Exception]):
        self._files: set[str] = set()
        self._dirs: set[str] = set()
        self._error = error

    def add(self, name: str) -> None:
        key = name.casefold()
        if key in self._files or key in self._dirs:
            raise self._error(f"duplicate entry {name!r}")
        parts = key.split("/")
        prefixes = ["/".join(parts[:i]) for i in range(1, len(parts))]
        if any(p in self._files for p in prefixes):
            raise self._error(f"entry {name!r} is inside another entry that is a file")
        self._files.add(key)
        self._dirs.update(prefixes)
