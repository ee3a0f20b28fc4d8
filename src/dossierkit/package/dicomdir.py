"""DICOMDIR (DICOM PS3.10 / PS3.3 Annex F) written from the image index, in one pass.

Why not pydicom's ``FileSet``: ``add`` refuses images that lack Type 1 record
keys (very common on real CDs), is quadratic in the number of instances and
copies every file to a staging folder. The directory is small and regular,
so it is encoded here directly, Explicit VR Little Endian, with the record
offsets computed from the encoded sizes (no second pass over the images —
everything comes from ``index/images.json``).

Structure: one PATIENT record per distinct (PatientID, PatientName) the
images carry, values as found (a reader such as ``dcmmkdir +U`` files each
image under the record of its own PatientID) → one STUDY record per study
under each patient its images name (a study under two PatientIDs appears
under both, with its own images) → SERIES → one record per instance
referencing its file ID, of the type PS3.3 Annex F gives its SOP class
(IMAGE, WAVEFORM, SR DOCUMENT, RT …; :data:`NON_IMAGE_RECORDS`).

Stand-ins (like DCMTK ``dcmmkdir --invent``): when an image lacks a value
that a directory record requires (Type 1), the *record* gets a documented
stand-in and the image copy is never touched. Stand-ins are listed in the
result so the manifest can record them (docs/package-format.md):

- Study Date / Study Time: the value of another instance of the same study,
  else ``19000101`` / ``000000`` (obviously invented, never today's date);
- Study ID: ``DKSTUDY`` + the study's ordinal (``DKSTUDY000001``);
- Series Number / Instance Number: the next number after the largest one
  present among its siblings (never a duplicate);
- Modality: ``OT`` (other);
- Patient ID (images without one): the dossier's identifier, else the
  dossier id.

Offsets (0004,1200/1202/1400/1420) count bytes from the first byte of the
file (preamble included), as PS3.10 defines the File Meta Information.
"""

from __future__ import annotations

import io
import re
import struct
import uuid
from array import array
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from dossierkit import __version__
from dossierkit.errors import IntegrityError
from dossierkit.gather.dicomfile import is_valid_uid
from dossierkit.model import Patient
from dossierkit.package.layout import MediaLayout, PlannedInstance, is_dicom_file_id

MEDIA_STORAGE_DIRECTORY = "1.2.840.10008.1.3.10"
EXPLICIT_VR_LE = "1.2.840.10008.1.2.1"
IMPLICIT_VR_LE = "1.2.840.10008.1.2"
# dossierkit's implementation class UID: a UUID-derived UID (PS3.5 B.2), fixed.
IMPLEMENTATION_CLASS_UID = "2.25.253286393785412405425338461312436137785"
IMPLEMENTATION_VERSION = f"DOSSIERKIT_{__version__}"[:16]
FILE_SET_ID = "DOSSIER"
MAX_DICOMDIR_BYTES = 64 * 1024 * 1024  # read-side cap: ~200 000 records

STAND_IN_DATE = "19000101"
STAND_IN_TIME = "000000"
STAND_IN_MODALITY = "OT"

_LONG_VRS = {"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"}
_DA = re.compile(r"^\d{8}\Z")  # \Z: "$" would accept a final "\n"
_TM = re.compile(r"^\d{2}(\d{2}(\d{2}(\.\d{1,6})?)?)?\Z")
_UI = re.compile(r"^[0-9.]{1,64}\Z")
_IS_MAX = 2**31 - 1

# Offsets of the two patched UL values inside an encoded item (see _Record.encode).
_NEXT_AT = 16  # item header 8 + element header 8
_LOWER_AT = 38  # + UL(12) + US(10) + element header 8


@dataclass
class StandIn:
    level: str  # PATIENT, STUDY, SERIES, IMAGE
    attribute: str  # DICOM keyword
    value: str
    path: str | None = None  # file ID of the image concerned (first one for study/series)


@dataclass
class DicomdirResult:
    data: bytes
    stand_ins: list[StandIn] = field(default_factory=list)

    def stand_in_summary(self) -> dict[str, int]:
        """Count of records per invented attribute, e.g. {"STUDY.StudyTime": 1}."""
        return dict(sorted(Counter(f"{s.level}.{s.attribute}" for s in self.stand_ins).items()))


# ---------------------------------------------------------------------------
# Encoding


def _element(tag: int, vr: str, value: bytes) -> bytes:
    if len(value) % 2:
        value += b"\x00" if vr in ("UI", "OB") else b" "
    group, elem = tag >> 16, tag & 0xFFFF
    if vr in _LONG_VRS:
        return struct.pack("<HH2sHI", group, elem, vr.encode("ascii"), 0, len(value)) + value
    return struct.pack("<HH2sH", group, elem, vr.encode("ascii"), len(value)) + value


