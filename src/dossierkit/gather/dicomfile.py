"""Reading one DICOM file's header, fast and strictly.

pydicom's ``dcmread(stop_before_pixels=True)`` decodes every element of a
header, several times the work import needs (docs/images.md), and reads
truncated sequences silently (pydicom's own
``rtplan_truncated.dcm`` parses without a word). Import must do better on
both, so this module walks the element *structure* of the whole file itself
(tags and lengths only; values are skipped with a seek, pixel data is never
read) and decodes the few top-level values the index needs, with pydicom's
character-set decoding. The walk proves the file is complete: every element,
sequence item and pixel-data fragment lies inside the file.

Supported encodings: Part 10 files (preamble + ``DICM`` + meta group) in any
transfer syntax (implicit/explicit little endian, explicit big endian,
encapsulated, deflated) and files without preamble/meta header whose first
element is a group 0002 or 0008 element (implicit LE, explicit LE/BE).
"""

from __future__ import annotations

import os
import re
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from dossierkit.errors import InputError

HEAD_SIZE = 64 * 1024  # covers the header of almost every real image; larger ones are read on demand
MAX_INFLATED = 32 * 1024 * 1024  # a deflated data set held in memory (per import worker)
DIRECTORY_SOP_CLASS = "1.2.840.10008.1.3.10"  # Media Storage Directory Storage (a DICOMDIR)
IMPLICIT_LE = "1.2.840.10008.1.2"
EXPLICIT_LE = "1.2.840.10008.1.2.1"
EXPLICIT_BE = "1.2.840.10008.1.2.2"
DEFLATED_DATASET = {"1.2.840.10008.1.2.1.99"}  # Deflated Explicit VR Little Endian
NATIVE_SYNTAXES = frozenset((IMPLICIT_LE, EXPLICIT_LE, EXPLICIT_BE, *DEFLATED_DATASET))
PRIVATE_PIXELS_MIN = 4096  # a private OB/OW/UN element this large, and no (7FE0,0010): vendor pixel data
# Version of the acceptable-image rules (:func:`parse_header`'s refusals). Each indexed image records the
# version it passed (``accepted`` in index/images.json); `check` re-reads the copies of images indexed under an
# older one (or none: indexes written before #13). Bump it whenever parse_header refuses something new.
# 1: complete element structure, valid UIDs, data set encoding = transfer syntax, encapsulated framing.
ACCEPTANCE_RULES = 1
RECHECK_HEAD_SIZE = 16 * 1024  # `check`'s first read of a copy: a CT header; larger ones are read on demand
_UID_RE = re.compile(r"^[0-9]+(\.[0-9]+)*$")

