"""The trust store: known senders' signing keys, by name.

A valid Ed25519 signature only proves that *some* key signed the package;
anyone can make a key. The receiver therefore keeps the keys of the senders
it knows, each compared once against the fingerprint printed on the
sender's paper receipt (or read over the phone), under a name people
recognise (docs/security.md, "Who sent it").

File: ``$DOSSIERKIT_HOME/trusted-senders.toml`` (:func:`default_store_path`;
``~/.config/dossierkit/trusted-senders.toml`` when ``DOSSIERKIT_HOME`` is
unset), TOML, one table per sender::

    [[sender]]
    fingerprint = "1d65a3f0…"          # 64 hex digits, SHA-256 of the raw Ed25519 public key
    name = "CHR d'Orléans"
    added = "2026-12-01T03:12:45Z"     # UTC, when `trust add` recorded it

A missing file is an empty store. ``trust add`` / ``trust remove`` rewrite
it atomically (fsutil.atomic_writer).

Who a verification accepts (:class:`SenderPolicy`, in this order):

1. ``--expect-signer FINGERPRINT`` (full): that key and no other — a pin,
   the store is then only read for the name;
2. a key of the store;
3. the operator's own signing key (``$DOSSIERKIT_HOME/keys/signing-key.pub``,
   and the key a command signs with): a sender verifying its own package.

Anything else is an authentic package from an unknown sender: not a
success (exit 6, ``UNTRUSTED``), with the full fingerprint to compare.
"""

from __future__ import annotations

import base64
import binascii
import os
import tomllib
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import tomli_w

from dossierkit.errors import InputError, UsageError
from dossierkit.fsutil import atomic_writer
from dossierkit.trust.keys import SIGNING_PUB, default_keys_dir, home_dir
from dossierkit.trust.signing import fingerprint, parse_fingerprint, spaced_fingerprint

STORE_NAME = "trusted-senders.toml"
MAX_NAME = 200
_HEADER = ("# dossierkit trust store: senders whose signing key was checked against their printed receipt.\n"
           "# Edit with `dossierkit trust add FINGERPRINT --name NAME` / `dossierkit trust remove FINGERPRINT`.\n")


def default_store_path() -> Path:
    return home_dir() / STORE_NAME


@dataclass(frozen=True)
class Sender:
    fingerprint: str
    name: str
    added: str
    renamed_from: str | None = None  # set by TrustStore.add when it renamed a sender (not stored)

    def to_dict(self) -> dict[str, str]:
        return {"fingerprint": self.fingerprint, "name": self.name, "added": self.added} | (
            {"renamed_from": self.renamed_from} if self.renamed_from else {})


class TrustStore:
    """The senders of one store file (see module docstring)."""

    def __init__(self, path: str | os.PathLike | None = None):
        self.path = Path(path) if path else default_store_path()
        self.senders: dict[str, Sender] = {}
        self._load()

    def _load(self) -> None:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return
        except OSError as exc:
            raise InputError(f"cannot read the trust store ({exc.strerror})", path=self.path) from exc
        try:
            data = tomllib.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise InputError(f"the trust store is not valid TOML ({exc})", path=self.path,
                             hint="fix or remove the file; it lists the senders you trust") from exc
        rows = data.get("sender", [])
        if not isinstance(rows, list):
            raise InputError("the trust store's `sender` must be a list of tables ([[sender]])", path=self.path)
        for n, row in enumerate(rows, 1):
            if not isinstance(row, dict) or not isinstance(row.get("name"), str) \
                    or not isinstance(row.get("fingerprint"), str):
                raise InputError(f"sender {n} of the trust store needs a fingerprint and a name", path=self.path)
            fp = parse_fingerprint(row["fingerprint"], what=f"sender {n} of the trust store ({self.path})")
            self.senders[fp] = Sender(fp, row["name"], str(row.get("added", "")))

    def get(self, fp: str) -> Sender | None:
        return self.senders.get(fp.lower())

    def list(self) -> list[Sender]:
        return sorted(self.senders.values(), key=lambda s: (s.name.casefold(), s.fingerprint))

    def add(self, fp_text: str, name: str) -> Sender:
        """Record (or rename) the sender of full fingerprint *fp_text*; saved at once.
        A rename keeps the date the key was first trusted and says so
        (``renamed_from``): every package of that key is then named anew."""
        fp = parse_fingerprint(fp_text, what="FINGERPRINT")
        name = " ".join(name.split())
        if not name or len(name) > MAX_NAME:
            raise UsageError(f"--name must be a non-empty name of at most {MAX_NAME} characters "
                             "(the establishment, e.g. \"CHR d'Orléans\")")
        before = self.senders.get(fp)
        added = before.added if before else datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.senders[fp] = Sender(fp, name, added)
        self.save()
        renamed = before.name if before and before.name != name else None
        return Sender(fp, name, added, renamed_from=renamed)

    def remove(self, fp_text: str) -> Sender:
        fp = parse_fingerprint(fp_text, what="FINGERPRINT")
        sender = self.senders.pop(fp, None)
        if sender is None:
            raise UsageError(f"no sender with fingerprint {spaced_fingerprint(fp)} in the trust store",
                             path=self.path, hint="see `dossierkit trust list`")
        self.save()
        return sender

    def save(self) -> None:
        body = tomli_w.dumps({"sender": [s.to_dict() for s in self.list()]})
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"cannot create the trust store's folder ({exc.strerror})", path=self.path) from exc
        with atomic_writer(self.path) as fh:
            fh.write((_HEADER + body).encode("utf-8"))


