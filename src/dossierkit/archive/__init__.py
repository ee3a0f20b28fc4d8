"""The containers of a package, shaped like age: small modules behind this
tiny public API. Nothing here knows of DICOM, manifests or workspaces.

Layers above import from ``dossierkit.archive`` only (an import-linter
contract in pyproject.toml); the modules inside are private.
"""

from __future__ import annotations

from dossierkit.archive.age_keys import Recipient, generate_identity, identity_file_text, load_identities, load_recipients
from dossierkit.archive.container import PASSWORD, RECIPIENTS, ContainerSpec, package_kind, sniff, zip_reader, zip_writer
from dossierkit.archive.passphrase import (check_password_strength, generate_passphrase, how_to_type, read_password,
                                           write_password_file)
from dossierkit.archive.readback import ReadBackSink, read_back
from dossierkit.archive.streamhash import StreamHash
from dossierkit.archive.worker import Ring, Worker
from dossierkit.archive.zipformat import METHOD_STORED, dos_stamp

__all__ = [
    # containers
    "PASSWORD", "RECIPIENTS", "ContainerSpec", "package_kind", "sniff", "zip_reader", "zip_writer",
    "ReadBackSink", "read_back", "METHOD_STORED", "Worker", "Ring", "StreamHash", "dos_stamp",
    # age keys
    "Recipient", "generate_identity", "identity_file_text", "load_identities", "load_recipients",
    # passphrases
    "check_password_strength", "generate_passphrase", "read_password", "write_password_file", "how_to_type",
]