_ITEM, _ITEM_END, _SEQ_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
_UNDEFINED = 0xFFFFFFFF
_LONG_VRS = frozenset((b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"))
_SHORT_VRS = frozenset(
    (b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FL", b"FD", b"IS", b"LO", b"LT", b"PN", b"SH", b"SL", b"SS",
     b"ST", b"TM", b"UI", b"UL", b"US"))
_KNOWN_VRS = _LONG_VRS | _SHORT_VRS
_PIXEL_TAGS = frozenset((0x7FE00008, 0x7FE00009, 0x7FE00010))
_MAX_DEPTH = 64  # nested sequences deeper than this are not a real image

# Top-level attributes the index keeps, by tag -> ImageInstance field name.
_WANTED: dict[int, str] = {
    0x00080005: "specific_character_set",
    0x00080016: "sop_class_uid",
    0x00080018: "sop_instance_uid",
    0x00080020: "study_date",
    0x00080030: "study_time",
    0x00080050: "accession_number",
    0x00080060: "modality",
    0x00081030: "study_description",
    0x0008103E: "series_description",
    0x00100010: "patient_name",
    0x00100020: "patient_id",
    0x00100030: "patient_birth_date",
    0x00100040: "patient_sex",
    0x0020000D: "study_instance_uid",
    0x0020000E: "series_instance_uid",
    0x00200010: "study_id",
    0x00200011: "series_number",
    0x00200013: "instance_number",
}
_META_WANTED: dict[int, str] = {
    0x00020002: "media_storage_sop_class_uid",
    0x00020003: "media_storage_sop_instance_uid",
    0x00020010: "transfer_syntax",
}
_TEXT_FIELDS = {"patient_name", "patient_id", "study_description", "series_description", "accession_number",
                "study_id"}  # charset-dependent VRs (PN, LO, SH)
_INT_FIELDS = {"series_number", "instance_number"}
_REQUIRED = ("sop_instance_uid", "sop_class_uid", "study_instance_uid", "series_instance_uid")


class NotDicomError(InputError):
    """The file is not DICOM at all (skipped and counted by import)."""


class CorruptDicomError(InputError):
    """The file is DICOM but truncated, malformed, or lacks what an image must have."""

    def __init__(self, message: str, *, path: object | None = None, kind: str = "corrupt"):
        self.kind = kind  # "corrupt" (structure) or "invalid" (readable, lacks required UIDs)
        super().__init__(message, path=path)


@dataclass
class DicomHeader:
    """What :func:`read_header` found. Field names match
    :class:`dossierkit.model.ImageInstance` (see :meth:`instance_fields`)."""

    sop_instance_uid: str
    sop_class_uid: str
    study_instance_uid: str
    series_instance_uid: str
    transfer_syntax: str | None = None
    has_meta: bool = True
    patient_name: str | None = None
    patient_id: str | None = None
    patient_birth_date: str | None = None
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
    specific_character_set: str | None = None
    media_storage_sop_class_uid: str | None = None
    pixel_data_offset: int | None = None  # where the top-level pixel data element starts, if any
    pixel_data: str | None = None  # see pixel_data_state
    accepted: int = ACCEPTANCE_RULES  # it passed these rules (a header exists only for an acceptable file)
    extra: dict[str, Any] = field(default_factory=dict)

    _INSTANCE_FIELDS = ("sop_instance_uid", "sop_class_uid", "study_instance_uid", "series_instance_uid",
                        "transfer_syntax", "patient_name", "patient_id", "patient_birth_date", "patient_sex",
                        "study_date", "study_time", "study_id", "study_description", "accession_number",
                        "modality", "series_number", "series_description", "instance_number",
                        "specific_character_set", "has_meta", "pixel_data", "accepted")

    def instance_fields(self) -> dict[str, Any]:
        """Keyword arguments for :class:`~dossierkit.model.ImageInstance` (add path, sha256, size, source)."""
        return {k: getattr(self, k) for k in self._INSTANCE_FIELDS}


class DirectoryFileError(NotDicomError):
    """The file is a DICOMDIR (Media Storage Directory), never an image."""


# ---------------------------------------------------------------------------
# Sniffing


def looks_like_dicom(head: bytes) -> str | None:
    """``"part10"`` for a preamble + ``DICM`` file, ``"raw"`` for a data set
    without preamble/meta that starts with a plausible element, else None."""
    if len(head) >= 132 and head[128:132] == b"DICM":
        return "part10"
    return "raw" if raw_encoding(head) is not None else None


def raw_encoding(head: bytes) -> tuple[bool, bool] | None:
    """(little_endian, implicit_vr) of a data set starting at byte 0, or None.

    Real files without meta header start with group 0008 (or a bare group
    0002); any other start is not trusted, so random files are not "DICOM".
    """
    if len(head) < 8:
        return None
    for little in (True, False):
        e = "<" if little else ">"
        group, elem = struct.unpack_from(e + "HH", head, 0)
        if group not in (0x0002, 0x0008) or elem > 0x1FFF:
            continue
        if head[4:6] in _KNOWN_VRS:
            return little, False
        if little:  # implicit VR exists only in little endian
            (length,) = struct.unpack_from("<L", head, 4)
            if length < 0x10000 and length != _UNDEFINED:
                return True, True
    return None


# ---------------------------------------------------------------------------
# The structure walk


class _Source:
    """Random access to a file whose first bytes are already in memory."""

    __slots__ = ("head", "hlen", "fh", "size")

    def __init__(self, head: bytes, fh: IO[bytes] | None, size: int):
        self.head = head
        self.hlen = len(head)
        self.fh = fh
        self.size = size

    def read(self, pos: int, n: int) -> bytes:
        if pos + n <= self.hlen or self.fh is None:
            return self.head[pos:pos + n]
        self.fh.seek(pos)
        return self.fh.read(n)


class _Walk:
    """Walks elements; raises CorruptDicomError on anything that does not fit."""

    def __init__(self, src: _Source, little: bool, implicit: bool):
        self.src = src
        self.little = little
        self.implicit = implicit
        e = "<" if little else ">"
        self.tag_len = struct.Struct(e + "HHL")  # tag + 32-bit length (implicit VR, items)
        self.tag_vr_len = struct.Struct(e + "HH2sH")  # explicit VR, 16-bit length
        self.u32 = struct.Struct(e + "L")
        self.values: dict[str, bytes] = {}
        self.vrs: dict[str, bytes | None] = {}
        self.pixel_offset: int | None = None
        self.pixel_undefined = False  # the top-level pixel data has an undefined length (encapsulated)
        self.fragments: list[int] = []  # lengths of its first items (Basic Offset Table, then fragments)
        self.private_bulk: int | None = None  # a large private OB/OW/UN element at the top level (its tag)

    def _fail(self, pos: int, what: str) -> CorruptDicomError:
        if pos >= self.src.size or what.startswith("truncated"):
            return CorruptDicomError(f"truncated DICOM file (ends inside an element at byte {pos} of {self.src.size})")
        return CorruptDicomError(f"malformed DICOM file ({what} at byte {pos})")

    def header(self, pos: int, implicit: bool) -> tuple[int, bytes | None, int, int]:
        """(tag, vr, value length, header length) of the element at *pos*."""
        src = self.src
        if pos + 12 <= src.hlen:
            buf, off = src.head, pos
        else:
            buf, off = src.read(pos, 12), 0
            if len(buf) < 8:
                raise self._fail(pos, "truncated")
        if implicit:
            g, el, length = self.tag_len.unpack_from(buf, off)
            return (g << 16) | el, None, length, 8
        g, el, vr, length = self.tag_vr_len.unpack_from(buf, off)
        tag = (g << 16) | el
        if g == 0xFFFE:  # items and delimiters have no VR, in every transfer syntax
            return tag, None, self.tag_len.unpack_from(buf, off)[2], 8
        if vr in _LONG_VRS:
            if len(buf) - off < 12:
                raise self._fail(pos, "truncated")
            return tag, vr, self.u32.unpack_from(buf, off + 8)[0], 12
        if not (vr[0:1].isupper() and vr[1:2].isupper()):
            raise self._fail(pos, f"invalid value representation {vr!r} in element ({g:04X},{el:04X})")
        return tag, vr, length, 8

    def dataset(self, pos: int, end: int | None, implicit: bool, wanted: dict[int, str] | None, depth: int = 0,
                until_group: int | None = None) -> int:
        """Walk a data set from *pos*; stop at *end*, at an item delimiter when
        *end* is None, or before the first element whose group differs from
        *until_group*. Returns the position after the data set."""
        size = self.src.size
        limit = size if end is None else end
        head, hlen = self.src.head, self.src.hlen
        fast_vr = self.tag_vr_len.unpack_from
        fast_implicit = self.tag_len.unpack_from
        u32 = self.u32.unpack_from
        while pos < limit:
            if implicit and until_group is None and pos + 8 <= hlen:
                g, el, length = fast_implicit(head, pos)
                tag = (g << 16) | el
                if length != _UNDEFINED and g != 0xFFFE and tag not in _PIXEL_TAGS:
                    vpos = pos + 8
                    if vpos + length > limit:
                        raise self._fail(pos, "truncated")
                    if wanted is not None:
                        name = wanted.get(tag)
                        if name is not None:
                            self.values[name] = head[vpos:vpos + length]
                            self.vrs[name] = None
                        elif g & 1 and length >= PRIVATE_PIXELS_MIN:
                            self.private_bulk = tag
                    pos = vpos + length
                    continue
            elif not implicit and until_group is None and pos + 12 <= hlen:
                # Fast path for the common case (explicit VR, header in memory): fewer steps than header().
                g, el, vr, length = fast_vr(head, pos)
                if vr in _SHORT_VRS and g != 0xFFFE:
                    vpos = pos + 8
                    if vpos + length > limit:
                        raise self._fail(pos, "truncated")
                    if wanted is not None:
                        name = wanted.get((g << 16) | el)
                        if name is not None:
                            self.values[name] = head[vpos:vpos + length]
                            self.vrs[name] = vr
                    pos = vpos + length
                    continue
                if vr in _LONG_VRS and g != 0xFFFE:
                    (length,) = u32(head, pos + 8)
                    tag = (g << 16) | el
                    if length != _UNDEFINED and tag not in _PIXEL_TAGS and (wanted is None or tag not in wanted):
                        if g & 1 and length >= PRIVATE_PIXELS_MIN and wanted is not None and vr != b"SQ":
                            self.private_bulk = tag
                        pos += 12 + length
                        if pos > limit:
                            raise self._fail(pos - 12 - length, "truncated")
                        continue
            if end is not None and limit - pos < 8 and end == size:
                # a few trailing bytes after the last element: padding if all zero
                tail = self.src.read(pos, limit - pos)
                if tail.strip(b"\0"):
                    raise self._fail(pos, "truncated")
                return limit
            if until_group is not None:
                first = self.src.read(pos, 2)
                if len(first) < 2 or int.from_bytes(first, "little" if self.little else "big") != until_group:
                    return pos
            tag, vr, length, hlen = self.header(pos, implicit)
            if tag == _ITEM_END and end is None:
                return pos + 8
            if (tag >> 16) == 0xFFFE:
                raise self._fail(pos, f"unexpected item tag ({tag >> 16:04X},{tag & 0xFFFF:04X})")
            vpos = pos + hlen
            if length == _UNDEFINED:
                if depth >= _MAX_DEPTH:
                    raise self._fail(pos, "sequences nested too deep")
                if tag in _PIXEL_TAGS and depth == 0:
                    self.pixel_offset = pos
                    self.pixel_undefined = True
                    self.fragments = []
                    pos = self.items(vpos, implicit, depth + 1, fragments=True)
                else:
                    # SQ; UN of undefined length is an implicit VR LE sequence (PS3.5 6.2.2)
                    pos = self.items(vpos, implicit or vr == b"UN", depth + 1, fragments=vr in (b"OB", b"OW"))
                continue
            if vpos + length > limit:
                raise self._fail(pos, "truncated")
            if wanted is not None:
                name = wanted.get(tag)
                if name is not None:
                    self.values[name] = self.src.read(vpos, length)
                    self.vrs[name] = vr
                elif tag in _PIXEL_TAGS and depth == 0:
                    self.pixel_offset = pos
                elif (tag >> 16) & 1 and length >= PRIVATE_PIXELS_MIN and vr in (None, b"OB", b"OW", b"UN"):
                    self.private_bulk = tag
            pos = vpos + length
        if end is None:
            raise self._fail(pos, "truncated")  # no item delimiter before the end of the file
        return pos

    def items(self, pos: int, implicit: bool, depth: int, *, fragments: bool) -> int:
        """Walk the items of an undefined-length sequence (or pixel-data
        fragments) up to and including the sequence delimiter."""
        size = self.src.size
        if implicit and not self.little:  # an implicit VR LE (UN) sequence inside a big endian file
            return _Walk(self.src, True, True).items(pos, True, depth, fragments=fragments)
        while True:
            buf = self.src.read(pos, 8)
            if len(buf) < 8:
                raise self._fail(pos, "truncated")
            g, el, length = self.tag_len.unpack_from(buf, 0)
            tag = (g << 16) | el
            if tag == _SEQ_END:
                return pos + 8
            if tag != _ITEM:
                raise self._fail(pos, f"expected an item, found ({g:04X},{el:04X})")
            pos += 8
            if fragments and depth == 1 and len(self.fragments) < 2:
                self.fragments.append(length)
            if length == _UNDEFINED:
                if fragments:
                    raise self._fail(pos - 8, "pixel data fragment of undefined length")
                pos = self.dataset(pos, None, implicit, None, depth)
            else:
                if pos + length > size:
                    raise self._fail(pos - 8, "truncated")
                pos += length


# ---------------------------------------------------------------------------
# Value decoding


def _ascii(raw: bytes) -> str | None:
    text = raw.decode("ascii", "replace").strip(" \0")
    return text or None


def _decode_text(raw: bytes, vr: bytes | None, charsets: list[str] | None) -> str | None:
    if not raw.strip(b" \0"):
        return None
    if raw.isascii() and not (charsets and any("2022" in c for c in charsets)):
        return _ascii(raw)
    # pydicom: only loaded when a file needs it (start-up: docs/performance.md, "Imports kept out of start-up")
    from pydicom.charset import convert_encodings, decode_bytes

    encodings = convert_encodings(charsets or ["ISO_IR 6"])
    if vr == b"PN" or vr is None:
        from pydicom.valuerep import PersonName  # lazy, as above

        try:
            text = str(PersonName(raw, encodings))
        except Exception:  # pydicom falls back itself; anything left is a broken value
            text = raw.decode("latin-1")
    else:
        try:
            text = decode_bytes(raw, encodings, set())
        except Exception:
            text = raw.decode("latin-1")
    return text.strip(" \0") or None


def _to_int(raw: bytes) -> int | None:
    text = raw.decode("ascii", "replace").strip(" \0").split("\\")[0].strip()
    try:
        return int(text)
    except ValueError:
        try:
            value = float(text)
        except ValueError:
            return None
        return int(value) if value.is_integer() else None


def _decode(values: dict[str, bytes], vrs: dict[str, bytes | None]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    charsets = None
    if "specific_character_set" in values:
        cs = _ascii(values["specific_character_set"])
        if cs:
            out["specific_character_set"] = cs
            charsets = [c.strip() for c in cs.split("\\")]
            if not charsets[0]:
                charsets[0] = "ISO_IR 6"  # an empty first value means the default repertoire
    for name, raw in values.items():
        if name == "specific_character_set":
            continue
        if name in _INT_FIELDS:
            out[name] = _to_int(raw)
        elif name in _TEXT_FIELDS:
            out[name] = _decode_text(raw, vrs.get(name) or (b"PN" if name == "patient_name" else b"LO"), charsets)
        else:
            out[name] = _ascii(raw)
    return out


# ---------------------------------------------------------------------------
# Public API


def _is_image_class(sop_class_uid: str) -> bool:
    """True for the "… Image Storage" SOP classes, whose IODs require pixel data."""
    # pydicom: only loaded when a file needs it (start-up: docs/performance.md, "Imports kept out of start-up")
    from pydicom.uid import UID_dictionary

    entry = UID_dictionary.get(sop_class_uid)
    return bool(entry) and entry[0].endswith("Image Storage") and "Raw" not in entry[0]


def _inflate_dataset(src: _Source, start: int, size: int) -> bytes:
    """The inflated data set of a Deflated Explicit VR LE file, read and
    inflated piecewise and capped: deflate reaches ~1000:1, so a 1 MiB file
    could otherwise claim a GiB of memory and a long walk. Real deflated
    objects (SR, small images) are far below the cap."""
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    parts: list[bytes] = []
    total, pos = 0, start
    try:
        while pos < size and not inflater.eof:
            data = src.read(pos, min(1 << 20, size - pos))
            if not data:
                break
            pos += len(data)
            parts.append(inflater.decompress(data, MAX_INFLATED + 1 - total))
            total += len(parts[-1])
            if total > MAX_INFLATED:
                raise CorruptDicomError(f"deflated data set inflates beyond {MAX_INFLATED >> 20} MiB: not indexed "
                                        "(ask for an uncompressed copy)", kind="invalid")
    except zlib.error as exc:
        raise CorruptDicomError(f"deflated data set cannot be inflated ({exc})") from None
    return b"".join(parts)


def parse_header(head: bytes, fh: IO[bytes] | None, size: int) -> DicomHeader:
    """Parse and validate a DICOM file from its first bytes *head* (and *fh*,
    a seekable handle on the whole file of *size* bytes, for what lies beyond).

    Raises :class:`NotDicomError` (not DICOM, or a DICOMDIR) or
    :class:`CorruptDicomError`.
    """
    kind = looks_like_dicom(head)
    if kind is None:
        raise NotDicomError("not a DICOM file")
    src = _Source(head, fh, size)
    meta: dict[str, Any] = {}
    if kind == "part10":
        pos = 132
        meta_walk = _Walk(src, True, False)
        try:
            first = src.read(pos, 6)
            meta_implicit = len(first) == 6 and first[0:2] == b"\x02\x00" and first[4:6] not in _KNOWN_VRS
            pos = meta_walk.dataset(pos, size, meta_implicit, _META_WANTED, until_group=0x0002)
        except CorruptDicomError as exc:
            raise CorruptDicomError(f"{exc.message} (in the file meta information)") from None
        meta = _decode(meta_walk.values, meta_walk.vrs)
        ts = meta.get("transfer_syntax")
        data_start = pos
    else:
        ts = None
        data_start = 0
    if ts in DEFLATED_DATASET:
        inflated = _inflate_dataset(src, data_start, size)
        src = _Source(inflated, None, len(inflated))
        data_start = 0
    encoding = raw_encoding(src.read(data_start, 8))
    if encoding is None:
        if data_start >= src.size:
            raise CorruptDicomError("DICOM file has no data set after its meta information", kind="corrupt")
        if ts == IMPLICIT_LE:
            encoding = (True, True)
        elif ts == EXPLICIT_BE:
            encoding = (False, False)
        else:
            first = src.read(data_start, 6)
            encoding = (True, not (len(first) == 6 and first[4:6] in _KNOWN_VRS))
    little, implicit = encoding
    if ts is not None and is_valid_uid(ts) and ts.startswith("1.2.840.10008.1.2"):
        # A standard transfer syntax fixes the encoding; readers (DCMTK, PACS) follow it, not a guess.
        want_implicit, want_little = ts == IMPLICIT_LE, ts != EXPLICIT_BE
        if (implicit, little) != (want_implicit, want_little):
            found = "Implicit VR" if implicit else ("Explicit VR" + (" Little" if little else " Big") + " Endian")
            raise CorruptDicomError(f"the data set is encoded as {found} but its transfer syntax {ts} says "
                                    "otherwise: DCMTK and a PACS cannot read it (pydicom guesses)")
    walk = _Walk(src, little, implicit)
    walk.dataset(data_start, src.size, implicit, _WANTED)
    values = _decode(walk.values, walk.vrs)
    if ts is None:
        ts = IMPLICIT_LE if implicit else (EXPLICIT_LE if little else EXPLICIT_BE)
    msc = meta.get("media_storage_sop_class_uid")
    if msc == DIRECTORY_SOP_CLASS or (values.get("sop_class_uid") == DIRECTORY_SOP_CLASS):
        raise DirectoryFileError("a DICOMDIR (media directory), not an image")
    if not values.get("sop_class_uid") and msc:
        values["sop_class_uid"] = msc
    if not values.get("sop_instance_uid") and meta.get("media_storage_sop_instance_uid"):
        values["sop_instance_uid"] = meta["media_storage_sop_instance_uid"]
    missing = [n for n in _REQUIRED if not values.get(n)]
    if missing:
        names = ", ".join(n.replace("_", " ").replace(" uid", " UID").replace("sop", "SOP") for n in missing)
        raise CorruptDicomError(f"DICOM file lacks {names}: not an image that can be indexed", kind="invalid")
    bad = uid_problem(values, ts)
    if bad:
        raise CorruptDicomError(bad, kind="invalid")
    _check_pixel_framing(walk, ts)
    pixel_data = pixel_data_state(walk, values["sop_class_uid"])
    return DicomHeader(**values, transfer_syntax=ts, has_meta=(kind == "part10"),
                       media_storage_sop_class_uid=msc, pixel_data_offset=walk.pixel_offset, pixel_data=pixel_data)


# ---------------------------------------------------------------------------
# What an acceptable image is (import, check and pack apply these same rules)

UID_FIELDS = (("sop_instance_uid", "SOP Instance UID"), ("sop_class_uid", "SOP Class UID"),
              ("study_instance_uid", "Study Instance UID"), ("series_instance_uid", "Series Instance UID"))


def is_valid_uid(uid: object) -> bool:
    """A DICOM UID as every reader accepts it (PS3.5 §9.1): digit components
    separated by single dots, at most 64 characters. Leading zeros in a
    component are tolerated (real scanners write them; DCMTK reads them)."""
    return isinstance(uid, str) and 0 < len(uid) <= 64 and _UID_RE.match(uid) is not None


def uid_problem(values: Any, transfer_syntax: str | None = None) -> str | None:
    """Why an image's UIDs make it unacceptable (None: they are fine).
    *values* maps the :data:`UID_FIELDS` names to values (a dict, or an
    object with those attributes such as an ``ImageInstance``)."""
    get = values.get if isinstance(values, dict) else (lambda name: getattr(values, name, None))
    for name, label in UID_FIELDS:
        uid = get(name)
        if not is_valid_uid(uid):
            shown = uid if isinstance(uid, str) and len(uid) <= 80 else f"{str(uid)[:77]}..."
            return (f"its {label} {shown!r} is not a valid DICOM UID (digits and dots, at most 64 characters): "
                    "a receiving PACS and the DICOMDIR cannot carry it")
    if transfer_syntax is not None and not is_valid_uid(transfer_syntax):
        return f"its transfer syntax {transfer_syntax!r} is not a valid DICOM UID"
    return None


def _check_pixel_framing(walk: _Walk, ts: str) -> None:
    """Encapsulated pixel data framed as PS3.5 A.4 requires (what DCMTK
    and PACS check when they parse, without decoding any pixel): undefined
    length, a first item that is the Basic Offset Table (empty, or 4 bytes
    per frame), then at least one fragment, then the sequence delimiter
    (the walk checked items and delimiter)."""
    if walk.pixel_offset is None or ts in NATIVE_SYNTAXES or not (is_valid_uid(ts)
                                                                   and ts.startswith("1.2.840.10008.1.2.")):
        if walk.pixel_undefined and ts in NATIVE_SYNTAXES:
            raise CorruptDicomError(f"pixel data is encapsulated (undefined length) although the transfer syntax "
                                    f"{ts} is not a compressed one")
        return
    if not walk.pixel_undefined:
        raise CorruptDicomError(f"compressed pixel data (transfer syntax {ts}) not encapsulated in items: "
                                "DCMTK and a PACS cannot read it")
    if not walk.fragments:
        raise CorruptDicomError("encapsulated pixel data without its Basic Offset Table item")
    if walk.fragments[0] % 4:
        raise CorruptDicomError(f"encapsulated pixel data: the Basic Offset Table item is {walk.fragments[0]} bytes "
                                "long, not a multiple of 4")
    if len(walk.fragments) < 2:
        raise CorruptDicomError("encapsulated pixel data without any fragment (no image)")


def pixel_data_state(walk: _Walk, sop_class_uid: str) -> str | None:
    """``native``, ``encapsulated``, or for an image object without standard
    pixel data ``private`` (a large private element stands in for it, as on
    Elscint CTs) or ``none``; None for objects that have no pixel data by
    nature (SR, RT plans, waveforms…)."""
    if walk.pixel_offset is not None:
        return "encapsulated" if walk.pixel_undefined else "native"
    if not _is_image_class(sop_class_uid):
        return None
    return "private" if walk.private_bulk is not None else "none"


def read_header(path: str | os.PathLike, fh: IO[bytes] | None = None, *,
                head_size: int = HEAD_SIZE) -> DicomHeader:
    """Read and validate the header of the DICOM file at *path* (pixel data
    is skipped, never read: only the item headers of encapsulated pixel data,
    8 bytes each). The first *head_size* bytes are read at once, the rest of
    the structure on demand. Raises :class:`NotDicomError` or
    :class:`CorruptDicomError` naming the file; an unreadable file raises
    :class:`~dossierkit.errors.InputError`."""
    path = Path(path)
    try:
        own = fh is None
        handle = open(path, "rb") if own else fh
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", path=path) from exc
    try:
        size = os.fstat(handle.fileno()).st_size
        handle.seek(0)
        head = handle.read(head_size)
        try:
            return parse_header(head, handle, size)
        except InputError as exc:
            exc.path = str(path)
            raise
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", path=path) from exc
    finally:
        if own:
            handle.close()
