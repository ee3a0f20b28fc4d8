"""``export-xdm``: the dossier's documents as an IHE XDM zip for an MSSanté message.

The zip is what ITI-32 puts on XDM media and what MSSanté messages attach as
``IHE_XDM.ZIP``: ``README.TXT`` and ``INDEX.HTM`` at the root,
``IHE_XDM/SUBSET01/METADATA.XML`` and the PDFs beside it. Documents only —
images travel by DICOMDIR or PACS. A **plain** zip (deflated, no
encryption), as the profile defines it: MSSanté protects the transport. It
therefore holds the patient's identity in clear (METADATA.XML): it is made
for the message and nothing else (docs/security.md).

Written atomically through :func:`dossierkit.fsutil.atomic_writer`, and read
back before it appears: the zip's CRCs, then METADATA.XML against the
entries (each URI present, SHA-1 and size equal, patient id the dossier's).
Each PDF is re-hashed (SHA-256) as it is copied; a workspace file changed
since ``add`` stops the export.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import unicodedata
import zipfile
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from string import Template
from typing import Any

from dossierkit import __version__, localtime
from dossierkit.errors import IntegrityError, UsageError
from dossierkit.fsutil import atomic_writer, check_output_path, iter_chunks
from dossierkit.model import DOCUMENT_KINDS, Dossier
from dossierkit.package.layout import INDEX, README, plan_layout
from dossierkit.package.xdm import (METADATA, SUBSET, XdmDocument, XdmSettings, build_metadata, load_settings,
                                    metadata_problems, patient_id, subset_documents)
from dossierkit.progress import NULL_PROGRESS, Progress
from dossierkit.resources import templates_dir
from dossierkit.workspace import Workspace, utc_now

SUBJECT_PREFIX = "XDM/1.0/DDM+"
_LABEL_MAX = 40
# A MIME attachment is base64: 4 bytes for 3, plus CRLF every 76 characters;
# headers and body are allowed this much on top.
_MESSAGE_OVERHEAD = 16 * 1024


@dataclass
class XdmExport:
    path: Path
    size: int
    documents: int
    subject: str
    patient_id_kind: str  # INS-NIR, INS-NIA, IPP
    message_bytes: int  # estimated size of the message carrying the zip
    max_message_bytes: int
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "size": self.size, "documents": self.documents, "subject": self.subject,
                "patient_id_kind": self.patient_id_kind, "estimated_message_bytes": self.message_bytes,
                "max_message_bytes": self.max_message_bytes, "warnings": list(self.warnings)}


def _ascii(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def message_subject(dossier: Dossier, labels: list[str]) -> str:
    """The subject line the ANS expects for a message carrying an XDM
    archive (Référentiel socle MSSanté #2, §3.1.3, ECO.2.1.3):
    ``XDM/1.0/DDM+<label> <BIRTH NAME> <first given name> <DD/MM/YYYY>``,
    the label being the document type (≤ 40 characters) for one document,
    ``N documents`` for several; name and given name upper/lower case as
    given, without accents."""
    p = dossier.patient
    label = labels[0][:_LABEL_MAX].rstrip() if len(labels) == 1 else f"{len(labels)} documents"
    name = _ascii(p.birth_name or p.family_name).upper()
    given = _ascii(p.given_names[0]) if p.given_names else ""
    return f"{SUBJECT_PREFIX}{_ascii(label)} {name} {given} {p.birth_date:%d/%m/%Y}".replace("  ", " ")


def message_size(zip_bytes: int) -> int:
    encoded = (zip_bytes + 2) // 3 * 4
    return encoded + encoded // 76 * 2 + _MESSAGE_OVERHEAD


def _index_html(dossier_id: str, created: str, docs: list[XdmDocument]) -> bytes:
    rows = []
    for d in docs:
        fr, en = DOCUMENT_KINDS.get(d.record.kind, (None, d.record.kind, d.record.kind))[1:]
        rows.append(f'<tr><td>{escape(fr)}<br><span class="en">{escape(en)}</span></td>'
                    f'<td>{escape(d.record.date or "—")}</td><td>{escape(d.record.title or "—")}</td>'
                    f'<td><a href="{SUBSET}/{escape(d.uri)}">{escape(d.uri)}</a></td></tr>')
    table = ('<table><tr><th>Type <span class="en">/ Kind</span></th><th>Date</th>'
             '<th>Titre <span class="en">/ Title</span></th><th>Fichier <span class="en">/ File</span></th></tr>\n'
             + "\n".join(rows) + "\n</table>")
    created_fr, created_en = localtime.local(created)  # the UTC stamp, read in local time (zone named)
    text = Template((templates_dir() / "xdm" / "INDEX.HTM").read_text(encoding="utf-8")).substitute(
        dossier_id=escape(dossier_id), created_fr=escape(created_fr), created_en=escape(created_en), version=escape(__version__), documents=table)
    return text.encode("utf-8")


def _readme(dossier_id: str, created: str, count: int) -> bytes:
    created_fr, created_en = localtime.local(created)
    text = Template((templates_dir() / "xdm" / "README.TXT").read_text(encoding="utf-8")).substitute(
        dossier_id=dossier_id, created_fr=created_fr, created_en=created_en, version=__version__, document_count=count)
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")


def _read_back(tmp: Path, expected_patient: str, label: str | os.PathLike) -> None:
    """The written zip opens, every CRC holds, METADATA.XML matches the entries."""
    with zipfile.ZipFile(tmp) as zf:
        bad = zf.testzip()
        if bad is not None:
            raise IntegrityError(f"read-back: entry {bad} of the written zip is corrupt", path=label)
        prefix = SUBSET + "/"
        files: dict[str, tuple[int, str | None]] = {}
        for info in zf.infolist():
            if info.filename.startswith(prefix) and info.filename != METADATA:
                h = hashlib.sha1()
                with zf.open(info) as fh:
                    for chunk in iter_chunks(fh):
                        h.update(chunk)
                files[info.filename[len(prefix):]] = (info.file_size, h.hexdigest())
        problems = metadata_problems(zf.read(METADATA), files, expected_patient=expected_patient)
    if problems:
        raise IntegrityError(f"read-back of the written zip: {problems[0]}", path=label,
                             hint="this is a dossierkit bug; nothing was written")


def export_xdm(ws: Workspace | str | os.PathLike, out: str | os.PathLike, *, force: bool = False,
               settings: XdmSettings | None = None, created: str | None = None,
               progress: Progress = NULL_PROGRESS) -> XdmExport:
    """Write the IHE XDM zip of *ws*'s documents to *out* (module docstring).
    *ws*: a Workspace or its folder (opened first thing).

    UsageError when the dossier has no document or no patient id a
    receiving system can match (an INS, or an IPP with the establishment's
    OID); OutputError when *out* exists (unless *force*) or cannot be
    written; IntegrityError when a document changed since it was added."""
    ws = ws if isinstance(ws, Workspace) else Workspace(ws)
    check_output_path(out, inside=ws.own_files())  # --force must not overwrite dossier.toml or a workspace file
    dossier = ws.dossier
    settings = settings or load_settings()
    created = created or utc_now()
    layout = plan_layout(ws.documents(), [])
    if not layout.documents:
        raise UsageError("the dossier has no document to export", path=ws.root,
                         hint="add the PDFs first (dossierkit add)")
    pid = patient_id(dossier, settings)
    if pid.kind == "local":
        raise UsageError("the patient has no INS and no IPP with an establishment OID: the receiving software "
                         "could not file the documents", path=ws.root,
                         hint="record the INS in dossier.toml ([patient.identifier] system = \"INS-NIR\"), or the "
                              "establishment's OID in $DOSSIERKIT_HOME/xdm.toml ([establishment] oid = \"…\")")
    docs = subset_documents(ws.root, [(d.path, d.record) for d in layout.documents])
    metadata = build_metadata(dossier=dossier, documents=docs, settings=settings, submitted=created)
    stamp = dt.datetime.fromisoformat(created.replace("Z", "+00:00")).timetuple()[:6]
    total = sum(d.size for d in docs)
    progress.start("export-xdm", total=total, unit="B")

    def add(zf: zipfile.ZipFile, name: str, data: bytes) -> None:
        zf.writestr(zipfile.ZipInfo(name, stamp), data, compress_type=zipfile.ZIP_DEFLATED)

    with atomic_writer(out, overwrite=force, before_rename=lambda tmp: _read_back(tmp, pid.cx, out)) as fh:
        with zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            add(zf, README, _readme(dossier.id, created, len(docs)))
            add(zf, INDEX, _index_html(dossier.id, created, docs))
            add(zf, METADATA, metadata)
            for d in docs:
                info = zipfile.ZipInfo(f"{SUBSET}/{d.uri}", stamp)
                info.compress_type = zipfile.ZIP_DEFLATED
                sha = hashlib.sha256()
                with open(ws.path(d.record.path), "rb") as src, zf.open(info, "w") as dst:
                    for chunk in iter_chunks(src):
                        sha.update(chunk)
                        dst.write(chunk)
                        progress.advance(len(chunk))
                if sha.hexdigest() != d.record.sha256:
                    raise IntegrityError("changed since it was added (SHA-256 differs from the index)",
                                         path=d.record.path, hint="re-add the document")
    progress.finish()
    size = Path(out).stat().st_size
    labels = [settings.type_code(d.record.kind).display for d in docs]
    result = XdmExport(Path(out), size, len(docs), message_subject(dossier, labels), pid.kind,
                       message_size(size), settings.max_message_bytes)
    if result.message_bytes > settings.max_message_bytes:
        result.warnings.append(
            f"the message would be about {result.message_bytes / 1048576:.1f} MB once encoded, above the "
            f"{settings.max_message_bytes / 1048576:.0f} MB we assume MSSanté accepts: send the documents in "
            "several messages, or check your operator's limit ([mssante] max_message_mb in xdm.toml)")
    if pid.kind == "IPP":
        result.warnings.append("no INS: the receiving software will ask to match the patient by hand "
                               "(the IPP means nothing outside your establishment)")
    return result
