"""IHE XDM: ``IHE_XDM/SUBSET01/METADATA.XML`` for the dossier's documents.

The metadata is an ebRIM 3.0 ``SubmitObjectsRequest`` (IHE ITI TF-3 §4.2,
XDM media of ITI TF-2b §3.32): one ``ExtrinsicObject`` (XDSDocumentEntry)
per PDF — images travel by DICOMDIR, never here —, one ``RegistryPackage``
(XDSSubmissionSet) and a ``HasMember`` association per document. The
documents sit in the subset folder itself (``IHE_XDM/SUBSET01/DOC0001.PDF``,
where the layout already puts them), so each ``URI`` slot is the bare file
name: relative to the subset folder, as XDM requires, and no byte is stored
twice. Hash = SHA-1 of the file (XDM), size in bytes.

Who the patient is: the INS (``value^^^&1.2.250.1.213.1.4.8&ISO`` for an
INS-NIR, ``…4.9`` for an INS-NIA) when the dossier has one, else the local
IPP under the establishment's OID (``$DOSSIERKIT_HOME/xdm.toml``
``[establishment] oid``, or the identifier's ``issuer`` when it is an OID).
Without either, the package still carries METADATA.XML with the dossier id
under dossierkit's own authority (``patient_id_kind = "local"``): a
receiving system cannot match it and files it by hand, which is the safe
failure; ``export-xdm`` (a message for a professional's software) refuses it.

Ids are derived, never random: a document's ``uniqueId`` is a ``2.25.…`` OID
from a UUID-5 of the dossier id and the document's SHA-256 (the same
document of the same dossier always gets the same id, another dossier or
another content never does); entryUUIDs likewise.

Reading back (:func:`parse_metadata`, :func:`metadata_problems`) parses with
entity resolution, DTDs and network off, under a size cap: the file comes
from a package that may be hostile.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import tomllib
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lxml import etree

from dossierkit.errors import InputError, IntegrityError, UsageError
from dossierkit.fsutil import file_hexdigest
from dossierkit.model import Dossier, DocumentRecord, Person
from dossierkit.package import xdm_codes as ids
from dossierkit.resources import templates_dir
from dossierkit.trust.keys import home_dir

SUBSET = "IHE_XDM/SUBSET01"
METADATA = f"{SUBSET}/METADATA.XML"
MIME_PDF = "application/pdf"
LANGUAGE = "fr-FR"
# METADATA.XML is ~7.5 kB a document (1000: ~7.5 MB): the cap bounds what verify holds and
# parses (a tree of a few times the file) well under the memory budget.
MAX_METADATA_BYTES = 16 * 1024 * 1024
# ... and its markup (1000 documents: ~151 000 '<'): a hostile file of tiny
# elements would otherwise build a tree of many times its size.
MAX_METADATA_TAGS = 200_000
MAX_XDM_DOCUMENTS = 1000
SETTINGS_FILE = "xdm.toml"
# The usual MSSanté message ceiling we assume (the whole message: the zip in
# base64 plus headers). See docs/package-format.md §7 for its source.
DEFAULT_MAX_MESSAGE_BYTES = 10 * 1024 * 1024

# UUID-5 namespace of every id dossierkit derives for XDM (fixed forever:
# changing it changes every uniqueId).
_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:dossierkit:ihe-xdm")
# Assigning authority of dossier ids when no INS and no IPP OID exist.
LOCAL_AUTHORITY = f"{ids.OID_UUID_ARC}.{uuid.uuid5(_NAMESPACE, 'dossier-id').int}"

_OID = re.compile(r"^[0-2](\.(0|[1-9]\d*))+$")
_CODE_TABLES = ("type", "class", "document", "submission")
_DOCUMENT_CODES = ("format", "confidentiality", "healthcare_facility_type", "practice_setting")


@dataclass(frozen=True)
class Code:
    code: str
    scheme: str
    display: str


@dataclass
class XdmSettings:
    """What a hospital sets for XDM (``$DOSSIERKIT_HOME/xdm.toml``) over the
    bundled code table (``templates/xdm/codes.toml``)."""

    codes: dict[str, dict[str, Code]]
    establishment_name: str | None = None
    establishment_oid: str | None = None
    finess: str | None = None
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    source: str = "templates/xdm/codes.toml"

    def type_code(self, kind: str) -> Code:
        table = self.codes["type"]
        return table.get(kind) or table["other"]

    def class_code(self, kind: str) -> Code:
        table = self.codes["class"]
        return table.get(kind) or table["default"]

    def document_code(self, name: str) -> Code:
        return self.codes["document"][name]

    def submission_code(self, name: str) -> Code:
        return self.codes["submission"][name]


def settings_path() -> Path:
    """``$DOSSIERKIT_HOME/xdm.toml`` (``~/.config/dossierkit/xdm.toml`` when unset)."""
    return home_dir() / SETTINGS_FILE


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"not valid TOML ({exc})", path=path, hint="fix the file (docs/package-format.md §7)") \
            from exc
    except OSError as exc:
        raise InputError(f"cannot read ({exc.strerror})", path=path) from exc


def _code(value: Any, where: str, path: Path) -> Code:
    if not isinstance(value, dict) or not all(isinstance(value.get(k), str) and value[k].strip()
                                              for k in ("code", "scheme", "display")):
        raise InputError(f"{where}: expected {{ code = \"…\", scheme = \"…\", display = \"…\" }}", path=path)
    return Code(value["code"].strip(), value["scheme"].strip(), value["display"].strip())


def _merge_codes(codes: dict[str, dict[str, Code]], data: dict[str, Any], path: Path) -> None:
    for table in _CODE_TABLES:
        section = data.get(table, {})
        if not isinstance(section, dict):
            raise InputError(f"[{table}] is not a table", path=path)
        for key, value in section.items():
            codes.setdefault(table, {})[key] = _code(value, f"{table}.{key}", path)


def load_settings(path: str | os.PathLike | None = None) -> XdmSettings:
    """The bundled codes, overridden by the hospital's file (*path*, default
    :func:`settings_path`; absent is fine)."""
    bundled = templates_dir() / "xdm" / "codes.toml"
    codes: dict[str, dict[str, Code]] = {}
    _merge_codes(codes, _read_toml(bundled), bundled)
    settings = XdmSettings(codes)
    target = Path(path) if path is not None else settings_path()
    if target.is_file():
        data = _read_toml(target)
        _merge_codes(codes, data.get("codes", {}), target)
        est = data.get("establishment", {})
        if not isinstance(est, dict):
            raise InputError("[establishment] is not a table", path=target)
        oid = est.get("oid")
        if oid is not None and not (isinstance(oid, str) and _OID.match(oid)):
            raise InputError(f"establishment.oid: {oid!r} is not an OID (digits and dots, e.g. 1.2.250.1.999)",
                             path=target)
        settings.establishment_oid = oid
        settings.establishment_name = est.get("name") if isinstance(est.get("name"), str) else None
        finess = est.get("finess")
        settings.finess = str(finess) if finess is not None else None
        limit = data.get("mssante", {}).get("max_message_mb") if isinstance(data.get("mssante"), dict) else None
        if limit is not None:
            if not isinstance(limit, (int, float)) or isinstance(limit, bool) or limit <= 0:
                raise InputError("mssante.max_message_mb: expected a positive number of megabytes", path=target)
            settings.max_message_bytes = int(limit * 1024 * 1024)
        settings.source = str(target)
    for table in _CODE_TABLES:
        if table not in codes:
            raise InputError(f"code table [{table}] missing", path=bundled)
    missing = [n for n in _DOCUMENT_CODES if n not in codes["document"]]
    if missing or "other" not in codes["type"] or "default" not in codes["class"] \
            or "content_type" not in codes["submission"]:
        raise InputError(f"code table incomplete ({', '.join(missing) or 'type.other/class.default/content_type'})",
                         path=bundled)
    return settings


# ---------------------------------------------------------------------------
# Identifiers


@dataclass(frozen=True)
class PatientId:
    cx: str  # HL7 CX as XDS wants it: id^^^&OID&ISO
    value: str
    authority: str
    kind: str  # INS-NIR, INS-NIA, IPP, local
    type_code: str  # CX.5 for sourcePatientInfo PID-3: NH (INS) or PI


def ins_with_key(value: str) -> str:
    """The 15-character INS matricule from a NIR given with or without its
    2-digit key (key = 97 − NIR mod 97); other forms are returned as given."""
    digits = value.replace(" ", "")
    if re.fullmatch(r"\d{13}", digits):
        return f"{digits}{97 - int(digits) % 97:02d}"
    return digits


def patient_id(dossier: Dossier, settings: XdmSettings) -> PatientId:
    """The XDS patient id of *dossier* (module docstring)."""
    ident = dossier.patient.identifier
    if ident is not None and ident.system in ("INS-NIR", "INS-NIA"):
        oid = ids.OID_INS_NIR if ident.system == "INS-NIR" else ids.OID_INS_NIA
        value = ins_with_key(ident.value)
        return PatientId(f"{value}^^^&{oid}&ISO", value, oid, ident.system, "NH")
    if ident is not None and ident.system == "IPP":
        oid = ident.issuer if ident.issuer and _OID.match(ident.issuer) else settings.establishment_oid
        if oid:
            value = ident.value.strip()
            return PatientId(f"{value}^^^&{oid}&ISO", value, oid, "IPP", "PI")
    return PatientId(f"{dossier.id}^^^&{LOCAL_AUTHORITY}&ISO", dossier.id, LOCAL_AUTHORITY, "local", "PI")


def derived_oid(*parts: str) -> str:
    """A ``2.25.…`` OID from a UUID-5 of *parts* (ITU-T X.667)."""
    return f"{ids.OID_UUID_ARC}.{uuid.uuid5(_NAMESPACE, chr(31).join(parts)).int}"


def document_unique_id(dossier_id: str, sha256: str) -> str:
    return derived_oid("document", dossier_id, sha256)


def _urn(*parts: str) -> str:
    return f"urn:uuid:{uuid.uuid5(_NAMESPACE, chr(31).join(parts))}"


# ---------------------------------------------------------------------------
# Writing


@dataclass(frozen=True)
class XdmDocument:
    """One PDF for METADATA.XML: *uri* relative to the subset folder."""

    uri: str
    record: DocumentRecord
    sha1: str
    size: int


def _dtm(iso_utc: str) -> str:
    """``2026-11-23T09:23:56Z`` → ``20261123092356`` (HL7 DTM, UTC)."""
    t = dt.datetime.fromisoformat(iso_utc.replace("Z", "+00:00"))
    if t.tzinfo is not None:
        t = t.astimezone(dt.timezone.utc)
    return t.strftime("%Y%m%d%H%M%S")


def _creation_time(rec: DocumentRecord, submitted: str) -> str:
    """The document's own date (its time unknown: 00:00:00), else when it was added."""
    if rec.date and re.fullmatch(r"\d{4}-\d{2}-\d{2}", rec.date):
        return rec.date.replace("-", "") + "000000"
    return _dtm(rec.added or submitted)