def _ul(tag: int, value: int) -> bytes:
    return _element(tag, "UL", struct.pack("<I", value))


def _us(tag: int, value: int) -> bytes:
    return _element(tag, "US", struct.pack("<H", value))


def _clean_text(value: str | None, limit: int) -> str:
    """A text value fit for LO/SH/PN in a record: no backslash (the multi-value
    delimiter) nor control characters, at most *limit* characters."""
    if not value:
        return ""
    text = "".join(" " if (c == "\\" or ord(c) < 32) else c for c in str(value)).strip()
    return text[:limit].rstrip()


def _charset_for(texts: list[str]) -> tuple[str | None, str]:
    """(Specific Character Set term, Python codec) for the record's text values."""
    joined = "".join(texts)
    if joined.isascii():
        return None, "ascii"
    try:
        joined.encode("latin-1")
        return "ISO_IR 100", "latin-1"
    except UnicodeEncodeError:
        return "ISO_IR 192", "utf-8"


class _Record:
    """Elements of one directory record, encoded once its charset is known."""

    def __init__(self, record_type: str):
        self.record_type = record_type
        self.ascii: list[tuple[int, str, str]] = []  # CS, DA, TM, UI, IS
        self.text: list[tuple[int, str, str]] = []  # PN, LO, SH: charset-dependent

    def add(self, tag: int, vr: str, value: str) -> None:
        (self.text if vr in ("PN", "LO", "SH") else self.ascii).append((tag, vr, value))

    def encode(self) -> bytes:
        charset, codec = _charset_for([v for _t, _vr, v in self.text])
        elements: list[tuple[int, bytes]] = [
            (0x00041400, _ul(0x00041400, 0)),
            (0x00041410, _us(0x00041410, 0xFFFF)),
            (0x00041420, _ul(0x00041420, 0)),
            (0x00041430, _element(0x00041430, "CS", self.record_type.encode("ascii"))),
        ]
        if charset:
            elements.append((0x00080005, _element(0x00080005, "CS", charset.encode("ascii"))))
        for tag, vr, value in self.ascii:
            elements.append((tag, _element(tag, vr, value.encode("ascii"))))
        for tag, vr, value in self.text:
            elements.append((tag, _element(tag, vr, value.encode(codec))))
        elements.sort(key=lambda e: e[0])
        return b"".join(e for _t, e in elements)


def _clean_pn(value: str | None) -> str:
    """A PN value as found in the images, fit for a record (no backslash or control character; ≤ 64 per
    component group)."""
    return "=".join(_clean_text(group, 64) for group in (value or "").split("="))[:194].rstrip("=")


def _valid_uid(uid: str | None, what: str, path: str) -> str:
    # The one definition import and check apply (gather.dicomfile): import refuses such files, check reports
    # those an older index holds (IMG-NOT-ACCEPTABLE); reaching this means the check was waived.
    if not is_valid_uid(uid):
        raise IntegrityError(f"image index: {what} {uid!r} is not a valid UID", path=path,
                             hint=f"take the image out: dossierkit remove-images DIR {path.rsplit('/', 1)[-1][:-4]}")
    return uid


def _next_numbers(values: list[int | None]) -> list[tuple[int, bool]]:
    """Each value, or a stand-in after the largest present one: [(number, invented)]."""
    present = [v for v in values if v is not None and -_IS_MAX <= v <= _IS_MAX]
    nxt = max(present, default=0) + 1
    out = []
    for v in values:
        if v is not None and -_IS_MAX <= v <= _IS_MAX:
            out.append((v, False))
        else:
            out.append((nxt, True))
            nxt += 1
    return out


