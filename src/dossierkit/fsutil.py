"""File-system helpers shared by every module: atomic writes, streaming
hashes and bit-exact copies.

Outputs are written to a temporary file *in the target folder* (so no patient
data lands in a system temp dir and the final rename is atomic), fsynced, then
renamed. Temporary names start with ``.dk-tmp-`` so an interrupted run's
leftovers are recognisable and cleaned by :func:`clean_stale_temps`.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import hashlib
import itertools
import json
import os
import secrets
import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from dossierkit.errors import InputError, OutputError

CHUNK = 1024 * 1024  # 1 MiB: large enough for hashlib/ciphers to release the GIL
TEMP_PREFIX = ".dk-tmp-"


def output_error(exc: OSError, path: Path) -> OutputError:
    if exc.errno == errno.ENOSPC:
        return OutputError("no space left on the device", path=path, hint="free space or choose another output folder")
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return OutputError("cannot write here (read-only or permission denied)", path=path,
                           hint="choose a writable output folder")
    if exc.errno == errno.ENOTDIR:  # one of the folders on the way is a file
        return OutputError("cannot write here: a folder on this path is a file", path=path,
                           hint="choose another output folder")
    return OutputError(f"cannot write: {exc.strerror or exc}", path=path)


NAME_MAX = 255  # bytes in one file or folder name: Linux's file systems, and what Windows allows in characters


def check_output_path(path: str | os.PathLike, inputs: tuple[str | os.PathLike | None, ...] = (),
                      *, inside: tuple[str | os.PathLike, ...] = ()) -> None:
    """Before a command writes *path*: OutputError when one of its names is
    longer than a file system takes, or when it is one of the command's own
    *inputs* (a passphrase file, a key, the journal) or lies in one of the
    files or folders *inside* (a workspace's dossier.toml, journal, index,
    documents and images): ``--force`` must never overwrite what the
    command reads."""
    p = Path(path)
    for part in p.parts:
        size = len(os.fsencode(part))
        if size > NAME_MAX:
            raise OutputError(f"a name in this path is too long ({size} bytes; {NAME_MAX} at most)", path=path,
                              hint="choose a shorter name")
    if not inputs and not inside:
        return
    target = p.resolve()
    for given in inputs:
        if given is not None and Path(given).resolve() == target:
            raise OutputError("is one of this command's own input files", path=path,
                              hint="write the output under another name")
    if any(target.is_relative_to(Path(q).resolve()) for q in inside):
        raise OutputError("is among the workspace's own files", path=path,
                          hint="write the output outside the workspace's dossier.toml, journal, index, documents and images")


def temp_path_for(target: Path) -> Path:
    return target.parent / f"{TEMP_PREFIX}{secrets.token_hex(6)}.part"


@contextlib.contextmanager
def atomic_writer(target: str | os.PathLike, mode: str = "wb", *, perms: int | None = None,
                  overwrite: bool = True, durable: bool = True, readable: bool = False,
                  before_rename: Callable[[Path], None] | None = None) -> Iterator[IO[Any]]:
    """Yield a file object; on success it is fsynced and renamed onto *target*.

    On any exception the temporary file is removed and nothing appears at
    *target*. ``perms`` sets the mode bits before data is written (0o600 for
    private keys). ``overwrite=False`` refuses an existing target.
    ``durable=False`` skips the per-file fsyncs (the rename stays atomic): for
    batches of many files that call :func:`sync_filesystem` once at the end.
    ``readable=True`` opens the temporary file for reading too (a writer
    that reads back what it wrote, with ``pread`` on its descriptor).
    ``before_rename(temp_path)`` runs on the closed, synced file just before
    the rename (a read-back check): if it raises, nothing appears at *target*
    — even if the process is killed while it runs.
    """
    target = Path(target)
    check_output_path(target)
    if not overwrite and target.exists():
        raise OutputError("already exists", path=target, hint="choose another name or pass --force")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError as exc:  # a name on the way is taken by a file
        raise OutputError("cannot write here: a folder on this path is a file", path=target.parent,
                          hint="choose another output folder") from exc
    except OSError as exc:
        raise output_error(exc, target.parent) from exc
    tmp = temp_path_for(target)
    access = os.O_RDWR if readable else os.O_WRONLY
    fd = -1
    try:
        # One try from the open on: a Ctrl-C raised as os.open returns (the file
        # just created) or right after it must remove the file too (issue #15).
        fd = os.open(tmp, access | os.O_CREAT | os.O_EXCL, perms if perms is not None else 0o644)
        if perms is not None:
            os.fchmod(fd, perms)
        fh_cm = os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8", "newline": "\n"}))
        fd = -1  # the file object owns the descriptor now
        with fh_cm as fh:
            yield fh
            fh.flush()
            if durable:
                os.fsync(fh.fileno())
        if before_rename is not None:
            before_rename(tmp)
        os.replace(tmp, target)
        if durable:
            fsync_dir(target.parent)
    except OSError as exc:
        _close_quietly(fd)
        _unlink_quietly(tmp)
        raise output_error(exc, target) from exc
    except BaseException:
        _close_quietly(fd)
        _unlink_quietly(tmp)
        raise


def _close_quietly(fd: int) -> None:
    if fd >= 0:
        with contextlib.suppress(OSError):
            os.close(fd)


def fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        dfd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def _unlink_quietly(path: str | os.PathLike) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def write_bytes_atomic(target: str | os.PathLike, data: bytes, *, perms: int | None = None) -> None:
    with atomic_writer(target, "wb", perms=perms) as fh:
        fh.write(data)


def write_text_atomic(target: str | os.PathLike, text: str, *, perms: int | None = None) -> None:
    write_bytes_atomic(target, text.encode("utf-8"), perms=perms)


def write_json_atomic(target: str | os.PathLike, obj: Any, *, perms: int | None = None) -> None:
    write_text_atomic(target, json.dumps(obj, ensure_ascii=False, indent=2, sort_keys=False) + "\n", perms=perms)


def write_json_records_atomic(target: str | os.PathLike, obj: dict[str, Any]) -> None:
    """Write the object *obj* as JSON with each item of its top-level lists
    on a line of its own, streamed: one record encoded at a time (the C
    encoder), never the whole text in memory. For indexes of thousands of
    records: ``json.dumps(indent=…)`` builds the whole text with the
    pure-Python encoder, which made a 16 000-image index's every save peak
    at +80 MB (issue #6). The result is ordinary JSON."""
    def dumps(value: Any) -> str:
        return value if value.__class__ is JsonText else json.dumps(value, ensure_ascii=False)

    with atomic_writer(target, "w") as fh:
        fh.write("{")
        for i, (key, value) in enumerate(obj.items()):
            fh.write(("," if i else "") + "\n  " + dumps(key) + ": ")
            if isinstance(value, Iterator):  # streamed: never a list of every item (issue #18)
                first = next(value, _END)
                if first is _END:
                    fh.write("[]")
                    continue
                value = itertools.chain((first,), value)
            elif not (isinstance(value, list) and value):
                fh.write(dumps(value))
                continue
            fh.write("[")
            for j, item in enumerate(value):
                fh.write(("," if j else "") + "\n    " + dumps(item))
            fh.write("\n  ]")
        fh.write("\n}\n")


_END = object()


class JsonText(str):
    """One item for :func:`write_json_records_atomic`, already encoded as
    JSON (one line, as :func:`iter_json_record_texts` returns it): written
    as is, not encoded again."""

    __slots__ = ()


def iter_json_record_texts(path: str | os.PathLike, key: str) -> Iterator[JsonText]:
    """The JSON text of each item of the top-level list *key* of a file
    written by :func:`write_json_records_atomic`, one line at a time, without
    parsing them (to copy an index into its next version: issue #18). The
    layout is checked first by a pass over the lines; a file of another
    layout is parsed whole and its items encoded again."""
    path = Path(path)
    opener = f"  {json.dumps(key, ensure_ascii=False)}: ["
    try:
        with open(path, encoding="utf-8", newline="") as fh:
            state = 0  # 0 before the list, 1 in it, 2 after it
            for line in fh:
                if state == 1:
                    if line.startswith("  ]"):
                        state = 2
                    elif not line.startswith("    ") or line[4:5].isspace() or line[4:].rstrip(",\r\n") in "{[":
                        break  # not one item a line (json.dumps(indent=2) also opens the list this way)
                elif line.rstrip("\r\n") == opener:
                    if state:
                        break
                    state = 1
            else:
                if state == 2:  # one item a line: copy the lines
                    fh.seek(0)
                    for line in fh:
                        if line.rstrip("\r\n") == opener:
                            break
                    for line in fh:
                        if line.startswith("  ]"):
                            return
                        line = line.rstrip("\r\n")
                        yield JsonText(line[4:-1] if line.endswith(",") else line[4:])
                    return
    except UnicodeDecodeError:
        pass  # reported by read_json below
    except OSError as exc:
        raise read_error(exc, path) from exc
    obj = read_json(path)
    items = obj.get(key) if isinstance(obj, dict) else None
    for item in items if isinstance(items, list) else ():
        yield JsonText(json.dumps(item, ensure_ascii=False))


def read_error(exc: OSError, path: Path) -> InputError:
    """The one line for an input file that cannot be opened or read (a folder
    in its place, no permission, an I/O error): bad input, exit 2."""
    if isinstance(exc, FileNotFoundError):
        return InputError("file not found", path=path)
    if isinstance(exc, IsADirectoryError):
        return InputError("is a folder, not a file", path=path,
                          hint="put the file back in its place (restore it from a backup)")
    if isinstance(exc, PermissionError):
        return InputError("cannot read it (permission denied)", path=path,
                          hint="give this user read access to it, or run as its owner")
    return InputError(f"cannot read it: {exc.strerror or exc}", path=path, hint="restore it from a backup")


def read_json(path: str | os.PathLike, *, object_hook: Callable[[dict], Any] | None = None) -> Any:
    path = Path(path)
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh, object_hook=object_hook)
    except OSError as exc:
        raise read_error(exc, path) from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"not valid JSON ({exc})", path=path, hint="restore it from a backup") from exc
    except (ValueError, RecursionError) as exc:  # a 5 000-digit integer, 3 000-deep nesting: bad input, not a bug
        raise InputError(f"not valid JSON ({type(exc).__name__})", path=path,
                         hint="restore it from a backup") from exc


