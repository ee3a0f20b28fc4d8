"""Pure data model of a dossier workspace: the ``dossier.toml`` contents and
the workspace indexes (documents, images). No I/O here.

Serialised forms are plain dicts (TOML for ``dossier.toml``, JSON for the
indexes) so that the manifest, receipts and ``--json`` outputs reuse them.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any

from dossierkit.errors import InputError

SCHEMA_VERSION = 1

# Document kinds and their LOINC codes (DESIGN §2, issue #2).
DOCUMENT_KINDS: dict[str, tuple[str | None, str, str]] = {
    # kind: (LOINC, French label, English label)
    "rcp": ("34794-8", "Fiche RCP", "Multidisciplinary tumour board record"),
    "pathology": ("60568-3", "CR d'anatomie et cytologie pathologiques", "Pathology report"),
    "imaging-report": ("18748-4", "CR d'imagerie", "Imaging report"),
    "operative-report": ("34874-8", "CR opératoire", "Operative report"),
    "biology": ("11502-2", "CR de biologie", "Laboratory report"),
    "treatment-plan": ("18776-5", "Programme personnalisé de soins (PPS)", "Treatment plan"),
    "referral-letter": ("96349-6", "Lettre d'adressage", "Referral letter"),
    "consultation": ("11488-4", "CR de consultation", "Consultation note"),
    # The second practitioner's letter (INCa step 6); LOINC "Oncology Consult note".
    "second-opinion-letter": ("34805-2", "Courrier de second avis", "Second-opinion letter"),
    "other": (None, "Autre document", "Other document"),
}

SEXES = {"F", "M", "O", "U"}
IDENTIFIER_SYSTEMS = {"INS-NIR", "INS-NIA", "IPP", "OTHER"}
RESTRICTIONS = {
    "no-copy-to-initial-physician": "Le patient refuse qu'une copie soit adressée au médecin initial / "
    "The patient refuses that a copy be sent to the initial physician",
    "no-copy-to-treating-gp": "Le patient refuse qu'une copie soit adressée au médecin traitant / "
    "The patient refuses that a copy be sent to the treating GP",
}

# DICOM Modality (0008,0060) codes as a reader says them, French / English (PS3.3 C.7.3.1.1.1): labels
# for INDEX.HTM and the receipt (check/images.py has its own table: the words reports use, to match them)
MODALITY_LABELS = {
    "CT": "scanner / CT",
    "MR": "IRM / MRI",
    "PT": "TEP / PET",
    "NM": "scintigraphie / nuclear medicine",
    "US": "échographie / ultrasound",
    "MG": "mammographie / mammography",
    "CR": "radiographie / X-ray",
    "DX": "radiographie / X-ray",
    "XA": "angiographie / angiography",
    "RF": "radioscopie / fluoroscopy",
    "SR": "compte rendu structuré / structured report",
    "SEG": "segmentation",
    "RTSTRUCT": "contours de radiothérapie / RT structures",
    "RTPLAN": "plan de radiothérapie / RT plan",
    "RTDOSE": "dose de radiothérapie / RT dose",
    "RTIMAGE": "image de radiothérapie / RT image",
    "SM": "lame numérisée / slide microscopy",
    "KO": "sélection d'images / key images",
    "PR": "présentation / presentation state",
    "DOC": "document",
    "OT": "autre / other",
}


def modality_in_words(code: str | None) -> str:
    """``CT`` → ``CT (scanner / CT)``; a code not in the table as it is; none: ``—``."""
    if not code:
        return "—"
    words = MODALITY_LABELS.get(code.upper())
    return f"{code} ({words})" if words else code


class InvalidDossierError(InputError):
    """``dossier.toml`` has one or more problems; each is one line."""

    def __init__(self, problems: list[str], path: object | None = None):
        self.problems = problems
        super().__init__("; ".join(problems), path=path)

    def line(self) -> str:
        where = f"{self.path}: " if self.path else ""
        return "\n".join(f"{where}{p}" for p in self.problems)


@dataclass
class Person:
    """A practitioner or contact. Only ``name`` is required."""

    name: str
    role: str | None = None  # e.g. "oncologue", "médecin traitant"
    establishment: str | None = None
    email: str | None = None  # MSSanté address when known
    phone: str | None = None
    rpps: str | None = None  # French practitioner identifier

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v not in (None, "")}


@dataclass
class Identifier:
    value: str
    system: str = "IPP"  # INS-NIR, INS-NIA, IPP, OTHER
    issuer: str | None = None  # establishment that assigned a local IPP

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v not in (None, "")}


@dataclass
class Patient:
    family_name: str
    given_names: list[str]
    birth_date: dt.date
    sex: str
    identifier: Identifier | None = None
    birth_name: str | None = None  # nom de naissance, when it differs (used for matching)
    # The patient's IDs in other establishments (e.g. the imaging centre's
    # PatientID), confirmed by staff: accepted in DICOM headers besides `identifier`.
    other_ids: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "family_name": self.family_name,
            "given_names": list(self.given_names),
            "birth_date": self.birth_date.isoformat(),
            "sex": self.sex,
        }
        if self.birth_name:
            d["birth_name"] = self.birth_name
        if self.identifier:
            d["identifier"] = self.identifier.to_dict()
        if self.other_ids:
            d["other_ids"] = list(self.other_ids)
        return d


@dataclass
class Consent:
    given: bool
    date: dt.date | None = None
    given_by: str | None = None  # "patient", "représentant légal: …"
    recorded_by: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"given": self.given}
        if self.date:
            d["date"] = self.date.isoformat()
        for k in ("given_by", "recorded_by"):
            if getattr(self, k):
                d[k] = getattr(self, k)
        return d


@dataclass
class RestrictionRecord:
    """Who recorded a restriction and when (INCa step 6: the second physician
    records the patient's refusal). *source*: ``dossier`` (carried over from
    the dossier received) or ``reply`` (added at reply time)."""

    code: str
    recorded_by: str | None = None
    recorded_at: str | None = None  # UTC, YYYY-MM-DDTHH:MM:SSZ
    source: str = "reply"

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v not in (None, "")}


@dataclass
class ReplyOrigin:
    """What a second-opinion reply answers: the dossier received, by ids and
    hashes (docs/traceability.md, "The way back")."""

    dossier_id: str
    package_sha256: str
    manifest_sha256: str | None = None
    signer: str | None = None  # fingerprint of the package's signer (the sender)
    receipt_id: str | None = None  # the sender's receipt of that package
    ack_id: str | None = None  # our acknowledgement of it
    verified_at: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v not in (None, "")}


REPLY_PURPOSE = "second-opinion-reply"  # Dossier.purpose of a reply: it carries the opinion back (issue #17)


@dataclass
class Dossier:
    """The contents of ``dossier.toml``."""

    id: str
    patient: Patient
    purpose: str = "second-opinion"
    created: str | None = None
    profile: str = "second-opinion"
    sender: Person | None = None
    initial_physician: Person | None = None
    treating_gp: Person | None = None
    second_opinion: Person | None = None  # second practitioner / establishment
    consent: Consent | None = None
    restrictions: list[str] = field(default_factory=list)
    notes: str | None = None
    reply_to: ReplyOrigin | None = None  # a second-opinion reply: the dossier it answers
    restriction_records: list[RestrictionRecord] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"schema": SCHEMA_VERSION, "id": self.id, "purpose": self.purpose,
                             "profile": self.profile}
        if self.created:
            d["created"] = self.created
        d["patient"] = self.patient.to_dict()
        for k in ("sender", "initial_physician", "treating_gp", "second_opinion"):
            p = getattr(self, k)
            if p:
                d[k] = p.to_dict()
        if self.consent:
            d["consent"] = self.consent.to_dict()
        d["restrictions"] = list(self.restrictions)
        if self.notes:
            d["notes"] = self.notes
        if self.reply_to:
            d["reply_to"] = self.reply_to.to_dict()
        if self.restriction_records:
            d["restriction_records"] = [r.to_dict() for r in self.restriction_records]
        return d

    def restriction_record(self, code: str) -> RestrictionRecord | None:
        return next((r for r in self.restriction_records if r.code == code), None)

    def has_restriction(self, name: str) -> bool:
        return name in self.restrictions


# ---------------------------------------------------------------------------
# Validation of the dict read from TOML: one line per problem (field, why, fix)


def _as_date(value: Any, fld: str, problems: list[str]) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError as exc:
            if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
                # YYYY-MM-DD in form, but no such day (2026-02-30, month 13): say which part is wrong
                problems.append(f"{fld}: {value.strip()!r} is no day of the calendar ({exc}) — check the day and "
                                "the month")
                return None
    problems.append(f"{fld}: {value!r} is not a date — write it as YYYY-MM-DD, e.g. 1961-04-12")
    return None


def _as_str(d: dict, key: str, fld: str, problems: list[str], required: bool = False) -> str | None:
    value = d.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            problems.append(f"{fld}: missing — add {key} = \"…\"")
        return None
    if not isinstance(value, (str, int)):
        problems.append(f"{fld}: expected text, got {type(value).__name__} — write it in quotes")
        return None
    return str(value).strip()


def _person(d: Any, fld: str, problems: list[str]) -> Person | None:
    if d is None:
        return None
    if isinstance(d, str):
        return Person(name=d.strip()) if d.strip() else None
    if not isinstance(d, dict):
        problems.append(f"{fld}: expected a table with at least name = \"…\"")
        return None
    name = _as_str(d, "name", f"{fld}.name", problems, required=True)
    known = {"name", "role", "establishment", "email", "phone", "rpps"}
    for k in d:
        if k not in known:
            problems.append(f"{fld}.{k}: unknown field — allowed: {', '.join(sorted(known))}")
    if name is None:
        return None
    return Person(name=name, **{k: _as_str(d, k, f"{fld}.{k}", problems) for k in known - {"name"}})


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+\Z")


def dossier_from_dict(d: Any, path: object | None = None) -> Dossier:
    """Validate and build a :class:`Dossier`; raise :class:`InvalidDossierError`
    listing every problem at once."""
    problems: list[str] = []
    if not isinstance(d, dict):
        raise InvalidDossierError(["the file is not a TOML table"], path)
    schema = d.get("schema", SCHEMA_VERSION)
    if schema != SCHEMA_VERSION:
        problems.append(f"schema: version {schema!r} is not supported (expected {SCHEMA_VERSION})")
    dossier_id = _as_str(d, "id", "id", problems, required=True)

    p = d.get("patient")
    patient = None
    if not isinstance(p, dict):
        problems.append("patient: missing — add a [patient] table with family_name, given_names, birth_date, sex")
    else:
        family = _as_str(p, "family_name", "patient.family_name", problems, required=True)
        given = p.get("given_names")
        if isinstance(given, str):
            given = [g for g in re.split(r"[\s,]+", given.strip()) if g]
        if not given or not isinstance(given, list) or not all(isinstance(g, str) and g.strip() for g in given):
            problems.append("patient.given_names: missing — add given_names = [\"Claire\", \"Louise\"]")
            given = []
        bd = p.get("birth_date")
        birth = _as_date(bd, "patient.birth_date", problems) if bd is not None else None
        if bd is None:
            problems.append("patient.birth_date: missing — add birth_date = 1961-04-12")
        elif birth and (birth > dt.date.today() or birth.year < 1900):
            problems.append(f"patient.birth_date: {birth} is not plausible — check the year")
        sex = _as_str(p, "sex", "patient.sex", problems, required=True)
        if sex is not None:
            sex = sex.upper()
            if sex not in SEXES:
                problems.append(f"patient.sex: {sex!r} is not one of F, M, O, U")
        ident = None
        ident_d = p.get("identifier")
        if ident_d is not None:
            if isinstance(ident_d, str):
                ident_d = {"value": ident_d}
            if not isinstance(ident_d, dict):
                problems.append("patient.identifier: expected a table with value and system")
            else:
                value = _as_str(ident_d, "value", "patient.identifier.value", problems, required=True)
                system = (_as_str(ident_d, "system", "patient.identifier.system", problems) or "IPP").upper()
                if system not in IDENTIFIER_SYSTEMS:
                    problems.append(f"patient.identifier.system: {system!r} is not one of "
                                    f"{', '.join(sorted(IDENTIFIER_SYSTEMS))}")
                if system == "INS-NIR" and value and not re.fullmatch(r"[12]\d{12}(\d{2})?", value.replace(" ", "")):
                    problems.append("patient.identifier.value: an INS (NIR) has 13 digits (+2 key digits) "
                                    "starting with 1 or 2 — check the number")
                if value:
                    ident = Identifier(value=value, system=system,
                                       issuer=_as_str(ident_d, "issuer", "patient.identifier.issuer", problems))
        other_ids = p.get("other_ids", [])
        if isinstance(other_ids, str):
            other_ids = [other_ids]
        if not isinstance(other_ids, list) or not all(isinstance(x, (str, int)) for x in other_ids):
            problems.append("patient.other_ids: expected a list of identifiers, e.g. [\"IPP-CHU-123\"]")
            other_ids = []
        if family and given and birth and sex in SEXES:
            patient = Patient(family_name=family, given_names=[g.strip() for g in given], birth_date=birth,
                              sex=sex, identifier=ident,
                              birth_name=_as_str(p, "birth_name", "patient.birth_name", problems),
                              other_ids=[str(x).strip() for x in other_ids if str(x).strip()])

    people = {k: _person(d.get(k), k, problems)
              for k in ("sender", "initial_physician", "treating_gp", "second_opinion")}
    for k, person in people.items():
        if person and person.email and not _EMAIL.match(person.email):
            problems.append(f"{k}.email: {person.email!r} is not an e-mail address")

    consent = None
    c = d.get("consent")
    if c is not None:
        if not isinstance(c, dict):
            problems.append("consent: expected a table, e.g. [consent] given = true, date = 2026-11-20")
        else:
            given_flag = c.get("given", False)
            if not isinstance(given_flag, bool):
                problems.append("consent.given: expected true or false")
                given_flag = False
            cdate = _as_date(c["date"], "consent.date", problems) if c.get("date") is not None else None
            if cdate and cdate > dt.date.today():
                problems.append(f"consent.date: {cdate} is in the future — check the date")
            consent = Consent(given=given_flag, date=cdate,
                              given_by=_as_str(c, "given_by", "consent.given_by", problems),
                              recorded_by=_as_str(c, "recorded_by", "consent.recorded_by", problems))

    restrictions = d.get("restrictions", [])
    if isinstance(restrictions, str):
        restrictions = [restrictions]
    if not isinstance(restrictions, list):
        problems.append("restrictions: expected a list, e.g. [\"no-copy-to-initial-physician\"]")
        restrictions = []
    for r in restrictions:
        if not isinstance(r, str) or r not in RESTRICTIONS:
            problems.append(f"restrictions: {r!r} is unknown — allowed: {', '.join(sorted(RESTRICTIONS))}")

    reply_to = _reply_origin(d.get("reply_to"), problems)
    records = _restriction_records(d.get("restriction_records", []), problems)

    if problems:
        raise InvalidDossierError(problems, path)
    assert patient is not None and dossier_id is not None
    return Dossier(id=dossier_id, patient=patient, purpose=str(d.get("purpose", "second-opinion")),
                   created=d.get("created") if isinstance(d.get("created"), str) else None,
                   profile=str(d.get("profile", "second-opinion")),
                   consent=consent, restrictions=list(restrictions),
                   notes=d.get("notes") if isinstance(d.get("notes"), str) else None, reply_to=reply_to,
                   restriction_records=records, **people)


def _reply_origin(r: Any, problems: list[str]) -> ReplyOrigin | None:
    if r is None:
        return None
    if not isinstance(r, dict):
        problems.append("reply_to: expected a table with dossier_id and package_sha256")
        return None
    known = set(ReplyOrigin.__dataclass_fields__)
    problems += [f"reply_to.{k}: unknown field — allowed: {', '.join(sorted(known))}" for k in r if k not in known]
    values = {k: _as_str(r, k, f"reply_to.{k}", problems, required=k in ("dossier_id", "package_sha256"))
              for k in known}
    sha = values["package_sha256"]
    if sha and not re.fullmatch(r"[0-9a-f]{64}", sha):
        problems.append("reply_to.package_sha256: expected 64 lowercase hex digits")
    if not (values["dossier_id"] and sha):
        return None
    return ReplyOrigin(**values)


def _restriction_records(records: Any, problems: list[str]) -> list[RestrictionRecord]:
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        problems.append("restriction_records: expected [[restriction_records]] tables (code, recorded_by, "
                        "recorded_at)")
        return []
    out = []
    for i, r in enumerate(records, 1):
        fld = f"restriction_records[{i}]"
        known = set(RestrictionRecord.__dataclass_fields__)
        problems += [f"{fld}.{k}: unknown field — allowed: {', '.join(sorted(known))}" for k in r if k not in known]
        code = _as_str(r, "code", f"{fld}.code", problems, required=True)
        if code is not None and code not in RESTRICTIONS:
            problems.append(f"{fld}.code: {code!r} is unknown — allowed: {', '.join(sorted(RESTRICTIONS))}")
        source = _as_str(r, "source", f"{fld}.source", problems) or "reply"
        if source not in ("dossier", "reply"):
            problems.append(f"{fld}.source: {source!r} is not one of dossier, reply")
        if code:
            out.append(RestrictionRecord(code, _as_str(r, "recorded_by", f"{fld}.recorded_by", problems),
                                         _as_str(r, "recorded_at", f"{fld}.recorded_at", problems), source))
    return out


# ---------------------------------------------------------------------------
# Workspace indexes

_JSON_TYPES = {"str": (str,), "int": (int,), "bool": (bool,), "dict[str, Any]": (dict,)}
_JSON_WORDS = {str: "text", int: "a whole number", bool: "true or false", dict: "an object"}


def _json_kind(value: Any) -> str:
    """What a JSON value is, in words (never the value itself: it may be patient data)."""
    if value is None:
        return "null"
    for types, word in (((bool,), "true or false"), ((int, float), "a number"), ((str,), "text"),
                        ((list,), "a list"), ((dict,), "an object")):
        if isinstance(value, types):
            return word
    return type(value).__name__


def _a(name: str) -> str:
    return f"{'an' if name[0] in 'aeiou' else 'a'} {name}"


def _record_schema(cls: type) -> tuple[tuple[str, tuple[type, ...], bool, bool], ...]:
    """(field, JSON types it takes, null allowed, required) for each field of
    the index record dataclass *cls*, from its annotations."""
    out = []
    for f in fields(cls):
        parts = [p.strip() for p in str(f.type).split("|")]
        types = tuple(t for p in parts if p != "None" for t in _JSON_TYPES[p])
        out.append((f.name, types, "None" in parts, f.default is MISSING and f.default_factory is MISSING))
    return tuple(out)


def check_record(schema: tuple[tuple[str, tuple[type, ...], bool, bool], ...], d: Any) -> None:
    """Raise :class:`InputError` (no path: the reader adds the file and the
    record's number) when the JSON value *d* is not a record of *schema*:
    not an object, a required field missing, a field of another type. The
    indexes are written by dossierkit; one edited by hand or damaged is bad
    input (exit 2), never a crash further on."""
    if d.__class__ is not dict:
        raise InputError(f"is {_json_kind(d)}, not an object")
    for name, types, nullable, required in schema:
        value = d.get(name, MISSING)
        if value is MISSING or value is None:
            if required:
                raise InputError(f"has no {name}")
            if value is None and not nullable:
                raise InputError(f"has {_a(name)} that is null, not {_JSON_WORDS[types[0]]}")
        elif value.__class__ not in types:
            raise InputError(f"has {_a(name)} that is {_json_kind(value)}, not {_JSON_WORDS[types[0]]}")


@dataclass
class DocumentRecord:
    """One PDF document of the workspace (``index/documents.json``)."""

    id: str  # neutral id, e.g. "DOC0001"; also the stored file's stem
    kind: str
    path: str  # relative to the workspace root, e.g. "documents/DOC0001.pdf"
    sha256: str
    size: int
    original_name: str  # kept only inside the workspace (may hold PHI)
    title: str | None = None
    date: str | None = None  # ISO date of the document (not of the import)
    pages: int = 0
    has_text: bool = False  # False: scanned, text not extractable
    added: str | None = None  # UTC ISO time of `add`
    date_source: str | None = None  # where the date came from: user (--date), text, metadata (creation date)

    @property
    def loinc(self) -> str | None:
        return DOCUMENT_KINDS.get(self.kind, (None,))[0]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["loinc"] = self.loinc
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DocumentRecord:
        """The record of *d*, a JSON object of ``index/documents.json``;
        :class:`InputError` if it is not one (:func:`check_record`)."""
        check_record(_DOCUMENT_SCHEMA, d)
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in d.items() if k in known})


@dataclass
class ImageInstance:
    """One DICOM instance copied into the workspace (``index/images.json``).

    Flat on purpose: patients, studies and series are derived by grouping
    (:func:`group_studies`), so there is one source of truth per attribute.
    """

    sop_instance_uid: str
    sop_class_uid: str
    study_instance_uid: str
    series_instance_uid: str
    path: str  # relative to the workspace root
    sha256: str
    size: int
    transfer_syntax: str | None = None
    patient_name: str | None = None  # DICOM PN as found, e.g. "MARTIN^Claire"
    patient_id: str | None = None
    patient_birth_date: str | None = None  # DICOM DA as found, e.g. "19610412"
    patient_sex: str | None = None
    study_date: str | None = None
    study_time: str | None = None
    study_id: str | None = None
    study_description: str | None = None
    accession_number: str | None = None
    modality: str | None = None
    series_number: int | None = None
    series_description: str | None = None
    instance_number: int | None = None
    specific_character_set: str | None = None  # (0008,0005) as found, e.g. "ISO_IR 100"; for DICOMDIR records
    has_meta: bool = True  # False: file had no Part 10 preamble/meta header
    source: str | None = None  # where it was imported from (workspace-local, may hold PHI)
    origin: str | None = None  # the medium's own name for it, e.g. "source #1: DICOM/PAT1/IM0001" (no sender path)
    pixel_data: str | None = None  # native | encapsulated | private | none; None: not an image class (or old index)
    provenance: dict[str, Any] | None = None  # from a PACS: {"pacs", "route", "retrieved", "study"}
    accepted: int | None = None  # version of the acceptable-image rules the copy passed (gather.dicomfile); None: older

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ImageInstance:
        """The record of *d*, a JSON object of ``index/images.json``;
        :class:`InputError` if it is not one (:meth:`check`)."""
        check_record(_IMAGE_SCHEMA, d)
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in d.items() if k in known})

    @staticmethod
    def check(d: Any) -> None:
        """:class:`InputError` if *d* is not a JSON object of ``index/images.json``
        (:func:`check_record`), without building the record."""
        check_record(_IMAGE_SCHEMA, d)


_DOCUMENT_SCHEMA = _record_schema(DocumentRecord)
_IMAGE_SCHEMA = _record_schema(ImageInstance)


def check_images_index(index: dict[str, Any], path: object, hint: str) -> None:
    """:class:`InputError` naming *path* when the members of an image index
    besides its instances are not of their shape: ``problems`` a list of
    objects, ``imports`` a list of objects (``id`` a whole number, ``sources``
    a list of text), ``skipped`` counts by source and file type."""
    def wrong(what: str) -> InputError:
        return InputError(f"not valid JSON for this index ({what})", path=path, hint=hint)

    for key in ("problems", "imports"):
        items = index.get(key, [])
        if items.__class__ is not list:
            raise wrong(f"{key!r} is {_json_kind(items)}, not a list")
        for n, item in enumerate(items, 1):
            if item.__class__ is not dict:
                raise wrong(f"{key!r} item {n} is {_json_kind(item)}, not an object")
    for n, entry in enumerate(index.get("imports", []), 1):
        if entry.get("id", 0).__class__ is not int:
            raise wrong(f"the id of import {n} is {_json_kind(entry['id'])}, not a whole number")
        sources = entry.get("sources", [])
        if sources.__class__ is not list or any(s.__class__ is not str for s in sources):
            raise wrong(f"the sources of import {n} are not a list of text")
    skipped = index.get("skipped", {})
    if skipped.__class__ is not dict:
        raise wrong(f"'skipped' is {_json_kind(skipped)}, not an object")
    for counts in skipped.values():
        if counts.__class__ is not dict or any(v.__class__ is not int for v in counts.values()):
            raise wrong("the 'skipped' counts of a source are not whole numbers")


@dataclass
class SeriesSummary:
    series_instance_uid: str
    modality: str | None
    series_number: int | None
    description: str | None
    instances: list[ImageInstance]


@dataclass
class StudySummary:
    study_instance_uid: str
    date: str | None
    description: str | None
    accession_number: str | None
    patient_keys: set[tuple[str | None, str | None, str | None]]  # (name, id, birth date) as found
    series: list[SeriesSummary]

    @property
    def modalities(self) -> list[str]:
        return sorted({s.modality for s in self.series if s.modality})

    @property
    def instance_count(self) -> int:
        return sum(len(s.instances) for s in self.series)


def group_studies(instances: list[ImageInstance]) -> list[StudySummary]:
    """Group instances into studies and series, in a stable order (date, UID)."""
    studies: dict[str, StudySummary] = {}
    series: dict[tuple[str, str], SeriesSummary] = {}
    for inst in instances:
        st = studies.get(inst.study_instance_uid)
        if st is None:
            st = studies[inst.study_instance_uid] = StudySummary(
                inst.study_instance_uid, inst.study_date, inst.study_description, inst.accession_number, set(), [])
        st.patient_keys.add((inst.patient_name, inst.patient_id, inst.patient_birth_date))
        key = (inst.study_instance_uid, inst.series_instance_uid)
        se = series.get(key)
        if se is None:
            se = series[key] = SeriesSummary(inst.series_instance_uid, inst.modality, inst.series_number,
                                             inst.series_description, [])
            st.series.append(se)
        se.instances.append(inst)
    for st in studies.values():
        st.series.sort(key=lambda s: (s.series_number if s.series_number is not None else 1 << 30,
                                      s.series_instance_uid))
        for se in st.series:
            se.instances.sort(key=lambda i: (i.instance_number if i.instance_number is not None else 1 << 30,
                                             i.sop_instance_uid))
    return sorted(studies.values(), key=lambda s: (s.date or "", s.study_instance_uid))
