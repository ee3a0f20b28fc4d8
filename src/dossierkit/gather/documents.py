"""PDF documents: validation, bounded text extraction, kind guess, and
:func:`add_documents` (copy into the workspace under neutral names).

Validation is deliberately stricter than pypdf, which repairs what it can:
a receiving hospital's viewer may not, so a truncated, encrypted, empty or
page-less file is refused with one line saying what to do. Reading is
bounded (pages, characters, page-tree nodes) so a hostile PDF cannot hang
``add`` or ``check``; pypdf's own limits cap decompression.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from dossierkit.errors import DossierkitError, InputError, UsageError
from dossierkit.fsutil import copy_with_hash, sha256_file
from dossierkit.gather.doctext import (clean_metadata_title, compare_document_identity, find_document_date, guess_kind,
                                      guess_title, parse_user_date, stated_identity)
from dossierkit.model import DOCUMENT_KINDS, DocumentRecord
from dossierkit.progress import NULL_PROGRESS, Progress
from dossierkit.workspace import DOCUMENTS_DIR, Workspace, utc_now

__all__ = ["PdfInfo", "validate_pdf", "extract_text", "guess_kind", "add_documents", "add_documents_checked",
           "AddedDocuments", "edit_document", "remove_documents", "document_kinds_help", "MAX_PAGES", "MAX_CHARS"]

# pypdf reports repairs through the "pypdf" logger; without a handler Python
# would print them on stderr, breaking the one-line error contract.
logging.getLogger("pypdf").addHandler(logging.NullHandler())
# pypdf (with pillow and fontTools under it) is a large share of a command's
# start-up (docs/performance.md, "Imports kept out of start-up"): the functions
# that read a PDF import it, so only add-doc, check and pack pay it, not
# verify, unpack, import-images or the trace commands.

MAX_PAGES = 30  # pages read for text: a fiche RCP or a report is a few pages
MAX_CHARS = 200_000
# pypdf parses content streams in pure Python, slowly (its rate: docs/performance.md,
# "Limits set from a measurement"); a report page holds 5-200 KB, so this budget
# bounds extraction to a few seconds whatever the PDF claims.
MAX_CONTENT_BYTES = 2 * 1024 * 1024
MAX_TREE_NODES = 10_000  # page-tree nodes visited: bounds cyclic or absurd trees
MAX_TREE_DEPTH = 64
MIN_TEXT_LETTERS = 16  # fewer letters than this (a page number, a stamp) = scanned
HEAD = 1024  # the PDF header must start within the first 1024 bytes (ISO 32000 §7.5.2 note)
TAIL = 1024  # %%EOF must be within the last 1024 bytes (same tolerance as Acrobat)


@dataclass
class PdfInfo:
    """What validation learnt about a PDF (text bounded by MAX_PAGES/MAX_CHARS)."""

    pages: int
    has_text: bool
    text: str
    title: str | None  # /Title metadata, if meaningful
    creation_date: dt.date | None  # /CreationDate metadata
    encrypted: bool = False  # True: encrypted with an empty user password (opens without one)
    active_content: tuple[str, ...] = ()  # what a viewer could run or open: see active_content()


def document_kinds_help() -> str:
    return ", ".join(DOCUMENT_KINDS)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _check_envelope(path: Path, fh: IO[bytes], size: int) -> None:
    """Refuse what is not a whole PDF before pypdf tries to repair it."""
    if size == 0:
        raise InputError("is empty (0 bytes), not a PDF", path=path, hint="add the real document")
    head = fh.read(HEAD)
    if b"%PDF-" not in head:
        raise InputError("is not a PDF (no %PDF header)", path=path,
                         hint="export or print the document to PDF, then add it")
    fh.seek(max(0, size - TAIL))
    tail = fh.read(TAIL)
    eof = tail.rfind(b"%%EOF")
    if eof < 0:
        raise InputError("is a truncated or damaged PDF (no end-of-file marker)", path=path,
                         hint="copy or download it again")
    sx = re.findall(rb"startxref\s+(\d+)", tail[:eof])
    if not sx or int(sx[-1]) >= size:
        raise InputError("is a truncated or damaged PDF (cross-reference table missing)", path=path,
                         hint="copy or download it again")


def _open_reader(path: Path, fh: IO[bytes]):
    from pypdf import PdfReader  # pypdf's start-up cost: see the note at the top

    reader = PdfReader(fh, strict=False)
    encrypted = reader.is_encrypted
    if encrypted:
        try:
            ok = bool(reader.decrypt(""))  # PasswordType.NOT_DECRYPTED == 0
        except Exception:  # unsupported security handler: same outcome for the user
            ok = False
        if not ok:
            raise InputError("is a password-protected PDF", path=path,
                             hint="ask the sender for an unprotected copy (or print it to a new PDF), then add it")
    return reader, encrypted


def _iter_pages(reader, limit: int) -> Iterator:
    """Yield up to *limit* pages walking the page tree lazily.

    pypdf's ``reader.pages`` flattens the whole tree first (24 s for 100 000
    pages here); we only need the first few. Inheritable attributes are
    passed down as pypdf does. Cycles and absurd trees are bounded.
    """
    from pypdf import PageObject  # pypdf's start-up cost: see the note at the top
    from pypdf.generic import IndirectObject, NameObject

    inheritable = ("/Resources", "/MediaBox", "/CropBox", "/Rotate")
    root = reader.trailer["/Root"].get_object()["/Pages"]
    stack = [(root, {}, 0)]
    seen: set[int] = set()
    visited = yielded = 0
    while stack and yielded < limit:
        ref, inherited, depth = stack.pop()
        visited += 1
        if visited > MAX_TREE_NODES or depth > MAX_TREE_DEPTH:
            return
        if isinstance(ref, IndirectObject):
            if ref.idnum in seen:
                continue
            seen.add(ref.idnum)
        node = ref.get_object()
        if not hasattr(node, "get"):
            continue
        if node.get("/Type") == "/Pages" or ("/Kids" in node and node.get("/Type") != "/Page"):
            inherit = dict(inherited)
            for k in inheritable:
                if k in node:
                    inherit[k] = node[k]
            kids = node.get("/Kids")
            kids = kids.get_object() if kids is not None else []
            for kid in reversed(list(kids)[: MAX_TREE_NODES]):
                stack.append((kid, inherit, depth + 1))
        else:
            page = PageObject(reader, ref if isinstance(ref, IndirectObject) else None)
            page.update(node)
            for k, v in inherited.items():
                if k not in page:
                    page[NameObject(k)] = v
            yielded += 1
            yield page


def _page_count(reader) -> int:
    """/Count of the page tree when it is a sane number, else the pages we can reach."""
    count = reader.trailer["/Root"].get_object()["/Pages"].get_object().get("/Count")
    try:
        count = int(count)
    except (TypeError, ValueError):
        count = -1
    first = next(_iter_pages(reader, 1), None)
    if first is None:
        return 0
    return count if count > 0 else sum(1 for _ in _iter_pages(reader, MAX_TREE_NODES))


def _content_size(page) -> int:
    """Decoded size of a page's content streams (pypdf caps each decode)."""
    contents = page.get("/Contents")
    if contents is None:
        return 0
    contents = contents.get_object()
    streams = contents if isinstance(contents, list) else [contents]
    return sum(len(s.get_object().get_data()) for s in streams)


