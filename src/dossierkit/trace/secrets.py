"""The secrets of a package, read by one path for every command (DESIGN §1,
§7): from a file, an environment variable or an interactive prompt — never
from the command line, where other users of the machine could read them.

* :func:`open_secrets` — what opens an existing package (``verify``,
  ``unpack``, ``receipt``, ``ack``): the container kind is detected once,
  then the passphrase (password package) or the age identities (recipients
  package) are read. :meth:`PackageSecrets.require` names the missing one.
  :class:`SecretSources` holds those sources as a command's options give
  them, for a flow to open the package with itself (:func:`secrets_for`).
* :func:`pack_protection` — how a new package is encrypted: a passphrase
  read or generated (and checked for strength), or age recipients.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dossierkit.archive import (PASSWORD, Recipient, check_password_strength, generate_passphrase, load_identities,
                                load_recipients, package_kind, read_password, zip_reader)
from dossierkit.errors import DecryptionError, DossierkitError, UsageError
from dossierkit.identity import fold
from dossierkit.model import Dossier
from dossierkit.trust.keys import AGE_IDENTITY, default_keys_dir
from dossierkit.workspace import Workspace

PASSPHRASE_HINT = "give --password-file FILE or --password-env VAR (never on the command line)"
PROMPT_TRIES = 3  # a person at the terminal gets this many tries at a passphrase

Prompt = Callable[[], str]


@dataclass(frozen=True)
class PackageSecrets:
    """What opens one package. *kind* is its container kind (``password``
    or ``recipients``), or None when no secret was asked for and the
    package was not looked at."""

    kind: str | None = None
    password: str | None = None
    identities: list[Any] | None = None

    def __bool__(self) -> bool:
        return self.password is not None or self.identities is not None

    def open_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of ``verify_package`` / ``unpack_package``."""
        if self.password is not None:
            return {"password": self.password}
        if self.identities is not None:
            return {"identities": self.identities}
        return {}

    def require(self) -> PackageSecrets:
        """These secrets, or a UsageError naming the one the package needs."""
        if self:
            return self
        if self.kind == PASSWORD:
            raise UsageError("this package needs a passphrase", hint=PASSPHRASE_HINT)
        raise UsageError("this package is encrypted for age recipients",
                         hint="give the recipient's identity file with --identity FILE")


def open_secrets(package: str | os.PathLike, *, password_file: str | os.PathLike | None = None,
                 password_env: str | None = None, password_prompt: Prompt | None = None,
                 identity: str | os.PathLike | None = None, default_identity: bool = False) -> PackageSecrets:
    """The secrets that open *package*, from the sources given: the
    passphrase of a password package (*password_file*, else *password_env*,
    else *password_prompt*), the age identities of a recipients package
    (*identity*). *default_identity*: for a recipients package, fall back to
    the keys folder's age-identity.txt (the recipient's own key). Empty
    (falsy) when no source applies; the package is not opened at all when
    none is given. The secret read is tried on the package at once
    (:func:`check_opens`): a wrong one raises DecryptionError before any long
    pass; from *password_prompt* (a person at the terminal), it is asked
    again, :data:`PROMPT_TRIES` tries in all."""
    if password_file is not None and password_env is not None:
        raise UsageError("choose --password-file or --password-env, not both")
    if password_file is None and password_env is None and password_prompt is None and identity is None \
            and not default_identity:
        return PackageSecrets()
    kind = package_kind(package)
    if kind == PASSWORD:
        if password_file is None and password_env is None and password_prompt is None:
            return PackageSecrets(kind)
        prompted = password_file is None and password_env is None
        for attempt in range(1, PROMPT_TRIES + 1):
            secrets = PackageSecrets(kind, password=read_password(password_file, password_env, password_prompt))
            try:
                check_opens(package, secrets)
                return secrets
            except DecryptionError:
                if not prompted or attempt == PROMPT_TRIES:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover
    if identity is None and default_identity and (default_keys_dir() / AGE_IDENTITY).is_file():
        identity = default_keys_dir() / AGE_IDENTITY
    if identity is None:
        return PackageSecrets(kind)
    secrets = PackageSecrets(kind, identities=load_identities(identity))
    check_opens(package, secrets)
    return secrets