def own_key_fingerprint(keys_dir: str | os.PathLike | None = None) -> str | None:
    """The fingerprint of the operator's signing key (``signing-key.pub`` of
    the keys folder), or None when there is none or it is unreadable."""
    path = Path(keys_dir or default_keys_dir()) / SIGNING_PUB
    try:
        lines = path.read_text(encoding="ascii").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    for line in lines:
        if line.strip() and not line.startswith("#"):
            try:
                raw = base64.b64decode(line.strip(), validate=True)
            except (binascii.Error, ValueError):
                return None
            return fingerprint(raw) if len(raw) == 32 else None
    return None


@dataclass(frozen=True)
class Signer:
    """Who signed, as the receiver knows them."""

    fingerprint: str
    name: str | None = None
    basis: str | None = None  # "expected" | "trust-store" | "own-key"; None: unknown sender

    @property
    def known(self) -> bool:
        return self.basis is not None

    def to_dict(self) -> dict[str, Any]:
        return {"fingerprint": self.fingerprint, "name": self.name, "known": self.known, "basis": self.basis}

    def describe(self) -> str:
        """One phrase: ``CHR d'Orléans (trust store; 1d65 a3f0 …)``."""
        fp = spaced_fingerprint(self.fingerprint)
        if not self.known:
            return f"an unknown key {fp}"
        label = self.name or {"own-key": "this installation's own key", "expected": "the expected signer"}.get(
            self.basis or "", "a known key")
        return f"{label} ({self.basis}; {fp})"


class SenderPolicy:
    """Which signers a verification accepts (module docstring)."""

    def __init__(self, *, store: TrustStore | None = None, expected: str | None = None,
                 own: tuple[str, ...] = ()):
        self.store = store
        self.expected = parse_fingerprint(expected, what="--expect-signer") if expected else None
        self.own = tuple(fp.lower() for fp in own if fp)

    @classmethod
    def load(cls, *, expect_signer: str | None = None, store: str | os.PathLike | None = None,
             own: tuple[str, ...] = ()) -> SenderPolicy:
        """The default policy: *expect_signer* if given, the trust store at
        *store* (default :func:`default_store_path`), the operator's own key
        and the *own* fingerprints (the key the command signs with). A *store*
        named but not there is an InputError (a mistyped path would otherwise
        read as an empty store: every sender unknown); the default one may be
        missing (no sender trusted yet)."""
        if store is not None and not Path(store).exists():
            raise InputError("trust store not found", path=store,
                             hint="check the --trust-store path (`dossierkit trust add … --trust-store FILE` "
                                  "creates one)")
        mine = own_key_fingerprint()
        return cls(store=TrustStore(store), expected=expect_signer, own=(*own, *((mine,) if mine else ())))

    def judge(self, fp: str) -> Signer:
        fp = fp.lower()
        stored = self.store.get(fp) if self.store is not None else None
        name = stored.name if stored else None
        if self.expected is not None:
            return Signer(fp, name, "expected" if fp == self.expected else None)
        if stored is not None:
            return Signer(fp, name, "trust-store")
        if fp in self.own:
            return Signer(fp, None, "own-key")
        return Signer(fp)

    def refusal(self, signer: Signer) -> str:
        """The one line shown for a signer this policy does not accept."""
        fp = spaced_fingerprint(signer.fingerprint)
        if self.expected is not None:
            return (f"authentic signature, but by the key {fp}, not the expected signer "
                    f"{spaced_fingerprint(self.expected)} — do not use this package; ask the sender which key "
                    "signed it")
        return (f"authentic signature by an unknown sender, key {fp} — compare these 16 groups with the "
                "fingerprint printed on the sender's receipt (or read them to the sender by phone); if they "
                f"match, run `dossierkit trust add {signer.fingerprint} --name \"ESTABLISHMENT\"` and verify "
                "again; if not, do not use this package")