def build_dicomdir(patient: Patient, layout: MediaLayout, *, dossier_id: str = "",
                   media_uid: str | None = None, read_header: HeaderReader | None = None) -> DicomdirResult:
    """Encode the DICOMDIR of *layout*'s images for *patient*.

    *read_header* returns the header of an instance (or None when it cannot
    be read); it is called only for the few non-image SOP classes whose
    records need keys the index does not hold (:data:`NON_IMAGE_RECORDS`).
    Without it, or when a header lacks a key no stand-in can replace, the
    instance gets an IMAGE record.

    Raises IntegrityError when the index holds something no record can carry
    (an invalid UID, a duplicate SOP Instance UID, a non-conformant file ID).
    """
    stand_ins: list[StandIn] = []
    instances = list(layout.instances())
    seen: set[str] = set()
    for pi in instances:
        uid = _valid_uid(pi.record.sop_instance_uid, "SOP Instance UID", pi.record.path)
        if uid in seen:
            raise IntegrityError(f"image index: SOP Instance UID {uid} appears twice", path=pi.record.path,
                                 hint="re-import the images (duplicates are kept once)")
        seen.add(uid)
        if not is_dicom_file_id(pi.path):
            raise IntegrityError(f"internal: {pi.path} is not a DICOM file ID")

    # --- patients: one record per distinct (PatientID, PatientName) the images carry -----------------
    # (a DICOMDIR reader such as dcmmkdir +U files an image under the record of its own PatientID: one
    # record for all would make it add a second tree and reference the files twice)
    fallback_id = patient.identifier.value if patient.identifier else (dossier_id or "UNKNOWN")
    bodies: list[bytes | None] = []
    children: list[list[int] | None] = []  # None: a leaf (no empty list per image record, #18)
    roots: list[int] = []
    patient_nodes: dict[tuple[str, str], int] = {}

    def new_node(body: bytes, parent: int | None) -> int:
        bodies.append(body)
        children.append(None)
        if parent is None:
            roots.append(len(bodies) - 1)
        else:
            kids = children[parent]
            if kids is None:
                kids = children[parent] = []
            kids.append(len(bodies) - 1)
        return len(bodies) - 1

    first_of_name: dict[str, int] = {}  # PatientName -> the first PATIENT record (in directory order) bearing it

    def patient_node(pi: PlannedInstance) -> int:
        pid = _clean_text(pi.record.patient_id, 64)
        name = _clean_pn(pi.record.patient_name)
        if not pid and name in first_of_name:
            # An image without PatientID is looked up by its PatientName, in the first record bearing it
            # (DCMTK dcddirif.cc recordMatchesDataset/findExistingRecord): it sits there, whatever that ID.
            return first_of_name[name]
        invented = not pid
        if invented:
            pid = _clean_text(fallback_id, 64)
        key = (pid, name)
        node = patient_nodes.get(key)
        if node is None:
            if invented:
                stand_ins.append(StandIn("PATIENT", "PatientID", "(dossier identifier)" if patient.identifier
                                         else "(dossier id)", pi.path))
            rec = _Record("PATIENT")
            rec.add(0x00100010, "PN", name)
            rec.add(0x00100020, "LO", pid)
            node = patient_nodes[key] = new_node(rec.encode(), None)
            if name:
                first_of_name.setdefault(name, node)
        return node

    for s_ord, st in enumerate(layout.studies, 1):
        first = st.series[0].instances[0].path
        rec = _Record("STUDY")
        date = _first_valid([i.record.study_date for se in st.series for i in se.instances], _DA)
        if date is None:
            date = STAND_IN_DATE
            stand_ins.append(StandIn("STUDY", "StudyDate", date, first))
        time = _first_valid([_tm(i.record.study_time) for se in st.series for i in se.instances], _TM)
        if time is None:
            time = STAND_IN_TIME
            stand_ins.append(StandIn("STUDY", "StudyTime", time, first))
        study_id = _clean_text(_first_present([i.record.study_id for se in st.series for i in se.instances]), 16)
        if not study_id:
            study_id = f"DKSTUDY{s_ord:06d}"
            stand_ins.append(StandIn("STUDY", "StudyID", study_id, first))
        rec.add(0x00080020, "DA", date)
        rec.add(0x00080030, "TM", time)
        rec.add(0x00080050, "SH", _clean_text(st.summary.accession_number, 16))
        rec.add(0x00081030, "LO", _clean_text(st.summary.description, 64))
        rec.add(0x0020000D, "UI", _valid_uid(st.summary.study_instance_uid, "Study Instance UID", first))
        rec.add(0x00200010, "SH", study_id)
        study_body = rec.encode()
        study_nodes: dict[int, int] = {}  # patient node -> this study's record under it
        series_nodes: dict[tuple[int, int], int] = {}  # (patient node, series ordinal) -> series record

        numbers = _next_numbers([se.summary.series_number for se in st.series])
        for se_ord, (se, (number, invented)) in enumerate(zip(st.series, numbers)):
            first = se.instances[0].path
            rec = _Record("SERIES")
            modality = _clean_text(se.summary.modality, 16).upper()
            if not modality or not re.fullmatch(r"[A-Z0-9_ ]+", modality):
                modality = STAND_IN_MODALITY
                stand_ins.append(StandIn("SERIES", "Modality", modality, first))
            if invented:
                stand_ins.append(StandIn("SERIES", "SeriesNumber", str(number), first))
            rec.add(0x00080060, "CS", modality)
            rec.add(0x0020000E, "UI", _valid_uid(se.summary.series_instance_uid, "Series Instance UID", first))
            rec.add(0x00200011, "IS", str(number))
            series_body = rec.encode()

            inumbers = _next_numbers([pi.record.instance_number for pi in se.instances])
            for pi, (inum, inv) in zip(se.instances, inumbers):
                pat_node = patient_node(pi)
                st_node = study_nodes.get(pat_node)
                if st_node is None:  # the study under each patient its images name (one study, several IDs)
                    st_node = study_nodes[pat_node] = new_node(study_body, pat_node)
                se_node = series_nodes.get((pat_node, se_ord))
                if se_node is None:
                    se_node = series_nodes[(pat_node, se_ord)] = new_node(series_body, st_node)
                body, level = _instance_record(pi, inum, read_header, stand_ins)
                if inv:
                    stand_ins.append(StandIn(level, "InstanceNumber", str(inum), pi.path))
                new_node(body, se_node)

    if not instances:  # a dossier without images: a valid directory with no record at all
        stand_ins.clear()
    data = _assemble(bodies, children, roots, media_uid or f"2.25.{uuid.uuid4().int}")
    return DicomdirResult(data, stand_ins)


