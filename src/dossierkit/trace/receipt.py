"""Transmission receipts and recipient acknowledgements (DESIGN §5).

A receipt is the sender's signed statement that package X (by SHA-256 of
the exact bytes handed over) was given to someone, by some channel, with
this content; an acknowledgement (ack) is the recipient's signed statement
that package X arrived and verified intact (or not). Both are JSON documents
signed with :func:`dossierkit.trust.signing.sign_document` and written as their
canonical bytes, so a one-character change anywhere in the file fails
:func:`verify_file`. Schemas: docs/traceability.md.

Data flow: the content of a receipt comes from a :class:`DossierSummary`
(built from the package manifest — the truth of what was packed — by
:func:`summary_from_manifest`, or from a workspace by
:func:`summary_from_workspace`) and the :class:`PackageFacts` of the file.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import os
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dossierkit.check.for_recipient import recipient_text
from dossierkit.errors import ExitCode, InputError, IntegrityError, OutputError, UsageError, package_not_found
from dossierkit import strictjson
from dossierkit.fsutil import atomic_writer, iter_chunks
from dossierkit.strictjson import StrictJSONError
from dossierkit.identity import name_tokens
from dossierkit.model import REPLY_PURPOSE, RESTRICTIONS, Dossier, ImageInstance, group_studies
from dossierkit.progress import NULL_PROGRESS, Progress
from dossierkit.trace import journal
from dossierkit.trace.channels import check_channel
from dossierkit.trust.signing import canonical_json, sign_document, verify_document
from dossierkit.workspace import utc_now

RECEIPT_TYPE = "dossierkit-receipt"
ACK_TYPE = "dossierkit-ack"
FORMAT_VERSION = 1
# A receipt lists documents and studies; far below this.
MAX_DOCUMENT_BYTES = 16 * 1024 * 1024
HASH_PREFIX = 16  # hex digits of a document's SHA-256 shown on the receipt (64 bits)
# What a reply's receipt, ack and journal entries say of the dossier it answers.
REPLY_LINK_KEYS = ("dossier_id", "package_sha256", "receipt_id", "ack_id")

# Which dossier person a restriction protects, and the keyword that names
# that person in --to/--copy.
RESTRICTED_ROLES = {
    "no-copy-to-initial-physician": "initial-physician",
    "no-copy-to-treating-gp": "treating-gp",
}
ROLE_FIELDS = {"initial-physician": "initial_physician", "treating-gp": "treating_gp",
               "second-opinion": "second_opinion", "sender": "sender"}
ROLE_LABELS = {"initial-physician": ("médecin initial", "initial physician"),
               "treating-gp": ("médecin traitant", "treating GP"),
               "second-opinion": ("second avis", "second opinion"),
               "patient": ("patient(e)", "patient")}
# A reply goes to the initial physician and the treating GP, with a copy to
# the patient (INCa step 6), minus anyone a restriction protects.
REPLY_RECIPIENT_ROLES = ("initial-physician", "treating-gp")
REPLY_COPY_ROLES = ("patient",)
_EMAIL_IN_TEXT = re.compile(r"[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+")
_TITLES = {"DR", "PR", "DOCTEUR", "PROFESSEUR", "MME", "MADAME", "M", "MR", "MONSIEUR", "MRS", "MS", "MISS", "MLLE",
           "PROF", "DOCTOR"}


# ---------------------------------------------------------------------------
# Inputs


@dataclass
class PackageFacts:
    """What the bytes of the package file say: name, SHA-256, size."""

    file_name: str
    sha256: str
    size: int

    def to_dict(self) -> dict[str, Any]:
        return {"file_name": self.file_name, "sha256": self.sha256, "size": self.size}


def package_facts(path: str | os.PathLike, progress: Progress = NULL_PROGRESS) -> PackageFacts:
    """Hash the package file (streamed) exactly as it will be handed over."""
    path = Path(path)
    h = hashlib.sha256()
    try:
        size = path.stat().st_size
        fh = open(path, "rb")
    except FileNotFoundError as exc:
        raise package_not_found(path) from exc
    except OSError as exc:
        raise InputError(f"cannot read the package ({exc.strerror})", path=path) from exc
    progress.start("hashing the package", total=size)
    with fh:
        for block in iter_chunks(fh):
            h.update(block)
            progress.advance(len(block))
    progress.finish()
    return PackageFacts(path.name, h.hexdigest(), size)


@dataclass
class DossierSummary:
    """What a receipt says about the content: ids, people, documents, studies,
    completeness. Built from a manifest or a workspace."""

    dossier_id: str
    manifest_sha256: str | None
    patient: dict[str, Any]  # family_name, given_names, birth_date — nothing more
    people: dict[str, dict[str, Any]]  # sender, initial_physician, treating_gp, second_opinion
    restrictions: list[str]
    documents: list[dict[str, Any]]  # kind, title, date, sha256
    studies: list[dict[str, Any]]  # date, modalities, series, count
    completeness: dict[str, Any]  # status, profile, waived[], reason
    container: str | None = None  # "password" | "recipients"
    manifest_signer: str | None = None
    content_source: str = "manifest"  # or "workspace" (docs/traceability.md)
    purpose: str = "second-opinion"  # or "second-opinion-reply"
    reply_to: dict[str, Any] | None = None  # a reply: the dossier it answers (ids and hashes)
    restriction_records: list[dict[str, Any]] = field(default_factory=list)  # code, recorded_by, recorded_at
    # Persons a restriction protects, known to recognise them, never written
    # anywhere (a reply workspace keeps them out of dossier.toml).
    protected: dict[str, dict[str, Any]] = field(default_factory=dict)


def _minimal_patient(p: dict[str, Any]) -> dict[str, Any]:
    given = p.get("given_names") or []
    if isinstance(given, str):
        given = given.split()
    return {"family_name": str(p.get("family_name", "")), "given_names": [str(g) for g in given],
            "birth_date": str(p.get("birth_date", ""))}


def _doc_entry(d: dict[str, Any]) -> dict[str, Any]:
    return {"kind": d.get("kind") or "other", "title": d.get("title") or "", "date": d.get("date") or "",
            "sha256": d.get("sha256") or ""}


def _waived_words(finding: dict[str, Any]) -> str:
    """A waived finding in the receiving reader's words (French / English),
    never check's own message: that one speaks to the sender and may quote
    a source's file or folder names, which can name the patient or an ID."""
    fr, en = recipient_text(finding)
    return f"{fr} / {en}"