# Actions a viewer runs or lets run, rather than displays (ISO 32000-1 §12.6.4).
_RUNNING_ACTIONS = {"/JavaScript": "JavaScript", "/Launch": "a program launch", "/SubmitForm": "a form submission",
                    "/ImportData": "a data import", "/GoToE": "an embedded file opened",
                    "/RichMediaExecute": "rich media"}


def _resolve(obj):
    from pypdf.generic import IndirectObject  # loaded by then (_open_reader): a look-up in sys.modules

    return obj.get_object() if isinstance(obj, IndirectObject) else obj


def _actions_in(action, found: set[str], budget: list[int]) -> None:
    """Running actions in an action dictionary and its /Next chain (bounded)."""
    todo = [action]
    while todo and budget[0] > 0:
        budget[0] -= 1
        a = _resolve(todo.pop())
        if isinstance(a, list):
            todo.extend(a)
            continue
        if not hasattr(a, "get"):
            continue
        kind = _RUNNING_ACTIONS.get(str(a.get("/S")))
        if kind:
            found.add(kind)
        if "/Next" in a:
            todo.append(a["/Next"])


def _dicts_in(array, budget: list[int]) -> Iterator:
    """The dictionaries of a PDF array (annotations, form fields), resolved,
    while the budget lasts."""
    for item in _resolve(array) or []:
        if budget[0] <= 0:
            return
        budget[0] -= 1
        item = _resolve(item)
        if hasattr(item, "get"):
            yield item