def _tm(value: str | None) -> str | None:
    return value.strip() if value else None


def _first_valid(values: list[str | None], pattern: re.Pattern[str]) -> str | None:
    for v in values:
        if v and pattern.match(v.strip()):
            return v.strip()
    return None


def _first_present(values: list[str | None]) -> str | None:
    for v in values:
        if v and v.strip():
            return v
    return None


def _image_record(pi: PlannedInstance, number: int) -> bytes:
    rec = _Record("IMAGE")
    inst = pi.record
    ts = inst.transfer_syntax if inst.transfer_syntax and _UI.match(inst.transfer_syntax) else IMPLICIT_VR_LE
    rec.add(0x00041500, "CS", "\\".join(pi.path.split("/")))
    rec.add(0x00041510, "UI", _valid_uid(inst.sop_class_uid, "SOP Class UID", inst.path))
    rec.add(0x00041511, "UI", inst.sop_instance_uid)
    rec.add(0x00041512, "UI", ts)
    rec.add(0x00200013, "IS", str(number))
    return rec.encode()


# Non-image storage SOP classes and their record types (PS3.3 F.4/F.5, as
# pydicom's FileSet and DCMTK dcmmkdir assign them; a test compares this
# table with pydicom's); every other SOP class gets an IMAGE record.
_P = "1.2.840.10008.5.1.4.1.1."
_RECORD_CLASSES: dict[str, tuple[str, ...]] = {
    "SR DOCUMENT": ("78.6", "79.1", "88.11", "88.22", "88.33", "88.34", "88.35", "88.40", "88.50", "88.65",
                    "88.67", "88.68", "88.69", "88.70", "88.71", "88.72", "88.73", "88.74", "88.75", "88.76"),
    "KEY OBJECT DOC": ("88.59",),
    "PRESENTATION": ("11.1", "11.2", "11.3", "11.4", "11.5", "131"),
    "ENCAP DOC": ("104.1", "104.2", "104.3", "104.4", "104.5"),
    "WAVEFORM": ("9.1.1", "9.1.2", "9.1.3", "9.2.1", "9.3.1", "9.4.1", "9.4.2", "9.5.1", "9.6.1", "9.6.2",
                 "9.7.1", "9.7.2", "9.7.3", "9.7.4", "9.8.1"),
    "RT DOSE": ("481.2",),
    "RT STRUCTURE SET": ("481.3",),
    "RT PLAN": ("481.5", "481.8"),
    "RT TREAT RECORD": ("481.4", "481.6", "481.7", "481.9"),
    "SPECTROSCOPY": ("4.2",),
    "RAW DATA": ("66",),
    "REGISTRATION": ("66.1", "66.3"),
    "FIDUCIAL": ("66.2",),
    "SURFACE": ("66.5",),
    "TRACT": ("66.6",),
    "VALUE MAP": ("67",),
    "SURFACE SCAN": ("68.1", "68.2"),
    "STEREOMETRIC": ("77.1.5.3",),
    "MEASUREMENT": ("78.1", "78.2", "78.3", "78.4", "78.5", "78.7", "80.1"),
    "ASSESSMENT": ("90.1",),
}
NON_IMAGE_RECORDS: dict[str, str] = {_P + suffix: rtype for rtype, suffixes in _RECORD_CLASSES.items()
                                     for suffix in suffixes}