def _hl7(text: str) -> str:
    """Text safe inside an HL7 v2 component: no delimiters, no control characters."""
    return re.sub(r"[\^|&~\\\x00-\x1f]", " ", text).strip()


def _xcn(person: Person) -> str:
    if person.rpps:
        return f"8{_hl7(person.rpps)}^{_hl7(person.name)}^^^^^^^&{ids.OID_RPPS}&ISO^D^^^IDNPS"
    return f"^{_hl7(person.name)}"


def _xon(name: str | None, settings: XdmSettings, own: bool) -> str | None:
    if not name:
        return None
    if own and settings.finess:
        return f"{_hl7(name)}^^^^^&{ids.OID_STRUCTURES}&ISO^IDNST^^^1{_hl7(settings.finess)}"
    return _hl7(name)


class _Builder:
    def __init__(self) -> None:
        self.rim = f"{{{ids.NS_RIM}}}"

    def el(self, parent: etree._Element, tag: str, **attrs: str) -> etree._Element:
        return etree.SubElement(parent, self.rim + tag, {k.rstrip("_"): v for k, v in attrs.items()})

    def slot(self, parent: etree._Element, name: str, values: list[str]) -> None:
        s = self.el(parent, "Slot", name=name)
        vl = self.el(s, "ValueList")
        for v in values:
            self.el(vl, "Value").text = v

    def name(self, parent: etree._Element, text: str, *, lang: bool = True) -> None:
        n = self.el(parent, "Name")
        attrs = {"value": text}
        if lang:
            attrs.update({"charset": "UTF-8"})
        ls = self.el(n, "LocalizedString", **attrs)
        if lang:
            ls.set("{http://www.w3.org/XML/1998/namespace}lang", LANGUAGE)

    def classification(self, parent: etree._Element, scheme: str, obj: str, code: Code | None,
                       slots: list[tuple[str, list[str]]] = ()) -> None:
        c = self.el(parent, "Classification", id=_urn("classification", obj, scheme), classificationScheme=scheme,
                    classifiedObject=obj, nodeRepresentation=code.code if code else "")
        for n, values in slots:
            self.slot(c, n, values)
        if code is not None:
            self.slot(c, "codingScheme", [code.scheme])
            self.name(c, code.display)

    def external_id(self, parent: etree._Element, scheme: str, obj: str, value: str) -> None:
        e = self.el(parent, "ExternalIdentifier", id=_urn("external-identifier", obj, scheme),
                    identificationScheme=scheme, registryObject=obj, value=value)
        self.name(e, ids.SCHEME_NAMES[scheme], lang=False)