def _completeness(c: dict[str, Any] | None) -> dict[str, Any]:
    c = c or {}
    waived = [{"code": str(f.get("code", "")), "level": str(f.get("level", "error")),
               "message": _waived_words(f)} for f in c.get("waived") or c.get("waived_findings") or []]
    status = c.get("status") or ("complete" if c.get("complete") else "incomplete")
    return {"status": str(status), "profile": str(c.get("profile") or ""), "waived": waived,
            "reason": c.get("reason") or c.get("waiver_reason") or None}


def _studies_from_instances(instances) -> list[dict[str, Any]]:
    return [{"date": _iso_da(st.date), "modalities": st.modalities, "series": len(st.series),
             "count": st.instance_count} for st in group_studies(instances)]


def _iso_da(value: str | None) -> str:
    """DICOM DA (YYYYMMDD) to ISO; anything else as found."""
    if value and len(value) == 8 and value.isdigit():
        return f"{value[:4]}-{value[4:6]}-{value[6:]}"
    return value or ""


def summary_from_manifest(manifest: dict[str, Any], manifest_sha256: str | None) -> DossierSummary:
    """Adapt a package manifest (docs/package-format.md) to a summary.

    Reads ``dossier`` (the dossier.toml contents), ``documents``, ``studies``
    (or flat ``images``) and ``completeness``; unknown members are ignored.
    """
    if not isinstance(manifest, dict):
        raise InputError("the package manifest is not a JSON object")
    dossier = manifest.get("dossier") or {}
    patient = dossier.get("patient") or manifest.get("patient") or {}
    people = {k: dict(dossier[k]) for k in ("sender", "initial_physician", "treating_gp", "second_opinion")
              if isinstance(dossier.get(k), dict)}
    studies = []
    for st in manifest.get("studies") or []:
        series = st.get("series") or []
        count = st.get("count") if isinstance(st.get("count"), int) else \
            sum(int(s.get("count") or len(s.get("instances") or [])) for s in series)
        mods = st.get("modalities") or sorted({s.get("modality") for s in series if s.get("modality")})
        studies.append({"date": _iso_da(st.get("date") or st.get("study_date")), "modalities": list(mods),
                        "series": len(series) if isinstance(series, list) else int(series), "count": int(count)})
    if not studies and manifest.get("images"):
        studies = _studies_from_instances([ImageInstance.from_dict(i) for i in manifest["images"]])
    return DossierSummary(
        dossier_id=str(dossier.get("id") or manifest.get("dossier_id") or ""),
        manifest_sha256=manifest_sha256,
        patient=_minimal_patient(patient),
        people=people,
        restrictions=[str(r) for r in dossier.get("restrictions") or manifest.get("restrictions") or []],
        documents=[_doc_entry(d) for d in manifest.get("documents") or []],
        studies=studies,
        completeness=_completeness(manifest.get("completeness")),
        container=manifest.get("container"),
        purpose=str(dossier.get("purpose") or "second-opinion"),
        reply_to=_ids_only(dossier.get("reply_to")),
        restriction_records=[r for r in dossier.get("restriction_records") or [] if isinstance(r, dict)],
    )


