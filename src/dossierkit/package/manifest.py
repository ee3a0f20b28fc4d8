"""``DOSSIER/MANIFEST.JSON``: the machine-readable manifest (docs/package-format.md).

Schema version :data:`MANIFEST_SCHEMA`. Readers refuse a different
``format`` and a newer ``schema``; members they do not know are ignored, so
later minor additions stay readable by older verifiers.

The manifest lists every file of the root except the three ``DOSSIER``
files themselves (the manifest cannot hash itself; ``SHA256SUMS`` covers it
and ``MANIFEST.SIG`` signs both).
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from dossierkit import __version__
from dossierkit import strictjson
from dossierkit.errors import IntegrityError
from dossierkit.model import Dossier
from dossierkit.package.layout import DICOMDIR, MANIFEST, MediaLayout, is_safe_entry_path

MANIFEST_FORMAT = "dossierkit-package-manifest"
MANIFEST_SCHEMA = 1
MAX_MANIFEST_BYTES = 64 * 1024 * 1024


def _iso_da(value: str | None) -> str | None:
    if value and len(value) == 8 and value.isdigit():
        return f"{value[:4]}-{value[4:6]}-{value[6:]}"
    return value or None


@dataclass
class GeneratedFile:
    """A file pack creates (README.TXT, INDEX.HTM, DICOMDIR), held in memory."""

    path: str
    role: str
    data: bytes
    sha256: str
    length: int | None = None  # the size when *data* has been let go (pack: issue #18)

    @property
    def size(self) -> int:
        return len(self.data) if self.length is None else self.length


class _Records:
    """A JSON array made record by record when it is encoded (an image
    series' ``instances``): never a list of every record (issue #18)."""

    __slots__ = ("count", "make")

    def __init__(self, count: int, make: Callable[[], Iterator[dict[str, Any]]]):
        self.count, self.make = count, make


def _instance(pi: Any) -> dict[str, Any]:
    r = pi.record
    return {"path": pi.path, "sop_instance_uid": r.sop_instance_uid, "sop_class_uid": r.sop_class_uid,
            "transfer_syntax": r.transfer_syntax, "instance_number": r.instance_number, "size": r.size,
            "sha256": r.sha256, **({"provenance": r.provenance} if r.provenance else {})}


def _outline(*, dossier: Dossier, layout: MediaLayout, generated: list[GeneratedFile], completeness: dict[str, Any],
             container: str, created: str, stand_ins: dict[str, int],
             xdm: dict[str, Any] | None) -> dict[str, Any]:
    """The manifest document with each series' instances as :class:`_Records`."""
    documents = [{
        "path": d.path, "id": d.record.id, "kind": d.record.kind, "loinc": d.record.loinc,
        "title": d.record.title, "date": d.record.date, "pages": d.record.pages,
        "size": d.record.size, "sha256": d.record.sha256,
    } for d in layout.documents]
    studies = []
    for st in layout.studies:
        s = st.summary
        first = st.series[0].instances[0].record
        studies.append({
            "study_instance_uid": s.study_instance_uid, "date": _iso_da(s.date), "time": first.study_time,
            "description": s.description, "accession_number": s.accession_number,
            "modalities": s.modalities, "count": st.instance_count,
            "series": [{
                "series_instance_uid": se.summary.series_instance_uid, "modality": se.summary.modality,
                "number": se.summary.series_number, "description": se.summary.description,
                "count": len(se.instances),
                "instances": _Records(len(se.instances), lambda se=se: map(_instance, se.instances)),
            } for se in st.series],
        })
    files = [{"path": g.path, "role": g.role, "size": g.size, "sha256": g.sha256} for g in generated]
    payload = sum(d["size"] for d in documents) + sum(pi.record.size for pi in layout.instances()) \
        + sum(f["size"] for f in files)
    doc = {
        "format": MANIFEST_FORMAT,
        "schema": MANIFEST_SCHEMA,
        "dossier_id": dossier.id,
        "created": created,
        "tool": {"name": "dossierkit", "version": __version__},
        "container": container,
        "dossier": dossier.to_dict(),
        "completeness": completeness,
        "files": files,
        "documents": documents,
        "studies": studies,
        "dicomdir": {"path": DICOMDIR, "stand_ins": stand_ins},
        "totals": {"documents": len(documents), "studies": len(studies),
                   "series": sum(len(st.series) for st in layout.studies),
                   "instances": layout.instance_count, "files": len(files) + len(documents) + layout.instance_count,
                   "bytes": payload},
    }
    if xdm is not None:
        doc["xdm"] = xdm
    return doc


def _whole(obj: Any) -> Any:
    if isinstance(obj, _Records):
        return [_whole(r) for r in obj.make()]
    if isinstance(obj, dict):
        return {k: _whole(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_whole(v) for v in obj]
    return obj


def build_manifest(*, dossier: Dossier, layout: MediaLayout, generated: list[GeneratedFile],
                   completeness: dict[str, Any], container: str, created: str,
                   stand_ins: dict[str, int], xdm: dict[str, Any] | None = None) -> dict[str, Any]:
    """The manifest document (a JSON-able dict without floats), whole: a
    dict per image. Pack encodes it without that (:func:`encode_manifest`)."""
    return _whole(_outline(dossier=dossier, layout=layout, generated=generated, completeness=completeness,
                           container=container, created=created, stand_ins=stand_ins, xdm=xdm))


def encode_manifest(*, dossier: Dossier, layout: MediaLayout, generated: list[GeneratedFile],
                    completeness: dict[str, Any], container: str, created: str, stand_ins: dict[str, int],
                    xdm: dict[str, Any] | None = None) -> tuple[bytes, dict[str, int]]:
    """(the manifest's bytes, its ``totals``): the bytes of
    ``manifest_bytes(build_manifest(…))``, encoded straight from *layout*
    one image record at a time — no dict per image, no list of every token
    (issue #18)."""
    out = io.BytesIO()
    totals = write_manifest(out.write, dossier=dossier, layout=layout, generated=generated,
                            completeness=completeness, container=container, created=created,
                            stand_ins=stand_ins, xdm=xdm)
    return out.getvalue(), totals


def write_manifest(write: Callable[[bytes], Any], *, dossier: Dossier, layout: MediaLayout,
                   generated: list[GeneratedFile], completeness: dict[str, Any], container: str, created: str,
                   stand_ins: dict[str, int], xdm: dict[str, Any] | None = None) -> dict[str, int]:
    """:func:`encode_manifest` piece by piece into *write* (pack hashes and
    deflates the pieces: the whole manifest is never in memory); returns
    the ``totals``."""
    doc = _outline(dossier=dossier, layout=layout, generated=generated, completeness=completeness,
                   container=container, created=created, stand_ins=stand_ins, xdm=xdm)
    _emit(doc, 0, write)
    write(b"\n")
    return doc["totals"]


def manifest_bytes(manifest: dict[str, Any]) -> bytes:
    """Readable UTF-8 JSON (the signature covers these exact bytes via
    SHA256SUMS): ``json.dumps(manifest, ensure_ascii=False, indent=1)`` and a
    final newline — the format :func:`encode_manifest` writes without the
    whole document."""
    out = io.BytesIO()
    _emit(manifest, 0, out.write)
    out.write(b"\n")
    return out.getvalue()


def _lazy(obj: Any) -> bool:
    if isinstance(obj, _Records):
        return True
    if isinstance(obj, dict):
        return any(_lazy(v) for v in obj.values())
    if isinstance(obj, list):
        return any(_lazy(v) for v in obj)
    return False


def _emit(obj: Any, level: int, write: Callable[[bytes], Any]) -> None:
    """``json.dumps(obj, ensure_ascii=False, indent=1)`` at depth *level*,
    written piece by piece: a subtree without :class:`_Records` in one call
    (its newlines re-indented: a JSON string never holds a raw newline)."""
    if not _lazy(obj):
        text = json.dumps(obj, ensure_ascii=False, indent=1)
        write((text.replace("\n", "\n" + " " * level) if level else text).encode("utf-8"))
        return
    inner = ("\n" + " " * (level + 1)).encode("ascii")
    if isinstance(obj, dict):
        write(b"{")
        for i, (key, value) in enumerate(obj.items()):
            write((b"," if i else b"") + inner + json.dumps(key, ensure_ascii=False).encode("utf-8") + b": ")
            _emit(value, level + 1, write)
        write(("\n" + " " * level + "}").encode("ascii"))
        return
    items = obj.make() if isinstance(obj, _Records) else obj
    n = 0
    for value in items:
        write((b"," if n else b"[") + inner)
        _emit(value, level + 1, write)
        n += 1
    write(("\n" + " " * level + "]").encode("ascii") if n else b"[]")


def completeness_record(report: Any, *, waived: bool, reason: str | None) -> dict[str, Any]:
    """The ``completeness`` member from a CheckReport: status, counts, every
    finding, and the error findings waived by ``--allow-incomplete``."""
    d = report.to_dict()
    errors = [f for f in d["findings"] if f["level"] == "error"]
    return {
        "status": d["status"], "profile": d["profile"], "checked_at": d["checked_at"], "counts": d["counts"],
        "findings": d["findings"],
        "waived": [{"code": f["code"], "level": f["level"], "message": f["message"], "file": f.get("file")}
                   for f in errors] if waived else [],
        "reason": reason if waived and errors else None,
    }


# ---------------------------------------------------------------------------
# Reading (verify)


class ExpectedFile:
    """One file the manifest lists, as verify holds it for the whole pass
    (×50 000 files: slotted, the digest as 32 bytes; ``marks``: verify's
    flags for this file, instead of a set of every name per check)."""

    __slots__ = ("path", "size", "digest", "role", "sop_instance_uid", "marks")

    def __init__(self, path: str, size: int, sha256: str, role: str, sop_instance_uid: str | None = None):
        self.path, self.size, self.digest, self.role = path, size, bytes.fromhex(sha256), role
        self.sop_instance_uid = sop_instance_uid  # role image, readme, index, dicomdir, document…
        self.marks = 0

    @property
    def sha256(self) -> str:
        return self.digest.hex()

    def __repr__(self) -> str:
        return f"ExpectedFile({self.path!r}, {self.size}, {self.sha256!r}, {self.role!r}, {self.sop_instance_uid!r})"


@dataclass
class ManifestView:
    """What verify needs from a manifest, validated. Only these members are
    kept, not the parsed document: its per-file objects would hold several
    kB a file for the whole pass (pack's plan check and verify alike)."""

    dossier_id: str = ""
    completeness: dict[str, Any] = field(default_factory=dict)
    totals: dict[str, Any] = field(default_factory=dict)
    files: dict[str, ExpectedFile] = field(default_factory=dict)
    # IHE XDM (issue #16): METADATA.XML's path and the patient id it must
    # carry; None for packages made before it.
    xdm_metadata: str | None = None
    xdm_patient_id: str | None = None
    patient_identifier: tuple[str, str] | None = None  # (system, value) of dossier.patient.identifier

    def counts(self) -> dict[str, int]:
        t = self.totals
        return {k: int(t.get(k, 0)) for k in ("documents", "studies", "series", "instances", "files", "bytes")
                if isinstance(t.get(k, 0), int)}


def _bad(what: str) -> IntegrityError:
    return IntegrityError(f"DOSSIER/MANIFEST.JSON: {what}")


_LISTS = ("files", "documents", "studies")
MAX_RECORD_CHARS = 64 * 1024  # one file's record in the manifest (≈ 0.5 kB as dossierkit writes it)


def _descend(path: tuple) -> bool:
    """The manifest's containers walked member by member: the root, its three
    lists, each study and its ``series``, each series and its ``instances``
    (whose elements, one file each, are then read one at a time)."""
    n = len(path)
    if n < 2:
        return n == 0 or path[0] in _LISTS
    return path[0] == "studies" and n <= 5 and (n % 2 == 0 or path[n - 1] == ("series" if n == 3 else "instances"))


def _record_role(path: tuple) -> str | None:
    """``file``, ``document`` or ``image`` for the path of one file's record; else None."""
    if len(path) == 2 and path[0] in ("files", "documents"):
        return "file" if path[0] == "files" else "document"
    if len(path) == 6 and path[0] == "studies" and path[2] == "series" and path[4] == "instances":
        return "image"
    return None


def _where(path: tuple) -> str:
    return "".join(f"[{p + 1}]" if isinstance(p, int) else (f".{p}" if i else p) for i, p in enumerate(path))


def parse_manifest(data: bytes) -> ManifestView:
    """Parse and validate the members verify relies on; IntegrityError names the first problem.

    Read record by record (strictjson.iterparse): each file's record becomes
    its :class:`ExpectedFile` as it is read; the document's tree is never
    built (issue #18; docs/performance.md, "Memory per file")."""
    if len(data) > MAX_MANIFEST_BYTES:
        raise _bad("larger than any dossier needs")
    view = ManifestView()
    top: dict[str, Any] = {}

    def add(entry: Any, role: str, where: str) -> None:
        if not isinstance(entry, dict):
            raise _bad(f"{where}: not an object")
        path, size, digest = entry.get("path"), entry.get("size"), entry.get("sha256")
        if not isinstance(path, str) or not is_safe_entry_path(path) or path.startswith("DOSSIER/"):
            raise _bad(f"{where}: path {path!r} is not a package path")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise _bad(f"{where} ({path}): size missing or negative")
        if not isinstance(digest, str) or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise _bad(f"{where} ({path}): sha256 missing or malformed")
        if path in view.files:
            raise _bad(f"{path} is listed twice")
        uid = entry.get("sop_instance_uid") if role == "image" else None
        if role == "image" and not isinstance(uid, str):
            raise _bad(f"{where} ({path}): sop_instance_uid missing")
        view.files[path] = ExpectedFile(path, size, digest, role, uid)

    events = strictjson.iterparse(data, what=MANIFEST, max_bytes=MAX_MANIFEST_BYTES, descend=_descend,
                                  max_element=MAX_RECORD_CHARS)
    try:
        _read(events, top, add)
    except strictjson.StrictJSONError:
        raise
    except IntegrityError:
        for _ in events:  # invalid JSON anywhere is named first, as by a whole parse
            pass
        raise
    _check_format(top, final=True)
    totals, completeness = top.get("totals"), top.get("completeness")
    view.dossier_id = str(top.get("dossier_id", ""))
    view.totals = totals if isinstance(totals, dict) else {}
    view.completeness = completeness or {}
    xdm = top.get("xdm")
    if xdm is not None:
        if not isinstance(xdm, dict) or not all(isinstance(xdm.get(k), str) for k in ("metadata", "patient_id")):
            raise _bad("xdm: expected metadata and patient_id")
        view.xdm_metadata, view.xdm_patient_id = xdm["metadata"], xdm["patient_id"]
    dossier = top.get("dossier")
    ident = (dossier.get("patient") or {}).get("identifier") if isinstance(dossier, dict) else None
    if isinstance(ident, dict) and isinstance(ident.get("value"), str):
        view.patient_identifier = (str(ident.get("system", "IPP")), ident["value"])
    if not isinstance(completeness, dict):
        raise _bad("completeness missing")
    return view


def _read(events: Any, top: dict[str, Any], add: Any) -> None:
    """The manifest's members from strictjson.iterparse *events*: *top* gets
    the top-level members but the three lists, *add* each file's record."""
    for at, value in events:
        n = len(at)
        if n == 0:
            if value is not strictjson.OBJECT:
                raise _bad("not a dossierkit manifest")
        elif n == 1 and at[0] in _LISTS:
            if value is not strictjson.ARRAY:
                raise _bad(f"{at[0]}: not a list")
        elif n == 1:
            top[at[0]] = value
            if at[0] in ("format", "schema"):
                _check_format(top)
        elif (role := _record_role(at)) is not None:
            if role == "file":
                role = str(value.get("role", "file")) if isinstance(value, dict) else "file"
            add(value, role, _where(at))
        elif at[0] == "studies" and n in (2, 4) and value is not strictjson.OBJECT:
            raise _bad(f"{_where(at)}: not an object")
        elif at[0] == "studies" and n in (3, 5) and at[-1] in ("series", "instances") \
                and value is not strictjson.ARRAY:
            raise _bad(f"{_where(at)}: not a list")


def _check_format(top: dict[str, Any], final: bool = False) -> None:
    """``format`` and ``schema``, as soon as both are read (dossierkit writes
    them first) or at the end: a newer schema is named before anything else."""
    if not final and not ("format" in top and "schema" in top):
        return
    if top.get("format") != MANIFEST_FORMAT:
        raise _bad("not a dossierkit manifest")
    schema = top.get("schema")
    if not isinstance(schema, int) or schema < 1:
        raise _bad("no schema version")
    if schema > MANIFEST_SCHEMA:
        raise IntegrityError(f"DOSSIER/MANIFEST.JSON: schema {schema} is newer than this dossierkit reads "
                             f"({MANIFEST_SCHEMA})", hint="upgrade dossierkit")


def manifest_outline(data: bytes) -> dict[str, Any]:
    """The manifest as a dict without its files' records (``instances`` lists
    left empty; each series keeps its ``count``): what a receipt or a reply
    reads of it, with the strictness of the full parse but without a tree of
    every file (issue #18). Raises IntegrityError like :func:`parse_manifest`."""
    outline = strictjson.loads_outline(data, what=MANIFEST, max_bytes=MAX_MANIFEST_BYTES, descend=_descend,
                                       keep=lambda at: _record_role(at) != "image",
                                       max_element=MAX_RECORD_CHARS)
    if not isinstance(outline, dict):
        raise _bad("not a dossierkit manifest")
    return outline


def completeness_problems(c: dict[str, Any]) -> list[str]:
    """Inconsistencies in a recorded completeness: an incomplete dossier must
    carry its waived error findings and a reason; a complete one none."""
    problems = []
    findings = c.get("findings") if isinstance(c.get("findings"), list) else []
    errors = sorted(str(f.get("code")) for f in findings if isinstance(f, dict) and f.get("level") == "error")
    waived = sorted(str(f.get("code")) for f in (c.get("waived") or []) if isinstance(f, dict))
    status = c.get("status")
    if status == "complete":
        if errors:
            problems.append(f"recorded as complete but lists error findings ({', '.join(errors)})")
    elif status == "incomplete":
        if not errors:
            problems.append("recorded as incomplete without any error finding")
        if waived != errors:
            problems.append("the waived findings differ from the error findings")
        if not (isinstance(c.get("reason"), str) and c["reason"].strip()):
            problems.append("packed incomplete without a recorded reason")
    else:
        problems.append(f"unknown completeness status {status!r}")
    return problems