def read_json_list(path: str | os.PathLike, record: Callable[[Any], Any], *,
                   hint: str = "restore it from a backup") -> list[Any]:
    """``record(item)`` for each item of the JSON file *path*, a list. An
    InputError without a path raised by *record* (an item of the wrong shape)
    is reported with the file and the item's number, as anything in the file
    not a list, with *hint* (what to do)."""
    path = Path(path)
    items = read_json(path)
    if not isinstance(items, list):
        raise InputError("not valid JSON for this index (not a list)", path=path, hint=hint)
    return [_item(record, item, number, path, hint) for number, item in enumerate(items, 1)]


def _item(record: Callable[[Any], Any], item: Any, number: int, path: Path, hint: str) -> Any:
    try:
        return record(item)
    except InputError as exc:
        if exc.path is not None:
            raise
        raise InputError(f"record {number} {exc.message}", path=path, hint=hint) from exc


def read_json_records(path: str | os.PathLike, key: str, record: Callable[[Any], Any], *,
                      object_hook: Callable[[dict], Any] | None = None,
                      hint: str = "restore it from a backup") -> tuple[Any, list[Any]]:
    """Read a file written by :func:`write_json_records_atomic`, turning each
    item of its top-level list *key* into ``record(item)`` as its line is
    parsed: the file's text and every item's dicts are never in memory
    together, only the records (issue #18: loading an index whole made the
    peak grow with every image; docs/performance.md, "Memory per file"). Returns (the object without
    *key*, the records). A file of another shape (edited by hand, another
    writer) is parsed whole, with the same result; invalid JSON is an
    InputError as with :func:`read_json`. Items for which *record* returns
    None are not kept (a pass that only gathers what it needs). *record* may
    raise InputError without a path for an item of the wrong shape: it is
    reported as by :func:`read_json_list`, with *hint*."""
    opener = f"  {json.dumps(key, ensure_ascii=False)}: ["
    outside: list[str] = []  # the text around the list: a few lines
    items: list[Any] = []
    inside = False
    number = 0  # of the last item read
    path = Path(path)
    try:
        with open(path, encoding="utf-8", newline="") as fh:
            for line in fh:
                line = line.rstrip("\r\n")
                if inside:
                    if line.startswith("  ]"):
                        outside[-1] += line[3:]  # the comma before the next member, if any
                        inside = False
                    elif line.startswith("    "):
                        text = line[4:-1] if line.endswith(",") else line[4:]  # no JSON value ends with ","
                        number += 1
                        item = _item(record, json.loads(text, object_hook=object_hook), number, path, hint)
                        if item is not None:
                            items.append(item)
                    else:
                        raise ValueError("not one item a line")
                elif line == opener and not items:
                    outside.append(line + "]")
                    inside = True
                else:
                    outside.append(line)
            if inside:
                raise ValueError("unterminated list")
            obj = json.loads("\n".join(outside), object_hook=object_hook)
            if not isinstance(obj, dict) or obj.get(key, []) != []:
                raise ValueError("another shape")
    except OSError as exc:
        raise read_error(exc, path) from exc
    except (ValueError, TypeError, AttributeError, UnicodeDecodeError, RecursionError):
        # another layout (or invalid JSON, which read_json reports): parse it whole
        del items[:]
        obj = read_json(path, object_hook=object_hook)
        raw = obj.pop(key, None) if isinstance(obj, dict) else None
        if not isinstance(raw, list):
            raise InputError(f"not valid JSON for this index ({key!r} is not a list)", path=path, hint=hint)
        raw.reverse()
        number = 0
        while raw:  # each raw item freed as soon as its record exists
            number += 1
            item = _item(record, raw.pop(), number, path, hint)
            if item is not None:
                items.append(item)
        return obj, items
    obj.pop(key, None)
    return obj, items


