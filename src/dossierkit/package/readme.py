"""README.TXT (in the root) and the LISEZMOI-README.TXT written beside the
package — bilingual plain text from ``templates/package/``.

Neither holds patient data: the root README only names the dossier id (a
random, PHI-free token) and counts; the one beside the package is the same
for every package, so it can sit in cleartext on the USB key.
CRLF line ends: the first reader is often Windows Notepad.
"""

from __future__ import annotations

import os
from pathlib import Path
from string import Template

from dossierkit import localtime
from dossierkit.errors import OutputError
from dossierkit.fsutil import atomic_writer
from dossierkit.resources import templates_dir

BESIDE_README = "LISEZMOI-README.TXT"
_MARK = "dossierkit — LISEZ-MOI / README"


def _template(name: str) -> str:
    return (templates_dir() / "package" / name).read_text(encoding="utf-8")


def _crlf(text: str) -> bytes:
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")


def root_readme(*, dossier_id: str, created: str, version: str, documents: int, studies: int,
                images: int) -> bytes:
    """The root README.TXT; *created* is the manifest's UTC stamp, printed
    in local time with its zone (dossierkit.localtime)."""
    created_fr, created_en = localtime.local(created)
    text = Template(_template("README.TXT")).substitute(
        dossier_id=dossier_id, created_fr=created_fr, created_en=created_en, version=version, document_count=documents, study_count=studies,
        image_count=images)
    return _crlf(text)


def beside_readme() -> bytes:
    return _crlf(_template(BESIDE_README))


def write_beside_readme(package: str | os.PathLike) -> Path | None:
    """Write LISEZMOI-README.TXT next to *package*. An existing file is
    replaced only when it is ours (starts with our title); returns the path
    written, or None when an unrelated file of that name was left alone."""
    target = Path(package).parent / BESIDE_README
    if target.exists():
        try:
            head = target.read_bytes()[:200].decode("utf-8", "replace")
        except OSError as exc:
            raise OutputError(f"cannot read ({exc.strerror})", path=target) from exc
        if _MARK not in head:
            return None
    with atomic_writer(target) as fh:
        fh.write(beside_readme())
    return target