# Keys of each record type besides Instance Number (PS3.3 Table F.5-x):
# (keyword, Type 1 stand-in or None). Type 1 without a stand-in: the
# instance falls back to an IMAGE record; Type 2/1C/3 keys are copied when
# present (Type 2 ones empty when absent).
_T2 = object()  # Type 2: present, possibly empty
_OPTIONAL = object()  # Type 1C/3: copied when present
RECORD_KEYS: dict[str, list[tuple[str, Any]]] = {
    "SR DOCUMENT": [("CompletionFlag", "PARTIAL"), ("VerificationFlag", "UNVERIFIED"),
                    ("ContentDate", STAND_IN_DATE), ("ContentTime", STAND_IN_TIME),
                    ("VerificationDateTime", _OPTIONAL), ("ConceptNameCodeSequence", None)],
    "KEY OBJECT DOC": [("ContentDate", STAND_IN_DATE), ("ContentTime", STAND_IN_TIME),
                       ("ConceptNameCodeSequence", None)],
    "PRESENTATION": [("PresentationCreationDate", STAND_IN_DATE), ("PresentationCreationTime", STAND_IN_TIME),
                     ("ContentLabel", "UNNAMED"), ("ContentDescription", _T2), ("ContentCreatorName", _T2),
                     ("ReferencedSeriesSequence", _OPTIONAL)],
    "ENCAP DOC": [("ContentDate", _T2), ("ContentTime", _T2), ("DocumentTitle", _T2),
                  ("HL7InstanceIdentifier", _OPTIONAL), ("ConceptNameCodeSequence", _T2),
                  ("MIMETypeOfEncapsulatedDocument", None)],
    "RT DOSE": [("DoseSummationType", None), ("DoseComment", _OPTIONAL)],
    "RT STRUCTURE SET": [("StructureSetLabel", "UNNAMED"), ("StructureSetDate", _T2), ("StructureSetTime", _T2)],
    "RT PLAN": [("RTPlanLabel", "UNNAMED"), ("RTPlanDate", _T2), ("RTPlanTime", _T2)],
    "RT TREAT RECORD": [("TreatmentDate", _T2), ("TreatmentTime", _T2)],
    "WAVEFORM": [("ContentDate", STAND_IN_DATE), ("ContentTime", STAND_IN_TIME)],
    "RAW DATA": [("ContentDate", STAND_IN_DATE), ("ContentTime", STAND_IN_TIME)],
    "SURFACE SCAN": [("ContentDate", STAND_IN_DATE), ("ContentTime", STAND_IN_TIME)],
    "SPECTROSCOPY": [("ImageType", None), ("ContentDate", STAND_IN_DATE), ("ContentTime", STAND_IN_TIME),
                     ("ReferencedImageEvidenceSequence", _OPTIONAL), ("NumberOfFrames", None), ("Rows", None),
                     ("Columns", None), ("DataPointRows", None), ("DataPointColumns", None)],
    "ASSESSMENT": [("InstanceCreationDate", STAND_IN_DATE), ("InstanceCreationTime", _OPTIONAL)],
    "STEREOMETRIC": [],
    **{rtype: [("ContentDate", STAND_IN_DATE), ("ContentTime", STAND_IN_TIME), ("ContentLabel", "UNNAMED"),
               ("ContentDescription", _T2), ("ContentCreatorName", _T2)]
       for rtype in ("REGISTRATION", "FIDUCIAL", "VALUE MAP", "MEASUREMENT", "SURFACE", "TRACT")},
}
HEADER_KEYWORDS = sorted({k for keys in RECORD_KEYS.values() for k, _ in keys}
                         | {"SpecificCharacterSet", "VerifyingObserverSequence"})
HeaderReader = Callable[[PlannedInstance], Any]


def _instance_record(pi: PlannedInstance, number: int, read_header: HeaderReader | None,
                     stand_ins: list[StandIn]) -> tuple[bytes, str]:
    """(encoded record, record type) for one instance."""
    rtype = NON_IMAGE_RECORDS.get(pi.record.sop_class_uid or "")
    if rtype is None or read_header is None:
        return _image_record(pi, number), "IMAGE"
    header = read_header(pi)
    record = _non_image_record(pi, number, rtype, header, stand_ins) if header is not None else None
    if record is None:
        stand_ins.append(StandIn(rtype, "(record type: IMAGE)", "IMAGE", pi.path))
        return _image_record(pi, number), "IMAGE"
    return record, rtype