def _trigger_actions(holder, found: set[str], budget: list[int]) -> None:
    """/A and every /AA trigger of a catalog, page, annotation or field."""
    if "/A" in holder:
        _actions_in(holder["/A"], found, budget)
    aa = _resolve(holder.get("/AA"))
    if hasattr(aa, "values"):
        for action in aa.values():
            _actions_in(action, found, budget)


def active_content(reader, max_pages: int = MAX_PAGES) -> tuple[str, ...]:
    """What in this PDF a viewer could run or open rather than display:
    JavaScript, launch/submit/import actions (on opening, on a page, in
    annotations and form fields of the first *max_pages* pages), embedded
    files and XFA forms. A heuristic for a warning, bounded, never raising:
    a second-opinion dossier is opened by another hospital's staff, and a
    report needs none of these (printing it to a new PDF drops them)."""
    found: set[str] = set()
    budget = [MAX_TREE_NODES]
    try:
        root = _resolve(reader.trailer["/Root"])
        if "/OpenAction" in root:
            _actions_in(root["/OpenAction"], found, budget)
        _trigger_actions(root, found, budget)
        names = _resolve(root.get("/Names"))
        if hasattr(names, "get"):
            if "/JavaScript" in names:
                found.add("JavaScript")
            if "/EmbeddedFiles" in names:
                found.add("embedded files")
        form = _resolve(root.get("/AcroForm"))
        if hasattr(form, "get"):
            if "/XFA" in form:
                found.add("an XFA form")
            for fld in _dicts_in(form.get("/Fields"), budget):
                _trigger_actions(fld, found, budget)
        for page in _iter_pages(reader, max_pages):
            _trigger_actions(page, found, budget)
            for annot in _dicts_in(page.get("/Annots"), budget):
                if annot.get("/Subtype") == "/FileAttachment":
                    found.add("embedded files")
                _trigger_actions(annot, found, budget)
    except Exception:  # damaged structure: report what was found; validity is judged elsewhere
        pass
    return tuple(sorted(found))


def _text_of(reader, max_pages: int, max_chars: int) -> str:
    parts: list[str] = []
    total = 0
    budget = MAX_CONTENT_BYTES
    for page in _iter_pages(reader, max_pages):
        try:
            size = _content_size(page)
        except Exception:  # undecodable stream: no text from this page
            continue
        if size > budget:
            break
        budget -= size
        try:
            t = page.extract_text() or ""
        except Exception:  # one bad page (odd font, broken stream) must not hide the others
            t = ""
        parts.append(t[: max_chars - total])
        total += len(parts[-1])
        if total >= max_chars:
            break
    return "\n".join(parts)[:max_chars]


def _metadata(reader) -> tuple[str | None, dt.date | None]:
    try:
        meta = reader.metadata
    except Exception:
        return None, None
    if not meta:
        return None, None
    title = clean_metadata_title(meta.get("/Title"))
    try:
        created = meta.creation_date
    except Exception:
        created = None
    cdate = created.date() if isinstance(created, dt.datetime) else None
    if cdate and not 1900 <= cdate.year <= 2100:
        cdate = None
    return title, cdate


def _open_file(path: Path) -> tuple[IO[bytes], int]:
    try:
        st = path.stat()
    except FileNotFoundError as exc:
        raise InputError("file not found", path=path) from exc
    except OSError as exc:
        raise InputError(f"cannot read ({exc.strerror or exc})", path=path) from exc
    if path.is_dir():
        raise InputError("is a folder, not a PDF", path=path)
    try:
        return open(path, "rb"), st.st_size
    except OSError as exc:
        raise InputError(f"cannot read ({exc.strerror or exc})", path=path) from exc