def _author_slots(dossier: Dossier, settings: XdmSettings) -> list[tuple[str, list[str]]] | None:
    sender = dossier.sender
    if sender is None:
        return None
    slots = [("authorPerson", [_xcn(sender)])]
    inst = _xon(sender.establishment or settings.establishment_name, settings, own=True)
    if inst:
        slots.append(("authorInstitution", [inst]))
    if sender.role:
        slots.append(("authorRole", [_hl7(sender.role)]))
    return slots


def _intended_recipient(person: Person | None) -> str | None:
    if person is None:
        return None
    xon = _hl7(person.establishment) if person.establishment else ""
    xtn = f"^^Internet^{_hl7(person.email)}" if person.email else ""
    return f"{xon}|{_xcn(person)}" + (f"|{xtn}" if xtn else "")


def _source_patient_info(dossier: Dossier, pid: PatientId) -> list[str]:
    p = dossier.patient
    family = _hl7((p.birth_name or p.family_name).upper())
    given = _hl7(" ".join(p.given_names))
    return [f"PID-3|{pid.cx}^{pid.type_code}", f"PID-5|{family}^{given}^^^^^L",
            f"PID-7|{p.birth_date:%Y%m%d}", f"PID-8|{p.sex}"]


def submission_unique_id(dossier_id: str, submitted: str, documents: list[XdmDocument]) -> str:
    return derived_oid("submission", dossier_id, submitted, *sorted(d.record.sha256 for d in documents))


