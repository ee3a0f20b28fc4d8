"""The transmission channels a receipt names, with their French and English
labels (docs/traceability.md). A leaf of ``trace/``: the receipt, its PDF and
``pack --receipt`` read it."""

from __future__ import annotations

from dossierkit.errors import UsageError

CHANNELS: dict[str, tuple[str, str]] = {
    "usb-patient": ("Clé USB remise au patient", "USB key handed to the patient"),
    "mssante": ("Messagerie sécurisée de santé (MSSanté)", "MSSanté secure health messaging"),
    "sftp": ("Transfert SFTP entre établissements", "SFTP transfer between establishments"),
    "hand": ("Remise en main propre", "Handed over in person"),
}


def check_channel(channel: str) -> None:
    """UsageError unless *channel* is one of :data:`CHANNELS`."""
    if channel not in CHANNELS:
        raise UsageError(f"unknown channel {channel!r} — use one of {', '.join(CHANNELS)}")