def _ids_only(reply_to: Any) -> dict[str, Any] | None:
    if not isinstance(reply_to, dict):
        return None
    return {k: str(v) for k, v in reply_to.items() if k in REPLY_LINK_KEYS and v}


def summary_from_workspace(ws, *, manifest_sha256: str | None = None,
                           completeness: dict[str, Any] | None = None, contents: bool = True) -> DossierSummary:
    """Summary of a workspace as it is now (the package's manifest is the
    better source: it is what was actually packed). *contents*: False
    leaves the documents and studies out (the index is not read)."""
    d: Dossier = ws.dossier
    dd = d.to_dict()
    return DossierSummary(
        dossier_id=d.id, manifest_sha256=manifest_sha256, patient=_minimal_patient(dd["patient"]),
        people={k: dd[k] for k in ("sender", "initial_physician", "treating_gp", "second_opinion") if k in dd},
        restrictions=list(d.restrictions), documents=[_doc_entry(r.to_dict()) for r in ws.documents()] if contents else [],
        studies=_studies_from_instances(ws.images()) if contents else [], completeness=_completeness(completeness),
        purpose=d.purpose, reply_to=_ids_only(dd.get("reply_to")),
        restriction_records=dd.get("restriction_records", []), protected=ws.withheld())


def check_addressees(ws, to: list[str] | None, copies: list[str] | None) -> None:
    """Before a pack: the ``--to``/``--copy`` of its receipt resolve against
    *ws*'s dossier (a role it names, no empty value, no protected recipient),
    so a receipt refused for them does not leave a package behind. Reads the
    dossier only, not the documents' or images' index."""
    addressees(summary_from_workspace(ws, contents=False), to, copies)


# ---------------------------------------------------------------------------
# Addressees and restrictions


def name_tokens_ordered(text: str | None) -> list[str]:
    return [t for t in name_tokens(text) if t not in _TITLES]


def _tokens(text: str | None) -> set[str]:
    return set(name_tokens_ordered(text))


def _same_person(entry: dict[str, Any], person: dict[str, Any] | None) -> bool:
    """Conservative match: a copy that might be the protected person is withheld."""
    if not person:
        return False
    if entry.get("role") and entry.get("role") == person.get("_role"):
        return True
    if entry.get("email") and person.get("email") and entry["email"].lower() == person["email"].lower():
        return True
    a, b = _tokens(entry.get("name")), _tokens(person.get("name"))
    if not (a and b):
        return False
    # Whole name either way, or the name without its first (given) name:
    # "Dr Moreau, clinique" is "Jean Moreau".
    rest = set(name_tokens_ordered(person.get("name"))[1:])
    return b <= a or a <= b or bool(rest) and rest <= a


def _resolve(spec: str, people: dict[str, dict[str, Any]], patient: dict[str, Any] | None = None) -> dict[str, Any]:
    """``--to``/``--copy`` value: a role keyword (``initial-physician``,
    ``treating-gp``, ``second-opinion``, ``patient``) or free text naming the addressee."""
    patient = patient or {}
    key = spec.strip()
    if key == "patient":
        return {"name": " ".join([*patient.get("given_names", []), patient.get("family_name", "")]).strip(),
                "role": "patient"}
    if key in ROLE_FIELDS and key != "sender":
        person = people.get(ROLE_FIELDS[key])
        if not person:
            raise UsageError(f"the dossier names no {ROLE_LABELS[key][1]} — write the addressee's name instead "
                             f"of {key!r}, or add them to dossier.toml")
        return {**{k: v for k, v in person.items() if k in ("name", "role", "establishment", "email")},
                "role": key}
    if not key:
        raise UsageError("an empty addressee was given to --to/--copy")
    email = _EMAIL_IN_TEXT.search(key)
    return {"name": key, **({"email": email.group(0)} if email else {})}


@dataclass
class Addressees:
    recipients: list[dict[str, Any]]
    copies: list[dict[str, Any]]
    withheld: list[dict[str, Any]] = field(default_factory=list)  # {"restriction", "count"}: never a name


