"""``unpack``: verify and extract in the same streaming pass, all or nothing.

Files are written into a fresh private folder ``.dk-tmp-…`` beside DEST as
they stream by; only when the whole package verified is the folder renamed
to DEST. Any failure — wrong key, altered byte, missing file, interruption —
deletes the temporary folder, so DEST never holds a partial or unverified
tree.

Safety: only names the signed manifest lists are written, and the manifest
only admits upper-case relative paths without ``..`` (layout.is_safe_entry_path);
files are created with O_EXCL|O_NOFOLLOW and never as links; an entry is
written only when its declared size equals the manifest's, and the zip
reader stops at the declared size (unpack bounds what it produces, not only
what headers claim).
"""

from __future__ import annotations

import errno
import os
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dossierkit.errors import IntegrityError, OutputError, UntrustedError
from dossierkit.fsutil import TEMP_PREFIX, check_output_path
from dossierkit.progress import NULL_PROGRESS, Progress
from dossierkit.package.verify import VerifyReport, verify_package
from dossierkit.trust.store import SenderPolicy


@dataclass
class UnpackResult:
    destination: Path
    report: VerifyReport

    def to_dict(self) -> dict[str, Any]:
        return {"destination": str(self.destination), **self.report.to_dict()}


def _remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def unpack_package(package: str | os.PathLike, dest: str | os.PathLike, *, password: str | bytes | None = None,
                   identities: list[Any] | None = None, expect_signer: str | None = None, force: bool = False,
                   senders: SenderPolicy | None = None, ca: list[Any] | None = None,
                   progress: Progress = NULL_PROGRESS) -> UnpackResult:
    """Verify *package* and extract its root to *dest* (see module docstring).

    Raises OutputError when *dest* exists (unless *force*: it is then
    replaced only after the new tree verified), DecryptionError for a wrong
    password/key, IntegrityError (listing the first failures) when anything
    does not verify, UntrustedError when it is authentic but signed by a
    key *senders* does not accept (verify_package) — in every error case
    nothing is left at *dest*'s side.
    """
    dest = Path(dest)
    check_output_path(dest)
    if force and dest.is_dir() and Path(package).resolve().is_relative_to(dest.resolve()):
        raise OutputError("holds the package itself: --force would delete it", path=dest,
                          hint="unpack into another folder")
    senders = senders or SenderPolicy.load(expect_signer=expect_signer)  # a short --expect-signer: exit 2 now
    if dest.is_symlink() or (dest.exists() and not dest.is_dir()):
        raise OutputError("exists and is not a folder", path=dest, hint="choose another destination")
    if dest.exists() and not force:
        raise OutputError("already exists", path=dest, hint="choose a new folder or pass --force to replace it")
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.parent / f"{TEMP_PREFIX}{secrets.token_hex(6)}"
        tmp.mkdir(mode=0o700)
    except OSError as exc:
        # mkdir(parents=True) over a file says EEXIST (or ENOTDIR deeper): say which in words
        what = "a folder on its path is a file" if exc.errno in (errno.EEXIST, errno.ENOTDIR) else exc.strerror
        raise OutputError(f"cannot create the destination ({what})", path=dest,
                          hint="choose another destination folder") from exc
    try:
        report = verify_package(package, password=password, identities=identities, expect_signer=expect_signer,
                                extract_to=tmp, senders=senders, ca=ca, progress=progress, keep_manifest=False)
        if not report.ok:
            raise unpack_failure(report)
        os.chmod(tmp, 0o755)
        old = None
        if dest.exists():
            old = dest.parent / f"{TEMP_PREFIX}{secrets.token_hex(6)}"
            os.replace(dest, old)
        os.replace(tmp, dest)
        if old is not None:
            _remove_tree(old)
    except BaseException:
        _remove_tree(tmp)
        raise
    return UnpackResult(dest, report)


def unpack_failure(report: VerifyReport, done: str = "extracted") -> IntegrityError | UntrustedError:
    """One error line summarising why a package did not verify (an
    authentic package from an unknown sender: UntrustedError, exit 6);
    *done* is what was therefore not done (``extracted``, ``sent``)."""
    if report.verdict == "untrusted":
        return UntrustedError(f"not {done}: {report.failures[0].message}")
    # what is wrong with the bytes first: an unknown sender says nothing of a truncated package
    failures = sorted(report.failures, key=lambda f: f.check == "sender")
    first = failures[0] if failures else None
    more = len(failures) - 1
    what = f"{first.check}: {first.message}" if first else "verification incomplete"
    return IntegrityError(f"the package does not verify ({what}{f'; {more} more failure(s)' if more > 0 else ''})",
                          hint=f"nothing was {done}; run `dossierkit verify` for the full report")
