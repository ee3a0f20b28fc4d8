"""``import_images``: copy DICOM files bit-exact into a workspace and index them.

One pass per file: its first 64 KiB are read and the header parsed and
validated (:mod:`.dicomfile`), then the rest is streamed into the copy while
SHA-256 is computed. Copies are atomic (temp + rename) but not fsynced one by
one: the kernel is asked to start writing each copy at once, and the file
system is synced once per checkpoint and at the end, before the index that
names the copies is written (itself atomically). The calling thread reads,
hashes and parses each file; one worker thread (archive's
:class:`~dossierkit.archive.Worker`) writes the copies, from buffers lent
through a :class:`~dossierkit.archive.Ring`; the calling thread renames and
indexes each copy once it is closed. Decisions that depend on order (copy
names, which of two same-UID files is kept) are taken in the calling thread,
in source order.

Memory does not grow with a record per file (issue #18): the index is
written record by record (the previous version's lines copied, then this
import's records, spooled to a scratch file until the next checkpoint), the instances
already indexed are known by a UID digest and their SHA-256 bytes only, and
the summary is computed in one pass over the index.

Index layout (``index/images.json``) and exit codes: docs/images.md.
"""

from __future__ import annotations

import collections
import contextlib
import errno
import functools
import hashlib
import itertools
import json
import os
import re
import stat
import threading
import time
import warnings
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from collections.abc import Iterator

from dossierkit.archive import Ring, Worker
from dossierkit.errors import ExitCode, InputError, OutputError
from dossierkit.fsutil import (CHUNK, TEMP_PREFIX, JsonText, NewFile, clean_stale_temps, copy_stream_to_new_file,
                              hash_and_write, hash_stream, iter_json_record_texts, output_error, read_json_records,
                              sync_filesystem)
from dossierkit.gather.dicomfile import (ACCEPTANCE_RULES, HEAD_SIZE, CorruptDicomError, DicomHeader, DirectoryFileError,
                                         NotDicomError, looks_like_dicom, parse_header, raw_encoding)
from dossierkit.gather.sources import Candidate, SourcePlan, plan_source
from dossierkit.gather.summary import ImagesSummary, summarize
from dossierkit.model import ImageInstance, check_images_index
from dossierkit.progress import NULL_PROGRESS, Progress
from dossierkit.workspace import IMAGES_DIR, IMAGES_INDEX, IMAGES_INDEX_HINT, Workspace, utc_now

INDEX_SCHEMA = 1
CHECKPOINT_SECONDS = 5.0
IMPORT_WINDOW = 16  # files read ahead of the one being indexed
COPY_BUFFERS = 8  # 1 MiB buffers read and not yet written (a Ring shared with the worker)
_COPY_NAME = re.compile(r"^IMG(\d{6,})\.dcm\Z")
_DICOM_EXTENSIONS = {"dcm", "dicom", "dic", "ima"}
_SPECIAL_NAMES = {"thumbs.db": "Thumbs.db", ".ds_store": ".DS_Store", "desktop.ini": "desktop.ini"}
# Problem kinds that make the import (and `check`) fail; the others are warnings.
ERROR_KINDS = frozenset({"corrupt", "invalid", "unreadable", "uid-conflict", "pacs-wrong-patient"})


def copy_name(number: int) -> str:
    """Neutral workspace path of the *number*-th copy: ``images/IMG000001.dcm``."""
    return f"{IMAGES_DIR}/IMG{number:06d}.dcm"


def skip_label(name: str, head: bytes) -> str:
    """The "type" a skipped non-DICOM file is counted under: its extension,
    a well-known name, or a guess from its first bytes."""
    low = name.lower()
    if low in _SPECIAL_NAMES:
        return _SPECIAL_NAMES[low]
    ext = os.path.splitext(low)[1].lstrip(".")
    if ext and len(ext) <= 8 and ext.isalnum():
        return ext
    if not head:
        return "(empty)"
    for magic, label in ((b"%PDF", "pdf"), (b"MZ", "exe"), (b"PK\x03\x04", "zip"), (b"\x89PNG", "png"),
                         (b"\xff\xd8\xff", "jpg"), (b"\xd0\xcf\x11\xe0", "ole")):
        if head.startswith(magic):
            return label
    if head[:64].lstrip().lower().startswith((b"<html", b"<!doctype")):
        return "html"
    return "(no extension)"