def addressees(summary: DossierSummary, to: list[str] | None, copies: list[str] | None) -> Addressees:
    """Recipients (default: the dossier's second-opinion practitioner) and
    copies (default: the initial physician and treating GP named in the
    dossier), minus anyone a restriction protects. A recipient protected by
    a restriction is a usage error; a protected copy is withheld and counted,
    without its name."""
    people = {k: {**v, "_role": r} for r, k in ROLE_FIELDS.items()
              if (v := summary.people.get(k) or summary.protected.get(k))}
    reply = summary.purpose == REPLY_PURPOSE
    restricted = {RESTRICTED_ROLES[r]: r for r in summary.restrictions if r in RESTRICTED_ROLES}
    # A reply's addressees are derived: a protected person is left out of
    # them (and counted), whatever list is given.
    derived_out = {restricted[role]: 1 for role in REPLY_RECIPIENT_ROLES if reply and role in restricted}
    for spec in to or []:
        if spec.strip() in restricted:
            raise UsageError(f"a recipient is the {ROLE_LABELS[spec.strip()][1]}, but the patient's restriction "
                             f"{restricted[spec.strip()]!r} forbids sending them the "
                             f"{'reply' if reply else 'dossier'}")
    if to:
        rec = [_resolve(s, summary.people, summary.patient) for s in to]
    elif reply:
        rec = [_resolve(role, summary.people) for role in REPLY_RECIPIENT_ROLES
               if role not in restricted and ROLE_FIELDS[role] in summary.people]
        if not rec:
            rec = [_resolve("patient", summary.people, summary.patient)]
    elif "second_opinion" in summary.people:
        rec = [_resolve("second-opinion", summary.people)]
    else:
        raise UsageError("no recipient: pass --to \"name, establishment\" (the dossier names no second-opinion "
                         "practitioner)")
    if copies is None and reply:
        cop = [_resolve(r, summary.people, summary.patient) for r in REPLY_COPY_ROLES
               if not any(p.get("role") == r for p in rec)]
    elif copies is None:
        cop = [_resolve(r, summary.people) for r in ("initial-physician", "treating-gp")
               if ROLE_FIELDS[r] in summary.people]
    else:
        cop = [_resolve(s, summary.people, summary.patient) for s in copies if s.strip().lower() != "none"]
    withheld = []
    for restriction in summary.restrictions:
        role = RESTRICTED_ROLES.get(restriction)
        if role is None:
            continue
        protected = people.get(ROLE_FIELDS[role], {"_role": role})
        if any(_same_person(r, protected) for r in rec):
            raise UsageError(f"a recipient is the {ROLE_LABELS[role][1]}, but the patient's restriction "
                             f"{restriction!r} forbids sending them the {'reply' if reply else 'dossier'}")
        kept = [c for c in cop if not _same_person(c, protected)]
        count = len(cop) - len(kept) + derived_out.get(restriction, 0)
        if count:
            withheld.append({"restriction": restriction, "count": count})
        cop = kept
    return Addressees(rec, cop, withheld)


# ---------------------------------------------------------------------------
# Building, signing, writing


def new_id(prefix: str) -> str:
    """Unique, PHI-free id, e.g. ``RC-20261123-7F3A9C2E41B0``."""
    return f"{prefix}-{dt.datetime.now(dt.timezone.utc):%Y%m%d}-{secrets.token_hex(6).upper()}"


def build_receipt(summary: DossierSummary, package: PackageFacts, *, channel: str, to: list[str] | None = None,
                  copies: list[str] | None = None, journal_head: journal.Head = journal.EMPTY_HEAD,
                  receipt_id: str | None = None, issued_at: str | None = None) -> dict[str, Any]:
    """The unsigned receipt document (schema in docs/traceability.md)."""
    check_channel(channel)
    who = addressees(summary, to, copies)
    sender = summary.people.get("sender")
    return {
        "type": RECEIPT_TYPE,
        "version": FORMAT_VERSION,
        "receipt_id": receipt_id or new_id("RC"),
        "issued_at": issued_at or utc_now(),
        "channel": channel,
        "package": package.to_dict(),
        "manifest_sha256": summary.manifest_sha256,
        "content_source": summary.content_source,
        "container": summary.container,
        "dossier_id": summary.dossier_id,
        "patient": summary.patient,
        "sender": _public_person(sender) if sender else None,
        "recipients": [_public_person(p) for p in who.recipients],
        "copies": [_public_person(p) for p in who.copies],
        "withheld_copies": who.withheld,
        "restrictions": [_restriction_entry(r, summary) for r in summary.restrictions],
        "documents": [{"kind": d["kind"], "title": d["title"], "date": d["date"],
                       "sha256_prefix": d["sha256"][:HASH_PREFIX]} for d in summary.documents],
        "studies": summary.studies,
        "completeness": summary.completeness,
        "journal": journal_head.to_dict(),
        **({"purpose": summary.purpose, "reply_to": summary.reply_to} if summary.reply_to else {}),
    }


def _restriction_entry(code: str, summary: DossierSummary) -> dict[str, Any]:
    """``{code, text}``, and who recorded it and when for a reply (INCa step 6)."""
    entry = {"code": code, "text": RESTRICTIONS.get(code, code)}
    rec = next((r for r in summary.restriction_records if r.get("code") == code), None)
    if rec:
        entry.update({k: str(rec[k]) for k in ("recorded_by", "recorded_at", "source") if rec.get(k)})
    return entry


