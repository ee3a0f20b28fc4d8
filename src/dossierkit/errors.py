"""Error types and the exit codes they map to.

Every failure a user can cause is a :class:`DossierkitError` carrying one
human line (what, which file, what to do) and a documented exit code
(docs/exit-codes.md). The CLI prints the line and exits with the code; only
``--debug`` shows a traceback.
"""

from __future__ import annotations

import re
from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    INCOMPLETE = 1  # the dossier has blocking findings (check, pack refused)
    USAGE = 2  # bad option, bad or unreadable input file
    INTEGRITY = 3  # verification failed: tampered, corrupt, bad signature, broken journal
    DECRYPTION = 4  # wrong password or key, or not a dossierkit package
    OUTPUT = 5  # cannot write the output: exists, read-only, disk full
    UNTRUSTED = 6  # authentic (valid signature) but by a key not trusted (trust store, --expect-signer)
    REMOTE = 7  # a PACS cannot be reached, refuses the association or the request, or times out
    INTERNAL = 70  # a bug: rerun with --debug and report it
    INTERRUPTED = 130


class DossierkitError(Exception):
    """Base error: ``str(err)`` is the one line shown to the user."""

    exit_code: ExitCode = ExitCode.USAGE

    def __init__(self, message: str, *, hint: str | None = None, path: object | None = None):
        self.message = message
        self.hint = hint
        self.path = str(path) if path is not None else None
        super().__init__(self.line())

    def line(self) -> str:
        text = self.message
        if self.path and not _names(text, self.path):
            # a newline or a control character in a file name stays on the one line, escaped
            shown = "".join(c if c.isprintable() else repr(c)[1:-1] for c in self.path)
            text = f"{shown}: {text}"
        if self.hint:
            text = f"{text} — {self.hint}"
        return text


def _names(text: str, path: str) -> bool:
    """Whether *text* already names *path* as a whole (not ``.`` inside
    ``dossier.toml``, nor ``out`` inside ``output``): then the line does not
    repeat it in front."""
    return re.search(rf"(?<![\w.\-/]){re.escape(path)}(?![\w\-/]|\.\w)", text) is not None


class UsageError(DossierkitError):
    exit_code = ExitCode.USAGE


class InputError(DossierkitError):
    """An input file is missing, unreadable, or not what it should be."""

    exit_code = ExitCode.USAGE


class IncompleteError(DossierkitError):
    exit_code = ExitCode.INCOMPLETE


class IntegrityError(DossierkitError):
    exit_code = ExitCode.INTEGRITY


class DecryptionError(DossierkitError):
    exit_code = ExitCode.DECRYPTION


class OutputError(DossierkitError):
    exit_code = ExitCode.OUTPUT


class UntrustedError(DossierkitError):
    """A valid signature by a key the receiver does not know (trust store,
    --expect-signer): authentic, but from an unknown sender."""

    exit_code = ExitCode.UNTRUSTED


class RemoteError(DossierkitError):
    """A PACS (DIMSE or DICOMweb) cannot be reached, refuses, or times out."""

    exit_code = ExitCode.REMOTE


def package_not_found(path: object) -> InputError:
    """The one line for a package file that is not there (verify, unpack, receipt, ack, deliver…)."""
    return InputError("package not found", path=path,
                      hint="check the file's name and folder (the package as received, e.g. dossier.zip on the key)")