def _non_image_record(pi: PlannedInstance, number: int, rtype: str, header: Any,
                      stand_ins: list[StandIn]) -> bytes | None:
    """The record of a non-image instance, its keys copied from *header* and
    encoded by pydicom (sequences, character sets); None when a Type 1 key
    without a stand-in is missing."""
    # pydicom: only loaded when a file needs it (start-up: docs/performance.md, "Imports kept out of start-up")
    from pydicom.dataset import Dataset
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_dataset

    inst = pi.record
    rec = Dataset()
    invented: list[StandIn] = []
    for keyword, rule in RECORD_KEYS[rtype]:
        value = header.get(keyword) if keyword in header else None
        present = value not in (None, "") and not (isinstance(value, list) and not value)
        if present:
            setattr(rec, keyword, value)
        elif rule is _T2:
            setattr(rec, keyword, [] if keyword.endswith("Sequence") else None)
        elif rule is _OPTIONAL:
            continue
        elif rule is None:
            return None
        else:
            setattr(rec, keyword, rule)
            invented.append(StandIn(rtype, keyword, str(rule), pi.path))
    if rtype == "SR DOCUMENT" and rec.get("VerificationFlag") == "VERIFIED" and "VerificationDateTime" not in rec:
        # Type 1C when verified: the latest of the verifying observers' times (as dcmmkdir does)
        times = [str(o.get("VerificationDateTime", "")) for o in header.get("VerifyingObserverSequence") or []]
        latest = max((t for t in times if t), default=None)
        rec.VerificationDateTime = latest or STAND_IN_DATE + STAND_IN_TIME
        if latest is None:
            invented.append(StandIn(rtype, "VerificationDateTime", rec.VerificationDateTime, pi.path))
    rec.InstanceNumber = str(number)
    rec.ReferencedFileID = pi.path.split("/")
    rec.ReferencedSOPClassUIDInFile = inst.sop_class_uid
    rec.ReferencedSOPInstanceUIDInFile = inst.sop_instance_uid
    rec.ReferencedTransferSyntaxUIDInFile = (inst.transfer_syntax if inst.transfer_syntax
                                             and _UI.match(inst.transfer_syntax) else IMPLICIT_VR_LE)
    charset = header.get("SpecificCharacterSet")
    if charset:
        rec.SpecificCharacterSet = charset
    fp = DicomBytesIO()
    fp.is_little_endian, fp.is_implicit_VR = True, False
    try:
        write_dataset(fp, rec)
    except Exception:  # a value pydicom cannot encode: an IMAGE record is still valid
        return None
    stand_ins.extend(invented)
    head = _Record(rtype)
    return head.encode() + fp.getvalue()


def _assemble(bodies: list[bytes | None], children: list[list[int] | None], roots: list[int], media_uid: str) -> bytes:
    """The file, written once into one buffer: each record's body is released
    as it is copied, and the buffer is returned without a second copy (it
    used to hold the directory several times over; issue #18)."""
    # File meta information (group 0002), preceded by the preamble and prefix.
    meta_elems = b"".join([
        _element(0x00020001, "OB", b"\x00\x01"),
        _element(0x00020002, "UI", MEDIA_STORAGE_DIRECTORY.encode()),
        _element(0x00020003, "UI", media_uid.encode()),
        _element(0x00020010, "UI", EXPLICIT_VR_LE.encode()),
        _element(0x00020012, "UI", IMPLEMENTATION_CLASS_UID.encode()),
        _element(0x00020013, "SH", IMPLEMENTATION_VERSION.encode()),
    ])
    head = b"\x00" * 128 + b"DICM" + _ul(0x00020000, len(meta_elems)) + meta_elems
    head += _element(0x00041130, "CS", FILE_SET_ID.encode())
    first_at = len(head) + 8  # value of (0004,1200)
    head += _ul(0x00041200, 0) + _ul(0x00041202, 0) + _us(0x00041212, 0)

    # Depth-first order; each node's item offset follows from the sizes before it.
    order: list[int] = []
    stack = list(reversed(roots))
    while stack:
        n = stack.pop()
        order.append(n)
        stack.extend(reversed(children[n] or ()))
    items_total = sum(8 + len(bodies[n] or b"") for n in order)
    seq_header = _element(0x00041220, "SQ", b"")[:-4] + struct.pack("<I", items_total)
    base = len(head) + len(seq_header)
    offset_of = [0] * len(bodies)
    pos = base
    for n in order:
        offset_of[n] = pos
        pos += 8 + len(bodies[n] or b"")

    out = io.BytesIO()
    out.write(head)
    out.write(seq_header)
    for n in order:
        body = bodies[n] or b""
        bodies[n] = None
        out.write(struct.pack("<HHI", 0xFFFE, 0xE000, len(body)))
        out.write(body)
    view = out.getbuffer()
    for n in order:
        kids = children[n]
        if kids:
            struct.pack_into("<I", view, offset_of[n] + _LOWER_AT, offset_of[kids[0]])
            for a, b in zip(kids, kids[1:]):
                struct.pack_into("<I", view, offset_of[a] + _NEXT_AT, offset_of[b])
    for a, b in zip(roots, roots[1:]):
        struct.pack_into("<I", view, offset_of[a] + _NEXT_AT, offset_of[b])
    if roots:
        struct.pack_into("<I", view, first_at, offset_of[roots[0]])
        struct.pack_into("<I", view, first_at + 12, offset_of[roots[-1]])
    view.release()
    return out.getvalue()  # the buffer itself, not a copy (BytesIO shares it once no view is held)