def _not_dicom_reason(head: bytes) -> str:
    if not head:
        return "empty file with a DICOM file name"
    for skip in range(1, 17):
        if looks_like_dicom(head[skip:]) == "part10" or raw_encoding(head[skip:]) is not None:
            return f"not readable as DICOM: {skip} stray byte(s) before the DICOM data"
    return "has a DICOM file name but no DICOM preamble or data element"


@dataclass
class _Outcome:
    cand: Candidate
    plan: SourcePlan
    status: str  # dicom | skipped | problem
    header: DicomHeader | None = None
    staging: str | None = None  # the copy, under a temporary name; None when only hashed
    sha256: str | None = None
    size: int = 0
    label: str | None = None
    problem: tuple[str, str] | None = None  # (kind, reason)


@dataclass
class ImportReport:
    """What one ``import_images`` call did. ``to_dict()`` is the ``--json`` output."""

    import_id: int
    sources: list[dict[str, Any]]
    files_seen: int = 0
    bytes_seen: int = 0
    imported: int = 0
    bytes_copied: int = 0
    duplicates: int = 0
    restored: int = 0  # indexed copies gone or altered, copied again from the same bytes
    without_meta: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    problems: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    totals: dict[str, int] = field(default_factory=dict)  # whole workspace after the import
    studies: list[dict[str, Any]] = field(default_factory=list)  # this import's studies (no patient data)
    interrupted: bool = False

    @property
    def error_problems(self) -> list[dict[str, Any]]:
        return [p for p in self.problems if p["kind"] in ERROR_KINDS]

    @property
    def nothing_found(self) -> bool:
        """No DICOM image in the sources: none imported, already there or restored."""
        return self.imported + self.duplicates + self.restored == 0

    @property
    def exit_code(self) -> int:
        """0: every DICOM file found was imported (or already there); 1: some
        were corrupt, unreadable or in UID conflict, or no DICOM file at all."""
        if self.error_problems or self.nothing_found:
            return int(ExitCode.INCOMPLETE)
        return int(ExitCode.OK)

    def to_dict(self) -> dict[str, Any]:
        secs = max(self.seconds, 1e-9)
        return {
            "import_id": self.import_id,
            "sources": self.sources,
            "files_seen": self.files_seen,
            "imported": self.imported,
            "duplicates": self.duplicates,
            "restored": self.restored,
            "without_meta": self.without_meta,
            "skipped": {"total": sum(self.skipped.values()), "by_type": dict(sorted(self.skipped.items()))},
            "problems": self.problems,
            "errors": len(self.error_problems),
            "nothing_found": self.nothing_found,
            "bytes_copied": self.bytes_copied,
            "seconds": round(self.seconds, 3),
            "files_per_second": round(self.files_seen / secs, 1),
            "bytes_per_second": round(self.bytes_seen / secs),
            **self.totals,  # instances, patients, studies, series: the whole workspace after the import
            "study_list": self.studies,
            "interrupted": self.interrupted,
            "exit_code": self.exit_code,
        }