def validate_pdf(path: str | os.PathLike, *, max_pages: int = MAX_PAGES, max_chars: int = MAX_CHARS) -> PdfInfo:
    """Check that *path* is a whole, readable, unprotected PDF with pages.

    Raises :class:`InputError` (one line, exit 2) for: missing/unreadable
    file, empty file, not a PDF, truncated PDF (no ``%%EOF`` or
    ``startxref`` in the tail), password-protected PDF, zero pages, or a
    file pypdf cannot parse. Never raises anything else. A PDF whose pages
    carry no extractable text (a scan) is valid: ``has_text`` is False.
    A PDF encrypted with an empty user password (permissions only) opens in
    every viewer without a password: it is valid, with ``encrypted`` True.
    """
    path = Path(path)
    fh, size = _open_file(path)
    with fh, _quiet():
        try:
            _check_envelope(path, fh, size)
            fh.seek(0)
            reader, encrypted = _open_reader(path, fh)
            pages = _page_count(reader)
            if pages == 0:
                raise InputError("is a PDF with no pages", path=path, hint="export the document again")
            text = _text_of(reader, max_pages, max_chars)
            title, created = _metadata(reader)
            active = active_content(reader, max_pages)
        except InputError:
            raise
        except RecursionError as exc:
            raise InputError("is a damaged PDF (nesting too deep)", path=path) from exc
        except Exception as exc:  # pypdf raises many types on damaged files; the user needs one line
            raise InputError(f"is a damaged PDF that cannot be read ({type(exc).__name__})", path=path,
                             hint="copy or export it again") from exc
    letters = len(re.findall(r"[^\W\d_]", text))
    return PdfInfo(pages=pages, has_text=letters >= MIN_TEXT_LETTERS, text=text if letters else "",
                   title=title, creation_date=created, encrypted=encrypted, active_content=active)


def extract_text(path: str | os.PathLike, max_pages: int = MAX_PAGES, max_chars: int = MAX_CHARS) -> str:
    """Text of the first *max_pages* pages, at most *max_chars* characters
    (empty for a scan). Raises :class:`InputError` on an invalid PDF."""
    return validate_pdf(path, max_pages=max_pages, max_chars=max_chars).text


# --------------------------------------------------------------------------- add


@dataclass
class _Planned:
    source: Path
    sha256: str
    size: int
    kind: str
    info: PdfInfo
    title: str | None
    date: dt.date | None
    date_source: str | None = None  # user (--date), text, metadata (the file's creation date)


def _next_number(ws: Workspace, records: list[DocumentRecord]) -> int:
    """One past the highest DOCnnnn in the index or on disk (never reuse a name)."""
    nums = [0]
    for r in records:
        m = re.fullmatch(r"DOC(\d+)", r.id)
        if m:
            nums.append(int(m.group(1)))
    if ws.documents_dir.is_dir():
        for p in ws.documents_dir.glob("DOC*.pdf"):
            m = re.fullmatch(r"DOC(\d+)", p.stem)
            if m:
                nums.append(int(m.group(1)))
    return max(nums) + 1


def _plan(path: Path, kind: str, title: str | None, date: dt.date | None) -> _Planned:
    info = validate_pdf(path)
    if kind == "auto":
        guessed = guess_kind(info.text)
        if guessed is None:
            why = "it is a scan (no text to read)" if not info.has_text else "its text does not say clearly"
            raise UsageError(f"cannot tell which kind of document this is: {why}", path=path,
                             hint=f"add it on its own with --kind KIND ({document_kinds_help()})"
                                  f"{' and its --date YYYY-MM-DD and --title' if not info.has_text else ''}")
        kind = guessed
    text_date = find_document_date(info.text) if info.has_text else None
    # A scan's creation date is the day it was scanned, not the document's (issue #15): never taken.
    meta_date = info.creation_date if info.has_text and not date and not text_date else None
    doc_date = date or text_date or meta_date
    doc_title = title or info.title or (guess_title(info.text) if info.has_text else None)
    sha, size = sha256_file(path), path.stat().st_size
    source = "user" if date else "text" if text_date else "metadata" if meta_date else None
    return _Planned(path, sha, size, kind, info, doc_title, doc_date, date_source=source)


def _user_date(date: str | dt.date | None) -> dt.date | None:
    user_date = parse_user_date(date)
    if date is not None and user_date is None:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(date).strip()):
            raise UsageError(f"--date {date!r} is no day of the calendar", hint="check the day and the month")
        raise UsageError(f"--date {date!r} is not a date", hint="write it as YYYY-MM-DD")
    return user_date


