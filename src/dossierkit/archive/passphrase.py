"""Passphrases for the password container: generation, strength estimate,
reading secrets without argv.

WinZip AES derives its key with PBKDF2-HMAC-SHA1 × 1000 only, so the
passphrase itself must carry the strength (DESIGN §8): generated ones draw
words uniformly from a 4096-word list (12 bits each; 7 words = 84 bits ≥ 80
by default), human ones are estimated conservatively and refused under
60 bits unless the caller explicitly accepts a weak password.
"""

from __future__ import annotations

import math
import os
import re
import secrets
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from dossierkit.errors import InputError, UsageError
from dossierkit.fsutil import atomic_writer

MIN_GENERATED_BITS = 80
MIN_USER_BITS = 60
SEPARATOR = "-"


@lru_cache(maxsize=1)
def wordlist() -> tuple[str, ...]:
    """The packaged word list (4096 accent-free French words)."""
    text = resources.files(__package__).joinpath("wordlist_fr.txt").read_text(encoding="ascii")
    words = tuple(w for w in (line.strip() for line in text.splitlines()) if w and not w.startswith("#"))
    assert len(set(words)) == len(words) and all(re.fullmatch(r"[a-z]+", w) for w in words)
    return words


@dataclass(frozen=True)
class GeneratedPassphrase:
    text: str
    words: int
    entropy_bits: float

    def __str__(self) -> str:  # printing the object prints the passphrase, on purpose only
        return self.text


def generate_passphrase(bits: int = MIN_GENERATED_BITS, *, separator: str = SEPARATOR) -> GeneratedPassphrase:
    """Words drawn with ``secrets`` until at least *bits* of entropy (≥ 80)."""
    if bits < MIN_GENERATED_BITS:
        raise UsageError(f"a generated passphrase needs at least {MIN_GENERATED_BITS} bits (asked {bits})")
    words = wordlist()
    per_word = math.log2(len(words))
    n = math.ceil(bits / per_word)
    text = separator.join(secrets.choice(words) for _ in range(n))
    return GeneratedPassphrase(text, n, n * per_word)


_SEQUENCES = ("abcdefghijklmnopqrstuvwxyz", "0123456789", "azertyuiop", "qsdfghjklm", "wxcvbn", "qwertyuiop",
              "asdfghjkl", "zxcvbnm")


def _char_pool(text: str) -> int:
    pool = 0
    if re.search(r"[a-z]", text):
        pool += 26
    if re.search(r"[A-Z]", text):
        pool += 26
    if re.search(r"[0-9]", text):
        pool += 10
    if re.search(r"[^a-zA-Z0-9]", text):
        pool += 33
    return pool or 1


def _is_sequence_step(prev: str, cur: str) -> bool:
    pair = (prev + cur).lower()
    return any(pair in s or pair in s[::-1] for s in _SEQUENCES)


_LEET = str.maketrans("0134@$57!", "oleaasstl")
DICTIONARY_WORD_BITS = 17.0  # any alphabetic run may be one of ~100 000 dictionary words


def passphrase_entropy_estimate(password: str) -> float:
    """A conservative estimate, in bits, of a human-chosen password.

    Leet substitutions may be undone (1 bit each; the lower reading wins). Words of our list
    count 12 bits, any other alphabetic run of 3+ letters at most 17 bits
    (it may be a dictionary word), +1 if capitalised; other characters count
    log2 of the character pool in use, except repeats and keyboard/alphabet
    sequences (1 bit each); a separator costs 2 bits once, not per use.
    A generated passphrase gets its exact entropy plus 2 bits.
    """
    plain = password.translate(_LEET)
    leet_bits = float(sum(1 for a, b in zip(password, plain) if a != b))
    pool = math.log2(_char_pool(password))
    return min(_estimate(password, pool), _estimate(plain, pool) + leet_bits)


_CASE_PARTS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])")


def _estimate(plain: str, pool: float) -> float:
    words = set(wordlist())
    per_word = math.log2(len(words))
    bits = 0.0
    separators: set[str] = set()
    for token in re.split(r"([A-Za-z]+)", plain):
        if not token:
            continue
        if token.isalpha():
            # A run is judged by its word-shaped parts ("PasswordPassword" is two
            # words; "JJHgscxTn" is no dictionary word but short random parts).
            for part in _CASE_PARTS.findall(token):
                word_bits = per_word if part.lower() in words else (
                    DICTIONARY_WORD_BITS if len(part) >= 3 else len(part) * pool)
                bits += min(word_bits, len(part) * pool) + (1.0 if part != part.lower() else 0.0)
            continue
        if all(c in " -_.,;:/+" for c in token) and len(token) <= 2:
            if token not in separators:
                separators.add(token)
                bits += 2.0
            continue
        prev = ""
        for c in token:
            if prev and (c == prev or _is_sequence_step(prev, c)):
                bits += 1.0
            else:
                bits += pool
            prev = c
    return round(bits, 1)


def check_password_strength(password: str, *, weak_ok: bool = False, minimum: float = MIN_USER_BITS) -> float:
    """Return the estimate; refuse (UsageError) under *minimum* bits unless *weak_ok*."""
    bits = passphrase_entropy_estimate(password)
    if bits < minimum and not weak_ok:
        raise UsageError(f"password too weak (about {bits:.0f} bits, {minimum:.0f} needed): WinZip AES lets an "
                         "attacker try millions of guesses per second",
                         hint="let dossierkit generate a passphrase, or pass --weak-password-ok")
    return bits


def normalise(password: str) -> bytes:
    """UTF-8 of the NFC form: the same typed password gives the same key on
    every system (macOS keyboards produce NFD)."""
    return unicodedata.normalize("NFC", password).encode("utf-8")


def read_password(file: str | os.PathLike | None = None, env: str | None = None,
                  prompt: Callable[[], str] | None = None) -> str:
    """The password from a file (first line), an environment variable (its
    name), or an interactive prompt callable, in that order — never from
    the command line, where other users of the machine could read it."""
    if file is not None:
        try:
            with open(file, encoding="utf-8") as fh:
                line = fh.readline()
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"cannot read the password file: {getattr(exc, 'strerror', None) or exc}",
                             path=file) from exc
        pw = line.rstrip("\r\n")
        if not pw:
            raise InputError("the password file is empty", path=file)
        return pw
    if env is not None:
        pw = os.environ.get(env, "")
        if not pw:
            raise UsageError(f"environment variable {env} is not set or empty")
        return pw
    if prompt is not None:
        pw = prompt()
        if not pw:
            raise UsageError("empty password")
        return pw
    raise UsageError("no password given", hint="use a password file, an environment variable or a terminal prompt")


def write_password_file(path: str | os.PathLike, password: str, *, overwrite: bool = False) -> None:
    """Write *password* and a newline to *path*, created 0600, atomically."""
    with atomic_writer(path, "w", perms=0o600, overwrite=overwrite) as fh:
        fh.write(password + "\n")