def reply_link_event(reply_to: dict[str, Any] | None) -> dict[str, Any]:
    """The journal keys that link an entry to the dossier a reply answers:
    ``reply_to_dossier_id``, ``reply_to_package_sha256``,
    ``reply_to_receipt_id``, ``reply_to_ack_id`` (ids and hashes only)."""
    return {f"reply_to_{k}": v for k, v in (reply_to or {}).items() if k in REPLY_LINK_KEYS and v}


def _public_person(p: dict[str, Any]) -> dict[str, Any]:
    return {k: p[k] for k in ("name", "role", "establishment", "email") if p.get(k)}


@dataclass
class Issued:
    """A signed receipt or ack and where it was written."""

    document: dict[str, Any]
    json_path: Path
    pdf_path: Path | None
    journal_entry: dict[str, Any] | None
    journal_path: Path | None = None

    @property
    def id(self) -> str:
        return self.document.get("receipt_id") or self.document["ack_id"]

    @property
    def exit_code(self) -> ExitCode:
        """The exit status of the command that issued it: a receipt 0; an ack
        what it records of the package — 3 altered, 6 intact from an unknown
        sender, 1 intact but incomplete, 0 intact and complete (or unknown)."""
        verification = self.document.get("verification")
        if verification is None:
            return ExitCode.OK
        return (ExitCode.INTEGRITY if not verification["intact"] else
                ExitCode.UNTRUSTED if not (verification.get("sender") or {}).get("known") else
                ExitCode.OK if verification["complete"] is not False else ExitCode.INCOMPLETE)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "type": self.document["type"], "json": str(self.json_path),
                "pdf": str(self.pdf_path) if self.pdf_path else None,
                "signer_fingerprint": self.document["signature"]["fingerprint"],
                "package_sha256": self.document["package"]["sha256"],
                "journal_seq": self.journal_entry["seq"] if self.journal_entry else None,
                "journal": str(self.journal_path) if self.journal_entry and self.journal_path else None}


def output_paths(out: str | os.PathLike, doc_id: str) -> tuple[Path, Path]:
    """``-o x.json`` → x.json + x.pdf; ``-o FOLDER`` → FOLDER/<id>.json + .pdf
    (neutral names: the id holds no patient data)."""
    out = Path(out)
    if out.suffix.lower() == ".json":
        return out, out.with_suffix(".pdf")
    return out / f"{doc_id}.json", out / f"{doc_id}.pdf"


def check_receipt_out(out: str | os.PathLike, *, doc_id: str | None = None, pdf: bool = True,
                      overwrite: bool = False, option: str = "-o") -> None:
    """Before anything is written or journaled: *out* can take a receipt or
    ack. ``-o x.json``: x.json (and x.pdf) must be free; ``-o FOLDER``: a
    folder, or nothing yet (it is created), and with *doc_id* its
    ``<id>.json`` / ``.pdf`` free (before a pack the id is not known: a new
    one cannot collide). Raises OutputError naming the path in the way, and
    *option* — the one that named *out* (``pack --receipt``) — in its hint."""
    out = Path(out)
    if out.suffix.lower() == ".json":
        paths, folder = (out, out.with_suffix(".pdf")), out.parent
    else:
        if (out.exists() or out.is_symlink()) and not out.is_dir():
            raise OutputError("is a file, not a folder", path=out,
                              hint="give a folder for the receipt, or a file name ending in .json")
        paths, folder = (output_paths(out, doc_id) if doc_id else ()), out
    for p in paths[:2 if pdf else 1]:
        if not overwrite and (p.exists() or p.is_symlink()):
            raise OutputError("already exists", path=p,
                              hint=f"receipts and acknowledgements are never overwritten: choose another {option}")
    for above in (folder, *folder.parents):  # the nearest that exists must be a folder we may write in
        if above.exists():
            if not above.is_dir():
                raise OutputError("is a file, not a folder", path=above, hint=f"choose another {option}")
            if not os.access(above, os.W_OK | os.X_OK):
                raise OutputError("cannot write in this folder (permission denied)", path=above,
                                  hint=f"choose another {option}")
            break


def document_bytes(doc: dict[str, Any]) -> bytes:
    """The file form of a signed receipt/ack: its canonical JSON and a newline."""
    return canonical_json(doc) + b"\n"


def _write(doc: dict[str, Any], out: str | os.PathLike, *, pdf: bool, overwrite: bool,
           journal_entry: dict[str, Any] | None = None) -> tuple[Path, Path | None]:
    json_path, pdf_path = output_paths(out, doc.get("receipt_id") or doc["ack_id"])
    for p in (json_path, pdf_path) if pdf else (json_path,):
        if p.exists() and not overwrite:
            raise OutputError("already exists", path=p, hint="receipts are never overwritten: choose another -o")
    if pdf:
        # Imported here, not at the top: fpdf, fontTools and segno would add to
        # every command's start-up (docs/performance.md, "Imports kept out of
        # start-up"), and only the commands that issue a receipt or ack draw a PDF.
        from dossierkit.trace.receipt_pdf import render

        with atomic_writer(pdf_path) as fh:
            render(doc, fh, journal_entry=journal_entry)
    with atomic_writer(json_path) as fh:
        fh.write(document_bytes(doc))
    return json_path, pdf_path if pdf else None


