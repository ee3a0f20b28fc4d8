"""Append-only, hash-chained transmission journal (JSON Lines).

Each line is one entry in canonical JSON (signing.canonical_json) followed by
``\\n``::

    {"event":"pack","hash":"<64 hex>","package_sha256":"…","prev":"<64 hex>","seq":1,"time":"2026-11-23T10:15:00Z"}

* ``seq``  — 1, 2, 3 … (the line number, counted from 1);
* ``prev`` — the ``hash`` of the previous entry (64 zeros for the first);
* ``hash`` — SHA-256 (hex) of the canonical JSON of the entry *without* its
  ``hash`` member;
* ``time`` — UTC, ``YYYY-MM-DDTHH:MM:SSZ``; ``event`` — pack, verify, unpack,
  receipt, ack …; other members are ids and hashes only: never document
  content, titles or patient names (:func:`append` refuses such keys).

The chain catches an edited, removed, inserted or reordered entry
(:func:`verify`), but not the loss of the tail: receipts and acks record the
journal *head* (``seq`` + ``hash``) at issue time, and
:func:`check_anchor` finds a journal cut below that point (DESIGN §8).

Concurrency: :func:`append` takes an exclusive ``fcntl`` lock on the file,
reads the head from the tail of the file, writes the new line in one
``write`` on an ``O_APPEND`` descriptor and fsyncs before unlocking.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dossierkit.errors import ExitCode, InputError, IntegrityError, OutputError
from dossierkit import strictjson
from dossierkit.fsutil import fsync_dir
from dossierkit.strictjson import StrictJSONError
from dossierkit.trust.keys import default_keys_dir
from dossierkit.trust.signing import canonical_json
from dossierkit.workspace import utc_now

GENESIS = "0" * 64
ENV_VAR = "DOSSIERKIT_JOURNAL"
DEFAULT_NAME = "journal.jsonl"
RESERVED = {"seq", "prev", "hash", "time"}
# Keys that would carry patient data or document content; the journal is kept
# outside the encryption and must hold ids and hashes only.
FORBIDDEN_KEYS = {"patient", "family_name", "given_names", "birth_date", "name", "names", "title", "titles",
                  "content", "text", "identifier", "ins", "ipp", "address", "email", "phone", "to", "copies",
                  "recipients", "password", "passphrase", "patient_id"}
_TAIL_BLOCK = 64 * 1024
# An entry holds ids and hashes: far below this; a longer line is not one of ours.
MAX_ENTRY_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Head:
    """The last entry of a journal: what receipts and acks anchor to."""

    seq: int
    hash: str

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "hash": self.hash}


EMPTY_HEAD = Head(0, GENESIS)


def entry_hash(entry: dict[str, Any]) -> str:
    """SHA-256 hex of the canonical JSON of *entry* without its ``hash``."""
    return hashlib.sha256(canonical_json({k: v for k, v in entry.items() if k != "hash"})).hexdigest()


def resolve_path(explicit: str | os.PathLike | None = None, *, workspace: str | os.PathLike | None = None) -> Path:
    """Which journal a command writes to (docs/traceability.md):

    ``--journal FILE`` > ``$DOSSIERKIT_JOURNAL`` > ``WORKSPACE/journal.jsonl``
    when a workspace is involved > ``$DOSSIERKIT_HOME/journal.jsonl``
    (``~/.config/dossierkit/journal.jsonl``): the operator's own journal,
    never beside the package, which travels with the patient.
    """
    if explicit:
        return Path(explicit)
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env)
    if workspace is not None:
        return Path(workspace) / DEFAULT_NAME
    return default_keys_dir().parent / DEFAULT_NAME


def locate(file_or_folder: str | os.PathLike | None = None) -> Path:
    """The journal a reading command (``journal show``, ``journal verify``)
    names: a journal file, a workspace folder (its ``journal.jsonl``), or
    None for :func:`resolve_path`'s default."""
    if file_or_folder is not None and Path(file_or_folder).is_dir():
        return Path(file_or_folder) / DEFAULT_NAME
    return resolve_path(file_or_folder)