class _Importer:
    """The per-file work: a file's on the calling thread but for its
    copy's writes (on the worker), a zip entry's on the worker. Decisions
    that depend on order (which of two files with one UID is kept, copy
    names) are taken by the caller, in source order, so an import is
    deterministic."""

    def __init__(self, ws: Workspace, known: dict[bytes, bytes], workers: int, missing: dict[bytes, str]):
        self.root = ws.root
        self.known = known  # read-only here: uid_key → SHA-256 of the instances indexed (before or by this import)
        self.missing = missing  # read-only here: indexed copies to restore (copied again, not only hashed)
        self.workers = workers
        self.lock = threading.Lock()
        self.local = threading.local()
        self.zips: list[zipfile.ZipFile] = []
        self.counter = itertools.count(1)  # next() on a count is atomic under the GIL
        self.stage_dirs: list[Path] = []
        self.open_files: set[NewFile] = set()  # copies begun and not closed (set ops are atomic under the GIL)

    def staging_path(self) -> str:
        """A fresh temporary name in the staging folder of the thread that
        names the copy (the caller's for files, the worker's for zip entries).

        Staging folders, not the images folder itself: creating a file holds
        its folder's lock while ext4 allocates the inode, which can take most
        of a millisecond (it skips recently deleted inodes one by one); with
        3 threads creating in one folder they queued on that lock, spinning
        (measured: the kernel time of an import doubled from 1 to 3 workers).
        The calling thread then renames each copy into images/."""
        stage = getattr(self.local, "stage", None)
        if stage is None:
            with self.lock:
                # a counter, not random bytes: unique within this import; the pid within the folder
                stage = self.root / IMAGES_DIR / f"{TEMP_PREFIX}{os.getpid()}-w{len(self.stage_dirs) + 1}"
                self.stage_dirs.append(stage)
            stage.mkdir(exist_ok=True)
            self.local.stage = stage
        # a string, not a Path: pathlib interns every name it parses (issue #18)
        return os.path.join(stage, f"{next(self.counter)}.dcm")

    def remove_stage_dirs(self) -> None:
        for stage in self.stage_dirs:
            with contextlib.suppress(OSError):
                stage.rmdir()

    def zip_for(self, plan: SourcePlan) -> zipfile.ZipFile:
        # ZipFile objects share one file position: one per thread and zip.
        cache = getattr(self.local, "zips", None)
        if cache is None:
            cache = self.local.zips = {}
        zf = cache.get(plan.root)
        if zf is None:
            zf = cache[plan.root] = zipfile.ZipFile(plan.zip_path)
            with self.lock:
                self.zips.append(zf)
        return zf

    def start(self, plan: SourcePlan, cand: Candidate, worker: Worker | None, ring: Ring) -> _Pending:
        """Begin one file's import: its outcome, now or from the worker."""
        if cand.member is not None:  # a zip's entry: read, parsed and copied on the worker
            return worker.submit(self.member, plan, cand, borrows=False) if worker else _Done(self.member(plan, cand))
        try:
            return self._file(plan, cand, worker, ring)
        except InputError as exc:  # a read error on the source, half-way
            return _Done(_Outcome(cand, plan, "problem", problem=("unreadable", exc.message)))

    def member(self, plan: SourcePlan, cand: Candidate) -> _Outcome:
        try:
            return self._process_member(plan, cand)
        except InputError as exc:
            return _Outcome(cand, plan, "problem", problem=("unreadable", exc.message))

    def _not_dicom(self, plan: SourcePlan, cand: Candidate, head: bytes) -> _Outcome:
        name = cand.name
        if os.path.splitext(name.lower())[1].lstrip(".") in _DICOM_EXTENSIONS:
            return _Outcome(cand, plan, "problem", problem=("corrupt", _not_dicom_reason(head)))
        return _Outcome(cand, plan, "skipped", label=skip_label(name, head))

    def _examine(self, plan: SourcePlan, cand: Candidate, head: bytes, fh, size: int) -> DicomHeader | _Outcome:
        """The parsed header, or the outcome that ends this file's import."""
        try:
            return parse_header(head, fh, size)
        except DirectoryFileError:
            return _Outcome(cand, plan, "skipped", label="DICOMDIR")
        except NotDicomError:
            return self._not_dicom(plan, cand, head)
        except CorruptDicomError as exc:
            return _Outcome(cand, plan, "problem", problem=(exc.kind, exc.message))

    def _file(self, plan: SourcePlan, cand: Candidate, worker: Worker | None, ring: Ring) -> _Pending:
        """A file: read, hashed and parsed here; its copy written by the
        worker (jobs in order: the writes, then the close that hands back
        the outcome), from buffers of *ring* lent to those jobs."""
        def problem(reason: str) -> _Done:
            return _Done(_Outcome(cand, plan, "problem", problem=("unreadable", reason)))
        try:
            fh = open(cand.path, "rb")
        except OSError as exc:
            return problem(f"cannot read ({exc.strerror or exc})")
        with fh:
            try:
                before = os.fstat(fh.fileno())
                size = before.st_size
                head = fh.read(HEAD_SIZE)
                hdr = self._examine(plan, cand, head, fh, size)
            except OSError as exc:
                return problem(f"cannot read ({exc.strerror})")
            if isinstance(hdr, _Outcome):
                return _Done(hdr)
            fh.seek(0)
            key = uid_key(hdr.sop_instance_uid)
            if key in self.known and key not in self.missing:
                sha, n = hash_stream(fh)
                if _changed(fh, before, n):
                    return problem(CHANGED_WHILE_READ)
                return _Done(_Outcome(cand, plan, "dicom", header=hdr, sha256=sha, size=n))
            out = NewFile(self.staging_path(), writeback=True)
            self.open_files.add(out)
            try:
                sha, n = copy_through(fh, out, worker, ring)
            except BaseException:
                _hand(worker, self._discard, out)
                raise
            if _changed(fh, before, n):
                _hand(worker, self._discard, out)
                return problem(CHANGED_WHILE_READ)
        return _hand(worker, self._close, out, _Outcome(cand, plan, "dicom", header=hdr, staging=out.path,
                                                         sha256=sha, size=n))

    def _close(self, out: NewFile, outcome: _Outcome) -> _Outcome:
        self.open_files.discard(out)
        out.close()
        return outcome

    def _discard(self, out: NewFile) -> None:
        self.open_files.discard(out)
        out.discard()

    def discard_open_files(self) -> None:
        """After an interruption, once the worker has stopped: the copies
        whose close never ran."""
        for out in list(self.open_files):
            self._discard(out)

    def _process_member(self, plan: SourcePlan, cand: Candidate) -> _Outcome:
        zf = self.zip_for(plan)
        info = cand.member
        staging = self.staging_path()
        keep = False
        try:
            with zf.open(info) as zfh:
                head = zfh.read(HEAD_SIZE)
            if looks_like_dicom(head) is None:
                return self._not_dicom(plan, cand, head)
            with zf.open(info) as zfh:
                sha, n = copy_stream_to_new_file(zfh, staging, writeback=True)
            with open(staging, "rb") as fh:
                hdr = self._examine(plan, cand, fh.read(HEAD_SIZE), fh, n)
            if isinstance(hdr, _Outcome):
                return hdr
            key = uid_key(hdr.sop_instance_uid)
            keep = key not in self.known or key in self.missing
            return _Outcome(cand, plan, "dicom", header=hdr, staging=staging if keep else None, sha256=sha, size=n)
        except RuntimeError as exc:  # zipfile: encrypted entry
            return _Outcome(cand, plan, "problem", problem=("unreadable", f"zip entry cannot be read ({exc})"))
        except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, OSError) as exc:
            return _Outcome(cand, plan, "problem", problem=("corrupt", f"damaged zip entry ({exc})"))
        finally:
            if not keep:
                with contextlib.suppress(OSError):
                    os.unlink(staging)


