"""Key files: the Ed25519 signing key and the age X25519 identity.

Files (``dossierkit keys generate DIR``; default DIR ``$DOSSIERKIT_HOME/keys``,
``~/.config/dossierkit/keys`` when unset)::

    signing-key.pem     Ed25519 private key, PKCS#8 PEM, mode 0600
    signing-key.pub     public key (base64 raw) and fingerprint, text
    age-identity.txt    age secret key in `age-keygen` format, mode 0600
    age-recipient.txt   the matching `age1…` recipient, text

Private files are created 0600 before any byte is written (fsutil.atomic_writer).
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dossierkit.archive import generate_identity, identity_file_text
from dossierkit.errors import InputError, OutputError
from dossierkit.fsutil import atomic_writer
from dossierkit.trust.signing import fingerprint, raw_public_bytes

SIGNING_KEY = "signing-key.pem"
SIGNING_PUB = "signing-key.pub"
AGE_IDENTITY = "age-identity.txt"
AGE_RECIPIENT = "age-recipient.txt"


def home_dir() -> Path:
    """``$DOSSIERKIT_HOME``, else ``$XDG_CONFIG_HOME/dossierkit``, else
    ``~/.config/dossierkit``: the operator's folder (keys, journal, trust store)."""
    home = os.environ.get("DOSSIERKIT_HOME")
    return Path(home) if home else Path(os.environ.get("XDG_CONFIG_HOME", Path.home() / ".config")) / "dossierkit"


def default_keys_dir() -> Path:
    return home_dir() / "keys"


@dataclass
class GeneratedKeys:
    directory: Path
    signing_key: Path
    signing_public: Path
    fingerprint: str
    public_key_b64: str
    age_identity: Path
    age_recipient_file: Path
    age_recipient: str

    def to_dict(self) -> dict[str, str]:
        return {k: str(v) for k, v in self.__dict__.items()}


def generate_keys(directory: str | os.PathLike | None = None, *, force: bool = False) -> GeneratedKeys:
    """Create a signing key and an age identity in *directory* (0700)."""
    d = Path(directory) if directory else default_keys_dir()
    targets = [d / SIGNING_KEY, d / AGE_IDENTITY]
    if not force and any(t.exists() for t in targets):
        raise OutputError("keys already exist here", path=d, hint="pass --force to replace them (old packages stay "
                                                                  "verifiable with their embedded public key)")
    try:
        d.mkdir(parents=True, exist_ok=True)
        os.chmod(d, 0o700)
    except OSError as exc:
        raise OutputError(f"cannot create the keys folder ({exc.strerror})", path=d) from exc
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    pub_raw = raw_public_bytes(key.public_key())
    pub_b64 = base64.b64encode(pub_raw).decode("ascii")
    fp = fingerprint(pub_raw)
    with atomic_writer(d / SIGNING_KEY, perms=0o600) as fh:
        fh.write(pem)
    with atomic_writer(d / SIGNING_PUB) as fh:
        fh.write(f"# dossierkit Ed25519 signing public key\n# fingerprint: {fp}\n{pub_b64}\n".encode())
    secret, recipient = generate_identity()
    with atomic_writer(d / AGE_IDENTITY, perms=0o600) as fh:
        fh.write(identity_file_text(secret).encode())
    with atomic_writer(d / AGE_RECIPIENT) as fh:
        fh.write(f"{recipient}\n".encode())
    return GeneratedKeys(d, d / SIGNING_KEY, d / SIGNING_PUB, fp, pub_b64, d / AGE_IDENTITY, d / AGE_RECIPIENT,
                         recipient)


def load_signing_key(path: str | os.PathLike | None = None) -> Ed25519PrivateKey:
    """Load an Ed25519 private key (PKCS#8 PEM); default: the default keys dir."""
    p = Path(path) if path else default_keys_dir() / SIGNING_KEY
    try:
        data = p.read_bytes()
    except FileNotFoundError as exc:
        raise InputError("signing key not found", path=p,
                         hint="create one with `dossierkit keys generate` or pass --signing-key FILE") from exc
    except OSError as exc:
        raise InputError(f"cannot read the signing key ({exc.strerror})", path=p) from exc
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise InputError("not an unencrypted PEM private key", path=p) from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise InputError("the signing key is not an Ed25519 key", path=p)
    return key


@dataclass(frozen=True)
class PublicKeys:
    """The public parts of a keys folder (:func:`public_keys`)."""

    signer_fingerprint: str
    age_recipient: str | None  # None: the folder has no age-recipient.txt

    def to_dict(self) -> dict[str, str | None]:
        return {"signer_fingerprint": self.signer_fingerprint, "age_recipient": self.age_recipient}


def public_keys(directory: str | os.PathLike | None = None) -> PublicKeys:
    """``dossierkit keys show``: the signer fingerprint of *directory*'s
    signing key (:func:`load_signing_key`: InputError when missing or not an
    Ed25519 PEM key) and the ``age1…`` recipient of its age-recipient.txt,
    if any. Default *directory*: :func:`default_keys_dir`."""
    d = Path(directory) if directory else default_keys_dir()
    fp = fingerprint(load_signing_key(d / SIGNING_KEY).public_key())
    rec_file = d / AGE_RECIPIENT
    return PublicKeys(fp, rec_file.read_text().strip() if rec_file.exists() else None)