# ---------------------------------------------------------------------------
# Reading back (verify)


@dataclass
class DirectoryEntry:
    """One record referencing a file, as found by walking the offsets."""

    file_id: str  # "/"-joined Referenced File ID
    record_type: str
    sop_instance_uid: str | None
    sop_class_uid: str | None
    transfer_syntax: str | None


_ITEM, _ITEM_END, _SEQ_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
_UNDEFINED = 0xFFFFFFFF
_WANTED = {0x00041400, 0x00041420, 0x00041430, 0x00041500, 0x00041510, 0x00041511, 0x00041512}


class _Malformed(Exception):
    pass


def _header(data: bytes, pos: int) -> tuple[int, str, int, int]:
    """(tag, VR, value length, header length) of the Explicit VR LE element at *pos*."""
    if pos + 8 > len(data):
        raise _Malformed(pos)
    group, elem = struct.unpack_from("<HH", data, pos)
    tag = (group << 16) | elem
    if group == 0xFFFE:  # item and delimiters carry no VR
        return tag, "", struct.unpack_from("<I", data, pos + 4)[0], 8
    vr = data[pos + 4:pos + 6].decode("latin-1")
    if vr in _LONG_VRS:
        if pos + 12 > len(data):
            raise _Malformed(pos)
        return tag, vr, struct.unpack_from("<I", data, pos + 8)[0], 12
    if not vr.isalpha() or not vr.isupper():
        raise _Malformed(pos)
    return tag, vr, struct.unpack_from("<H", data, pos + 6)[0], 8


def _skip_undefined(data: bytes, pos: int) -> int:
    """Position after the sequence delimiter of an undefined-length SQ whose items start at *pos*."""
    while True:
        tag, _vr, length, hl = _header(data, pos)
        if tag == _SEQ_END:
            return pos + 8
        if tag != _ITEM:
            raise _Malformed(pos)
        pos = _parse_item(data, pos + hl, None if length == _UNDEFINED else pos + hl + length, {})


def _parse_item(data: bytes, pos: int, end: int | None, out: dict[int, bytes]) -> int:
    """Parse one item's elements into *out* (wanted tags only); return the position after it."""
    while end is None or pos < end:
        tag, vr, length, hl = _header(data, pos)
        if tag == _ITEM_END and end is None:
            return pos + 8
        pos += hl
        if length == _UNDEFINED:
            if vr != "SQ":
                raise _Malformed(pos)
            pos = _skip_undefined(data, pos)
            continue
        if pos + length > len(data) or (end is not None and pos + length > end):
            raise _Malformed(pos)
        if tag in _WANTED:
            out[tag] = data[pos:pos + length]
        pos += length
    if pos != end:
        raise _Malformed(pos)
    return pos


def _text(raw: bytes | None) -> str | None:
    return raw.decode("ascii", "replace").strip("\x00 ") if raw is not None else None


def _ul_value(raw: bytes | None) -> int:
    if raw is None:
        return 0
    if len(raw) != 4:
        raise _Malformed(0)
    return struct.unpack("<I", raw)[0]


def _parse(data: bytes) -> tuple[dict[int, bytes], int, array]:
    """(file meta values, offset of the first root record, every record's
    item offset in increasing order). Each record is parsed (validated) here,
    then again when the walk reaches it: 8 bytes a record held, not a dict of
    its values (issue #18; docs/performance.md, "Memory per file")."""
    if len(data) < 132 + 12 or data[128:132] != b"DICM":
        raise IntegrityError("DICOMDIR: not a DICOM Part 10 file (no DICM prefix)")
    meta: dict[int, bytes] = {}
    pos = 132
    while pos + 8 <= len(data) and struct.unpack_from("<H", data, pos)[0] == 0x0002:
        tag, _vr, length, hl = _header(data, pos)
        meta[tag] = data[pos + hl:pos + hl + length]
        pos += hl + length
    first = 0
    records = array("Q")
    scratch: dict[int, bytes] = {}
    seen_sequence = False
    while pos < len(data):
        tag, vr, length, hl = _header(data, pos)
        vstart = pos + hl
        if tag == 0x00041200:
            first = _ul_value(data[vstart:vstart + length])
        if tag == 0x00041220:
            seen_sequence = True
            end = None if length == _UNDEFINED else vstart + length
            p = vstart
            while end is None or p < end:
                itag, _ivr, ilen, ihl = _header(data, p)
                if end is None and itag == _SEQ_END:
                    p += 8
                    break
                if itag != _ITEM:
                    raise _Malformed(p)
                after = _parse_item(data, p + ihl, None if ilen == _UNDEFINED else p + ihl + ilen, scratch)
                scratch.clear()
                records.append(p)
                p = after
            pos = p
            continue
        if length == _UNDEFINED:
            if vr != "SQ":
                raise _Malformed(pos)
            pos = _skip_undefined(data, vstart)
            continue
        if vstart + length > len(data):
            raise _Malformed(pos)
        pos = vstart + length
    if not seen_sequence:
        raise IntegrityError("DICOMDIR: no Directory Record Sequence")
    return meta, first, records