class _Done:
    """An outcome known at once, shaped like a worker's Job."""

    __slots__ = ("value",)

    def __init__(self, value: Any):
        self.value = value

    def done(self) -> bool:
        return True

    def result(self) -> Any:
        return self.value


class _Pending(Protocol):
    """A file's outcome to come: a worker's Job, or :class:`_Done`."""

    def done(self) -> bool: ...

    def result(self) -> Any: ...


def _hand(worker: Worker | None, fn, *args: Any) -> _Pending:
    """``fn(*args)`` on *worker* after the jobs already queued, or here and now without one."""
    return worker.submit(fn, *args, borrows=False) if worker else _Done(fn(*args))


def copy_through(fh, out: NewFile, worker: Worker | None, ring: Ring) -> tuple[str, int]:
    """Read *fh* to its end into *ring*'s buffers, hashing here and handing
    each block to ``out.write`` on *worker*; (sha256 hex, size)."""
    def next_buffer() -> memoryview:
        ring.take()
        return ring.view()

    write = out.write if worker is None else functools.partial(worker.submit, out.write)
    return hash_and_write(fh, write, next_buffer=next_buffer)


CHANGED_WHILE_READ = "the file changed while it was being copied (size or modification time)"


def _changed(fh, before: os.stat_result, copied: int) -> bool:
    """True when the source was written to while we read it: the header we
    parsed and the bytes we copied may then belong to different versions."""
    after = os.fstat(fh.fileno())
    return copied != before.st_size or (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns)


def source_numbers(index: dict[str, Any], plans: list[SourcePlan]) -> dict[str, int]:
    """The workspace's number of each source root ("source #3"): in order of
    first import, new roots after the known ones. Stable across imports, so a
    finding's file name keeps meaning the same medium."""
    numbers: dict[str, int] = {}
    for entry in index.get("imports", []):
        for root in entry.get("sources", []):
            numbers.setdefault(root, len(numbers) + 1)
    for plan in plans:
        numbers.setdefault(plan.root, len(numbers) + 1)
    return numbers


def _empty_index() -> dict[str, Any]:
    return {"schema": INDEX_SCHEMA, "instances": [], "problems": [], "skipped": {}, "imports": []}


def uid_key(uid: str) -> bytes:
    """What the importer keeps of a SOP Instance UID to recognise it: a
    16-byte digest (49 bytes of memory against ~110 for the UID itself)."""
    return hashlib.blake2b(uid.encode("utf-8", "surrogateescape"), digest_size=16).digest()


def _sha_key(sha256: Any) -> bytes:
    """A SHA-256 as kept in memory: its 32 bytes (any other value as found, so it never matches one)."""
    try:
        return bytes.fromhex(sha256)
    except (TypeError, ValueError):
        return str(sha256).encode("utf-8", "surrogateescape")