def source_id(settings: XdmSettings) -> str:
    """The establishment's OID when configured, else dossierkit's own root."""
    return settings.establishment_oid or derived_oid("source", "dossierkit")


def build_metadata(*, dossier: Dossier, documents: list[XdmDocument], settings: XdmSettings,
                   submitted: str) -> bytes:
    """METADATA.XML for *documents* (module docstring); *submitted* is the
    UTC ISO time of the submission (the package's creation time)."""
    if len(documents) > MAX_XDM_DOCUMENTS:
        raise UsageError(f"too many documents for one IHE XDM subset (more than {MAX_XDM_DOCUMENTS})",
                         hint="split the dossier")
    b = _Builder()
    pid = patient_id(dossier, settings)
    root = etree.Element(f"{{{ids.NS_LCM}}}SubmitObjectsRequest", nsmap=ids.NSMAP)
    objects = b.el(root, "RegistryObjectList")
    ss_id = _urn("submission-set", dossier.id, submitted)
    author = _author_slots(dossier, settings)
    entry_ids = []
    for d in documents:
        rec = d.record
        de_id = _urn("document-entry", dossier.id, rec.sha256)
        entry_ids.append(de_id)
        eo = b.el(objects, "ExtrinsicObject", id=de_id, mimeType=MIME_PDF, objectType=ids.DOCUMENT_ENTRY_STABLE,
                  status=ids.STATUS_APPROVED)
        b.slot(eo, "creationTime", [_creation_time(rec, submitted)])
        b.slot(eo, "hash", [d.sha1])
        b.slot(eo, "languageCode", [LANGUAGE])
        b.slot(eo, "size", [str(d.size)])
        b.slot(eo, "sourcePatientId", [pid.cx])
        b.slot(eo, "sourcePatientInfo", _source_patient_info(dossier, pid))
        b.slot(eo, "URI", [d.uri])
        b.name(eo, rec.title or settings.type_code(rec.kind).display)
        if author:
            b.classification(eo, ids.DE_AUTHOR, de_id, None, author)
        b.classification(eo, ids.DE_CLASS_CODE, de_id, settings.class_code(rec.kind))
        b.classification(eo, ids.DE_CONFIDENTIALITY_CODE, de_id, settings.document_code("confidentiality"))
        b.classification(eo, ids.DE_FORMAT_CODE, de_id, settings.document_code("format"))
        b.classification(eo, ids.DE_HEALTHCARE_FACILITY_TYPE_CODE, de_id,
                         settings.document_code("healthcare_facility_type"))
        b.classification(eo, ids.DE_PRACTICE_SETTING_CODE, de_id, settings.document_code("practice_setting"))
        b.classification(eo, ids.DE_TYPE_CODE, de_id, settings.type_code(rec.kind))
        b.external_id(eo, ids.DE_PATIENT_ID, de_id, pid.cx)
        b.external_id(eo, ids.DE_UNIQUE_ID, de_id, document_unique_id(dossier.id, rec.sha256))

    rp = b.el(objects, "RegistryPackage", id=ss_id)
    b.slot(rp, "submissionTime", [_dtm(submitted)])
    recipient = _intended_recipient(dossier.second_opinion)
    if recipient:
        b.slot(rp, "intendedRecipient", [recipient])
    b.name(rp, "Dossier pour second avis / Second-opinion dossier")
    if author:
        b.classification(rp, ids.SS_AUTHOR, ss_id, None, author)
    b.classification(rp, ids.SS_CONTENT_TYPE_CODE, ss_id, settings.submission_code("content_type"))
    b.external_id(rp, ids.SS_UNIQUE_ID, ss_id, submission_unique_id(dossier.id, submitted, documents))
    b.external_id(rp, ids.SS_SOURCE_ID, ss_id, source_id(settings))
    b.external_id(rp, ids.SS_PATIENT_ID, ss_id, pid.cx)
    b.el(objects, "Classification", id=_urn("classification", ss_id, ids.SUBMISSION_SET_NODE),
         classifiedObject=ss_id, classificationNode=ids.SUBMISSION_SET_NODE)
    for de_id in entry_ids:
        a = b.el(objects, "Association", id=_urn("association", ss_id, de_id),
                 associationType=ids.ASSOCIATION_HAS_MEMBER, sourceObject=ss_id, targetObject=de_id)
        b.slot(a, "SubmissionSetStatus", ["Original"])
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def subset_documents(ws_root: str | os.PathLike, planned: list[tuple[str, DocumentRecord]]) -> list[XdmDocument]:
    """The :class:`XdmDocument` of each ``(entry path, record)`` under the
    subset folder, hashing each workspace file with SHA-1 (streamed)."""
    out = []
    for path, rec in planned:
        if not path.startswith(SUBSET + "/"):
            raise UsageError(f"{path}: a document outside {SUBSET} cannot be referenced by its METADATA.XML")
        src = Path(ws_root) / rec.path
        try:
            digest = file_hexdigest(src, "sha1")  # XDM's document hash
        except OSError as exc:
            raise InputError(f"cannot read ({exc.strerror})", path=rec.path) from exc
        out.append(XdmDocument(path[len(SUBSET) + 1:], rec, digest, rec.size))
    return out


