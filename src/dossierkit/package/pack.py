"""``pack``: check the workspace, build the media root, stream it into an
encrypted container, then read the file back and compare it byte for byte.

Order of work (docs/package-format.md):

1. run the check profile; refuse on errors unless ``allow_incomplete`` with
   a reason (the waived findings and the reason go into the manifest);
2. plan the root in memory (:mod:`.root`) — manifest, sums and signature
   are sealed before any byte is written, from the workspace indexes;
3. check the plan in memory (:func:`.verify.check_root_plan`: signature,
   sums, manifest, DICOMDIR, completeness, IHE XDM metadata — every check of ``verify`` but
   the container's), so a packer bug never produces a package;
4. stream the entries into a temporary file in the target folder
   (``.dk-tmp-*``), re-hashing every workspace file on the way (it must
   still match its index); the package bytes go through
   :class:`~dossierkit.archive.ReadBackSink`, which writes each 4 MiB window,
   adds it to the package SHA-256 (of the result, the receipt and the
   journal), reads it back from the file and compares it byte for byte;
5. fsync, then :func:`~dossierkit.archive.read_back`: the file's size on
   disk must be the bytes written, and for a zip an independent parse of
   its central directory must list the entries written; only then is it
   renamed onto the target: a failure — or a kill at any point — leaves
   nothing at the target path.

Threads: this one, plus the flow's one :class:`~dossierkit.archive.Worker`,
started here and joined before returning: it derives the entry keys ahead
(from before the checks) and runs the sink's window jobs. Nothing is held
in memory but the generated files (manifest, DICOMDIR, INDEX.HTM: kilobytes
to a few MiB) and a few MiB of buffers.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dossierkit import localtime
from dossierkit.check import run_checks
from dossierkit.errors import IncompleteError, IntegrityError, OutputError, UsageError
from dossierkit.fsutil import atomic_writer, check_output_path
from dossierkit.model import REPLY_PURPOSE
from dossierkit.phi import mentions
from dossierkit.progress import NULL_PROGRESS, Progress
from dossierkit.workspace import Workspace
from dossierkit.archive import PASSWORD, ContainerSpec, ReadBackSink, Worker, dos_stamp, read_back, zip_writer
from dossierkit.package.manifest import completeness_record
from dossierkit.package.readme import write_beside_readme
from dossierkit.package.root import RootEntry, build_root
from dossierkit.package.layout import CMS_SIGNATURE
from dossierkit.package.verify import check_root_plan
from dossierkit.trust.cms import CertSigner, sign_detached


@dataclass
class PackResult:
    package: Path
    container: str  # "password" | "recipients"
    size: int
    sha256: str  # of the package file's exact bytes
    manifest_sha256: str
    signer_fingerprint: str
    dossier_id: str
    counts: dict[str, int]
    completeness: str  # complete | incomplete
    waived: list[str] = field(default_factory=list)  # codes of the waived error findings
    seconds: float = 0.0
    readme: Path | None = None  # LISEZMOI-README.TXT beside the package
    recipients: int = 0
    # the manifest's waived findings as they are recorded ({code, level, message}): the receipt's words
    waived_findings: list[dict[str, str]] = field(default_factory=list)

    @property
    def mb_per_s(self) -> float:
        return self.counts.get("bytes", 0) / 1e6 / self.seconds if self.seconds else 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON summary — no patient data (ids, hashes, counts only)."""
        return {"package": str(self.package), "container": self.container, "size": self.size,
                "package_sha256": self.sha256, "manifest_sha256": self.manifest_sha256,
                "signer_fingerprint": self.signer_fingerprint, "dossier_id": self.dossier_id,
                "counts": self.counts, "completeness": self.completeness, "waived": self.waived,
                "recipients": self.recipients, "verified": True, "seconds": round(self.seconds, 3),
                "mb_per_s": round(self.mb_per_s, 1), "readme": str(self.readme) if self.readme else None}


