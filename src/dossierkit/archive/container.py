"""Which container a package uses, and the zip writer/reader over it.

- ``password``: the file *is* a WinZip AES-256 (AE-2) zip (zipaes);
- ``recipients``: the file is an age file (X25519 recipients) whose
  plaintext is a plain STORED zip (agefile + zipaes).

Both are pure streams, so pack and verify never seek and never hold a file.
The kind of an existing package is read from its first bytes, never from
its name.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from dossierkit.archive.age_keys import Recipient
from dossierkit.archive.agefile import age_reader, age_writer
from dossierkit.archive import zipformat
from dossierkit.archive.passphrase import normalise, typed_forms
from dossierkit.archive.winzip_aes import derive_keys
from dossierkit.errors import DecryptionError, InputError, UsageError, package_not_found
from dossierkit.archive.worker import Worker
from dossierkit.archive.zipaes import FreshKeys, ZipStreamWriter, iter_package_entries, open_writer

PASSWORD = "password"
RECIPIENTS = "recipients"
AGE_MAGIC = b"age-encryption.org/v1\n"
AGE_ARMOR = b"-----BEGIN AGE ENCRYPTED FILE-----"
ZIP_MAGIC = b"PK\x03\x04"


def _password_bytes(password: str | bytes) -> bytes:

    data = normalise(password) if isinstance(password, str) else bytes(password)
    if not data:
        raise UsageError("empty password")
    return data


def _first_password_check(raw: IO[bytes]) -> tuple[bytes, bytes, int] | None:
    """(salt, password-check bytes, key length) of the first entry, read
    with ``os.pread`` without moving the stream; None when the input cannot
    be read so (a pipe) or does not start with an AES entry (the reader
    then says what is wrong)."""
    try:
        if not raw.seekable():
            return None
        fd, base = raw.fileno(), raw.tell()
        head = os.pread(fd, zipformat.LOCAL_STRUCT.size, base)
        sig, _, flags, method, _, _, _, _, _, nlen, xlen = zipformat.LOCAL_STRUCT.unpack(head)
        if sig != zipformat.SIG_LOCAL or not flags & zipformat.FLAG_ENCRYPTED or method != zipformat.METHOD_AES:
            return None
        var = os.pread(fd, nlen + xlen, base + len(head))
        _, strength, _ = zipformat.parse_aes_extra(zipformat.parse_extras(var[nlen:], "first entry"), "first entry")
        salt_len = zipformat.AES_SALT_LEN[strength]
        data = os.pread(fd, salt_len + 2, base + len(head) + nlen + xlen)
    except Exception:  # noqa: BLE001 — speculation only: the reader judges the package
        return None
    if len(data) != salt_len + 2:
        return None
    return data[:salt_len], data[salt_len:], 8 * (strength + 1)


def _opening_password(raw: IO[bytes], password: str | bytes) -> bytes:
    """The form of a typed *password* that opens this package: the exact
    text, or — a passphrase dictated and typed with other separators or
    capitals — its generated form (passphrase.typed_forms), chosen by the
    first entry's 2-byte password check (a false match, 1 in 65 536, ends
    as "wrong password" at its MAC, as any wrong password does)."""
    if not isinstance(password, str):
        return _password_bytes(password)
    forms = typed_forms(password)
    check = _first_password_check(raw) if len(forms) > 1 else None
    if check is not None:
        salt, verifier, key_len = check
        for form in forms:
            if derive_keys(form, salt, key_len)[2] == verifier:
                return form
    return _password_bytes(password)


@dataclass
class ContainerSpec:
    kind: str
    password: bytes | None = None
    # age_keys.Recipient: exactly the recipients asked for (pack's read-back
    # compares bytes and never decrypts, so it needs no key of its own).
    recipients: list[Any] = field(default_factory=list)
    # (DOS time, DOS date) given to every entry (zipformat.dos_stamp); None: 1980-01-01
    dos: tuple[int, int] | None = None

    @classmethod
    def for_writing(cls, *, password: str | bytes | None, recipients: list[str] | None) -> ContainerSpec:
        if (password is None) == (not recipients):
            raise UsageError("choose one protection: a password (--password-file/--password-env/prompt/"
                             "--generate-password) or age recipients (--recipient/--recipients-file)")
        if password is not None:
            return cls(PASSWORD, password=_password_bytes(password))

        parsed = [r if isinstance(r, Recipient) else Recipient.from_str(str(r)) for r in recipients or []]
        return cls(RECIPIENTS, recipients=parsed)

    def start_keys(self, worker: Worker) -> FreshKeys | None:
        """For a password: entry keys already being derived ahead on
        *worker* (give them to :func:`zip_writer`). None for recipients."""
        if self.kind != PASSWORD:
            return None
        return FreshKeys(self.password, worker).start()


def package_kind(path: str | Path) -> str:
    """``password`` or ``recipients``, from the package's first bytes."""

    try:
        with open(path, "rb") as fh:
            return sniff(fh, path)
    except FileNotFoundError as exc:
        raise package_not_found(path) from exc
    except OSError as exc:
        raise InputError(f"cannot read the package ({exc.strerror})", path=path) from exc


