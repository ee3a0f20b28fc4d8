"""CLI commands: keys generate / keys show."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from dossierkit.cli import app, options, ui
from dossierkit.trust.keys import PublicKeys, generate_keys, public_keys
from dossierkit.trust.signing import spaced_fingerprint

keys_app = typer.Typer(help="Signing key (Ed25519) and encryption identity (age X25519).", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


@keys_app.command("generate")
def keys_generate(
    directory: Optional[Path] = typer.Argument(None, help="Folder for the keys (default: $DOSSIERKIT_HOME/keys or "
                                                          "~/.config/dossierkit/keys)."),
    force: bool = typer.Option(False, "--force", help="Replace existing keys."),
    as_json: bool = options.JSON,
) -> None:
    """Create a signing key and an age identity; private files are 0600."""
    k = generate_keys(directory, force=force)
    if as_json:
        ui.emit_json({"signing_key": str(k.signing_key), "signing_public_key": k.public_key_b64,
                      "signer_fingerprint": k.fingerprint, "age_identity": str(k.age_identity),
                      "age_recipient": k.age_recipient})
    else:
        ui.out.print(f"signing key:        {k.signing_key} (private, 0600)")
        ui.out.print(f"signer fingerprint: {_groups(k.fingerprint)}")
        ui.out.print(f"age identity:       {k.age_identity} (private, 0600)")
        ui.out.print(f"age recipient:\n  {k.age_recipient}")  # 62 characters: a line of its own


def _groups(fp: str) -> str:
    """The fingerprint as receipts print it and verify shows it: 16 groups of 4, two lines of 8."""
    groups = spaced_fingerprint(fp).split(" ")
    return " ".join(groups[:8]) + "\n" + " " * 20 + " ".join(groups[8:])


@keys_app.command("show")
def keys_show(
    directory: Optional[Path] = typer.Argument(None, help="Keys folder (default as for generate)."),
    as_json: bool = options.JSON,
) -> None:
    """Print the public parts: signer fingerprint and age recipient."""
    _report_show(public_keys(directory), as_json)


def _report_show(keys: PublicKeys, as_json: bool) -> None:
    if as_json:
        ui.emit_json(keys.to_dict())
    else:
        ui.out.print(f"signer fingerprint: {_groups(keys.signer_fingerprint)}")
        if keys.age_recipient:
            ui.out.print(f"age recipient:\n  {keys.age_recipient}")  # 62 characters: a line of its own