@dataclass
class _Known:
    """What the importer keeps of the instances already indexed: no record,
    a digest pair per instance (issue #18: memory flat in the file count)."""

    index: dict[str, Any]  # the index without its instances (``instances`` is an empty placeholder)
    # uid_key → SHA-256 bytes + one byte: _ACCEPTED if the record says it passed today's acceptable-image rules
    by_uid: dict[bytes, bytes] = field(default_factory=dict)
    numbers: bytearray = field(default_factory=bytearray)  # bit n set: images/IMG<n>.dcm is indexed
    # uid_key → indexed copy (the importer's own name) that is gone or not of its size: restored when
    # this import meets the same bytes again
    missing: dict[bytes, str] = field(default_factory=dict)
    max_number: int = 0

    def add_number(self, n: int) -> None:
        if n >> 3 >= len(self.numbers):
            self.numbers.extend(bytes((n >> 3) + 1 - len(self.numbers) + 4096))
        self.numbers[n >> 3] |= 1 << (n & 7)
        self.max_number = max(self.max_number, n)

    def has_number(self, n: int) -> bool:
        return n >> 3 < len(self.numbers) and bool(self.numbers[n >> 3] & (1 << (n & 7)))


_ACCEPTED, _NOT_ACCEPTED = b"\1", b"\0"


def copy_in_place(root: Path, rel: str, size: int, folders: dict[str, bool]) -> bool:
    """True if the workspace *root* holds, at *rel* (``images/IMG….dcm``, the
    importer's names), a regular file of *size* bytes inside it. The
    folders are resolved once each (*folders* keeps the answers), not every
    copy's path (issue #18: docs/performance-history.md); the file itself is looked
    at without following a link."""
    parts = rel.split("/")
    if rel.startswith("/") or "\\" in rel or ":" in rel or any(p in ("", ".", "..") for p in parts):
        return False
    folder = "/".join(parts[:-1])
    inside = folders.get(folder)
    if inside is None:
        real_root = root.resolve()
        real = (root / folder).resolve()
        inside = folders[folder] = real == real_root or real_root in real.parents
    if not inside:
        return False
    try:
        st = os.lstat(os.path.join(root, rel))
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode) and st.st_size == size


def _load_index(ws: Workspace) -> _Known:
    """One pass over the index, one record a line: its header, and a digest
    pair and copy number per instance."""
    path = ws.root / IMAGES_INDEX
    known = _Known(_empty_index())
    if not path.exists():
        return known

    def keep(d: Any) -> None:
        ImageInstance.check(d)  # a damaged index stops the import before anything is changed (exit 2)
        uid = d.get("sop_instance_uid")
        if isinstance(uid, str):
            known.by_uid[uid_key(uid)] = _sha_key(d.get("sha256")) + (
                _ACCEPTED if d.get("accepted") == ACCEPTANCE_RULES else _NOT_ACCEPTED)
        path = str(d.get("path", ""))
        m = _COPY_NAME.match(path.rsplit("/", 1)[-1])
        if m:
            known.add_number(int(m.group(1)))
            if (isinstance(uid, str) and path == copy_name(int(m.group(1)))
                    and not copy_in_place(ws.root, path, d.get("size"), folders)):
                known.missing[uid_key(uid)] = path
        return None

    folders: dict[str, bool] = {}

    head, _ = read_json_records(path, "instances", keep, hint=IMAGES_INDEX_HINT)
    check_images_index(head, path, IMAGES_INDEX_HINT)
    known.index.update({k: v for k, v in head.items() if v is not None and k != "instances"})
    return known


def _cannot_write(exc: OSError, folder: Path) -> OutputError:
    """Exit 5 for a workspace folder that cannot be written (read-only, disk full): the workspace is the output."""
    err = output_error(exc, folder)
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return OutputError(err.message, path=folder, hint="make the workspace writable for this user, then run "
                                                          "the same command again")
    return err


def _clean_images_dir(ws: Workspace, known: _Known, *, reset: bool) -> None:
    """Remove leftovers of an interrupted import: temp files, and copies that
    no index entry names (they were never recorded, so nothing refers to them)."""
    folder = ws.images_dir
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _cannot_write(exc, folder) from exc
    clean_stale_temps(folder)
    with os.scandir(folder) as it:
        for entry in it:
            m = _COPY_NAME.match(entry.name)
            if m and (reset or not known.has_number(int(m.group(1)))):
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)