def iter_chunks(fh: IO[bytes], size: int = CHUNK) -> Iterator[bytes]:
    while True:
        block = fh.read(size)
        if not block:
            return
        yield block


def file_hexdigest(path: str | os.PathLike, algorithm: str = "sha256") -> str:
    """Hex digest of a file with *algorithm* (a hashlib name), streamed."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        for block in iter_chunks(fh):
            h.update(block)
    return h.hexdigest()


def sha256_file(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file, streamed."""
    return file_hexdigest(path, "sha256")


def copy_with_hash(src: str | os.PathLike, dst: str | os.PathLike, *, durable: bool = True) -> tuple[str, int]:
    """Copy *src* to *dst* atomically, bit-exact; return (sha256 hex, size).

    The hash is computed from the bytes read, in the same pass as the copy.
    """
    try:
        src_fh = open(src, "rb")
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", path=src) from exc
    with src_fh:
        return copy_stream_with_hash(src_fh, dst, durable=durable)


def copy_stream_with_hash(src_fh: IO[bytes], dst: str | os.PathLike, *, durable: bool = True) -> tuple[str, int]:
    """Like :func:`copy_with_hash` from an open binary stream (a zip member, a
    file already opened to read its header), from its current position."""
    with atomic_writer(dst, durable=durable) as out:
        return hash_and_write(src_fh, out.write)