# ---------------------------------------------------------------------------
# Reading back


@dataclass
class MetadataEntry:
    entry_id: str
    uri: str | None
    sha1: str | None
    size: int | None
    patient_id: str | None
    source_patient_id: str | None
    unique_id: str | None


@dataclass
class MetadataView:
    submission_patient_id: str | None = None
    documents: list[MetadataEntry] = field(default_factory=list)
    members: set[str] = field(default_factory=set)  # targets of HasMember associations


def _parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
                           huge_tree=False, remove_pis=True)


def _single(values: list[Any], what: str) -> Any:
    if len(values) != 1:
        raise IntegrityError(f"{METADATA}: {what} present {len(values)} times (expected once)")
    return values[0]


def parse_metadata(data: bytes) -> MetadataView:
    """Parse METADATA.XML safely and extract what verification compares;
    IntegrityError when it is not well-formed ebRIM or a required item is
    missing or repeated."""
    if len(data) > MAX_METADATA_BYTES:
        raise IntegrityError(f"{METADATA}: larger than any dossier needs ({len(data)} bytes)")
    if data.count(b"<") > MAX_METADATA_TAGS:
        raise IntegrityError(f"{METADATA}: more elements than any dossier needs")
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        raise IntegrityError(f"{METADATA}: not well-formed XML ({exc.msg})") from exc
    if root.getroottree().docinfo.doctype:
        raise IntegrityError(f"{METADATA}: carries a DOCTYPE, which IHE metadata never does")
    if root.tag != f"{{{ids.NS_LCM}}}SubmitObjectsRequest":
        raise IntegrityError(f"{METADATA}: the root is not an ebRIM 3.0 lcm:SubmitObjectsRequest")
    ns = {"rim": ids.NS_RIM}
    view = MetadataView()

    def slot(obj: etree._Element, name: str) -> str | None:
        values = obj.xpath("rim:Slot[@name=$n]/rim:ValueList/rim:Value/text()", namespaces=ns, n=name)
        return str(_single(values, f"slot {name} of {obj.get('id')}"))

    def ext(obj: etree._Element, scheme: str) -> str:
        values = obj.xpath("rim:ExternalIdentifier[@identificationScheme=$s]/@value", namespaces=ns, s=scheme)
        return str(_single(values, f"{ids.SCHEME_NAMES[scheme]} of {obj.get('id')}"))

    packages = root.xpath("rim:RegistryObjectList/rim:RegistryPackage", namespaces=ns)
    package = _single(packages, "the SubmissionSet (RegistryPackage)")
    view.submission_patient_id = ext(package, ids.SS_PATIENT_ID)
    for eo in root.xpath("rim:RegistryObjectList/rim:ExtrinsicObject", namespaces=ns):
        size = slot(eo, "size")
        if size is None or not size.isdigit():
            raise IntegrityError(f"{METADATA}: size of {eo.get('id')} is not a number")
        view.documents.append(MetadataEntry(
            entry_id=str(eo.get("id")), uri=slot(eo, "URI"), sha1=(slot(eo, "hash") or "").lower(),
            size=int(size), patient_id=ext(eo, ids.DE_PATIENT_ID),
            source_patient_id=slot(eo, "sourcePatientId"), unique_id=ext(eo, ids.DE_UNIQUE_ID)))
    ss_id = package.get("id")
    view.members = {str(a.get("targetObject")) for a in root.xpath(
        "rim:RegistryObjectList/rim:Association[@associationType=$t][@sourceObject=$s]", namespaces=ns,
        t=ids.ASSOCIATION_HAS_MEMBER, s=ss_id)}
    return view


