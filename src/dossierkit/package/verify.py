"""``verify``: one streaming pass over a package, checking everything.

The container is decrypted as a stream (an age file cannot seek), entries
arrive in order and nothing is buffered but the three small DOSSIER files
and the DICOMDIR (size-capped):

1. container — decryption, every entry's MAC (HMAC-SHA1 for WinZip AES,
   CRC-32 inside age whose chunks are AEAD), local headers vs central
   directory, no foreign bytes (zipaes, strict mode); every entry STORED,
   as pack writes them (a deflated one could inflate ~1000× its size:
   verify's time and unpack's output stay bounded by the package's size);
2. the first three entries must be DOSSIER/MANIFEST.JSON, SHA256SUMS,
   MANIFEST.SIG: the signature is checked, then who signed (check
   ``sender``: the expected signer, a key of the trust store or the
   operator's own key — dossierkit.trust.store.SenderPolicy; an authentic
   package by an unknown key is ``verdict == "untrusted"``, exit 6), then
   SHA256SUMS must list exactly the manifest's files with the same hashes,
   plus the manifest itself;
3. every later entry must be a file the manifest lists, once, with the
   declared size and SHA-256; missing files fail at the end. The pass
   stops at the first entry the manifest does not list (or lists but
   was already seen), and at once when there is no usable manifest: the
   entries read, hence what the reader holds for its central-directory
   check, never exceed the manifest's count, whatever the package holds
   (a 400 000-entry package: docs/security.md);
4. the DICOMDIR is walked through its offsets: every record references a
   file of the package whose SOP Instance UID is the manifest's, and every
   image is referenced exactly once;
5. the recorded completeness is self-consistent (waived findings + reason);
6. IHE_XDM/SUBSET01/METADATA.XML describes each document of the subset
   once, with its size, SHA-1 (computed here while the document streams)
   and the dossier's patient id (package.xdm.package_problems).

Failures are collected, each naming the check and the file; a broken
container stops the pass (nothing after it can be trusted). A wrong password
or key raises DecryptionError before anything is written anywhere.
``extract_to`` writes each listed file under a folder as it streams by
(unpack uses a temporary folder and renames it only when the report is ok).
"""

from __future__ import annotations

import hashlib
import itertools
import os
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from dossierkit.errors import (DecryptionError, DossierkitError, ExitCode, InputError, IntegrityError, OutputError,
                               package_not_found)
from dossierkit.trust.cms import MAX_P7S_BYTES, CertificateInfo, verify_detached
from dossierkit.trust.store import SenderPolicy, Signer
from dossierkit.fsutil import output_error
from dossierkit.progress import NULL_PROGRESS, Progress
from dossierkit.archive import METHOD_STORED, StreamHash, Worker, sniff, zip_reader
from dossierkit.package import layout
from dossierkit.package.dicomdir import MAX_DICOMDIR_BYTES, iter_package_dicomdir
from dossierkit.package.manifest import MAX_MANIFEST_BYTES, ManifestView, completeness_problems, parse_manifest
from dossierkit.package.seal import MAX_SEAL_BYTES, check_seal
from dossierkit.package.sums import MAX_SUMS_BYTES, iter_sums
from dossierkit.package import xdm

CHECKS = ("container", "signature", "sender", "manifest", "sums", "files", "dicomdir", "completeness", "xdm")
_SEAL_CAPS = {layout.MANIFEST: MAX_MANIFEST_BYTES, layout.SUMS: MAX_SUMS_BYTES, layout.SIGNATURE: MAX_SEAL_BYTES}
_MAX_LISTED = 20  # failures listed per check before "… and N more"
_UNSETTLED_MAX = 64  # entries read ahead of their hash verdict at most (age: bounded memory)
# ExpectedFile.marks: what the pass found of each listed file (flags on the
# manifest's records rather than a set of every name per check: issue #18)
_SUMMED, _SEEN, _REFERENCED = 1, 2, 4


@dataclass
class Failure:
    check: str
    message: str
    file: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"check": self.check, "file": self.file, "message": self.message}


