"""Passphrases for the password container: generation, strength estimate,
the forms a dictated passphrase may be typed in, reading secrets without argv.

WinZip AES derives its key with PBKDF2-HMAC-SHA1 × 1000 only, so the
passphrase itself must carry the strength (DESIGN §8, docs/security.md):

* generated ones draw words uniformly (``secrets``) from the packaged French
  list until ≥ 80 bits, lower case, separated by single spaces — the form a
  person types when the words are read out on the phone, and the exact bytes
  7-Zip derives its key from (it is told so on the passphrase sheet);
* human ones are estimated with zxcvbn, told the caller's *user inputs* (the
  dossier's names, dates and ids: this module knows no dossier) and the
  French word list, and refused under :data:`MIN_GUESSES_LOG10` unless the
  caller explicitly accepts a weak password.
"""

from __future__ import annotations

import math
import os
import re
import secrets
import textwrap
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from dossierkit.errors import InputError, UsageError
from dossierkit.fsutil import atomic_writer

MIN_GENERATED_BITS = 80
# The floor for a password a person chose (docs/security.md "Password strength"):
# an offline attack on PBKDF2-HMAC-SHA1 ×1000 at ASSUMED_GUESSES_PER_SECOND
# needs ~1 year for 10**18 guesses (≈ 2**60).
ASSUMED_GUESSES_PER_SECOND = 3e10
MIN_GUESSES_LOG10 = 18.0
SEPARATOR = " "
ZXCVBN_MAX_LENGTH = 72  # zxcvbn refuses longer input; a prefix's estimate is a lower bound
_WORDS_DICTIONARY = "dossierkit_words_fr"
# What a person may type between the words of a dictated passphrase.
_TYPED_SEPARATORS = re.compile(r"[\s\-_.,;:/+]+")


@lru_cache(maxsize=1)
def wordlist() -> tuple[str, ...]:
    """The packaged word list (accent-free French words, filtered:
    scripts/clean_wordlist.py)."""
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
    """Words drawn with ``secrets`` until at least *bits* of entropy (≥ 80).

    A draw that zxcvbn would rate under the floor (say the same word drawn
    three times) is drawn again, so every passphrase handed out passes the
    check a typed one gets; this removes a vanishing share of the space."""
    if bits < MIN_GENERATED_BITS:
        raise UsageError(f"a generated passphrase needs at least {MIN_GENERATED_BITS} bits (asked {bits})")
    words = wordlist()
    per_word = math.log2(len(words))
    n = math.ceil(bits / per_word)
    while True:
        text = separator.join(secrets.choice(words) for _ in range(n))
        if guesses_log10(text) >= MIN_GUESSES_LOG10 + 2:
            return GeneratedPassphrase(text, n, n * per_word)


def how_to_type(passphrase: str) -> tuple[str, str]:
    """(French, English) instruction for typing a generated *passphrase*."""
    n = len(passphrase.split(SEPARATOR))
    return (f"{n} mots en minuscules, séparés par une espace (pas de tiret, pas de majuscule)\u00a0: "
            "c'est exactement ce qu'il faut taper dans 7-Zip.",
            f"{n} lower-case words separated by single spaces (no hyphen, no capital): type exactly this "
            "into 7-Zip.")


@lru_cache(maxsize=1)
def _register_words() -> None:
    # zxcvbn keeps its dictionaries in a module-level table: the French word
    # list is added once (ranked in list order) beside its English ones.
    # In-function import: zxcvbn builds its 100 000-word tables on import
    # (time and memory: docs/performance.md, "Imports kept out of start-up"),
    # paid by pack with a typed password and by generation only, not by
    # verify, unpack or any other command.
    from zxcvbn import matching

    matching.add_frequency_lists({_WORDS_DICTIONARY: list(wordlist())})


def guesses_log10(password: str, user_inputs: Iterable[str] = ()) -> float:
    """zxcvbn's estimate (log10 of the guesses) of *password*, knowing
    *user_inputs* (the caller's context: names, dates, ids, spelled as
    a person might type them) and the French word list."""
    _register_words()
    from zxcvbn import zxcvbn  # already imported by _register_words (cost above)

    inputs = [s for s in user_inputs if s]
    return float(zxcvbn(password[:ZXCVBN_MAX_LENGTH], user_inputs=inputs)["guesses_log10"])


def check_password_strength(password: str, *, user_inputs: Sequence[str] = (), weak_ok: bool = False) -> float:
    """Return the estimate (log10 of the guesses); refuse (UsageError) under
    :data:`MIN_GUESSES_LOG10` unless *weak_ok*."""
    log10 = guesses_log10(password, user_inputs)
    if log10 < MIN_GUESSES_LOG10 and not weak_ok:
        raise UsageError(f"password too weak: an offline attack on the package would find it "
                         f"{_duration(10 ** log10 / ASSUMED_GUESSES_PER_SECOND)} "
                         f"(about 10^{log10:.0f} guesses; 10^{MIN_GUESSES_LOG10:.0f} needed — names, dates, "
                         "ids of the dossier and common words are tried first)",
                         hint="let dossierkit generate a passphrase (--generate-password), "
                              "or pass --weak-password-ok")
    return log10


def _duration(seconds: float) -> str:
    for unit, size in (("year", 3.15e7), ("day", 86400.0), ("hour", 3600.0), ("minute", 60.0)):
        if seconds >= size:
            return f"in about {seconds / size:.0f} {unit}(s)"
    return "in under a minute"


def normalise(password: str) -> bytes:
    """UTF-8 of the NFC form: the same typed password gives the same key on
    every system (macOS keyboards produce NFD)."""
    return unicodedata.normalize("NFC", password).encode("utf-8")


def typed_forms(password: str) -> list[bytes]:
    """The keys to try, in order, for a password as typed: the exact text
    (NFC) first — a password a person chose is used as typed, as 7-Zip does —
    then, when it reads as words, the generated form (lower case, single
    spaces) and the hyphenated form of earlier versions. So a passphrase
    read out on the phone opens whatever separators and case were typed;
    the container tries them against the first entry's password check."""
    forms = [normalise(password)]
    parts = [p for p in _TYPED_SEPARATORS.split(unicodedata.normalize("NFC", password).strip()) if p]
    if len(parts) >= 2 and all(p.isalpha() for p in parts):
        for sep in (SEPARATOR, "-"):
            form = sep.join(p.lower() for p in parts).encode("utf-8")
            if form not in forms:
                forms.append(form)
    return forms


def read_password(file: str | os.PathLike | None = None, env: str | None = None,
                  prompt: Callable[[], str] | None = None) -> str:
    """The password from a file (first line), an environment variable (its
    name), or an interactive prompt callable, in that order — never from
    the command line, where other users of the machine could read it."""
    if file is not None:
        try:
            with open(file, encoding="utf-8") as fh:
                line = fh.readline()
        except FileNotFoundError as exc:
            raise InputError("password file not found", path=file,
                             hint="check its name and folder; the passphrase is the file's first line") from exc
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
    """Write *password* on the first line of *path* (what ``--password-file``
    reads), then how to type it, FR/EN; created 0600, atomically."""
    fr, en = (textwrap.fill(line, 78) for line in how_to_type(password))
    with atomic_writer(path, "w", perms=0o600, overwrite=overwrite) as fh:
        fh.write(f"{password}\n\n{fr}\n\n{en}\n")
