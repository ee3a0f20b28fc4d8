"""What an import reads: folder trees, DICOMDIR media, zip files.

:func:`plan_source` turns one SOURCE argument into a list of
:class:`Candidate` files (nothing is read beyond directory listings and the
DICOMDIR) plus the media problems seen on the way (a DICOMDIR naming files
that are not there). Real patient CDs are rarely compliant (DESIGN §8): the
DICOMDIR may sit anywhere, file IDs may differ in case or carry ISO 9660
``;1`` suffixes, so references are resolved leniently, and a folder's files
are always walked as well so nothing the DICOMDIR forgot is lost.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from dossierkit.errors import InputError

DICOMDIR_NAME = "DICOMDIR"
DIRECTORY_SOP_CLASS = "1.2.840.10008.1.3.10"  # Media Storage Directory Storage
MAX_DIRECTORY_DEPTH = 8  # DICOMDIR -> DIRFILE -> DIRFILE ...: vendors use 2 or 3 levels
MAX_DIRECTORY_FILES = 4096  # directory files followed per source


@dataclass(slots=True)
class Candidate:
    """One file to examine (one per file of a source, all held while it is
    imported: slotted, and a folder's files keep their path as the string
    that is also their `display`, no Path object — issue #18)."""

    display: str  # shown to the user and stored as the instance's `source`
    size: int
    path: str | Path | None = None  # a file on disk
    member: zipfile.ZipInfo | None = None  # or an entry of the plan's zip
    expected_uid: str | None = None  # SOP Instance UID the DICOMDIR record announces

    @property
    def name(self) -> str:
        return os.path.basename(self.path) if self.path is not None else self.member.filename.rsplit("/", 1)[-1]


@dataclass
class SourcePlan:
    root: str  # the SOURCE argument, absolute
    kind: str  # folder | dicomdir | zip | file
    candidates: list[Candidate] = field(default_factory=list)
    problems: list[dict[str, Any]] = field(default_factory=list)
    zip_path: Path | None = None
    dicomdirs: list[str] = field(default_factory=list)  # DICOMDIRs followed
    skipped: dict[str, int] = field(default_factory=dict)  # files known to skip without reading (DICOMDIRs)
    label: str = "source"  # the workspace's name for this source ("source #2"), set by the importer
    directory_files: dict[str, int] = field(default_factory=lambda: {"referenced": 0, "found": 0, "read": 0})
    image_references: int = 0  # file references to images (not to directory files) in the DICOMDIRs read
    provenance: dict[str, Any] | None = None  # a PACS: its name, the route, the retrieve time, the study

    @property
    def medium_root(self) -> str:
        """The folder the media's own relative names start from."""
        return os.path.dirname(self.root) if self.kind in ("dicomdir", "file") else self.root

    def relative_name(self, display: str) -> str:
        """The medium's own name for *display* (a path under the source, or
        ``zip!member``): never a component of the sending machine's path."""
        if self.kind == "zip":
            return display.split("!", 1)[1] if "!" in display else ""
        if self.kind == "file" or display == self.root and self.kind != "dicomdir":
            return ""
        rel = os.path.relpath(display, self.medium_root)
        return "" if rel.startswith("..") or os.path.isabs(rel) else rel.replace(os.sep, "/")

    def origin(self, display: str) -> str:
        """``source #2 (zip): DICOM/IM0001`` — how findings, the manifest and
        receipts name a file of this source."""
        rel = self.relative_name(display)
        return f"{self.label} ({self.kind}): {rel}" if rel else f"{self.label} ({self.kind})"

    def why_nothing(self) -> str | None:
        """Why a DICOMDIR source gave no file to import, in one line (None when it did)."""
        if self.kind != "dicomdir" or self.candidates:
            return None
        d = self.directory_files
        if d["referenced"] and not d["found"]:
            return (f"the DICOMDIR references {d['referenced']} directory file(s), none found on the media — "
                    "import the media's folder instead")
        if d["referenced"] and not self.image_references:
            return (f"the DICOMDIR references {d['referenced']} directory file(s), {d['found']} found, "
                    "which reference no image")
        if self.image_references:
            return (f"the DICOMDIR references {self.image_references} file(s), none of them on the media — "
                    "import the media's folder instead")
        return "the DICOMDIR references no file at all — import the media's folder instead"

    @property
    def total_bytes(self) -> int:
        return sum(c.size for c in self.candidates)

    def problem(self, kind: str, file: str, reason: str, **extra: Any) -> None:
        self.problems.append({"kind": kind, "source": self.root, "file": file, "reason": reason, **extra})


def is_dicomdir_name(name: str) -> bool:
    return name.upper().split(";")[0].rstrip(".") == DICOMDIR_NAME


# ---------------------------------------------------------------------------
# DICOMDIR


@dataclass
class DirectoryReference:
    components: list[str]  # Referenced File ID, e.g. ["DICOM", "ST000001", "IM000001"]
    sop_instance_uid: str | None
    sop_class_uid: str | None = None

    @property
    def names_directory(self) -> bool:
        """True when the record says (or the name suggests) it references a
        DICOMDIR-format directory file, as vendor DIRFILEs are."""
        name = self.components[-1].upper().split(";")[0].rstrip(".")
        return self.sop_class_uid == DIRECTORY_SOP_CLASS or name.startswith("DIRFILE") or name == DICOMDIR_NAME


def media_dicomdir_references(fh: IO[bytes], label: str) -> list[DirectoryReference]:
    """The file references of a DICOMDIR, in record order.

    Reads the Directory Record Sequence directly rather than through
    pydicom's ``FileSet``, which refuses media that real CDs ship (missing
    offsets, unusual records); records marked not in use are ignored.
    """
    # pydicom: only loaded when a file needs it (start-up: docs/performance.md, "Imports kept out of start-up")
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        ds = pydicom.dcmread(fh, force=True)
        records = ds.get("DirectoryRecordSequence")
        if records is None:
            raise InputError("not a DICOMDIR (no directory records)", path=label)
        refs = []
        for rec in records:
            if rec.get("RecordInUseFlag", 0xFFFF) == 0:
                continue
            fid = rec.get("ReferencedFileID")
            if not fid:
                continue
            values = [fid] if isinstance(fid, (str, bytes)) else list(fid)
            # some writers put a whole path in one value, with / or \ separators
            comps = [c.strip() for v in values for c in str(v).replace("/", "\\").split("\\") if c.strip()]
            if comps:
                uid = rec.get("ReferencedSOPInstanceUIDInFile")
                cls = rec.get("ReferencedSOPClassUIDInFile")
                refs.append(DirectoryReference(comps, str(uid).strip() if uid else None,
                                               str(cls).strip() if cls else None))
        return refs
    except InputError:
        raise
    except (InvalidDicomError, EOFError, OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InputError(f"unreadable DICOMDIR ({type(exc).__name__})", path=label) from exc


class _CaseInsensitiveTree:
    """Resolves DICOMDIR file IDs on media whose names differ in case, or
    carry ISO 9660 version suffixes (``IM000001.;1``)."""

    def __init__(self, base: Path):
        self.base = base
        self._listings: dict[Path, dict[str, str]] = {}

    @staticmethod
    def _norm(name: str) -> str:
        return name.split(";")[0].rstrip(".").upper()

    def _listing(self, folder: Path) -> dict[str, str]:
        if folder not in self._listings:
            try:
                names = os.listdir(folder)
            except OSError:
                names = []
            self._listings[folder] = {self._norm(n): n for n in sorted(names, reverse=True)}
        return self._listings[folder]

    def resolve(self, components: list[str]) -> Path | None:
        exact = self.base.joinpath(*components)
        if exact.is_file():
            return exact
        folder = self.base
        for i, comp in enumerate(components):
            real = self._listing(folder).get(self._norm(comp))
            if real is None:
                return None
            folder = folder / real
        return folder if folder.is_file() else None


def is_directory_file(path: Path) -> bool:
    """True when *path* is a DICOMDIR-format file: a Part 10 file whose
    Media Storage SOP Class (0002,0002) is Media Storage Directory."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(1024)
    except OSError:
        return False
    if head[128:132] != b"DICM":
        return False
    at = head.find(b"\x02\x00\x02\x00UI", 132)  # the meta group is always Explicit VR Little Endian
    if at < 0:
        return False
    length = int.from_bytes(head[at + 6:at + 8], "little")
    return head[at + 8:at + 8 + length].rstrip(b"\0 ") == DIRECTORY_SOP_CLASS.encode()


def _inside(path: Path, root: Path) -> bool:
    try:
        return path.resolve().is_relative_to(root)
    except (OSError, RuntimeError):
        return False


def _dicomdir_candidates(plan: SourcePlan, dicomdir: Path) -> list[Candidate] | None:
    """Candidates referenced by *dicomdir* and by every DICOMDIR-format
    directory file it references (vendor DIRFILEs), depth-first in record
    order; None if the root DICOMDIR cannot be read. Directory files are
    followed only inside the medium (the root DICOMDIR's folder), at most
    :data:`MAX_DIRECTORY_DEPTH` deep and :data:`MAX_DIRECTORY_FILES` in all."""
    base = dicomdir.parent
    real_base = base.resolve()
    tree = _CaseInsensitiveTree(base)
    out: list[Candidate] = []
    followed: set[Path] = set()

    def read(directory: Path, depth: int) -> bool:
        label = plan.relative_name(str(directory)) or directory.name
        try:
            with open(directory, "rb") as fh:
                refs = media_dicomdir_references(fh, label)
        except InputError as exc:
            plan.problem("dicomdir-unreadable", str(directory),
                         f"{exc.message}; the files of its folder are imported from the folder walk instead"
                         if depth == 0 else exc.message)
            return False
        except OSError as exc:
            plan.problem("dicomdir-unreadable", str(directory), f"cannot read ({exc.strerror})")
            return False
        plan.dicomdirs.append(str(directory))
        local = _CaseInsensitiveTree(directory.parent) if directory.parent != base else tree
        for ref in refs:
            shown = "/".join(ref.components)
            if not ref.names_directory:
                plan.image_references += 1
            if any(c in (".", "..") for c in ref.components):
                # a File ID climbing out of the media would import files the user never pointed at
                plan.problem("dicomdir-missing-file", str(directory),
                             f"the DICOMDIR references {shown}, outside the media: refused",
                             referenced_file_id="\\".join(ref.components))
                continue
            # File IDs are relative to the file-set root (PS3.10); some vendors' DIRFILEs use their own folder
            path = tree.resolve(ref.components) or (local.resolve(ref.components) if local is not tree else None)
            if path is not None and not _inside(path, real_base):
                plan.problem("dicomdir-missing-file", str(directory),
                             f"the DICOMDIR references {shown}, a link leading outside the media: refused",
                             referenced_file_id="\\".join(ref.components))
                continue
            if ref.names_directory or (path is not None and ref.sop_class_uid is None and is_directory_file(path)):
                if not ref.names_directory:
                    plan.image_references -= 1  # counted above: only its content tells it is a directory file
                plan.directory_files["referenced"] += 1
                if path is None:
                    plan.problem("dicomdir-missing-file", str(directory),
                                 f"the DICOMDIR references the directory file {shown}, which is not on the media",
                                 referenced_file_id="\\".join(ref.components))
                    continue
                plan.directory_files["found"] += 1
                key = path.resolve()
                if key in followed:
                    continue  # a loop, or the same directory file twice
                if depth + 1 > MAX_DIRECTORY_DEPTH or len(followed) >= MAX_DIRECTORY_FILES:
                    plan.problem("dicomdir-unreadable", str(path),
                                 f"directory files nested deeper than {MAX_DIRECTORY_DEPTH} levels or more than "
                                 f"{MAX_DIRECTORY_FILES} of them: not followed (import the media's folder)")
                    continue
                followed.add(key)
                if read(path, depth + 1):
                    plan.directory_files["read"] += 1
                continue
            if path is None:
                plan.problem("dicomdir-missing-file", str(directory),
                             f"the DICOMDIR references {shown}, which is not on the media",
                             referenced_file_id="\\".join(ref.components))
                continue
            try:
                size = path.stat().st_size
            except OSError:
                size = 0
            out.append(Candidate(display=str(path), size=size, path=path, expected_uid=ref.sop_instance_uid))
        return True

    followed.add(dicomdir.resolve())
    if not read(dicomdir, 0):
        return None
    return out


# ---------------------------------------------------------------------------
# Folders and zips


def _walk(folder: Path) -> list[tuple[str, int]]:
    """Every regular file under *folder* (its path as a string), sorted by
    path; symlinked folders are not followed (no loops), symlinked files are."""
    out: list[tuple[str, int]] = []
    stack = [str(folder)]
    while stack:
        current = stack.pop()
        try:
            with os.scandir(current) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError:
            continue
        subdirs = []
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    subdirs.append(entry.path)
                elif entry.is_file():
                    out.append((entry.path, entry.stat().st_size))
            except OSError:
                continue
        stack.extend(reversed(subdirs))
    out.sort(key=lambda item: item[0])
    return out


def _plan_folder(plan: SourcePlan, folder: Path) -> None:
    files = _walk(folder)
    # Keys are normalised paths, not resolve()d ones (a syscall per component and file): the DICOMDIR
    # resolver returns the real names under the same absolute root as the walk.
    seen: set[str] = set()
    # DICOMDIRs first (the root one first): their references come in record order, as a PACS station reads them.
    dicomdirs = sorted((Path(f) for f, _size in files if is_dicomdir_name(os.path.basename(f))),
                       key=lambda f: len(f.parts))
    for path in dicomdirs:
        plan.skipped["DICOMDIR"] = plan.skipped.get("DICOMDIR", 0) + 1
        for cand in _dicomdir_candidates(plan, path) or []:
            key = os.path.normpath(cand.path)
            if key not in seen:
                seen.add(key)
                plan.candidates.append(cand)
    for path, size in files:
        if is_dicomdir_name(os.path.basename(path)):
            continue
        key = os.path.normpath(path)
        if key not in seen:
            seen.add(key)
            plan.candidates.append(Candidate(display=str(path), size=size, path=path))


def _plan_zip(plan: SourcePlan, path: Path) -> None:
    try:
        with zipfile.ZipFile(path) as zf:
            infos = [i for i in zf.infolist() if not i.is_dir()]
            by_name = {i.filename.upper(): i for i in infos}
            for info in infos:
                if is_dicomdir_name(info.filename.rsplit("/", 1)[-1]):
                    plan.skipped["DICOMDIR"] = plan.skipped.get("DICOMDIR", 0) + 1
                    base = info.filename.rsplit("/", 1)[0] + "/" if "/" in info.filename else ""
                    try:
                        with zf.open(info) as fh:
                            refs = media_dicomdir_references(fh, f"{path}!{info.filename}")
                    except (InputError, RuntimeError, zipfile.BadZipFile, OSError) as exc:
                        plan.problem("dicomdir-unreadable", f"{path}!{info.filename}",
                                     getattr(exc, "message", None) or str(exc))
                        continue
                    plan.dicomdirs.append(f"{path}!{info.filename}")
                    for ref in refs:
                        name = (base + "/".join(ref.components)).upper()
                        if name not in by_name and name.split(";")[0].rstrip(".") not in by_name:
                            plan.problem("dicomdir-missing-file", f"{path}!{info.filename}",
                                         f"the DICOMDIR references {'/'.join(ref.components)}, which is not in "
                                         "the zip", referenced_file_id="\\".join(ref.components))
                    continue
                plan.candidates.append(Candidate(display=f"{path}!{info.filename}", size=info.file_size,
                                                 member=info))
    except (zipfile.BadZipFile, OSError) as exc:
        raise InputError(f"unreadable zip file ({exc})", path=path,
                         hint="check the file, or extract it and import the folder") from exc


def plan_source(source: str | os.PathLike) -> SourcePlan:
    """Plan the import of one SOURCE: a folder, a DICOMDIR file, a zip file or
    one DICOM file. Raises :class:`InputError` if it does not exist."""
    path = Path(source).expanduser()
    if not path.exists():
        raise InputError("source not found", path=path, hint="check the path (a folder, a DICOMDIR or a zip file)")
    path = path.absolute()
    if path.is_dir():
        plan = SourcePlan(root=str(path), kind="folder")
        _plan_folder(plan, path)
        return plan
    if is_dicomdir_name(path.name):
        plan = SourcePlan(root=str(path), kind="dicomdir")
        plan.skipped["DICOMDIR"] = 1
        cands = _dicomdir_candidates(plan, path)
        if cands is None:  # unreadable: fall back to what the media holds, like a forgiving import station
            files = [(p, s) for p, s in _walk(path.parent) if not is_dicomdir_name(os.path.basename(p))]
            plan.candidates = [Candidate(display=str(p), size=s, path=p) for p, s in files]
        else:
            plan.candidates = cands
        return plan
    if zipfile.is_zipfile(path):
        plan = SourcePlan(root=str(path), kind="zip", zip_path=path)
        _plan_zip(plan, path)
        return plan
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise InputError(f"cannot read ({exc.strerror})", path=path) from exc
    plan = SourcePlan(root=str(path), kind="file")
    plan.candidates.append(Candidate(display=str(path), size=size, path=path))
    return plan