def _completeness(ws: Workspace, *, allow_incomplete: bool, reason: str | None, profile: str | None):

    if allow_incomplete and not (reason and reason.strip()):
        raise UsageError("--allow-incomplete needs --reason \"…\" (it is recorded in the manifest and the receipt)")
    if reason and reason.strip() and not allow_incomplete:
        raise UsageError("--reason goes with --allow-incomplete: it records why an incomplete dossier is sent")
    report = run_checks(ws, profile)
    if not report.complete and not allow_incomplete:
        codes = ", ".join(sorted({f.code for f in report.errors}))
        raise IncompleteError(f"the dossier is incomplete ({codes})",
                              hint="see `dossierkit check DIR`; complete it, or pass --allow-incomplete "
                                   "--reason \"…\" to send it anyway")
    return report, completeness_record(report, waived=allow_incomplete and not report.complete,
                                       reason=reason.strip() if reason else None)


def _write_entries(entries: Iterable[RootEntry], writer, progress: Progress) -> None:
    """Stream every entry into the zip writer. Workspace files go through
    ``add_file`` (bit-exact; the hash the writer computes on the way is
    compared with the index); generated ones through ``add_stream``."""
    for e in entries:
        if e.source is None:  # generated: inflated piece by piece as it is written
            res = writer.add_stream(e.path, e.size, e.chunks)
            e.data = None  # written: the manifest, sums and DICOMDIR (they grow with the files) are not held on (#18)
            progress.advance(e.size)
        else:
            assert e.source is not None
            res = writer.add_file(e.path, e.source, progress=progress)
        if res.size != e.size or res.sha256 != e.sha256:
            raise _changed(e.source or e.path)


def _changed(path) -> IntegrityError:
    return IntegrityError("content differs from the workspace index (changed since it was added)",
                          path=path, hint="re-add or re-import it, then pack again")


def pack(workspace: Workspace | str | os.PathLike, out: str | os.PathLike, *, signing_key: Ed25519PrivateKey,
         password: str | bytes | None = None, recipients: list[str] | None = None,
         allow_incomplete: bool = False, reason: str | None = None, force: bool = False,
         profile: str | None = None, write_readme: bool = True, cert_signer: CertSigner | None = None,
         progress: Progress = NULL_PROGRESS, on_commit: Callable[[], None] | None = None) -> PackResult:
    """Build the encrypted, signed package of *workspace* at *out*.

    Exactly one of *password* (WinZip AES-256 zip) or *recipients* (``age1…``
    strings: an age file wrapping a plain zip) must be given. Raises
    IncompleteError when the check has errors (unless *allow_incomplete*
    with a *reason*), OutputError when *out* exists (unless *force*),
    IntegrityError when a workspace file changed since it was indexed, the
    planned root fails a check, or the file does not read back identical to
    the bytes written (the output is then removed). With *cert_signer*
    (an establishment's X.509 certificate and key) the package also holds
    DOSSIER/MANIFEST.P7S, a detached CMS signature of MANIFEST.JSON.
    *on_commit* is called once the package has been read back, just before
    it is renamed into place: the commit point (the flow holds Ctrl-C from
    there, :class:`dossierkit.interrupts.HeldInterrupt`).
    """
    t0 = time.perf_counter()
    ws = workspace if isinstance(workspace, Workspace) else Workspace(workspace)
    out = Path(out)
    check_output_path(out, inside=ws.own_files())  # --force must not overwrite dossier.toml or a workspace file
    spec = ContainerSpec.for_writing(password=password, recipients=recipients)
    # extracted files dated the pack day and hour in the establishment's zone, as README and INDEX say it (#15)
    spec.dos = dos_stamp(dt.datetime.now(localtime.zone()[1]))
    if out.is_dir():  # first: --force would not help (issue #15)
        raise OutputError("is a folder", path=out, hint=f"give the package's file name, e.g. {out / 'dossier.zip'}")
    if out.exists() and not force:
        raise OutputError("already exists", path=out, hint="choose another name or pass --force")
    if mentions(out.name, ws.dossier.patient):
        raise UsageError("the package's file name holds the patient's identity", path=out,
                         hint="a package's name is not encrypted (it shows on the key, in the mail, on the receipt "
                              "and the acknowledgement): name it e.g. dossier.zip")
    # The flow's one worker: entry keys (PBKDF2) are derived on it from now
    # on, while this thread checks and plans; then it writes, hashes and
    # reads back the package windows.
    with Worker("dk-pack") as worker:
        return _pack(ws, out, spec, worker, signing_key=signing_key, allow_incomplete=allow_incomplete,
                     reason=reason, force=force, profile=profile, write_readme=write_readme,
                     progress=progress, recipients=len(recipients or []), t0=t0, cert_signer=cert_signer,
                     on_commit=on_commit)