def _record(data: bytes, offset: int) -> dict[int, bytes]:
    """The wanted values of the record (item) at *offset*, already validated by :func:`_parse`."""
    _tag, _vr, length, hl = _header(data, offset)
    rec: dict[int, bytes] = {}
    _parse_item(data, offset + hl, None if length == _UNDEFINED else offset + hl + length, rec)
    return rec


def parse_package_dicomdir(data: bytes) -> list[DirectoryEntry]:
    """Every record referencing a file (:func:`iter_package_dicomdir`), as a list."""
    return list(iter_package_dicomdir(data))


def iter_package_dicomdir(data: bytes) -> Iterator[DirectoryEntry]:
    """Parse a DICOMDIR and walk its records through their offsets from the
    root, as a media importer does, yielding each record that references a
    file as it is reached (a structural problem found later still raises:
    the caller acts on the entries only once the iteration has ended).

    A small Explicit VR Little Endian reader of its own: pydicom takes ~4 s
    on a 4 000-record directory (it converts every element), this ~0.1 s.
    Interoperability is proven separately (tests read ours with pydicom,
    DCMTK and dicom3tools). Raises IntegrityError naming the first
    structural problem: not a DICOMDIR, a wrong transfer syntax, an offset
    that points nowhere, a record reached twice (a loop), an unreachable
    record, a leaf without a file, a bad file ID.
    """
    if len(data) > MAX_DICOMDIR_BYTES:
        raise IntegrityError("DICOMDIR: larger than any dossier needs (over 64 MiB)")
    try:
        meta, first, records = _parse(data)
    except (_Malformed, struct.error) as exc:
        raise IntegrityError(f"DICOMDIR: malformed (near byte {exc.args[0] if exc.args else '?'})") from exc
    if _text(meta.get(0x00020002)) != MEDIA_STORAGE_DIRECTORY:
        raise IntegrityError("DICOMDIR: not a Media Storage Directory (wrong SOP class)")
    if _text(meta.get(0x00020010)) != EXPLICIT_VR_LE:
        raise IntegrityError("DICOMDIR: not Explicit VR Little Endian")
    visited = bytearray(len(records))  # by index in *records*
    reached = 0
    hierarchy = ("PATIENT", "STUDY", "SERIES")
    # Iterative walk: (offset of the first sibling, depth)
    stack = [(first, 0)]
    try:
        while stack:
            offset, depth = stack.pop()
            while offset:
                # Parsed as walked: one record's values at a time (issues #6, #18).
                at = bisect_left(records, offset)
                if at == len(records) or records[at] != offset:
                    raise IntegrityError(f"DICOMDIR: a record offset ({offset}) points to no record")
                if visited[at]:
                    raise IntegrityError(f"DICOMDIR: record at offset {offset} is reached twice (loop)")
                visited[at] = 1
                reached += 1
                rec = _record(data, offset)
                rtype = _text(rec.get(0x00041430)) or ""
                if depth < 3 and rtype != hierarchy[depth]:
                    raise IntegrityError(f"DICOMDIR: a {rtype or 'untyped'} record where a "
                                         f"{hierarchy[depth]} record belongs")
                lower = _ul_value(rec.get(0x00041420))
                if 0x00041500 in rec:
                    file_id = "/".join(p.strip() for p in (_text(rec[0x00041500]) or "").split("\\"))
                    if not is_dicom_file_id(file_id):
                        raise IntegrityError(f"DICOMDIR: Referenced File ID {file_id!r} is not a conformant file ID")
                    yield DirectoryEntry(file_id, rtype, _text(rec.get(0x00041511)),
                                         _text(rec.get(0x00041510)), _text(rec.get(0x00041512)))
                elif not lower:
                    raise IntegrityError(f"DICOMDIR: a {rtype} record has neither a file nor lower records")
                if lower:
                    stack.append((lower, depth + 1))
                offset = _ul_value(rec.get(0x00041400))
    except _Malformed as exc:
        raise IntegrityError("DICOMDIR: a record offset field is malformed") from exc
    if reached != len(records):
        raise IntegrityError(f"DICOMDIR: {len(records) - reached} record(s) not reachable from the root")