def metadata_problems(data: bytes, files: dict[str, tuple[int, str | None]], *,
                      expected_patient: str | None) -> list[str]:
    """Every disagreement between METADATA.XML and the subset's files.

    *files* maps each document's path relative to the subset folder to its
    ``(size, sha1)`` (sha1 None: not known, not compared); every document
    of the subset must be described once, every URI must name one of them
    with the same size and SHA-1, and every patient id must be
    *expected_patient* (when given)."""
    try:
        view = parse_metadata(data)
    except IntegrityError as exc:
        return [exc.message]
    problems: list[str] = []
    ids_seen = [view.submission_patient_id] + [p for d in view.documents
                                               for p in (d.patient_id, d.source_patient_id)]
    if expected_patient is not None and any(p != expected_patient for p in ids_seen):
        problems.append(f"{METADATA}: a patient id differs from the dossier's")
    described: set[str] = set()
    for d in view.documents:
        uri = d.uri or ""
        if uri in described:
            problems.append(f"{METADATA}: {uri} is described twice")
            continue
        described.add(uri)
        if uri not in files:
            problems.append(f"{METADATA}: URI {uri!r} names no document of {SUBSET}")
            continue
        size, sha1 = files[uri]
        if d.size != size:
            problems.append(f"{METADATA}: {uri} is {size} bytes, the metadata says {d.size}")
        if sha1 is not None and d.sha1 != sha1:
            problems.append(f"{METADATA}: {uri}: SHA-1 differs from the metadata's hash")
        if d.entry_id not in view.members:
            problems.append(f"{METADATA}: {uri} is not a member of the submission set (HasMember)")
    for uri in sorted(set(files) - described):
        problems.append(f"{METADATA}: {SUBSET}/{uri} is not described")
    return problems