def _journal_and_write(doc: dict[str, Any], key, out, *, journal_path, event: dict[str, Any], pdf: bool,
                       overwrite: bool) -> Issued:
    # Checked first: a document that cannot be written gets no journal entry.
    check_receipt_out(out, doc_id=doc.get("receipt_id") or doc["ack_id"], pdf=pdf, overwrite=overwrite)
    signed = sign_document(doc, key)
    entry = None
    if journal_path is not None:
        entry = journal.append(journal_path, {**event, "document_sha256": hashlib.sha256(
            document_bytes(signed)).hexdigest(), "signer": signed["signature"]["fingerprint"]})
    json_path, pdf_path = _write(signed, out, pdf=pdf, overwrite=overwrite, journal_entry=entry)
    return Issued(signed, json_path, pdf_path, entry, Path(journal_path) if journal_path is not None else None)


def issue_receipt(summary: DossierSummary, package: str | os.PathLike | PackageFacts, *, channel: str, key,
                  out: str | os.PathLike, to: list[str] | None = None, copies: list[str] | None = None,
                  journal_path: str | os.PathLike | None = None, pdf: bool = True, overwrite: bool = False,
                  progress: Progress = NULL_PROGRESS) -> Issued:
    """Build, sign (Ed25519 *key*), journal and write a receipt (JSON + PDF).

    The receipt records the journal head *before* its own entry; its own
    entry (``event: receipt``) follows, so ``journal verify --receipt``
    catches a journal cut anywhere after the receipt was issued.
    """
    facts = package if isinstance(package, PackageFacts) else package_facts(package, progress)
    head = journal.head_of(journal_path) if journal_path is not None else journal.EMPTY_HEAD
    doc = build_receipt(summary, facts, channel=channel, to=to, copies=copies, journal_head=head)
    return _journal_and_write(doc, key, out, journal_path=journal_path, pdf=pdf, overwrite=overwrite, event={
        "event": "receipt", "receipt_id": doc["receipt_id"], "dossier_id": doc["dossier_id"],
        "package_sha256": facts.sha256, "manifest_sha256": summary.manifest_sha256, "channel": channel,
        **reply_link_event(summary.reply_to)})


# ---------------------------------------------------------------------------
# Acknowledgements


@dataclass
class VerificationFacts:
    """The outcome of verifying a package, as an ack records it."""

    intact: bool  # decrypted, every hash and the manifest signature hold
    complete: bool | None  # completeness recorded in the manifest (None: unknown)
    problems: list[str] = field(default_factory=list)
    dossier_id: str | None = None
    manifest_sha256: str | None = None
    manifest_signer: str | None = None
    sender: dict[str, Any] | None = None  # trust.store.Signer.to_dict(): who signed the manifest, known or not
    reply_to: dict[str, Any] | None = None  # a reply package: the dossier it answers (from its signed manifest)

    def to_dict(self) -> dict[str, Any]:
        return {"result": "intact" if self.intact else "altered", "sender": self.sender,
                "completeness": "unknown" if self.complete is None else
                ("complete" if self.complete else "incomplete"),
                "intact": self.intact, "complete": self.complete, "problems": list(self.problems),
                "manifest_signer": self.manifest_signer}