def _uid_of_text(text: str) -> str | None:
    m = _UID_IN_TEXT.search(text)
    return json.loads(m.group(1)) if m else None


_UID_IN_TEXT = re.compile(r'"sop_instance_uid": ("(?:[^"\\]|\\.)*")')


def _outcomes(imp: _Importer, jobs: Iterator[tuple[SourcePlan, Candidate]]) -> Iterator[_Outcome]:
    """Each file's outcome, in source order. With ``workers`` > 1 (the
    default), the calling thread reads, hashes and parses each file and
    archive's :class:`~dossierkit.archive.Worker` writes its copy (the
    kernel's share of a copy is mostly in the writes), up to
    ``IMPORT_WINDOW`` files ahead of the one being renamed and indexed: one
    thread, and this split of the work, chosen by A/Bs on 2 cores
    (docs/performance-history.md, "Import at the kernel's pace" and "Fifth
    session on issue #18"). ``workers=1``: no thread."""
    pending: collections.deque[_Pending] = collections.deque()
    worker = Worker("dk-import", depth=4 * COPY_BUFFERS) if imp.workers > 1 else None
    ring = Ring(worker, CHUNK, count=COPY_BUFFERS if worker else 1)
    try:
        for plan, cand in jobs:
            pending.append(imp.start(plan, cand, worker, ring))
            while pending and (len(pending) > IMPORT_WINDOW or pending[0].done()):
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        if worker is not None:  # interrupted (outcomes still pending): the queued jobs are dropped
            worker.close(drop=bool(pending))
        imp.discard_open_files()


def import_images(workspace: Workspace | str | os.PathLike, sources: list[str | os.PathLike], *,
                  progress: Progress = NULL_PROGRESS, workers: int | None = None,
                  reset: bool = False) -> ImportReport:
    """Import DICOM files from *sources* (folders, DICOMDIR files, zip files,
    single DICOM files) into the workspace.

    Every source is checked to exist before anything is written
    (:class:`InputError`, exit 2). Non-DICOM files are skipped and counted by
    type; corrupt files, UID conflicts and DICOMDIR inconsistencies are
    recorded as problems (see docs/images.md) and returned, never raised.
    ``progress`` gets one task in bytes; ``advance`` is called once per file
    with its size. ``reset`` first removes every image of the workspace.
    """
    ws = workspace if isinstance(workspace, Workspace) else Workspace(workspace)
    if not sources:
        raise InputError("no source given", hint="name a folder, a DICOMDIR or a zip file")
    ws.dossier  # noqa: B018 — an invalid dossier.toml fails here (exit 2), before anything is written
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        # pydicom warns (to stderr) about odd values, quoting them: not in our logs
        warnings.simplefilter("ignore")
        plans = [s if isinstance(s, SourcePlan) else plan_source(s) for s in sources]  # a PACS plans its own
        known = _Known(_empty_index()) if reset else _load_index(ws)
        _clean_images_dir(ws, known, reset=reset)
        return _run(ws, known, plans, progress, workers, t0, reset=reset)


