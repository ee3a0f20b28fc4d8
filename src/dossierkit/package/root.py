"""The media root, planned in memory before any byte is written.

Everything except the workspace files' contents is known upfront: the
layout, the DICOMDIR and INDEX.HTM/README.TXT (built from the indexes), and
therefore the manifest, SHA256SUMS and the signature — the indexes hold
every file's size and SHA-256. Pack then streams the entries in
:attr:`MediaRoot.entries` order (the three DOSSIER files first) and
re-hashes each workspace file on the way, refusing to finish if one no
longer matches its index (a file changed since import/add).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import zlib
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dossierkit import __version__
from dossierkit.errors import InputError, IntegrityError
from dossierkit.model import REPLY_PURPOSE
from dossierkit.package.dicomdir import HEADER_KEYWORDS, build_dicomdir
from dossierkit.package.index_html import render_index
from dossierkit.package.layout import (DICOMDIR, INDEX, MANIFEST, README, SIGNATURE, SUMS, MediaLayout, PlannedInstance,
                                       plan_layout)
from dossierkit.package.manifest import GeneratedFile, write_manifest
from dossierkit.package.readme import root_readme
from dossierkit.package.seal import make_seal
from dossierkit.package.xdm import METADATA, XdmSettings, build_metadata, load_settings, patient_id, subset_documents
from dossierkit.package.sums import format_sums
from dossierkit.trust.signing import fingerprint
from dossierkit.workspace import Workspace, utc_now


_PACK_ABOVE = 64 * 1024  # generated files held deflated above this size (the manifest, SHA256SUMS, DICOMDIR)
_PIECE = 1024 * 1024  # inflated at a time by RootEntry.chunks


class RootEntry:
    """One file of the package root. One per image: kept small — pack holds
    them all while it writes (issue #18): slotted, a workspace file as its
    folder (one string for all) and its index path (the record's own
    string), a large generated file deflated (``data`` inflates it: the
    manifest, SHA256SUMS and DICOMDIR grow with the file count, and deflate
    well)."""

    __slots__ = ("path", "size", "sha256", "_data", "_packed", "_base", "_rel")

    def __init__(self, path: str, size: int, sha256: str, *, data: bytes | None = None, base: str | None = None,
                 rel: str | None = None):
        self.path, self.size, self.sha256 = path, size, sha256
        self._base, self._rel = base, rel
        self._packed = data is not None and len(data) > _PACK_ABOVE
        self._data = zlib.compress(data, 1) if self._packed else data

    @classmethod
    def deflated(cls, path: str, size: int, sha256: str, packed: bytes) -> RootEntry:
        """A generated file given already deflated (zlib): the manifest, deflated as it is encoded."""
        entry = cls(path, size, sha256)
        entry._packed, entry._data = True, packed
        return entry

    @property
    def data(self) -> bytes | None:
        """The generated file's bytes (None for a workspace file, or once written)."""
        return zlib.decompress(self._data) if self._packed and self._data is not None else self._data

    @data.setter
    def data(self, value: bytes | None) -> None:
        self._packed = value is not None and len(value) > _PACK_ABOVE
        self._data = zlib.compress(value, 1) if self._packed else value

    def chunks(self) -> Iterator[bytes]:
        """The generated file's bytes in pieces, inflated as they go (the
        writer takes the manifest this way, never whole: issue #18)."""
        if not self._packed:
            if self._data is not None:
                yield self._data
            return
        d = zlib.decompressobj()
        tail = self._data or b""
        while tail:
            piece = d.decompress(tail, _PIECE)
            if piece:
                yield piece
            tail = d.unconsumed_tail
        piece = d.flush()
        if piece:
            yield piece

    @property
    def source(self) -> str | None:
        """The workspace file (absolute path), streamed; None for a generated file."""
        return os.path.join(self._base, self._rel) if self._base is not None and self._rel is not None else None

    def __repr__(self) -> str:
        return f"RootEntry({self.path!r}, {self.size}, {self.sha256!r}, source={self.source!r})"


class _FileRows:
    """The workspace files of the root, packed: one row a file in a single
    bytearray (entry path, workspace path and SHA-256, UTF-8, NUL-separated)
    and the sizes in an array — a third of a RootEntry and its three
    strings (docs/performance.md, "Memory per file"), and no small objects left among the
    planning's freed ones (issue #18: those kept its memory from being
    returned). Iterating yields a RootEntry a row, made on the fly."""

    def __init__(self, base: str):
        self._base = base
        self._rows = bytearray()
        self._ends = array("Q")
        self._sizes = array("q")

    def add(self, path: str, size: int, sha256: str, rel: str) -> None:
        self._rows += "\0".join((path, rel, sha256)).encode("utf-8", "surrogatepass")
        self._ends.append(len(self._rows))
        self._sizes.append(size)

    def __len__(self) -> int:
        return len(self._sizes)

    def _entry(self, start: int, end: int, size: int) -> RootEntry:
        path, rel, sha = self._rows[start:end].decode("utf-8", "surrogatepass").split("\0")
        return RootEntry(path, size, sha, base=self._base, rel=rel)

    def row(self, i: int) -> RootEntry:
        return self._entry(self._ends[i - 1] if i else 0, self._ends[i], self._sizes[i])

    def __iter__(self) -> Iterator[RootEntry]:
        start = 0
        for end, size in zip(self._ends, self._sizes):
            yield self._entry(start, end, size)
            start = end

    @property
    def total_bytes(self) -> int:
        return sum(self._sizes)


class RootEntries:
    """The root's entries in package order: the generated files (a few
    :class:`RootEntry`, the DOSSIER ones first) then the workspace files
    (:class:`_FileRows`). A sequence: ``len``, iteration, indexing and
    slicing (RootEntry objects); :meth:`insert` among the generated ones."""

    def __init__(self, head: list[RootEntry], files: _FileRows):
        self._head, self._files = head, files

    def __len__(self) -> int:
        return len(self._head) + len(self._files)

    def __iter__(self) -> Iterator[RootEntry]:
        yield from self._head
        yield from self._files

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        return self._head[i] if i < len(self._head) else self._files.row(i - len(self._head))

    def insert(self, i: int, entry: RootEntry) -> None:
        """Add a generated file at *i* (among the generated ones)."""
        if not 0 <= i <= len(self._head):
            raise IndexError(i)
        self._head.insert(i, entry)

    @property
    def total_bytes(self) -> int:
        return sum(e.size for e in self._head) + self._files.total_bytes


@dataclass
class MediaRoot:
    entries: RootEntries
    totals: dict[str, int]  # the manifest's ``totals``
    manifest_sha256: str
    signer_fingerprint: str
    layout: MediaLayout

    @property
    def total_bytes(self) -> int:
        return self.entries.total_bytes

    @property
    def manifest(self) -> dict[str, Any]:
        """The manifest document, parsed from its bytes (the first entry's;
        pack never needs it whole: issue #18)."""
        return json.loads(self.entries[0].data or b"")


def _generated(path: str, role: str, data: bytes) -> GeneratedFile:
    return GeneratedFile(path, role, data, hashlib.sha256(data).hexdigest())


def _check_sources(ws: Workspace, layout: MediaLayout) -> None:
    """Fail before writing anything when a workspace file is missing or its
    size differs from the index (the hash is checked while streaming)."""
    base = os.fspath(ws.root)
    for rec in itertools.chain((d.record for d in layout.documents), (i.record for i in layout.instances())):
        # os.stat of a str, not a Path per file: pathlib interns every component (a table of every name, #18)
        try:
            size = os.stat(os.path.join(base, rec.path)).st_size
        except FileNotFoundError as exc:
            raise InputError("a file listed in the workspace index is missing", path=rec.path,
                             hint="restore it, or remove and re-add it") from exc
        except OSError as exc:
            raise InputError(f"cannot read ({exc.strerror})", path=rec.path) from exc
        if size != rec.size:
            raise IntegrityError(f"size differs from the workspace index ({size} bytes, index says {rec.size})",
                                 path=rec.path, hint="the file changed since it was added: re-add or re-import it")


def _header_reader(ws: Workspace):
    """Read the few keys non-image records need (SR, KO, PR, encapsulated
    documents, RT objects — a handful of files per dossier); bulk values
    (an encapsulated PDF, pixel data) are never loaded."""
    def read(pi: PlannedInstance) -> Any:
        # pydicom: only loaded when a file needs it (start-up: docs/performance.md, "Imports kept out of start-up")
        from pydicom import dcmread

        try:
            return dcmread(ws.path(pi.record.path), stop_before_pixels=True, specific_tags=HEADER_KEYWORDS,
                           defer_size=4096)
        except Exception:  # unreadable header: the instance gets an IMAGE record (documented)
            return None
    return read


def build_root(ws: Workspace, *, signing_key: Ed25519PrivateKey, completeness: dict[str, Any], container: str,
               created: str | None = None, xdm_settings: XdmSettings | None = None) -> MediaRoot:
    """Plan the whole root of *ws* and seal it (see module docstring).
    *xdm_settings*: the IHE XDM codes and establishment (default: the
    bundled table under ``$DOSSIERKIT_HOME/xdm.toml``)."""
    dossier = ws.dossier
    created = created or utc_now()
    layout = plan_layout(ws.documents(), ws.images(without=("source", "origin")))
    _check_sources(ws, layout)
    dicomdir = build_dicomdir(dossier.patient, layout, dossier_id=dossier.id, read_header=_header_reader(ws))
    readme = root_readme(dossier_id=dossier.id, created=created, version=__version__,
                         documents=len(layout.documents), studies=len(layout.studies),
                         images=layout.instance_count, reply=dossier.purpose == REPLY_PURPOSE)
    index = render_index(dossier=dossier, layout=layout, completeness=completeness, created=created,
                         version=__version__)
    generated = [_generated(README, "readme", readme), _generated(INDEX, "index", index),
                 _generated(DICOMDIR, "dicomdir", dicomdir.data)]
    dicomdir.data = b""  # from here only deflated, in its RootEntry (its bytes grow with the images)
    settings = xdm_settings or load_settings()
    xdm_docs = subset_documents(ws.root, [(d.path, d.record) for d in layout.documents])
    generated.append(_generated(METADATA, "xdm-metadata", build_metadata(
        dossier=dossier, documents=xdm_docs, settings=settings, submitted=created)))
    pid = patient_id(dossier, settings)
    payload: list[RootEntry] = [RootEntry(g.path, g.size, g.sha256, data=g.data) for g in generated]
    generated = [GeneratedFile(g.path, g.role, b"", g.sha256, g.size) for g in generated]
    files = _FileRows(os.fspath(ws.root))
    for planned in itertools.chain(layout.documents, layout.instances()):
        files.add(planned.path, planned.record.size, planned.record.sha256, planned.record.path)

    # The manifest hashed and deflated as it is encoded: its bytes (they grow
    # with the file count) are never whole in memory here (issue #18).
    hasher, deflate, parts, size = hashlib.sha256(), zlib.compressobj(1), [], 0

    def write(piece: bytes) -> None:
        nonlocal size
        hasher.update(piece)
        size += len(piece)
        packed = deflate.compress(piece)
        if packed:
            parts.append(packed)
    totals = write_manifest(
        write, dossier=dossier, layout=layout, generated=generated, completeness=completeness,
        container=container, created=created, stand_ins=dicomdir.stand_in_summary(),
        xdm={"metadata": METADATA, "patient_id": pid.cx, "patient_id_kind": pid.kind})
    parts.append(deflate.flush())
    msha = hasher.hexdigest()
    manifest = RootEntry.deflated(MANIFEST, size, msha, b"".join(parts))
    del parts
    sums = format_sums(itertools.chain([(MANIFEST, msha)], ((e.path, e.sha256) for e in payload),
                                       ((e.path, e.sha256) for e in files)))
    seal = make_seal(signing_key, None, sums, manifest_sha256=msha)
    head = [manifest, RootEntry(SUMS, len(sums), hashlib.sha256(sums).hexdigest(), data=sums),
            RootEntry(SIGNATURE, len(seal), hashlib.sha256(seal).hexdigest(), data=seal)]
    return MediaRoot(RootEntries(head + payload, files), totals, msha, fingerprint(signing_key.public_key()), layout)