def _check_event(event: dict[str, Any]) -> None:
    if not isinstance(event, dict) or not isinstance(event.get("event"), str) or not event["event"]:
        raise ValueError("a journal event needs an 'event' name")
    bad = RESERVED & event.keys()
    if bad:
        raise ValueError(f"journal event keys {sorted(bad)} are set by the journal itself")

    def walk(obj: Any, where: str) -> None:
        if isinstance(obj, dict):
            for k, v in obj.items():
                if k.lower() in FORBIDDEN_KEYS:
                    raise ValueError(f"journal entries hold ids and hashes only: key {where}{k!r} is not allowed")
                walk(v, f"{where}{k}.")
        elif isinstance(obj, list):
            for v in obj:
                walk(v, where)
        elif not (obj is None or isinstance(obj, (str, int, bool))):
            raise ValueError(f"journal values must be text, integers, booleans or null ({where})")

    walk(event, "")


def _read_last_line(fd: int, path: Path) -> bytes | None:
    """The last line of the file (without ``\\n``), or None if empty. Reads
    backwards from the end so a long journal costs no more than a short one."""
    size = os.fstat(fd).st_size
    if size == 0:
        return None
    if os.pread(fd, 1, size - 1) != b"\n":
        raise IntegrityError("the journal's last entry is incomplete (interrupted write or edited file)",
                             path=path, hint="run `dossierkit journal verify` and restore it from a backup")
    end = size - 1
    buf = b""
    while end > 0:
        start = max(0, end - _TAIL_BLOCK)
        buf = os.pread(fd, end - start, start) + buf
        end = start
        nl = buf.rfind(b"\n")
        if nl >= 0:
            return buf[nl + 1:]
    return buf


def _parse_line(raw: bytes, number: int, path: Path) -> dict[str, Any]:
    try:
        entry = strictjson.loads(raw, what=f"entry {number}", max_bytes=MAX_ENTRY_BYTES)
    except StrictJSONError as exc:
        raise IntegrityError(f"entry {number}: not valid JSON ({exc.reason})", path=path) from exc
    if not isinstance(entry, dict):
        raise IntegrityError(f"entry {number}: not a JSON object", path=path)
    return entry


def head_of(path: str | os.PathLike) -> Head:
    """The current head (last seq and hash) without verifying the chain;
    :data:`EMPTY_HEAD` for a missing or empty journal."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return EMPTY_HEAD
    except OSError as exc:
        raise InputError(f"cannot read the journal ({exc.strerror})", path=path) from exc
    try:
        return _head_from_fd(fd, path)
    finally:
        os.close(fd)


def _head_from_fd(fd: int, path: Path) -> Head:
    last = _read_last_line(fd, path)
    if last is None:
        return EMPTY_HEAD
    entry = _parse_line(last, 0, path)
    seq, h = entry.get("seq"), entry.get("hash")
    if not isinstance(seq, int) or not isinstance(h, str) or entry_hash(entry) != h:
        raise IntegrityError("the journal's last entry is damaged", path=path,
                             hint="run `dossierkit journal verify` to find the first broken entry")
    return Head(seq, h)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[int]:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        existed = path.exists()
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    except OSError as exc:
        raise _out_error(exc, path) from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        if not existed:
            fsync_dir(path.parent)
        yield fd
    finally:
        os.close(fd)  # closing releases the lock


def _out_error(exc: OSError, path: Path) -> OutputError:
    if exc.errno == errno.ENOSPC:
        return OutputError("no space left to append to the journal", path=path)
    return OutputError(f"cannot write the journal ({exc.strerror or exc})", path=path,
                       hint="choose another with --journal FILE or DOSSIERKIT_JOURNAL")


def append(path: str | os.PathLike, event: dict[str, Any]) -> dict[str, Any]:
    """Append *event* (``{"event": "pack", "package_sha256": …}``) and return
    the full entry written (with ``seq``, ``time``, ``prev``, ``hash``).

    Values: text, integers, booleans, null, lists and flat objects of those;
    ids and hashes only (keys such as ``patient`` or ``title`` are refused with
    ValueError, a programming error). Raises IntegrityError when the current
    last entry is damaged (nothing is appended after a broken tail) and
    OutputError when the file cannot be written.
    """
    _check_event(event)
    path = Path(path)
    with _locked(path) as fd:
        head = _head_from_fd(fd, path)
        entry = {**event, "seq": head.seq + 1, "time": utc_now(), "prev": head.hash}
        entry["hash"] = entry_hash(entry)
        line = canonical_json(entry) + b"\n"
        before = os.fstat(fd).st_size
        try:
            written = os.write(fd, line)
            if written != len(line):
                raise OSError(errno.EIO, "short write")
            os.fsync(fd)
        except OSError as exc:
            # Leave no partial line: the next append would refuse the journal.
            with contextlib.suppress(OSError):
                os.ftruncate(fd, before)
            raise _out_error(exc, path) from exc
    return entry


# ---------------------------------------------------------------------------
# Reading and verification


def read_entries(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Every entry, parsed, in file order (no verification)."""
    path = Path(path)
    entries = []
    for number, raw, _ in _lines(path):
        entries.append(_parse_line(raw, number, path))
    return entries