def copy_stream_to_new_file(src_fh: IO[bytes], dst: str | os.PathLike, *, writeback: bool = False) -> tuple[str, int]:
    """Copy *src_fh* (from its position) into *dst*, a temporary name that must
    not exist and that the caller renames into place (the atomic step) or
    removes; return (sha256 hex, size). No fsync: for batches that call
    :func:`sync_filesystem` once. One create, no rename, no folder check:
    cheaper than :func:`copy_stream_with_hash` when thousands of files are
    copied. ``writeback`` asks the kernel to start writing the data to disk
    now (asynchronously), so a final sync has little left and the copies do
    not crowd the page cache. On any error *dst* is removed."""
    # a string, not a Path: pathlib interns every name it parses (thousands of copies)
    out = NewFile(os.fspath(dst), writeback=writeback)
    try:
        digest = hash_and_write(src_fh, out.write)
    except BaseException:
        out.discard()
        raise
    out.close()
    return digest


class NewFile:
    """A new file written through a worker's hands: :meth:`write` creates
    *path* (which must not exist) on its first call and appends; an error
    is kept and the later writes skip, so a flow that hands the writes to a
    worker learns it once, from :meth:`close` (an :class:`OutputError`,
    the file removed). No fsync: like :func:`copy_stream_to_new_file`,
    ``writeback`` asks the kernel to start writing the data at once, and
    the caller renames the file into place or calls :meth:`discard`."""

    __slots__ = ("path", "writeback", "_fd", "_error")

    def __init__(self, path: str, *, writeback: bool = False):
        self.path = path
        self.writeback = writeback
        self._fd: int | None = None
        self._error: OSError | None = None

    def write(self, data: memoryview | bytes) -> None:
        if self._error is not None:
            return
        try:
            if self._fd is None:
                self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view):]
        except OSError as exc:
            self._error = exc

    def close(self) -> None:
        """End the file (creating it when nothing was written); on a write
        error remove it and raise that error as an OutputError."""
        if self._fd is None and self._error is None:
            self.write(b"")
        fd, self._fd = self._fd, None
        if fd is not None:
            if self.writeback and self._error is None and hasattr(os, "posix_fadvise"):
                with contextlib.suppress(OSError):
                    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            try:
                os.close(fd)
            except OSError as exc:
                self._error = self._error or exc
        if self._error is not None:
            _unlink_quietly(self.path)
            raise output_error(self._error, Path(self.path)) from self._error

    def discard(self) -> None:
        """Close and remove the file, whatever was written."""
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)
        _unlink_quietly(self.path)


