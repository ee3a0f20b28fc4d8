"""age X25519 keys: recipients (``age1…``), identities (``AGE-SECRET-KEY-1…``),
the key files ``age-keygen`` writes, and the X25519 stanza that wraps a
file key for one recipient and unwraps it with an identity."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from dossierkit.archive.age_format import Stanza, b64, damaged, encode_stanza, hkdf_sha256, unb64
from dossierkit.archive.bech32 import bech32_decode, bech32_encode
from dossierkit.errors import DecryptionError, InputError, UsageError

X25519_LABEL = b"age-encryption.org/v1/X25519"
SECRET_HRP = "age-secret-key-"
PUBLIC_HRP = "age"


@dataclass(frozen=True)
class Recipient:
    """An X25519 recipient (``age1…``)."""

    public: bytes

    @classmethod
    def from_str(cls, text: str) -> Recipient:
        dec = bech32_decode(text.strip())
        if dec is None or dec[0] != PUBLIC_HRP or len(dec[1]) != 32:
            raise UsageError(f"not an age X25519 recipient: {text.strip()[:20]!r}…",
                             hint="a recipient looks like age1… (62 characters)")
        return cls(dec[1])

    def __str__(self) -> str:
        return bech32_encode(PUBLIC_HRP, self.public)


@dataclass(frozen=True)
class Identity:
    """An X25519 identity (``AGE-SECRET-KEY-1…``). Its repr hides the secret."""

    secret: bytes

    @classmethod
    def from_str(cls, text: str) -> Identity:
        dec = bech32_decode(text.strip())
        if dec is None or dec[0] != SECRET_HRP or len(dec[1]) != 32:
            raise UsageError("not an age X25519 identity", hint="an identity line starts with AGE-SECRET-KEY-1")
        return cls(dec[1])

    def __str__(self) -> str:
        return bech32_encode(SECRET_HRP, self.secret).upper()

    def __repr__(self) -> str:
        return f"Identity(public={self.recipient()})"

    def recipient(self) -> Recipient:
        return Recipient(X25519PrivateKey.from_private_bytes(self.secret).public_key().public_bytes_raw())


def as_recipients(items: Iterable[Recipient | str]) -> list[Recipient]:
    out = [r if isinstance(r, Recipient) else Recipient.from_str(str(r)) for r in items]
    if not out:
        raise UsageError("at least one recipient is needed")
    return out


def as_identities(items: Iterable[Identity | str]) -> list[Identity]:
    out = [i if isinstance(i, Identity) else Identity.from_str(str(i)) for i in items]
    if not out:
        raise UsageError("at least one identity is needed")
    return out


# ------------------------------------------------------------------ the X25519 stanza

def wrap_file_key(file_key: bytes, recipient: Recipient) -> bytes:
    """The encoded ``-> X25519`` stanza giving *recipient* the file key."""
    eph = X25519PrivateKey.generate()
    share = eph.public_key().public_bytes_raw()
    shared = eph.exchange(X25519PublicKey.from_public_bytes(recipient.public))
    wrap = hkdf_sha256(shared, share + recipient.public, X25519_LABEL)
    body = ChaCha20Poly1305(wrap).encrypt(bytes(12), file_key, None)
    return encode_stanza([b"X25519", b64(share)], body)


def unwrap_file_key(stanzas: list[Stanza], identities: list[Identity]) -> bytes | None:
    """The file key from the first X25519 stanza one of *identities* opens;
    None if none does. Other stanza types are skipped, a passphrase file refused."""
    for args, body in stanzas:
        if args[0] == b"scrypt":
            raise DecryptionError("this age file is passphrase-encrypted; dossierkit uses X25519 keys only")
        if args[0] != b"X25519":
            continue
        if len(args) != 2 or len(body) != 32:
            raise damaged("malformed X25519 stanza")
        try:
            share = unb64(args[1])
        except ValueError:
            raise damaged("malformed X25519 stanza") from None
        if len(share) != 32:
            raise damaged("malformed X25519 stanza")
        for ident in identities:
            priv = X25519PrivateKey.from_private_bytes(ident.secret)
            try:
                shared = priv.exchange(X25519PublicKey.from_public_bytes(share))
            except ValueError:  # all-zero shared secret: a low-order point
                raise damaged("invalid X25519 share in the age header") from None
            wrap = hkdf_sha256(shared, share + priv.public_key().public_bytes_raw(), X25519_LABEL)
            try:
                return ChaCha20Poly1305(wrap).decrypt(bytes(12), body, None)
            except InvalidTag:
                continue
    return None


# ------------------------------------------------------------------ key files

def generate_identity() -> tuple[str, str]:
    """A new X25519 identity: ``(secret "AGE-SECRET-KEY-1…", public "age1…")``."""
    ident = Identity(X25519PrivateKey.generate().private_bytes_raw())
    return str(ident), str(ident.recipient())


def identity_file_text(secret: str) -> str:
    """The text ``age-keygen`` writes, so the file works with the age CLI."""
    ident = Identity.from_str(secret)
    created = datetime.now(timezone.utc).replace(microsecond=0).isoformat()
    return f"# created: {created}\n# public key: {ident.recipient()}\n{ident}\n"


def _key_lines(text: str) -> Iterator[tuple[int, str]]:
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if line and not line.startswith("#"):
            yield n, line


def _parse_keys(text: str, parse, *, source: str, what: str, expected: str) -> list:
    """Keys from a key file's text, one per line, ``#`` comments; one line per bad key."""
    out = []
    for n, line in _key_lines(text):
        try:
            out.append(parse(line))
        except UsageError:
            raise InputError(f"line {n} is not an age {what}", path=source, hint=expected) from None
    if not out:
        raise InputError(f"no age {what} found", path=source)
    return out


def _read_key_file(path: str | os.PathLike, what: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read the {what} file: {getattr(exc, 'strerror', None) or exc}", path=path) from exc


def parse_identities(text: str, *, source: str = "identity file") -> list[Identity]:
    """Identities from the text of an ``age-keygen`` file (comments allowed)."""
    return _parse_keys(text, Identity.from_str, source=source, what="identity",
                       expected="expected AGE-SECRET-KEY-1… lines (as written by age-keygen)")


def load_identities(path: str | os.PathLike) -> list[Identity]:
    """Read an identity file as ``age-keygen`` writes it (:func:`identity_file_text`)."""
    return parse_identities(_read_key_file(path, "identity"), source=str(path))


def parse_recipients(text: str, *, source: str = "recipients") -> list[Recipient]:
    """Recipients from a recipients file's text: one ``age1…`` per line, ``#`` comments."""
    return _parse_keys(text, Recipient.from_str, source=source, what="recipient",
                       expected="expected age1… lines; other recipient types are not supported")


def load_recipients(path: str | os.PathLike) -> list[Recipient]:
    return parse_recipients(_read_key_file(path, "recipients"), source=str(path))