def sniff(fh: IO[bytes], path: Path | str) -> str:
    """The container kind from the first bytes; the stream is rewound."""
    head = fh.read(len(AGE_MAGIC))
    fh.seek(0)
    if head.startswith(ZIP_MAGIC):
        return PASSWORD
    if head == AGE_MAGIC:
        return RECIPIENTS
    if head.startswith(AGE_ARMOR[:len(head)]) and head:
        raise DecryptionError("ASCII-armoured age files are not dossierkit packages", path=path,
                              hint="decode it with `age -d` first, or ask for the binary package")
    raise DecryptionError("not a dossierkit package (neither a zip nor an age file)", path=path)


@contextlib.contextmanager
def zip_writer(out: IO[bytes], spec: ContainerSpec, *, keys: FreshKeys | None = None) -> Iterator[ZipStreamWriter]:
    """A zip writer whose bytes land in *out*, encrypted as *spec* says.
    *keys*: the :meth:`ContainerSpec.start_keys` supply, if one was started."""
    if spec.kind == PASSWORD:
        with open_writer(out, password=spec.password, keys=keys, dos=spec.dos) as zw:
            yield zw
        return

    with age_writer(out, spec.recipients) as sink:
        with open_writer(sink, password=None, dos=spec.dos) as zw:
            yield zw


@contextlib.contextmanager
def zip_reader(raw: IO[bytes], kind: str, *, password: str | bytes | None,
               identities: list[Any] | None, check_mac: bool = True,
               worker: Worker | None = None, deferred_hash: bool = False) -> Iterator[Iterator[Any]]:
    """The zip entries of a package stream (zipaes.StreamEntry objects),
    closed on leaving the block — on this thread, not whenever the garbage
    collector gets to it. ``check_mac=False``, ``worker`` and
    ``deferred_hash`` (the age container's plain zip only): see
    :func:`.zipreader.iter_package_entries`."""
    if kind == PASSWORD:
        if password is None:
            raise DecryptionError("this package is protected by a password",
                                  hint="give it with --password-file, --password-env or at the prompt")
        with contextlib.closing(iter_package_entries(raw, password=_opening_password(raw, password),
                                                     label="the package", check_mac=check_mac,
                                                     worker=worker)) as entries:
            yield entries
        return
    if not identities:
        raise DecryptionError("this package is encrypted for age recipients",
                              hint="give the recipient's identity file with --identity FILE")

    with age_reader(raw, identities) as plain, \
            contextlib.closing(iter_package_entries(plain, password=None, label="the package",
                                                    worker=worker, deferred_hash=deferred_hash)) as entries:
        yield entries