@dataclass
class VerifyReport:
    package: Path
    container: str | None = None
    package_size: int = 0
    package_sha256: str = ""
    manifest_sha256: str | None = None
    signer_fingerprint: str | None = None
    signer: Signer | None = None  # who signed, as the receiver knows them (check "sender")
    certificate: CertificateInfo | None = None  # DOSSIER/MANIFEST.P7S, when present and valid
    dossier_id: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    completeness: dict[str, Any] = field(default_factory=dict)  # status, waived codes, reason
    failures: list[Failure] = field(default_factory=list)
    checked: set[str] = field(default_factory=set)  # checks that ran to their end
    seconds: float = 0.0
    # MANIFEST.JSON as decrypted (for receipts; verify_package(keep_manifest=False) drops it)
    manifest_json: bytes | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return not self.failures and self.checked >= set(CHECKS)

    @property
    def verdict(self) -> str:
        """``intact``; ``untrusted``: every check holds but the signer is not
        known (exit 6); ``altered``: anything else (exit 3)."""
        if self.ok:
            return "intact"
        if all(f.check == "sender" for f in self.failures) and self.checked >= set(CHECKS) - {"sender"}:
            return "untrusted"
        return "altered"

    @property
    def exit_code(self) -> ExitCode:
        return {"intact": ExitCode.OK, "untrusted": ExitCode.UNTRUSTED}.get(self.verdict, ExitCode.INTEGRITY)

    def status(self, check: str) -> str:
        """``ok``, ``failed`` or ``not checked``; for ``completeness``,
        ``incomplete`` when the package holds together but was packed
        incomplete (waived findings and a reason recorded): never "ok" then."""
        if any(f.check == check for f in self.failures):
            return "failed"
        if check not in self.checked:
            return "not checked"
        if check == "completeness" and self.completeness.get("status") == "incomplete":
            return "incomplete"
        return "ok"

    def fail(self, check: str, message: str, file: str | None = None) -> None:
        same = [f for f in self.failures if f.check == check]
        if len(same) == _MAX_LISTED:
            self.failures.append(Failure(check, "… more failures of this check not listed"))
        elif len(same) < _MAX_LISTED:
            self.failures.append(Failure(check, message, file))

    def to_dict(self) -> dict[str, Any]:
        """JSON report — neutral entry names, hashes, counts; no patient data."""
        return {"package": str(self.package), "ok": self.ok, "container": self.container,
                "package_size": self.package_size, "package_sha256": self.package_sha256,
                "manifest_sha256": self.manifest_sha256, "signer_fingerprint": self.signer_fingerprint,
                "signer": self.signer.to_dict() if self.signer else None, "verdict": self.verdict,
                "certificate": self.certificate.to_dict() if self.certificate else None,
                "dossier_id": self.dossier_id, "counts": self.counts, "completeness": self.completeness,
                "checks": {c: self.status(c) for c in CHECKS},
                "failures": [f.to_dict() for f in self.failures], "seconds": round(self.seconds, 3)}


def _kept(name: str, size: int) -> bool:
    """Entries held in memory until the end of the pass (size-capped)."""
    return (name == layout.DICOMDIR and size <= MAX_DICOMDIR_BYTES) or \
        (name == xdm.METADATA and size <= xdm.MAX_METADATA_BYTES)


class _HashingReader:
    """Read-through wrapper hashing and counting the package's raw bytes;
    the hash runs on the flow's worker (archive.StreamHash), which gives
    the keys of the entries ahead to the reading thread whenever it falls
    behind (docs/performance-history.md)."""

    def __init__(self, fh: IO[bytes], progress: Progress, worker: Worker | None = None):
        self._fh = fh
        self._sha = StreamHash(worker)
        self.size = 0
        self._progress = progress

    def _hash(self, data) -> None:
        self._sha.update(data)
        self.size += len(data)
        self._progress.advance(len(data))

    def read(self, n: int = -1) -> bytes:
        data = self._fh.read(n)
        self._hash(data)
        return data

    def readinto(self, buf) -> int:
        n = self._fh.readinto(buf)
        if n:
            self._hash(memoryview(buf)[:n])
        return n or 0

    def seekable(self) -> bool:
        return self._fh.seekable()

    def tell(self) -> int:
        return self._fh.tell()

    def fileno(self) -> int:
        return self._fh.fileno()

    def drain(self) -> None:
        """Hash whatever follows (so package_sha256 covers every byte even
        when the pass stopped early)."""
        while self.read(1024 * 1024):
            pass

    def hexdigest(self) -> str:
        return self._sha.hexdigest()