def _lines(path: Path) -> Iterator[tuple[int, bytes, bool]]:
    """(1-based number, line without ``\\n``, terminated) for each line."""
    try:
        fh = open(path, "rb")
    except FileNotFoundError as exc:
        raise InputError("journal not found", path=path,
                         hint="check the path: a journal file, or a workspace folder that holds journal.jsonl "
                              "(the default journal: DOSSIERKIT_JOURNAL)") from exc
    except OSError as exc:
        raise InputError(f"cannot read the journal ({exc.strerror})", path=path) from exc
    with fh:
        number = 0
        while raw := fh.readline(MAX_ENTRY_BYTES + 2):
            number += 1
            if raw.endswith(b"\n"):
                yield number, raw[:-1], True
                continue
            if len(raw) > MAX_ENTRY_BYTES:  # not one of ours: memory stays bounded, the rest of the line is skipped
                while (more := fh.readline(MAX_ENTRY_BYTES)) and not more.endswith(b"\n"):
                    pass
                yield number, raw, bool(more)
                continue
            yield number, raw, False


@dataclass
class JournalReport:
    path: str
    entries: int
    ok: bool
    head: Head
    first_broken: int | None = None  # 1-based entry (line) number
    problem: str | None = None
    anchors: list[dict[str, Any]] | None = None  # receipt/ack anchor checks, when asked for

    @property
    def holds(self) -> bool:
        """The chain is intact and every anchor checked is present."""
        return self.ok and all(a["ok"] for a in self.anchors or [])

    @property
    def exit_code(self) -> ExitCode:
        """0 when it :attr:`holds`, 3 broken, truncated or an anchor missing."""
        return ExitCode.OK if self.holds else ExitCode.INTEGRITY

    def to_dict(self) -> dict[str, Any]:
        d = {"journal": self.path, "ok": self.ok, "entries": self.entries, "head": self.head.to_dict(),
             "first_broken": self.first_broken, "problem": self.problem}
        if self.anchors is not None:
            d["anchors"] = self.anchors
        return d


