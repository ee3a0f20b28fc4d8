"""CLI commands: trust add / list / remove — the known senders' signing keys
(library: dossierkit.trust.store.TrustStore; file and policy documented there
and in docs/security.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from dossierkit import localtime
from dossierkit.cli import app, options, ui
from dossierkit.trust.signing import spaced_fingerprint
from dossierkit.trust.store import Sender, TrustStore

trust_app = typer.Typer(help="Known senders: whose signed packages verify and unpack accept.", no_args_is_help=True)
app.add_typer(trust_app, name="trust")

FINGERPRINT = typer.Argument(..., help="The sender's full key fingerprint (64 hex digits, spaces allowed), "
                                       "as printed on its receipt and checked with the sender.")


def _show(verb: str, sender: Sender, store: TrustStore, as_json: bool) -> None:
    if as_json:
        ui.emit_json({"action": verb, "store": str(store.path), "sender": sender.to_dict()})
    else:
        if sender.renamed_from:  # the packages of this key verified under the old name until now
            verb = f"{verb} (renamed from {sender.renamed_from!r})"
        ui.say(f"{verb}: {sender.name} — {spaced_fingerprint(sender.fingerprint)} ({store.path})")  # wrapped at words


@trust_app.command("add")
def trust_add(
    fingerprint: str = FINGERPRINT,
    name: str = typer.Option(..., "--name", help="Who this key is, as people know it (e.g. \"CHR d'Orléans\")."),
    store: Optional[Path] = options.TRUST_STORE,
    as_json: bool = options.JSON,
) -> None:
    """Trust a sender's key, after comparing all 16 groups with the sender's printed receipt."""
    trust = TrustStore(store)
    _show("trusted", trust.add(fingerprint, name), trust, as_json)


@trust_app.command("remove")
def trust_remove(
    fingerprint: str = FINGERPRINT,
    store: Optional[Path] = options.TRUST_STORE,
    as_json: bool = options.JSON,
) -> None:
    """Stop trusting a sender's key (its packages then verify as from an unknown sender, exit 6)."""
    trust = TrustStore(store)
    _show("removed", trust.remove(fingerprint), trust, as_json)


@trust_app.command("list")
def trust_list(
    store: Optional[Path] = options.TRUST_STORE,
    as_json: bool = options.JSON,
) -> None:
    """The trusted senders, by name, with their full fingerprints."""
    trust = TrustStore(store)
    senders = trust.list()
    if as_json:
        ui.emit_json({"store": str(trust.path), "senders": [s.to_dict() for s in senders]})
        return
    table = Table(title=f"trusted senders — {trust.path}")
    table.add_column("name", overflow="fold")
    table.add_column("fingerprint", no_wrap=True)
    table.add_column("added", overflow="fold")
    for s in senders:
        groups = spaced_fingerprint(s.fingerprint).split(" ")  # two lines of 8 groups, as on the receipt
        added = localtime.on_screen(s.added).replace(" UTC", "\nUTC")  # the offset on a line of its own
        table.add_row(s.name, " ".join(groups[:8]) + "\n" + " ".join(groups[8:]), added)
    ui.out.print(table if senders else f"no trusted sender yet ({trust.path}): see `dossierkit trust add --help`")