class _Extracted:
    """A file being extracted: a full disk or a read-only folder is the
    output's fault (OutputError, exit 5), not a damaged package."""

    def __init__(self, fh: IO[bytes], folder: Path):
        self._fh, self._folder = fh, folder

    def write(self, data) -> None:
        try:
            self._fh.write(data)
        except OSError as exc:
            raise output_error(exc, self._folder) from exc

    def close(self) -> None:
        try:
            self._fh.close()
        except OSError as exc:
            raise output_error(exc, self._folder) from exc

    def __enter__(self) -> _Extracted:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


class _Pass:
    """State of one verification pass."""

    def __init__(self, report: VerifyReport, senders: SenderPolicy, extract_to: Path | None):
        self.report = report
        self.senders = senders
        self.ca: list[Any] | None = None  # CA certificates for MANIFEST.P7S (verify --ca-file)
        self.extract_to = extract_to
        self.seal: dict[str, bytes] = {}
        self.view: ManifestView | None = None
        self.dicomdir: bytes | None = None
        self.xdm_metadata: bytes | None = None
        self.xdm_sha1: dict[str, str] = {}  # subset document path -> SHA-1 of what streamed by
        self.current: str | None = None  # the entry being read, to name it in a container failure
        # entries read whose SHA-256 the worker is still computing (age: deferred_hash), in order
        self.unsettled: deque[tuple[Any, str, Any]] = deque()

    # -- the three DOSSIER entries -------------------------------------------
    def take_seal_entry(self, index: int, entry) -> None:
        expected = layout.SEAL_FILES[index]
        if entry.name != expected:
            raise IntegrityError(f"package layout: entry {index + 1} is {entry.name!r}, expected {expected} "
                                 "(not a dossierkit package, or reordered)")
        if entry.size > _SEAL_CAPS[expected]:
            raise IntegrityError(f"{expected}: declares {entry.size} bytes, more than any dossier needs")
        # read in place: no list of chunks and their join (2× the manifest at once; #18)
        data = bytearray(entry.size)
        at = 0
        for chunk in entry.chunks():
            data[at:at + len(chunk)] = chunk
            at += len(chunk)
        del data[at:]
        self.seal[expected] = data
        self.write(expected, data)
        if index == 2:
            self.check_seal()

    def check_seal(self) -> None:
        r = self.report
        m, s, sig = self.seal[layout.MANIFEST], self.seal[layout.SUMS], self.seal[layout.SIGNATURE]
        r.manifest_sha256 = hashlib.sha256(m).hexdigest()
        r.manifest_json = m
        try:
            info = check_seal(sig, m, s)
            r.signer_fingerprint = info.fingerprint
            r.checked.add("signature")
            r.signer = self.senders.judge(info.fingerprint)
            if r.signer.known:
                r.checked.add("sender")
            else:
                r.fail("sender", self.senders.refusal(r.signer), layout.SIGNATURE)
        except IntegrityError as exc:
            r.fail("signature", exc.line(), layout.SIGNATURE)
        try:
            self.view = parse_manifest(m)
            r.checked.add("manifest")
        except IntegrityError as exc:
            r.fail("manifest", exc.line(), layout.MANIFEST)
            return
        v = self.view
        r.dossier_id = v.dossier_id
        r.counts = v.counts()
        c = v.completeness
        r.completeness = {"status": c.get("status"), "profile": c.get("profile"),
                          "waived": sorted({str(w.get("code")) for w in c.get("waived") or []
                                            if isinstance(w, dict)}),
                          "reason": c.get("reason")}
        # One pass over SHA256SUMS's lines, marking the manifest's records:
        # no map of every line, nor a second one of the manifest's (#18).
        wrong: list[tuple[str, str]] = []
        manifest_summed = False
        unlisted: set[str] = set()  # lines the manifest does not list (none in a sound package)
        try:
            for path, digest in iter_sums(s):
                f = v.files.get(path)
                if (f.marks & _SUMMED if f is not None else
                        manifest_summed if path == layout.MANIFEST else path in unlisted):
                    raise IntegrityError(f"DOSSIER/SHA256SUMS: {path} is listed twice")
                if path == layout.MANIFEST:
                    manifest_summed = True
                    expected: str | None = r.manifest_sha256
                elif f is not None:
                    f.marks |= _SUMMED
                    expected = f.sha256
                else:
                    unlisted.add(path)
                    expected = None
                if expected is None:
                    wrong.append((path, f"{path} is in SHA256SUMS but not in the manifest"))
                elif digest != expected:
                    wrong.append((path, f"{path}: SHA256SUMS and the manifest disagree on its SHA-256"))
        except IntegrityError as exc:
            r.fail("sums", exc.line(), layout.SUMS)
            return
        if not manifest_summed:
            wrong.append((layout.MANIFEST, f"{layout.MANIFEST} is in the manifest but not in SHA256SUMS"))
        wrong += [(path, f"{path} is in the manifest but not in SHA256SUMS") for path, f in v.files.items()
                  if not f.marks & _SUMMED]
        for path, message in sorted(wrong):
            r.fail("sums", message, path)
        if not any(f.check == "sums" for f in r.failures):
            r.checked.add("sums")

    def release_seal(self, keep_manifest: bool) -> None:
        """Drop the DOSSIER files' bytes once checked (they grow with the
        file count; the view holds what the rest of the pass needs; #18)."""
        m = self.report.manifest_json
        self.seal.clear()
        self.report.manifest_json = bytes(m) if keep_manifest and m is not None else None

    def take_cms(self, data: bytes) -> None:
        """DOSSIER/MANIFEST.P7S: the establishment's detached CMS signature
        of MANIFEST.JSON (trust.cms.verify_detached; chain and purpose when
        a CA is given)."""
        self.write(layout.CMS_SIGNATURE, data)
        try:
            self.report.certificate = verify_detached(data, bytes(self.seal[layout.MANIFEST]), self.ca,
                                                      what=layout.CMS_SIGNATURE)
        except IntegrityError as exc:
            self.report.fail("certificate", exc.line(), layout.CMS_SIGNATURE)

    # -- payload entries -----------------------------------------------------
    def take_payload_entry(self, entry) -> bool:
        """Check (and extract) one payload entry; False when the pass must
        stop here: no usable manifest, or an entry it does not list."""
        name = entry.name
        if self.view is None:  # no usable manifest (failure recorded): nothing more can be checked
            return False
        listed = self.view.files.get(name)
        if listed is None or listed.marks & _SEEN:
            why = "stored twice in the package" if listed is not None else "not listed in the manifest"
            self.report.fail("files", f"{name}: {why} — verification stopped at this entry (nothing after it "
                             "is read: the package was altered or is not what its manifest says)", name)
            return False
        exp = self.admit(name, entry.size)
        if exp is None:
            entry.drain()
            return True
        keep = _kept(name, exp.size)
        sha1 = hashlib.sha1() if exp.role == "document" and name.startswith(xdm.SUBSET + "/") else None
        parts: list[bytes] = []
        out = self.open_output(name)
        try:
            for chunk in entry.chunks():
                if out is not None:
                    out.write(chunk)
                if keep:
                    parts.append(bytes(chunk))
                if sha1 is not None:
                    sha1.update(chunk)
        finally:
            if out is not None:
                out.close()
        if sha1 is not None:
            self.xdm_sha1[name] = sha1.hexdigest()
        if not keep and not entry.sha256_ready():  # hashed on the worker: compared a few entries later
            self.unsettled.append((entry, name, exp))
            self.settle_ready(keep=_UNSETTLED_MAX)
            return True
        if entry.sha256 != exp.sha256:
            entry.authenticate()  # an altered container, if it is one, is the failure to report
        self.settle(name, entry.sha256, exp, b"".join(parts) if keep else None)
        return True

    def settle_ready(self, *, keep: int = 0) -> None:
        """Compare the hashes of the entries still being hashed, in package
        order: those done, and the oldest (waiting for each) while more than
        *keep* remain (0: all of them)."""
        while self.unsettled and (len(self.unsettled) > keep or self.unsettled[0][0].sha256_ready()):
            entry, name, exp = self.unsettled.popleft()
            self.settle(name, entry.sha256, exp, None)

    def admit(self, name: str, size: int):
        """The manifest's record of payload entry *name* of *size* bytes, or
        None (failure recorded) when it is unlisted, repeated or mis-sized."""
        r, v = self.report, self.view
        assert v is not None
        exp = v.files.get(name)
        if exp is None or exp.marks & _SEEN:
            r.fail("files", f"{name}: {'listed twice in the package' if exp else 'not listed in the manifest'}",
                   name)
            return None
        exp.marks |= _SEEN
        if size != exp.size:
            r.fail("files", f"{name}: {size} bytes, the manifest declares {exp.size}", name)
            return None
        return exp

    def settle(self, name: str, sha256: str, exp, kept: bytes | None) -> None:
        """*kept*: the bytes of an entry checked after the stream (DICOMDIR, METADATA.XML)."""
        if sha256 != exp.sha256:
            self.report.fail("files", f"{name}: content differs from the manifest (SHA-256)", name)
            return
        if kept is not None and name == xdm.METADATA:
            self.xdm_metadata = kept
        elif kept is not None:
            self.dicomdir = kept

    # -- extraction ----------------------------------------------------------
    def open_output(self, name: str):
        if self.extract_to is None:
            return None
        # Names are checked (layout.is_safe_entry_path) before they reach here:
        # relative, upper-case components, no "..". O_EXCL|O_NOFOLLOW: never
        # follow or reuse anything already in the (fresh, private) folder.
        target = self.extract_to.joinpath(*name.split("/"))
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644)
        except OSError as exc:
            raise output_error(exc, self.extract_to) from exc
        return _Extracted(os.fdopen(fd, "wb"), self.extract_to)

    def write(self, name: str, data: bytes) -> None:
        out = self.open_output(name)
        if out is not None:
            with out:
                out.write(data)

    # -- end of stream -------------------------------------------------------
    def finish(self) -> None:
        r, v = self.report, self.view
        # No MANIFEST.P7S with a CA at hand is no failure: MANIFEST.SIG still proves the manifest, and the
        # sender check (trust store, --expect-signer) decides who sent it — a CA trusts more senders, it
        # does not reject the others (a P7S removed from a certificate-signed package: exit 6 unless trusted).
        cert = r.certificate
        if cert is not None and cert.chained and r.signer is not None and not r.signer.known:
            # the establishment's certificate, chained to the receiver's CA, signs the same manifest
            r.failures = [f for f in r.failures if f.check != "sender"]
            r.signer = Signer(r.signer.fingerprint, cert.name, "certificate")
            r.checked.add("sender")
        if v is None:
            return
        missing = sorted(p for p, f in v.files.items() if not f.marks & _SEEN)
        for path in missing:
            r.fail("files", f"{path}: listed in the manifest but missing from the package", path)
        if not any(f.check == "files" for f in r.failures):
            r.checked.add("files")
        self.check_dicomdir()
        problems = completeness_problems(v.completeness)
        for p in problems:
            r.fail("completeness", p, layout.MANIFEST)
        if not problems:
            r.checked.add("completeness")
        self.check_xdm()

    def check_xdm(self) -> None:
        r, v = self.report, self.view
        assert v is not None
        prefix = xdm.SUBSET + "/"
        files = {p[len(prefix):]: (f.size, self.xdm_sha1.get(p)) for p, f in v.files.items()
                 if f.role == "document" and p.startswith(prefix)}
        problems = xdm.package_problems(self.xdm_metadata, announced=v.xdm_metadata,
                                        expected_patient=v.xdm_patient_id, identifier=v.patient_identifier,
                                        dossier_id=v.dossier_id, files=files)
        for p in problems:
            r.fail("xdm", p, xdm.METADATA)
        if not problems:
            r.checked.add("xdm")

    def check_dicomdir(self) -> None:
        r, v = self.report, self.view
        assert v is not None
        if self.dicomdir is None:
            if layout.DICOMDIR in v.files or any(f.role == "image" for f in v.files.values()):
                r.fail("dicomdir", "no intact DICOMDIR to check", layout.DICOMDIR)
            else:
                r.checked.add("dicomdir")
            return
        # Record by record (no list of every record); a structural problem
        # found on the way is the one failure, as from a whole parse.
        wrong: list[str] = []
        try:
            for e in iter_package_dicomdir(self.dicomdir):
                exp = v.files.get(e.file_id)
                if exp is None or exp.role != "image":
                    wrong.append(f"a record references {e.file_id}, which is not an image of the package")
                    continue
                if exp.marks & _REFERENCED:
                    wrong.append(f"{e.file_id} is referenced twice")
                elif e.sop_instance_uid != exp.sop_instance_uid:
                    wrong.append(f"the record of {e.file_id} names another SOP Instance UID than the manifest")
                exp.marks |= _REFERENCED
                del wrong[_MAX_LISTED + 1:]  # what fail() would list of them, at most
        except IntegrityError as exc:
            r.fail("dicomdir", exc.line(), layout.DICOMDIR)
            return
        for message in wrong:
            r.fail("dicomdir", message, layout.DICOMDIR)
        for path in sorted(p for p, f in v.files.items() if f.role == "image" and not f.marks & _REFERENCED):
            r.fail("dicomdir", f"{path} is an image of the package but no DICOMDIR record references it", path)
        if not any(f.check == "dicomdir" for f in r.failures):
            r.checked.add("dicomdir")