def verify(path: str | os.PathLike) -> JournalReport:
    """Walk the chain; report the first broken entry (1-based line number).

    Checked per line ``n``: valid canonical JSON object, ``seq == n``
    (catches removed, inserted and reordered entries), ``prev`` equal to the
    previous entry's ``hash`` and ``hash`` equal to the recomputed one
    (catches edits). Never raises for a broken chain: read ``ok``.
    """
    path = Path(path)
    prev = GENESIS
    count = 0
    head = EMPTY_HEAD

    def broken(n: int, why: str) -> JournalReport:
        return JournalReport(str(path), count, False, head, n, f"entry {n}: {why}")

    lines = _lines(path)
    for n, raw, terminated in lines:
        count = n
        try:
            entry = strictjson.loads(raw, what=f"entry {n}", max_bytes=MAX_ENTRY_BYTES)
        except StrictJSONError as exc:
            return broken(n, f"not valid JSON ({exc.reason}: edited or cut)")
        if not isinstance(entry, dict):
            return broken(n, "not a JSON object")
        seq = entry.get("seq")
        if not isinstance(seq, int) or isinstance(seq, bool):
            return broken(n, "no sequence number")
        if seq != n:
            return broken(n, f"sequence number {seq} where {n} was expected — {_seq_cause(seq, n, lines)}")
        recomputed = entry_hash(entry)
        if entry.get("hash") != recomputed:
            return broken(n, "its content does not match its hash (edited)")
        if entry.get("prev") != prev:
            return broken(n, f"its previous-entry hash does not match entry {n - 1} "
                             f"(entry {n - 1} or this one was replaced, or entries were reordered)"
                          if n > 1 else "the first entry must have a previous-entry hash of 64 zeros")
        if canonical_json(entry) != raw:
            return broken(n, "not in canonical form (edited by hand)")
        if not terminated:
            return broken(n, "the line is not terminated (interrupted write or cut file)")
        prev = recomputed
        head = Head(seq, recomputed)
    return JournalReport(str(path), count, True, head)


def _seq_cause(seq: int, n: int, rest: Iterator[tuple[int, bytes, bool]]) -> str:
    """Why entry *n* carries *seq*. At the first discrepancy a permutation
    always shows a later entry (seq > n), with entry n further down; a
    smaller seq means a line was added before (insertion or duplicate)."""
    if seq < n:
        return "an entry was inserted before it"
    for m, raw, _ in rest:
        try:
            later = strictjson.loads(raw, what=f"entry {m}", max_bytes=MAX_ENTRY_BYTES).get("seq")
        except (StrictJSONError, AttributeError):
            continue
        if later == n:
            return f"entries were reordered (entry {n} is at line {m})"
    return f"entry {n} was removed"


def check_anchor(report: JournalReport, anchor: Any, path: str | os.PathLike, *, label: str,
                 own_entry: dict[str, str] | None = None) -> dict[str, Any]:
    """Check that the journal at *path* (already verified into *report*)
    still holds the head a receipt/ack recorded at issue time (*anchor*
    ``{"seq": n, "hash": h}``) and, with *own_entry* (e.g. ``{"event":
    "receipt", "receipt_id": …}``), the entry written for that document after
    it. A journal shorter than the anchor was truncated; a different hash at
    ``seq`` means it was rewritten. Returns ``{"ok", "problem", …}``."""
    res: dict[str, Any] = {"document": label, "anchor": anchor, "ok": False, "problem": None}
    if not isinstance(anchor, dict) or not isinstance(anchor.get("seq"), int) \
            or not isinstance(anchor.get("hash"), str):
        res["problem"] = f"{label}: no journal anchor recorded"
        return res
    seq, h = anchor["seq"], anchor["hash"]
    if not report.ok and report.first_broken is not None and report.first_broken <= seq + 1:
        res["problem"] = f"{label}: the journal is broken at entry {report.first_broken}, before the anchor"
        return res
    if report.entries < seq:
        res["problem"] = (f"{label} was issued when the journal had {seq} entries; it now has "
                          f"{report.entries}: the journal was truncated")
        return res
    found_anchor = seq == 0 and h == GENESIS
    found_own = own_entry is None
    for n, raw, _ in _lines(Path(path)):
        if n < seq:
            continue
        try:
            entry = strictjson.loads(raw, what=f"entry {n}", max_bytes=MAX_ENTRY_BYTES)
        except StrictJSONError:
            break  # reported by verify
        if not isinstance(entry, dict):
            break  # reported by verify
        if n == seq:
            found_anchor = entry.get("hash") == h
            if not found_anchor:
                break
        elif own_entry is not None and all(entry.get(k) == v for k, v in own_entry.items()):
            found_own = True
            break
    if not found_anchor:
        res["problem"] = (f"{label}: journal entry {seq} is not the one recorded at issue time "
                          "(the journal was rewritten or replaced)")
    elif not found_own:
        res["problem"] = (f"{label}: the journal has no entry for it after entry {seq} "
                          "(its tail was cut, or it was recorded in another journal)")
    else:
        res["ok"] = True
    return res