def _pack(ws: Workspace, out: Path, spec: ContainerSpec, worker: Worker, *, signing_key: Ed25519PrivateKey,
          allow_incomplete: bool, reason: str | None, force: bool, profile: str | None, write_readme: bool,
          progress: Progress, recipients: int, t0: float, cert_signer: CertSigner | None = None,
          on_commit: Callable[[], None] | None = None) -> PackResult:
    keys = spec.start_keys(worker)
    report, completeness = _completeness(ws, allow_incomplete=allow_incomplete, reason=reason, profile=profile)
    root = build_root(ws, signing_key=signing_key, completeness=completeness, container=spec.kind)
    if cert_signer is not None:  # right after MANIFEST.SIG; signs the manifest's exact bytes
        p7s = sign_detached(cert_signer, root.entries[0].data or b"")
        root.entries.insert(3, RootEntry(CMS_SIGNATURE, len(p7s), hashlib.sha256(p7s).hexdigest(), data=p7s))
    if keys is not None:
        keys.expect(len(root.entries))
    # Only the entries are streamed: drop the layout (every image's index
    # record) and the manifest dict now, before the plan check parses the
    # manifest again — per-file memory is what bounds pack's peak RSS.
    entries, total_bytes = root.entries, root.total_bytes
    counts = {k: int(v) for k, v in root.totals.items()}
    manifest_sha256, signer = root.manifest_sha256, root.signer_fingerprint
    del root

    # A generator: each generated file inflated as the check reaches it, no list of every entry (#18).
    plan = check_root_plan(((e.path, e.size, e.sha256, e.data) for e in entries), expect_signer=signer)
    if plan.failures:
        first = plan.failures[0]
        raise IntegrityError(f"the package planned fails its verification ({first.check}: {first.message})",
                             path=out, hint="this is a dossierkit bug; nothing was written")
    del plan  # it holds the manifest's bytes: only the entries are kept while writing (#18)

    out_state: dict[str, Any] = {}

    def before_rename(tmp: Path) -> None:
        # On the closed, fsynced temporary file, before the rename: whatever
        # is at *out* has been read back, even if the process is killed.
        read_back(tmp, out_state["sink"], out_state["entries"], label=out)
        if on_commit is not None:  # from here the package will be in place: the flow finishes it as a whole
            on_commit()

    progress.start("packing", total=total_bytes, unit="B")
    with atomic_writer(out, overwrite=force, readable=True, before_rename=before_rename) as fh:
        sink = out_state["sink"] = ReadBackSink(fh, label=out, worker=worker)
        try:
            with zip_writer(sink, spec, keys=keys) as writer:
                _write_entries(entries, writer, progress)
            sink.close()
        finally:
            sink.abort()
        progress.finish()
        # What the read-back's own parse of the central directory must find:
        # the names planned, where the writer put each entry and its stored
        # size — consumed as the directory is parsed (no list, issue #18).
        out_state["entries"] = (((e.path, off, stored) for e, (off, stored) in zip(entries, writer.placed()))
                                if spec.kind == PASSWORD else None)
    readme = write_beside_readme(out, reply=ws.dossier.purpose == REPLY_PURPOSE) if write_readme else None
    waived = sorted({w["code"] for w in completeness["waived"]})
    return PackResult(package=out, container=spec.kind, size=sink.size, sha256=sink.hexdigest(),
                      manifest_sha256=manifest_sha256, signer_fingerprint=signer,
                      dossier_id=ws.dossier.id, counts=counts, completeness=report.status, waived=waived,
                      seconds=time.perf_counter() - t0, readme=readme, recipients=recipients,
                      waived_findings=[{"code": w["code"], "level": w["level"], "message": w["message"]}
                                       for w in completeness["waived"]])