def check_root_plan(entries: Iterable[tuple[str, int, str, bytes | None]], *,
                    expect_signer: str | None = None) -> VerifyReport:
    """Every check of :func:`verify_package` but the container's, run on a
    package's content in memory: *entries* are ``(name, size, sha256,
    data)`` in package order, ``data`` given for the generated entries (the
    DOSSIER files and the DICOMDIR at least). pack runs it on what it is
    about to write, so a packer bug (an inconsistent DICOMDIR, sums that
    disagree with the manifest) never produces a package; the bytes on disk
    are then proven by pack's byte read-back (docs/package-format.md).
    Any iterable, consumed once in order: pack gives a generator (no list
    of every entry, #18)."""
    report = VerifyReport(Path(layout.MANIFEST))
    state = _Pass(report, SenderPolicy(expected=expect_signer), None)
    it = iter(entries)
    seal_entries = list(itertools.islice(it, len(layout.SEAL_FILES)))
    heads = [e[0] for e in seal_entries]
    if heads != list(layout.SEAL_FILES):
        report.fail("container", f"package layout: the first entries are {heads}, expected {list(layout.SEAL_FILES)}")
        return report
    following = next(it, None)
    if following is not None and following[0] == layout.CMS_SIGNATURE:
        state.seal[layout.CMS_SIGNATURE] = following[3] or b""
        following = None
    for name, size, _sha, data in seal_entries:
        assert data is not None
        if size > _SEAL_CAPS[name]:
            report.fail("container", f"{name}: {size} bytes, more than any dossier needs")
            return report
        state.seal[name] = data
    del seal_entries
    state.check_seal()
    if layout.CMS_SIGNATURE in state.seal:
        state.take_cms(state.seal[layout.CMS_SIGNATURE])
    state.release_seal(keep_manifest=False)  # as verify_package: the view holds what follows needs (#18)
    if state.view is not None:
        for name, size, sha, data in itertools.chain([] if following is None else [following], it):
            exp = state.admit(name, size)
            if exp is not None:
                state.settle(name, sha, exp, data if _kept(name, size) else None)
    report.checked.add("container")
    state.finish()
    return report