@dataclass(frozen=True)
class SecretSources:
    """Where the secrets of an existing package come from, as a command's
    options say it (the arguments of :func:`open_secrets`): a flow given
    these opens the package itself, first thing (:func:`secrets_for`)."""

    password_file: str | os.PathLike | None = None
    password_env: str | None = None
    identity: str | os.PathLike | None = None
    password_prompt: Prompt | None = None
    default_identity: bool = False

    def open(self, package: str | os.PathLike) -> PackageSecrets:
        """``open_secrets(package, …)`` from these sources (possibly empty)."""
        return open_secrets(package, password_file=self.password_file, password_env=self.password_env,
                            password_prompt=self.password_prompt, identity=self.identity,
                            default_identity=self.default_identity)

    def require(self, package: str | os.PathLike) -> PackageSecrets:
        """What ``open_secrets(package, …).require()`` returns: the secrets,
        or a UsageError naming the one the package needs."""
        return self.open(package).require()


def secrets_for(package: str | os.PathLike, secrets: PackageSecrets | SecretSources | None, *,
                require: bool = False) -> PackageSecrets | None:
    """What a flow opens *package* with: *secrets* as given (PackageSecrets,
    or None), or opened from their :class:`SecretSources` — with *require*,
    as ``open_secrets(…).require()`` (a missing one is a UsageError)."""
    if isinstance(secrets, SecretSources):
        return secrets.require(package) if require else secrets.open(package)
    return secrets


def check_opens(package: str | os.PathLike, secrets: PackageSecrets) -> None:
    """Fail fast on a wrong passphrase or key: open *package* with
    *secrets* and authenticate its first entry (the small manifest) — one
    key derivation, a few kilobytes read — before any long pass starts (a
    progress bar over gigabytes that ends in "wrong password" helps nobody).
    Raises DecryptionError for a wrong passphrase or key; anything else
    (a damaged package) is left for the full verification to report."""
    try:
        with open(package, "rb") as fh, zip_reader(fh, secrets.kind or PASSWORD, password=secrets.password,
                                                  identities=secrets.identities) as entries:
            for entry in entries:
                for _ in entry.chunks():
                    pass
                return
    except DecryptionError as exc:
        if exc.path is None:  # the reader sees a stream: the line names the file
            exc.path = str(package)
            exc.args = (exc.line(),)
        raise
    except (DossierkitError, OSError):  # damage: the full verification reports it, with its own words
        return


_MONTHS_FR = ("janvier", "fevrier", "mars", "avril", "mai", "juin", "juillet", "aout", "septembre", "octobre",
              "novembre", "decembre")
_MONTHS_EN = ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
              "november", "december")
# What else an attacker tries first against a cancer dossier (zxcvbn knows English words, not these).
CONTEXT_WORDS = ("cancer", "tumeur", "oncologie", "chimio", "chimiotherapie", "radiotherapie", "metastase",
                 "hopital", "clinique", "chu", "chr", "centre", "patient", "patiente", "dossier", "medical",
                 "medecin", "docteur", "sante", "rcp", "avis", "second", "secondavis", "radiologie", "irm",
                 "scanner", "biopsie", "sein", "poumon", "colon", "prostate", "paris", "lyon", "marseille",
                 "motdepasse", "secret", "confidentiel", "dossierkit")


def date_spellings(day: dt.date) -> list[str]:
    """A date as people write it: 1958-03-14, 14/03/1958, 14031958, 14/3/58,
    14 mars 1958, mars1958, 1958… (zxcvbn finds it in any of them)."""
    d, m, y = day.day, day.month, day.year
    numeric = [f"{d:02d}{sep}{m:02d}{sep}{y}" for sep in ("/", "-", ".", " ", "")]
    numeric += [f"{d}{sep}{m}{sep}{y}" for sep in ("/", "-", ".", " ")]
    numeric += [f"{d:02d}{sep}{m:02d}{sep}{y % 100:02d}" for sep in ("/", "-", ".", " ", "")]
    numeric += [f"{d}/{m}/{y % 100:02d}", f"{y}-{m:02d}-{d:02d}", f"{y}{m:02d}{d:02d}", f"{y}/{m:02d}/{d:02d}",
                f"{m:02d}/{d:02d}/{y}", f"{m:02d}{d:02d}{y}", f"{d:02d}{m:02d}", f"{m:02d}{y}", f"{m:02d}/{y}",
                str(y), f"{y % 100:02d}"]
    words = []
    for month in (_MONTHS_FR[m - 1], _MONTHS_EN[m - 1]):
        words += [f"{d} {month} {y}", f"{d}{month}{y}", f"{d:02d}{month}{y}", f"{month}{y}", f"{month} {y}",
                  f"{d}{month}", month]
    return numeric + words