def build_ack(package: PackageFacts, result: VerificationFacts, *, receipt: dict[str, Any] | None = None,
              by: str | None = None, journal_head: journal.Head = journal.EMPTY_HEAD,
              ack_id: str | None = None, issued_at: str | None = None,
              deliveries: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The unsigned ack. It holds ids and hashes, no patient identity.

    *deliveries*: the ``deliver`` journal entries of this package (sent into
    the receiving PACS before the ack, coercion of the patient identifier
    included: which attributes, on how many images, never the values).

    A file whose SHA-256 differs from the one *receipt* names is not the
    package that was sent: the ack records it as altered. A receipt known
    only by its number (read on paper: ``{"receipt_id": …}`` without a
    signature) is recorded as such, ``"source": "paper"``."""
    paper = receipt is not None and "signature" not in receipt
    if receipt is not None and not paper and receipt.get("package", {}).get("sha256") != package.sha256:
        result = VerificationFacts(False, result.complete, [
            f"the file received is not the package receipt {receipt.get('receipt_id')} names (SHA-256 "
            f"{package.sha256[:16]}… instead of {str(receipt.get('package', {}).get('sha256'))[:16]}…)",
            *result.problems], result.dossier_id, result.manifest_sha256, result.manifest_signer, result.sender,
            result.reply_to)
    return {
        "type": ACK_TYPE,
        "version": FORMAT_VERSION,
        "ack_id": ack_id or new_id("AK"),
        "issued_at": issued_at or utc_now(),
        "package": package.to_dict(),
        "receipt": None if receipt is None else {"receipt_id": receipt.get("receipt_id"), "source": "paper"}
        if paper else {
            "receipt_id": receipt.get("receipt_id"),
            "sha256": hashlib.sha256(document_bytes(receipt)).hexdigest(),
            "signer_fingerprint": receipt["signature"]["fingerprint"]},
        "dossier_id": result.dossier_id or (receipt or {}).get("dossier_id"),
        "manifest_sha256": result.manifest_sha256,
        "recipient": {"name": by} if by else None,
        "verification": result.to_dict(),
        "journal": journal_head.to_dict(),
        **({"reply_to": reply_to} if (reply_to := result.reply_to or _ids_only((receipt or {}).get("reply_to")))
           else {}),
        **({"deliveries": [delivery_of(e) for e in deliveries]} if deliveries else {}),
    }


DELIVERY_KEYS = ("time", "pacs", "route", "instances", "stored", "already_present", "refused",
                 "not_found_after_store", "complete", "coercion")


def delivery_of(entry: dict[str, Any]) -> dict[str, Any]:
    """A ``deliver`` journal entry as an ack records it: its place in the journal and its counts."""
    return {"journal": {"seq": entry.get("seq"), "hash": entry.get("hash")},
            **{k: entry[k] for k in DELIVERY_KEYS if k in entry}}


def issue_ack(package: str | os.PathLike | PackageFacts, result: VerificationFacts, *, key,
              out: str | os.PathLike, receipt: dict[str, Any] | None = None, by: str | None = None,
              journal_path: str | os.PathLike | None = None, pdf: bool = True, overwrite: bool = False,
              progress: Progress = NULL_PROGRESS, deliveries: list[dict[str, Any]] | None = None) -> Issued:
    """Build, sign, journal and write an acknowledgement (JSON + PDF)."""
    facts = package if isinstance(package, PackageFacts) else package_facts(package, progress)
    head = journal.head_of(journal_path) if journal_path is not None else journal.EMPTY_HEAD
    doc = build_ack(facts, result, receipt=receipt, by=by, journal_head=head, deliveries=deliveries)
    return _journal_and_write(doc, key, out, journal_path=journal_path, pdf=pdf, overwrite=overwrite, event={
        "event": "ack", "ack_id": doc["ack_id"], "receipt_id": (doc["receipt"] or {}).get("receipt_id"),
        "package_sha256": facts.sha256, "result": doc["verification"]["result"],
        "completeness": doc["verification"]["completeness"], "dossier_id": doc["dossier_id"],
        **reply_link_event(doc.get("reply_to"))})


# ---------------------------------------------------------------------------
# Verification


_REQUIRED = {
    RECEIPT_TYPE: ("receipt_id", "issued_at", "channel", "package", "dossier_id", "patient", "recipients", "copies",
                   "documents", "studies", "completeness", "journal"),
    ACK_TYPE: ("ack_id", "issued_at", "package", "verification", "journal"),
}


def _strict_b64(value: Any) -> bool:
    # Base64 has spare bits in its last character: several strings decode to
    # the same bytes. Accept only the canonical spelling so any edit shows.
    try:
        return isinstance(value, str) and base64.b64encode(base64.b64decode(value, validate=True)).decode() == value
    except ValueError:
        return False


def load_document(path: str | os.PathLike) -> tuple[dict[str, Any], bytes]:
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_DOCUMENT_BYTES + 1)  # bounded: a larger file is refused below
    except FileNotFoundError as exc:
        raise InputError("file not found", path=path) from exc
    except OSError as exc:
        raise InputError(f"cannot read ({exc.strerror})", path=path) from exc
    try:
        doc = strictjson.loads(raw, what="receipt", max_bytes=MAX_DOCUMENT_BYTES, path=path)
    except StrictJSONError as exc:
        raise IntegrityError(f"not valid JSON ({exc.reason}): the receipt was altered or is not a receipt",
                             path=path) from exc
    if not isinstance(doc, dict) or doc.get("type") not in _REQUIRED:
        raise IntegrityError("not a dossierkit receipt or acknowledgement", path=path)
    return doc, raw


def check_document(doc: dict[str, Any], raw: bytes | None = None, *, expect_signer: str | None = None,
                   what: str = "receipt") -> str:
    """Signature, canonical form and required members; returns the signer
    fingerprint or raises IntegrityError."""
    kind = doc.get("type")
    label = f"{'acknowledgement' if kind == ACK_TYPE else 'receipt'} {doc.get('ack_id') or doc.get('receipt_id')}"
    sig = doc.get("signature")
    if isinstance(sig, dict) and (set(sig) != {"alg", "public_key", "fingerprint", "value"}
                                  or not all(_strict_b64(sig.get(k)) for k in ("public_key", "value"))):
        raise IntegrityError(f"{label}: the signature envelope is malformed (altered)")
    info = verify_document(doc, what=label, expect_signer=expect_signer)
    if raw is not None and raw not in (document_bytes(doc), canonical_json(doc)):
        raise IntegrityError(f"{label}: the file is not in its signed canonical form (edited by hand)")
    missing = [k for k in _REQUIRED[kind] if k not in doc]
    if missing or doc.get("version") != FORMAT_VERSION:
        raise IntegrityError(f"{label}: missing members {missing} or unsupported version {doc.get('version')!r}")
    return info.fingerprint


@dataclass
class DocumentCheck:
    """Result of :func:`verify_file` (all checks passed unless it raised)."""

    path: str
    type: str
    id: str
    signer_fingerprint: str
    package_sha256: str
    package_checked: bool = False
    journal: dict[str, Any] | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.path, "type": self.type, "id": self.id, "ok": self.ok,
                "signer_fingerprint": self.signer_fingerprint, "package_sha256": self.package_sha256,
                "package_checked": self.package_checked, "journal": self.journal, "problems": self.problems}


def verify_file(path: str | os.PathLike, *, package: str | os.PathLike | None = None,
                expect_signer: str | None = None, journal_path: str | os.PathLike | None = None,
                progress: Progress = NULL_PROGRESS) -> DocumentCheck:
    """Check a receipt or ack file: signature (and expected signer),
    canonical form; with *package*, that the file's SHA-256 is the one
    recorded; with *journal_path*, that the journal is intact and still holds
    the head recorded at issue time and this document's own entry. Raises
    IntegrityError (exit 3) for an altered document or a package mismatch;
    journal problems are returned in ``problems``."""
    doc, raw = load_document(path)
    fp = check_document(doc, raw, expect_signer=expect_signer)
    is_ack = doc["type"] == ACK_TYPE
    doc_id = doc["ack_id"] if is_ack else doc["receipt_id"]
    res = DocumentCheck(str(path), doc["type"], doc_id, fp, doc["package"]["sha256"])
    if package is not None:
        facts = package_facts(package, progress)
        if facts.sha256 != doc["package"]["sha256"]:
            raise IntegrityError(f"{Path(package).name} is not the package of {doc_id}: its SHA-256 is "
                                 f"{facts.sha256[:16]}…, the document records {doc['package']['sha256'][:16]}…")
        res.package_checked = True
    if journal_path is not None:  # a journal file, or a workspace folder (its journal.jsonl), as `journal verify`
        res.journal = check_journal_against(journal.locate(journal_path), [doc])[0]
        if not res.journal["ok"]:
            res.problems.append(res.journal["problem"])
    return res


@dataclass
class DocumentChecks:
    """Result of :func:`verify_files`: one :class:`DocumentCheck` per file."""

    checks: list[DocumentCheck]

    @property
    def ok(self) -> bool:
        """Every document holds."""
        return all(c.ok for c in self.checks)

    @property
    def exit_code(self) -> ExitCode:
        """0 every document holds, 3 otherwise."""
        return ExitCode.OK if self.ok else ExitCode.INTEGRITY

    def to_dict(self) -> dict[str, Any]:
        """One file: its check; several: ``{"ok": …, "documents": [...]}``."""
        results = [c.to_dict() for c in self.checks]
        return results[0] if len(results) == 1 else {"ok": self.ok, "documents": results}


def verify_files(paths: list[str | os.PathLike], *, package: str | os.PathLike | None = None,
                 expect_signer: str | None = None, journal_path: str | os.PathLike | None = None,
                 progress: Progress = NULL_PROGRESS) -> DocumentChecks:
    """``dossierkit receipt verify FILE…``: :func:`verify_file` on each of
    *paths* in order, with the same *package*, *expect_signer* and
    *journal_path* (the first altered document raises, as there)."""
    return DocumentChecks([verify_file(p, package=package, expect_signer=expect_signer, journal_path=journal_path,
                                       progress=progress) for p in paths])


def check_journal_against(journal_path: str | os.PathLike, docs: list[dict[str, Any]],
                          report: journal.JournalReport | None = None) -> list[dict[str, Any]]:
    """Anchor checks of *docs* (signed receipts/acks) against a journal."""
    report = report or journal.verify(journal_path)
    out = []
    for doc in docs:
        if doc.get("type") == ACK_TYPE:
            label, own = f"acknowledgement {doc.get('ack_id')}", {"event": "ack", "ack_id": doc.get("ack_id")}
        else:
            label, own = f"receipt {doc.get('receipt_id')}", {"event": "receipt",
                                                              "receipt_id": doc.get("receipt_id")}
        out.append(journal.check_anchor(report, doc.get("journal"), journal_path, label=label, own_entry=own))
    return out