def verify_package(package: str | os.PathLike, *, password: str | bytes | None = None,
                   identities: list[Any] | None = None, expect_signer: str | None = None,
                   extract_to: str | os.PathLike | None = None, senders: SenderPolicy | None = None,
                   ca: list[Any] | None = None, progress: Progress = NULL_PROGRESS,
                   keep_manifest: bool = True) -> VerifyReport:
    """Verify *package* in one streaming pass; see the module docstring.

    *password* opens a WinZip AES package, *identities* (age identity
    objects or identity-file paths) an age package. Returns the report
    (``report.ok``); raises DecryptionError for a wrong password or key or
    a file that is no dossierkit package, InputError when it cannot be read.
    *senders* says whose signature is accepted (default:
    ``SenderPolicy.load(expect_signer=…)``: the full *expect_signer*, else
    the trust store and the operator's own key; a short fingerprint is a
    UsageError, raised before anything is read). *keep_manifest*: keep the
    manifest's bytes in ``report.manifest_json`` (receipts, replies); without
    it they are freed as soon as the seal is checked (memory, #18).
    """
    t0 = time.perf_counter()
    package = Path(package)
    if senders is None:
        senders = SenderPolicy.load(expect_signer=expect_signer)
    report = VerifyReport(package)
    try:
        fh = open(package, "rb")
        size = os.fstat(fh.fileno()).st_size
    except FileNotFoundError as exc:
        raise package_not_found(package) from exc
    except OSError as exc:
        raise InputError(f"cannot read the package ({exc.strerror})", path=package) from exc
    dest = Path(extract_to) if extract_to is not None else None
    state = _Pass(report, senders, dest)
    state.ca = ca
    progress.start("verifying", total=size, unit="B")
    # The flow's one worker (started on its first job, joined on leaving):
    # the keys of the entries ahead, the HMACs, a plain zip's big entries.
    with fh, Worker("dk-verify") as worker:
        kind = sniff(fh, package)
        report.container = kind
        raw = _HashingReader(fh, progress, worker)
        try:
            # Every entry's MAC is checked, not only the manifest's: the
            # SHA-256 comparisons would catch altered content, but not an
            # altered MAC or password-check byte (docs/security.md).
            with zip_reader(raw, kind, password=password, identities=identities, worker=worker,
                            deferred_hash=True) as entries:
                index = 0
                for entry in entries:
                    state.current = entry.name
                    if entry.method != METHOD_STORED:
                        raise IntegrityError(f"entry {entry.name!r} is compressed, which dossierkit never does "
                                             "(refused unread: it could be a zip bomb)")
                    if index < len(layout.SEAL_FILES):
                        state.take_seal_entry(index, entry)
                    elif index == len(layout.SEAL_FILES) and entry.name == layout.CMS_SIGNATURE:
                        if entry.size > MAX_P7S_BYTES:
                            raise IntegrityError(f"{entry.name}: declares {entry.size} bytes, more than a CMS "
                                                 "signature needs")
                        state.take_cms(b"".join(bytes(c) for c in entry.chunks()))
                    else:
                        if state.seal:
                            state.release_seal(keep_manifest)
                        if not state.take_payload_entry(entry):
                            break  # leaving the block closes the reader: what it holds stays bounded
                    index += 1
                else:
                    state.current = None
                    if index < len(layout.SEAL_FILES):
                        raise IntegrityError("package layout: the DOSSIER files are missing "
                                             "(not a dossierkit package)")
            state.settle_ready()  # the hashes still on the worker (age), also when the pass stopped
            if state.current is None:  # read to its end
                report.checked.add("container")
                state.finish()
        except (DecryptionError, OutputError):
            raise
        except DossierkitError as exc:
            report.fail("container", exc.line(), getattr(exc, "entry", None) or state.current)
        if state.seal:
            state.release_seal(keep_manifest)
        raw.drain()
        report.package_sha256 = raw.hexdigest()
    progress.finish()
    report.package_size = raw.size
    report.seconds = time.perf_counter() - t0
    return report