def patient_id_problems(cx: str, *, identifier: tuple[str, str] | None, dossier_id: str) -> list[str]:
    """Whether the patient id *cx* a package announces is its dossier's own:
    the INS (with its key) under the INS OID, the IPP, or the dossier id
    under dossierkit's authority when the dossier has neither."""
    value, _, rest = cx.partition("^^^&")
    authority = rest.split("&", 1)[0]
    system, ident = identifier if identifier else ("", "")
    if system in ("INS-NIR", "INS-NIA"):
        oid = ids.OID_INS_NIR if system == "INS-NIR" else ids.OID_INS_NIA
        ok = value == ins_with_key(ident) and authority == oid
    elif authority == LOCAL_AUTHORITY:
        ok = value == dossier_id
    else:
        ok = system == "IPP" and value == ident.strip()
    return [] if ok else [f"{METADATA}: the patient id is not the dossier patient's identifier"]


def package_problems(metadata: bytes | None, *, announced: str | None, expected_patient: str | None,
                     identifier: tuple[str, str] | None, dossier_id: str,
                     files: dict[str, tuple[int, str | None]]) -> list[str]:
    """verify's XDM check of a package (docs/package-format.md §7).

    *announced* is the manifest's ``xdm.metadata`` (None: a package made
    before XDM, nothing to check), *metadata* the intact METADATA.XML bytes
    (None when missing or altered — the file check names it), *files* the
    subset's documents by path relative to the subset folder."""
    if announced is None:
        return []
    if announced != METADATA:
        return [f"the manifest names {announced!r} as the XDM metadata, expected {METADATA}"]
    if metadata is None:
        return [f"{METADATA}: no intact copy to check"]
    problems = metadata_problems(metadata, files, expected_patient=expected_patient)
    if expected_patient is not None:
        problems += patient_id_problems(expected_patient, identifier=identifier, dossier_id=dossier_id)
    return problems