def add_documents(workspace: Workspace | str | os.PathLike, paths: list[str | os.PathLike], kind: str = "auto",
                  title: str | None = None, date: str | dt.date | None = None,
                  progress: Progress = NULL_PROGRESS) -> list[DocumentRecord]:
    """Validate every file, then copy them into ``documents/DOCnnnn.pdf``.

    All or nothing: if one file is invalid, unreadable, of unknown kind
    (``kind="auto"`` and the text is not conclusive) or already in the
    workspace (same SHA-256), nothing is added and :class:`InputError` /
    :class:`UsageError` says which file and why. *title* and *date* apply to
    every file given; otherwise they are read from each PDF (metadata title
    or first meaningful line; the first date introduced by « date »/« le »
    that is not a birth date, else the creation date). The original file
    name stays in the workspace index only.
    """
    ws = workspace if isinstance(workspace, Workspace) else Workspace(workspace)
    _ = ws.dossier  # a broken dossier.toml is reported first; loading also lets errors mask the patient
    if kind != "auto" and kind not in DOCUMENT_KINDS:
        raise UsageError(f"unknown document kind {kind!r}", hint=f"use one of: {document_kinds_help()}, auto")
    user_date = _user_date(date)
    if not paths:
        raise UsageError("no file to add", hint="give one or more PDF files")
    sources = [Path(p) for p in paths]

    existing = ws.documents()
    by_hash = {r.sha256: r for r in existing}
    progress.start("Checking documents", total=len(sources), unit="files")
    planned: list[_Planned] = []
    refused: list[DossierkitError] = []
    for src in sources:
        try:
            p = _plan(src, kind, title, user_date)
            if p.sha256 in by_hash:
                raise InputError(f"is already in the workspace as {by_hash[p.sha256].id} (same SHA-256)", path=src,
                                 hint="leave it out of the command")
            twin = next((q for q in planned if q.sha256 == p.sha256), None)
            if twin:
                raise InputError(f"is the same file as {twin.source} (same SHA-256)", path=src,
                                 hint="give each document once")
            planned.append(p)
        except DossierkitError as exc:
            refused.append(exc)
        progress.advance(1)
    progress.finish()
    if refused:
        raise _nothing_added(refused, len(sources))

    progress.start("Copying documents", total=sum(p.size for p in planned), unit="B")
    number = _next_number(ws, existing)
    added: list[DocumentRecord] = []
    copied: list[Path] = []
    now = utc_now()
    try:
        for p in planned:
            doc_id = f"DOC{number:04d}"
            number += 1
            rel = f"{DOCUMENTS_DIR}/{doc_id}.pdf"
            dest = ws.path(rel)
            copied.append(dest)
            sha, size = copy_with_hash(p.source, dest)
            if sha != p.sha256:
                raise InputError("changed while it was being added", path=p.source,
                                 hint="nothing was added; wait until it is complete and add it again")
            added.append(DocumentRecord(id=doc_id, kind=p.kind, path=rel, sha256=sha, size=size,
                                        original_name=p.source.name, title=p.title,
                                        date=p.date.isoformat() if p.date else None,
                                        date_source=p.date_source, pages=p.info.pages,
                                        has_text=p.info.has_text, added=now))
            progress.advance(size)
        ws.save_documents(existing + added)
    except BaseException:
        for dest in copied:
            with contextlib.suppress(OSError):
                dest.unlink()
        raise
    progress.finish()
    return added


def _nothing_added(refused: list[DossierkitError], total: int) -> DossierkitError:
    """One error for a refused batch: nothing was added, which files and why."""
    first = refused[0]
    if total == 1:
        first.message = f"{first.message} (nothing was added)" if "nothing was added" not in first.message \
            else first.message
        return first
    ok = total - len(refused)
    lines = [f"nothing was added: {len(refused)} of {total} files cannot be added"
             f"{f' (the {ok} other(s) are fine: add them again without it)' if ok else ''}"]
    lines += [f"  {exc.line()}" for exc in refused]
    err = type(first)("\n".join(lines))
    err.exit_code = first.exit_code
    return err


@dataclass
class AddedDocuments:
    """What ``add`` did: the records added and what the sender should look at."""

    records: list[DocumentRecord]
    warnings: list[str]

    def to_dict(self) -> dict:
        return {"added": [r.to_dict() for r in self.records], "warnings": self.warnings}


