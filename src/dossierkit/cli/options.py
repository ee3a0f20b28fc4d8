"""The typer options several commands share, defined once with one help text."""

from __future__ import annotations

import typer

JSON = typer.Option(False, "--json", help="Write one JSON document to stdout (no progress, no prompts).")

# Secrets of a package: from a file, the environment or a prompt, never from argv.
PASSWORD_FILE = typer.Option(None, "--password-file", help="Read the passphrase from the first line of FILE.")
PASSWORD_ENV = typer.Option(None, "--password-env", metavar="VAR",
                            help="Read the passphrase from environment variable VAR.")
IDENTITY = typer.Option(None, "--identity", "-i", help="age identity file for a recipients package (default: the "
                                                       "keys folder's age-identity.txt).")
EXPECT_SIGNER = typer.Option(None, "--expect-signer", metavar="FINGERPRINT",
                             help="Accept only this signer: its full fingerprint (64 hex digits, spaces allowed), "
                                  "as printed on the sender's receipt. Default: the trust store.")
CA_FILE = typer.Option(None, "--ca-file", metavar="CA.pem",
                       help="Check DOSSIER/MANIFEST.P7S against these CA certificates (default: "
                            "establishment-ca.pem in $DOSSIERKIT_HOME, when present).")
TRUST_STORE = typer.Option(None, "--trust-store", metavar="FILE",
                           help="Trust store of known senders (default: trusted-senders.toml in "
                                "$DOSSIERKIT_HOME).")
SIGNING_KEY = typer.Option(None, "--signing-key", help="Ed25519 signing key (default: the keys folder's "
                                                       "signing-key.pem).")
JOURNAL = typer.Option(None, "--journal", help="Journal file (default: $DOSSIERKIT_JOURNAL, the workspace's "
                                               "journal.jsonl, else journal.jsonl in $DOSSIERKIT_HOME).")

# `pack --receipt …`
RECEIPT_OUT = typer.Option(None, "--receipt", help="Also issue the transmission receipt (JSON + PDF) in this "
                                                   "folder or FILE.json; needs --channel.")
CHANNEL = typer.Option(None, "--channel", help="With --receipt: usb-patient, mssante, sftp or hand.")
TO = typer.Option([], "--to", help="With --receipt: recipient (repeatable; default: the second-opinion "
                                   "practitioner).")
COPY = typer.Option(None, "--copy", help="With --receipt: copy to (repeatable, or none; default: initial "
                                         "physician and treating GP, minus the patient's restrictions).")