_buffers = threading.local()


def _source_chunks(src_fh: IO[bytes], next_buffer: Callable[[], memoryview] | None = None) -> Iterator[memoryview]:
    """Chunks of *src_fh* read into one reused per-thread buffer: a fresh
    1 MiB bytes object per read costs page faults that dominate copies of
    many small files. Each view is valid until the next one is produced.
    *next_buffer*, when given, hands the buffer of each read instead (a
    ring whose buffers are lent to a worker). Read errors blame the source
    (InputError), not the output that atomic_writer would otherwise report."""
    if next_buffer is None:
        buf = getattr(_buffers, "buf", None)
        if buf is None:
            buf = _buffers.buf = bytearray(CHUNK)
        view = memoryview(buf)
    while True:
        if next_buffer is not None:
            view = next_buffer()
        try:
            n = src_fh.readinto(view)  # type: ignore[attr-defined]
        except OSError as exc:
            raise InputError(f"cannot read: {exc.strerror or exc}", path=getattr(src_fh, "name", None)) from exc
        if not n:
            return
        yield view[:n]


def hash_stream(src_fh: IO[bytes]) -> tuple[str, int]:
    """(sha256 hex, size) of an open binary stream, from its current position."""
    return hash_and_write(src_fh, None)


def hash_and_write(src_fh: IO[bytes], write: Callable[[memoryview], Any] | None, *,
                   next_buffer: Callable[[], memoryview] | None = None) -> tuple[str, int]:
    """One pass over *src_fh* (from its position): hash every block and,
    when *write* is given, hand it the block; return (sha256 hex, size).
    *next_buffer*: as :func:`_source_chunks`."""
    h = hashlib.sha256()
    size = 0
    for block in _source_chunks(src_fh, next_buffer):
        h.update(block)
        if write is not None:
            write(block)
        size += len(block)
    return h.hexdigest(), size


def sync_filesystem(folder: str | os.PathLike) -> None:
    """Flush every pending write of the file system holding *folder* to disk.

    One ``syncfs`` after a batch of non-durable atomic writes costs one
    journal commit instead of one per file. Falls back to ``os.sync``.
    """
    folder = Path(folder)
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fd = os.open(folder, os.O_RDONLY)
        try:
            if libc.syncfs(fd) == 0:
                return
        finally:
            os.close(fd)
    except (OSError, AttributeError):
        pass
    if hasattr(os, "sync"):
        os.sync()


def clean_stale_temps(folder: str | os.PathLike) -> list[Path]:
    """Remove ``.dk-tmp-*`` leftovers of an interrupted run in *folder*."""
    removed = []
    folder = Path(folder)
    if folder.is_dir():
        for p in folder.glob(f"{TEMP_PREFIX}*"):
            with contextlib.suppress(OSError):
                if p.is_dir():
                    shutil.rmtree(p)
                else:
                    p.unlink()
                removed.append(p)
    return removed