def add_documents_checked(workspace: Workspace | str | os.PathLike, paths: list[str | os.PathLike],
                          kind: str = "auto", title: str | None = None, date: str | dt.date | None = None,
                          progress: Progress = NULL_PROGRESS) -> AddedDocuments:
    """``dossierkit add``: :func:`add_documents`, then what each new document
    calls for at once rather than at ``check``: another patient named in it
    (or a dossier.toml that is wrong), a scan with no date or title, a date
    read from the file's creation date."""
    ws = workspace if isinstance(workspace, Workspace) else Workspace(workspace)
    records = add_documents(ws, paths, kind=kind, title=title, date=date, progress=progress)
    warnings: list[str] = []
    patient = ws.dossier.patient
    for rec in records:
        fix = f"dossierkit set-document {ws.root} {rec.id}"
        if not rec.has_text and (not rec.date or not rec.title):
            warnings.append(f"{rec.id} ({rec.original_name}) is a scan: no {'date' if not rec.date else ''}"
                            f"{' or ' if not rec.date and not rec.title else ''}{'title' if not rec.title else ''} "
                            f"could be read — give them: {fix} --date YYYY-MM-DD --title \"…\"")
        elif rec.date_source == "metadata":
            warnings.append(f"{rec.id} ({rec.original_name}): no date in its text; {rec.date} is the file's creation "
                            f"date — if the document is of another day: {fix} --date YYYY-MM-DD")
        if rec.has_text:
            cmp = compare_document_identity(patient, stated_identity(extract_text(ws.path(rec.path))))
            if cmp.mismatch:
                warnings.append(f"{rec.id} ({rec.original_name}) names another patient ({' and '.join(cmp.reasons())} "
                                f"differ from dossier.toml's) — if it is not this patient's: dossierkit remove "
                                f"{ws.root} {rec.id}; if dossier.toml is wrong: dossierkit set {ws.root} …")
    return AddedDocuments(records, warnings)


def edit_document(workspace: Workspace | str | os.PathLike, doc_id: str, *, kind: str | None = None,
                  title: str | None = None, date: str | dt.date | None = None) -> DocumentRecord:
    """``dossierkit set-document``: correct a document's *kind*, *title* or
    *date* in the index (the PDF copy is not touched). Unknown id or kind, or
    a date that is not one, raise :class:`UsageError` and change nothing."""
    ws = workspace if isinstance(workspace, Workspace) else Workspace(workspace)
    docs = ws.documents()
    rec = next((d for d in docs if d.id == doc_id), None)
    if rec is None:
        raise UsageError(f"no document {doc_id} in this workspace",
                         hint=f"known: {', '.join(d.id for d in docs) or 'none'} (see `dossierkit list`)")
    if kind is not None and kind not in DOCUMENT_KINDS:
        raise UsageError(f"unknown document kind {kind!r}", hint=f"use one of: {document_kinds_help()}")
    new_date = _user_date(date) if date is not None else None
    if kind is not None:
        rec.kind = kind
    if title is not None:
        rec.title = " ".join(title.split()) or None
    if new_date is not None:
        rec.date, rec.date_source = new_date.isoformat(), "user"
    ws.save_documents(docs)
    return rec


def remove_documents(workspace: Workspace | str | os.PathLike, ids: list[str]) -> list[DocumentRecord]:
    """Take documents out of the workspace by id (``DOC0003``): index first,
    then the copies. Unknown ids raise :class:`UsageError` and remove nothing.
    New documents are numbered after the highest id still indexed or on disk."""
    ws = workspace if isinstance(workspace, Workspace) else Workspace(workspace)
    docs = ws.documents()
    known = {d.id for d in docs}
    unknown = [i for i in ids if i not in known]
    if unknown:
        raise UsageError(f"no document {', '.join(unknown)} in this workspace",
                         hint=f"known: {', '.join(sorted(known)) or 'none'}")
    removed = [d for d in docs if d.id in set(ids)]
    ws.save_documents([d for d in docs if d.id not in set(ids)])
    for d in removed:  # after the index: a crash leaves an orphan file, never a dangling entry
        with contextlib.suppress(OSError):
            ws.path(d.path).unlink()
    return removed