def _spellings(text: str | None) -> list[str]:
    """*text* as typed: as is, accent-free, its words alone and run together."""
    if not text:
        return []
    out = []
    for variant in (text.strip(), fold(text).lower()):
        parts = [p for p in re.split(r"[\s\-'’.,^]+", variant) if p]
        out += [variant, "".join(parts), *parts]
    return out


def dossier_user_inputs(dossier: Dossier) -> list[str]:
    """What a password must not be built from (zxcvbn's user inputs): the
    patient's names, birth date in every usual spelling, ids, the dossier id,
    the practitioners' and establishments' names, and :data:`CONTEXT_WORDS`."""
    p = dossier.patient
    inputs = [*_spellings(p.family_name), *_spellings(p.birth_name)]
    for given in p.given_names:
        inputs += _spellings(given)
    inputs += _spellings(" ".join([*p.given_names, p.family_name]))
    inputs += date_spellings(p.birth_date)
    ids = ([p.identifier.value] if p.identifier else []) + list(p.other_ids) + [dossier.id]
    for value in ids:
        inputs += _spellings(value) + [re.sub(r"\D", "", value)]
    for person in (dossier.sender, dossier.initial_physician, dossier.treating_gp, dossier.second_opinion):
        if person is not None:
            inputs += _spellings(person.name) + _spellings(person.establishment) + [person.rpps or ""]
    inputs += CONTEXT_WORDS
    return list(dict.fromkeys(s for s in inputs if s))


@dataclass(frozen=True)
class Protection:
    """How a new package is encrypted: a passphrase or age recipients."""

    password: str | None = None
    recipients: list[Recipient] | None = None
    generated: bool = False  # the passphrase was generated here: shown once, or written to password_out
    password_out: Path | None = None  # where the generated passphrase is written (0600) once the package is


def pack_protection(*, password_file: str | os.PathLike | None = None, password_env: str | None = None,
                    password_prompt: Prompt | None = None, generate: bool = False,
                    password_out: str | os.PathLike | None = None, weak_ok: bool = False,
                    recipients: Sequence[str] = (), recipients_file: str | os.PathLike | None = None,
                    can_show_passphrase: bool = True, workspace: str | os.PathLike | None = None) -> Protection:
    """The protection of a new package from the sources given (the options
    of ``pack``): age *recipients* (``age1…``) and/or a *recipients_file*;
    else a passphrase *generate*-d (≥ 80 bits; with *password_out*, or shown
    once when *can_show_passphrase*); else one read as :func:`open_secrets`
    reads it, refused unless *weak_ok* when zxcvbn, told the dossier of
    *workspace* (:func:`dossier_user_inputs`), finds it under the floor of
    archive/passphrase.py (docs/security.md). Contradictory or missing
    sources are a UsageError, raised before anything is written."""
    if (recipients or recipients_file) and (password_file or password_env or generate):
        raise UsageError("choose either a password or age recipients, not both")
    if password_file and password_env:
        raise UsageError("choose --password-file or --password-env, not both")
    if password_out and not generate:
        raise UsageError("--password-out goes with --generate-password")
    if generate and (password_file or password_env):
        raise UsageError("--generate-password replaces --password-file/--password-env")
    if recipients or recipients_file:
        keys = [Recipient.from_str(r) for r in recipients]
        return Protection(recipients=keys + (load_recipients(recipients_file) if recipients_file else []))
    if generate:
        if not password_out and not can_show_passphrase:
            raise UsageError("with --json the generated passphrase must go to a file",
                             hint="add --password-out FILE (created 0600)")
        return Protection(password=generate_passphrase().text, generated=True,
                          password_out=Path(password_out) if password_out else None)
    if password_file is None and password_env is None and password_prompt is None:
        raise UsageError("the package needs a passphrase or the recipients' keys",
                         hint="give --generate-password --password-out FILE, --password-file FILE, "
                              "--password-env VAR, or --recipient age1…")
    password = read_password(password_file, password_env, password_prompt)
    inputs = dossier_user_inputs(Workspace(workspace).dossier) if workspace is not None and not weak_ok else ()
    check_password_strength(password, user_inputs=inputs, weak_ok=weak_ok)
    return Protection(password=password)