def _run(ws: Workspace, known: _Known, plans: list[SourcePlan], progress: Progress,
         workers: int | None, t0: float, *, reset: bool) -> ImportReport:
    index, by_uid = known.index, known.by_uid
    missing = known.missing
    imp = _Importer(ws, by_uid, 2 if workers is None else workers, missing)
    next_number = known.max_number + 1
    index_path = ws.root / IMAGES_INDEX
    extend = not reset  # the index file's instances are kept (after a reset: once this import has saved)
    import_id = max((i.get("id", 0) for i in index["imports"]), default=0) + 1
    numbers_of = source_numbers(index, plans)
    for plan in plans:
        plan.label = f"source #{numbers_of[plan.root]}"
    report = ImportReport(import_id=import_id, sources=[
        {"source": p.root, "label": p.label, "kind": p.kind, "files": len(p.candidates),
         "dicomdirs": len(p.dicomdirs), **({"why_nothing": p.why_nothing()} if p.why_nothing() else {})}
        for p in plans])
    entry: dict[str, Any] = {"id": import_id, "started": utc_now(), "status": "running",
                             "sources": [p.root for p in plans]}
    index["imports"].append(entry)
    roots = {p.root for p in plans}
    old_problems = [p for p in index["problems"] if p.get("source") not in roots]
    # This import's records since the last checkpoint, one JSON line each, on disk rather than in memory (their
    # number depends on the pace, up to thousands): a file next to the copies, its name removed at once where the
    # system allows it (elsewhere a .dk-tmp- name, removed at the end or by the next import's clean-up).
    spool_path = ws.images_dir / f"{TEMP_PREFIX}{os.getpid()}-index.part"
    # The index is written at the first checkpoint: a folder that cannot take it must stop the import now, not
    # after copies were made that no index names.
    index_dir = next(p for p in (index_path.parent, ws.root) if p.exists())
    if not os.access(index_dir, os.W_OK | os.X_OK):
        raise _cannot_write(PermissionError(errno.EACCES, os.strerror(errno.EACCES)), index_dir)
    try:
        spool = open(spool_path, "w+", encoding="utf-8", newline="\n")
    except OSError as exc:  # a read-only workspace: nothing is written yet
        raise _cannot_write(exc, ws.images_dir) from exc
    with contextlib.suppress(OSError):
        os.unlink(spool_path)

    def close_spool() -> None:
        spool.close()
        with contextlib.suppress(OSError):
            os.unlink(spool_path)
    # uid-conflict problems whose kept instance is named when the index is next written (one pass)
    unresolved: dict[str, list[dict[str, Any]]] = {}
    refresh: dict[str, int] = {}  # duplicates whose record gets today's `accepted` when the index is next written
    skipped_by_root: dict[str, dict[str, int]] = {p.root: dict(p.skipped) for p in plans}
    for plan in plans:
        for label, n in plan.skipped.items():
            report.skipped[label] = report.skipped.get(label, 0) + n
        for prob in plan.problems:
            # `file` names it as the medium does (it may reach a package); `path` is the sender's, kept here only
            report.problems.append({**prob, "file": plan.origin(prob["file"]), "path": prob["file"],
                                    "import": import_id})
        why = plan.why_nothing()
        if why:
            report.problems.append({"kind": "dicomdir-empty", "source": plan.root, "file": plan.origin(plan.root),
                                    "path": plan.root, "reason": why, "import": import_id})

    def add_problem(out: _Outcome, kind: str, reason: str, **extra: Any) -> None:
        report.problems.append({"kind": kind, "source": out.plan.root, "file": out.plan.origin(out.cand.display),
                                "path": out.cand.display, "reason": reason, **extra, "import": import_id})

    def resolve(texts):
        """Pass the records through, naming the kept instance in the uid-conflict problems."""
        for text in texts:
            if unresolved or refresh:
                uid = _uid_of_text(text)
                if uid in refresh:
                    record = json.loads(text)
                    record["accepted"] = refresh.pop(uid)
                    text = JsonText(json.dumps(record, ensure_ascii=False))
                if uid in unresolved:
                    kept = json.loads(text)
                    origin = kept.get("origin") or "an earlier import"
                    for prob in unresolved.pop(uid):
                        prob.update(reason=f"same SOP Instance UID as {kept.get('path')} (imported from {origin})"
                                           " but different content: not imported",
                                    kept=kept.get("path"), kept_source=kept.get("source"))
            yield text

    def save(status: str) -> None:
        nonlocal extend
        sync_filesystem(ws.images_dir)  # the copies are on disk before the index names them
        entry.update(status=status, finished=None if status == "running" else utc_now(),
                     imported=report.imported, duplicates=report.duplicates, restored=report.restored,
                     skipped=dict(sorted(report.skipped.items())), problems=len(report.problems),
                     seconds=round(time.perf_counter() - t0, 3))
        index["problems"] = old_problems + report.problems
        index["skipped"].update(skipped_by_root)
        # The index is written record by record: the current file's lines copied, then this import's new
        # ones ("instances" comes before "problems": conflicts are resolved before their problems are written).
        old = iter_json_record_texts(index_path, "instances") if extend and index_path.exists() else iter(())
        spool.flush()
        spool.seek(0)
        new = (JsonText(line[:-1]) for line in spool)
        ws.save_images_index({**index, "instances": resolve(itertools.chain(old, new))})
        spool.seek(0)
        spool.truncate()
        extend = True

    def refresh_accepted(kept: bytes, key: bytes, uid: str, accepted: int) -> None:
        if not kept.endswith(_ACCEPTED):  # the same bytes passed today's rules: check need not re-read
            refresh[uid] = accepted
            by_uid[key] = kept[:-1] + _ACCEPTED

    def handle(out: _Outcome) -> None:
        nonlocal next_number
        report.files_seen += 1
        report.bytes_seen += out.cand.size
        progress.advance(out.cand.size)
        if out.status == "skipped":
            counts = skipped_by_root[out.plan.root]
            counts[out.label] = counts.get(out.label, 0) + 1
            report.skipped[out.label] = report.skipped.get(out.label, 0) + 1
            return
        if out.status == "problem":
            add_problem(out, *out.problem)
            return
        hdr = out.header
        if out.cand.expected_uid and out.cand.expected_uid != hdr.sop_instance_uid:
            add_problem(out, "dicomdir-mismatch", "the file's SOP Instance UID differs from its DICOMDIR record")
        key = uid_key(hdr.sop_instance_uid)
        kept = by_uid.get(key)
        if kept is None and out.staging is not None:
            rel = copy_name(next_number)
            next_number += 1
            os.replace(out.staging, os.path.join(ws.root, rel))
            # vars(), not to_dict()/asdict: same flat dict, without asdict's deep copy (thousands of files)
            inst = dict(vars(ImageInstance(**hdr.instance_fields(), path=rel, sha256=out.sha256, size=out.size,
                                           source=out.cand.display, origin=out.plan.origin(out.cand.display))))
            if out.plan.provenance:
                inst["provenance"] = out.plan.provenance
            spool.write(json.dumps(inst, ensure_ascii=False) + "\n")
            by_uid[key] = _sha_key(out.sha256) + _ACCEPTED
            report.imported += 1
            report.bytes_copied += out.size
            report.without_meta += 0 if hdr.has_meta else 1
            return
        if out.staging is not None and kept is not None and kept[:-1] == _sha_key(out.sha256) and key in missing:
            # the indexed bytes again, and their copy gone or altered: put it back (the record stays as it is,
            # but for today's `accepted`, as for a duplicate)
            os.replace(out.staging, os.path.join(ws.root, missing.pop(key)))
            report.restored += 1
            refresh_accepted(kept, key, hdr.sop_instance_uid, out.header.accepted)
            return
        if out.staging is not None:
            with contextlib.suppress(OSError):
                os.unlink(out.staging)
        if kept is None:  # cannot happen: a UID known before the import is in by_uid
            add_problem(out, "unreadable", "not imported (internal inconsistency of the image index)")
        elif kept[:-1] == _sha_key(out.sha256):
            report.duplicates += 1
            refresh_accepted(kept, key, hdr.sop_instance_uid, out.header.accepted)
        else:  # the kept instance is named when the index is next written (resolve)
            add_problem(out, "uid-conflict", "same SOP Instance UID as an imported instance but different content: "
                        "not imported", sop_instance_uid=hdr.sop_instance_uid, kept=None, kept_source=None)
            unresolved.setdefault(hdr.sop_instance_uid, []).append(report.problems[-1])

    jobs = ((plan, cand) for plan in plans for cand in plan.candidates)  # no list of every file
    progress.start("Importing images", total=sum(p.total_bytes for p in plans), unit="B")
    last_save = time.perf_counter()
    try:
        # closed on the way out: the threads stop before an interrupted import is saved
        with contextlib.closing(_outcomes(imp, jobs)) as outcomes:
            for out in outcomes:
                handle(out)
                if time.perf_counter() - last_save > CHECKPOINT_SECONDS:
                    save("running")
                    last_save = time.perf_counter()
    except BaseException as exc:
        report.interrupted = True
        with contextlib.suppress(Exception):  # keep what is done; the original error is the one to report
            save("interrupted")
            close_spool()
            clean_stale_temps(ws.images_dir)
        if isinstance(exc, OutputError):  # disk full, read-only: the workspace, not an internal temp path
            total = sum(len(p.candidates) for p in plans)
            raise OutputError(f"{exc.message} — {report.imported} of {total} file(s) imported before it stopped "
                              "(kept)", path=ws.images_dir,
                              hint="free space and run the same command again: what is imported is recognised "
                                   "and not copied twice") from exc
        raise
    finally:
        progress.finish()
        for zf in imp.zips:
            zf.close()
    imp.remove_stage_dirs()  # empty now: every copy was renamed into place or removed
    report.seconds = time.perf_counter() - t0
    save("complete")
    close_spool()
    summary = _summarize_index(ws)
    report.totals = summary.counts()
    report.studies = summary.study_rows()
    return report



def _summarize_index(ws: Workspace) -> ImagesSummary:
    """The workspace's counts and studies, in one pass over its index, one
    record a line (no list of its records: issue #18)."""
    texts = iter_json_record_texts(ws.root / IMAGES_INDEX, "instances")
    return summarize((ImageInstance.from_dict(json.loads(text)) for text in texts), patient=ws.dossier.patient)
