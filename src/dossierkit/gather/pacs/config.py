"""Named PACS: ``$DOSSIERKIT_HOME/pacs.toml`` (docs/pacs.md).

::

    [pacs.chu]                      # DIMSE
    ae_title = "PACS_CHU"
    host = "pacs.chu.example"
    port = 104
    calling_ae = "DOSSIERKIT"       # our own AE title
    move_port = 11113               # our storage SCP for --move-to-self (C-MOVE)
    timeout = 30                    # seconds: connection, each DIMSE message, each HTTP read
    retries = 3                     # bounded retries of a failed transfer, with back-off
    tls = false                     # DICOM TLS; tls_ca / tls_cert / tls_key (PEM files)

    [pacs.chu-web]                  # DICOMweb
    dicomweb = "https://pacs.chu.example/dicom-web"
    username = "dossierkit"
    password_env = "CHU_PACS_PASSWORD"   # or password_file = "/etc/dossierkit/chu.pass" (mode 0600)
    tls_ca = "/etc/ssl/chu-ca.pem"       # optional CA bundle

Credentials never come from the command line: from an environment variable
or a file readable by its owner only.
"""

from __future__ import annotations

import os
import stat
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dossierkit.errors import InputError, UsageError
from dossierkit.trust.keys import home_dir

PACS_FILE = "pacs.toml"
_DIMSE_KEYS = {"ae_title", "host", "port", "calling_ae", "move_port"}
_WEB_KEYS = {"dicomweb", "username", "password_env", "password_file"}
_COMMON_KEYS = {"timeout", "retries", "tls", "tls_ca", "tls_cert", "tls_key", "description"}


def pacs_config_path() -> Path:
    return home_dir() / PACS_FILE


@dataclass(frozen=True)
class PacsConfig:
    """One named PACS."""

    name: str
    dicomweb: str | None = None
    ae_title: str | None = None
    host: str | None = None
    port: int | None = None
    calling_ae: str = "DOSSIERKIT"
    move_port: int | None = None
    timeout: float = 30.0
    retries: int = 3
    tls: bool = False
    tls_ca: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    username: str | None = None
    password_env: str | None = None
    password_file: str | None = None

    @property
    def kind(self) -> str:
        return "dicomweb" if self.dicomweb else "dimse"

    def where(self) -> str:
        """Where the PACS is, for messages (no credentials)."""
        if self.dicomweb:
            return self.dicomweb
        return f"{self.ae_title}@{self.host}:{self.port}"

    def password(self) -> str | None:
        """The DICOMweb password, from the environment or a 0600 file."""
        if self.password_env:
            value = os.environ.get(self.password_env)
            if not value:
                raise UsageError(f"PACS {self.name!r}: environment variable {self.password_env} is not set",
                                 hint="export it, or use password_file in pacs.toml")
            return value
        if self.password_file:
            return read_secret_file(Path(self.password_file).expanduser(), self.name)
        return None


def read_secret_file(path: Path, name: str) -> str:
    """The first line of a credentials file readable by its owner only."""
    try:
        st = path.stat()
    except OSError as exc:
        raise InputError(f"PACS {name!r}: cannot read the password file ({exc.strerror})", path=path) from exc
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise InputError(f"PACS {name!r}: password file readable by group or others "
                         f"(mode {stat.S_IMODE(st.st_mode):04o}); refused", path=path,
                         hint=f"chmod 600 {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"PACS {name!r}: cannot read the password file", path=path) from exc
    line = text.splitlines()[0].strip() if text.strip() else ""
    if not line:
        raise InputError(f"PACS {name!r}: the password file is empty", path=path)
    return line


def _bad(path: Path, name: str, what: str) -> UsageError:
    return UsageError(f"PACS {name!r}: {what}", path=path, hint="see docs/pacs.md")


def _entry(path: Path, name: str, raw: Any) -> PacsConfig:
    if not isinstance(raw, dict):
        raise _bad(path, name, "not a table")
    unknown = set(raw) - _DIMSE_KEYS - _WEB_KEYS - _COMMON_KEYS
    if unknown:
        raise _bad(path, name, f"unknown setting(s) {', '.join(sorted(unknown))}")
    if "dicomweb" in raw and set(raw) & {"ae_title", "host", "port"}:
        raise _bad(path, name, "give either dicomweb or ae_title/host/port, not both")
    fields: dict[str, Any] = {"name": name}
    for key in ("dicomweb", "ae_title", "host", "calling_ae", "tls_ca", "tls_cert", "tls_key", "username",
                "password_env", "password_file"):
        if key in raw:
            if not isinstance(raw[key], str) or not raw[key].strip():
                raise _bad(path, name, f"{key} must be a non-empty string")
            fields[key] = raw[key].strip()
    for key in ("port", "move_port", "retries"):
        if key in raw:
            value = raw[key]
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 65535:
                raise _bad(path, name, f"{key} must be an integer")
            fields[key] = value
    if "timeout" in raw:
        value = raw["timeout"]
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 < value <= 3600:
            raise _bad(path, name, "timeout must be a number of seconds (0 < timeout ≤ 3600)")
        fields["timeout"] = float(value)
    if "tls" in raw:
        if not isinstance(raw["tls"], bool):
            raise _bad(path, name, "tls must be true or false")
        fields["tls"] = raw["tls"]
    for key in ("ae_title", "calling_ae"):
        if key in fields and len(fields[key]) > 16:
            raise _bad(path, name, f"{key} is longer than 16 characters")
    if "password_env" in fields and "password_file" in fields:
        raise _bad(path, name, "give password_env or password_file, not both")
    cfg = PacsConfig(**fields)
    if cfg.dicomweb is None and not (cfg.ae_title and cfg.host and cfg.port):
        raise _bad(path, name, "needs either dicomweb = URL or ae_title, host and port")
    if cfg.dicomweb is not None and not cfg.dicomweb.startswith(("http://", "https://")):
        raise _bad(path, name, "dicomweb must be an http:// or https:// URL")
    return cfg


def load_pacs_file(path: str | os.PathLike | None = None) -> dict[str, PacsConfig]:
    """Every PACS of the file (default :func:`pacs_config_path`)."""
    p = Path(path) if path is not None else pacs_config_path()
    try:
        with open(p, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError as exc:
        raise UsageError("no PACS configured (file not found)", path=p,
                         hint="create it with a [pacs.NAME] table, see docs/pacs.md") from exc
    except OSError as exc:
        raise InputError(f"cannot read ({exc.strerror})", path=p) from exc
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"not valid TOML ({exc})", path=p) from exc
    table = data.get("pacs")
    if not isinstance(table, dict) or not table:
        raise UsageError("no [pacs.NAME] table", path=p, hint="see docs/pacs.md")
    return {name: _entry(p, name, raw) for name, raw in table.items()}


def load_pacs(name: str, path: str | os.PathLike | None = None) -> PacsConfig:
    """The PACS called *name* (:class:`UsageError`, exit 2, naming the known ones if absent)."""
    known = load_pacs_file(path)
    if name not in known:
        raise UsageError(f"no PACS named {name!r} in {path or pacs_config_path()}",
                         hint=f"known: {', '.join(sorted(known))}")
    return known[name]
