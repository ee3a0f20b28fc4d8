"""Zip records (APPNOTE 6.3.x) as written and checked by dossierkit.

Only what the containers need: local file headers with sizes known upfront
(no data descriptors), the central directory, Zip64 end records, the
WinZip AES extra field (0x9901). Everything is little-endian.

The writer's *fingerprint* (version made by, attributes, fixed timestamp,
exact extra-field layout) is fixed so that the strict reader can demand it:
in a dossierkit package every header byte is then either checked against a
twin (local header vs central directory) or against this fingerprint, and a
flipped byte anywhere is detected.
"""

from __future__ import annotations

import datetime as dt

import stat
import struct
from dataclasses import dataclass

from dossierkit.errors import IntegrityError, UsageError

SIG_LOCAL = b"PK\x03\x04"
SIG_CENTRAL = b"PK\x01\x02"
SIG_EOCD = b"PK\x05\x06"
SIG_ZIP64_EOCD = b"PK\x06\x06"
SIG_ZIP64_LOCATOR = b"PK\x06\x07"
SIG_DATA_DESCRIPTOR = b"PK\x07\x08"

LOCAL_STRUCT = struct.Struct("<4sHHHHHIIIHH")  # 30 bytes
CENTRAL_STRUCT = struct.Struct("<4sHHHHHHIIIHHHHHII")  # 46 bytes
EOCD_STRUCT = struct.Struct("<4sHHHHIIH")  # 22 bytes
ZIP64_EOCD_STRUCT = struct.Struct("<4sQHHIIQQQQ")  # 56 bytes
ZIP64_LOCATOR_STRUCT = struct.Struct("<4sIQI")  # 20 bytes

METHOD_STORED = 0
METHOD_DEFLATED = 8
METHOD_AES = 99

FLAG_ENCRYPTED = 0x0001
FLAG_DATA_DESCRIPTOR = 0x0008
FLAG_STRONG_ENCRYPTION = 0x0040
FLAG_UTF8 = 0x0800
FLAG_DEFLATE_OPTIONS = 0x0006  # bits 1-2: deflate speed hints, harmless

EXTRA_ZIP64 = 0x0001
EXTRA_AES = 0x9901

AES_VENDOR_AE1 = 1
AES_VENDOR_AE2 = 2
AES_STRENGTH_256 = 3
AES_SALT_LEN = {1: 8, 2: 12, 3: 16}

U16 = 0xFFFF
U32 = 0xFFFFFFFF

# Fixed, neutral timestamp: 1980-01-01 00:00:00, the zip epoch. The pack time
# is recorded inside the signed manifest, never in cleartext headers.
DOS_TIME = 0
DOS_DATE = (0 << 9) | (1 << 5) | 1


def dos_stamp(when: dt.datetime) -> tuple[int, int]:
    """(DOS time, DOS date) of a local *when*, to 2 s — what extracted files
    are dated with by 7-Zip and every unzip (issue #15, point 23). 1980-01-01
    for anything earlier than the zip epoch."""
    if when.year < 1980:
        return DOS_TIME, DOS_DATE
    return ((when.hour << 11) | (when.minute << 5) | (when.second // 2),
            ((min(when.year, 2107) - 1980) << 9) | (when.month << 5) | when.day)
MADE_BY = (3 << 8) | 63  # host Unix, APPNOTE 6.3
EXTERNAL_ATTR = (stat.S_IFREG | 0o644) << 16  # regular file rw-r--r--
HOST_UNIX = 3

_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))}


@dataclass(frozen=True, slots=True)  # a reader keeps one per entry until the central directory (#18)
class EntryHeader:
    """The fields of one entry shared by its local header and its central
    directory record (after Zip64 resolution)."""

    name: str
    raw_name: bytes
    version_needed: int
    flags: int
    method: int  # as stored: 99 for AES
    dos_time: int
    dos_date: int
    crc32: int
    compressed_size: int
    size: int
    aes_vendor: int | None = None  # 1 (AE-1) or 2 (AE-2) when method == 99
    aes_strength: int | None = None
    actual_method: int = METHOD_STORED  # compression under the encryption

    @property
    def encrypted(self) -> bool:
        return bool(self.flags & FLAG_ENCRYPTED)


def check_entry_name(name: str) -> str:
    """Return *name* if it is a safe relative path for every extractor, else
    raise IntegrityError (one line). Shared by the writer (refuse to write)
    and the reader (refuse hostile packages)."""
    why = _name_problem(name)
    if why:
        raise IntegrityError(f"refused entry name {name[:80]!r}: {why}",
                             hint="the package is not a dossierkit package or was tampered with")
    return name


def _name_problem(name: str) -> str | None:
    if not name:
        return "empty name"
    if len(name.encode("utf-8", "surrogatepass")) > 0xFFFF:
        return "name too long"
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in name):
        return "control character"
    if "\\" in name:
        return "backslash"
    if ":" in name:
        return "drive letter or stream separator ':'"
    if name.startswith("/"):
        return "absolute path"
    for part in name.split("/"):
        if part in ("", ".", ".."):
            return "empty, '.' or '..' path component" if part != ".." else "'..' path component"
        if part[-1] in " .":
            return "component ending with a dot or a space"
        if part.split(".")[0].upper() in _WINDOWS_RESERVED:
            return "reserved Windows device name"
    return None


def writer_name_check(name: str) -> bytes:
    """Encode a name for writing, refusing unsafe names as a usage error."""
    why = _name_problem(name)
    if why:
        raise UsageError(f"cannot store entry {name[:80]!r}: {why}", hint="use a relative path with '/' separators")
    return name.encode("utf-8")


def name_flags(raw_name: bytes) -> int:
    return 0 if raw_name.isascii() else FLAG_UTF8


def version_needed(*, aes: bool, zip64: bool, method: int) -> int:
    if aes:
        return 51
    if zip64:
        return 45
    return 20 if method == METHOD_DEFLATED else 10


def entry_header(name: str, raw_name: bytes, *, size: int, compressed_size: int, crc32: int, actual_method: int,
                 aes: bool, zip64: bool, dos: tuple[int, int] = (DOS_TIME, DOS_DATE)) -> EntryHeader:
    """The header dossierkit's writer gives an entry — what the strict
    reader demands byte for byte. *compressed_size* counts the AES salt,
    verifier and MAC; *crc32* is 0 under AES (AE-2)."""
    return EntryHeader(
        name=name, raw_name=raw_name, version_needed=version_needed(aes=aes, zip64=zip64, method=actual_method),
        flags=name_flags(raw_name) | (FLAG_ENCRYPTED if aes else 0), method=METHOD_AES if aes else actual_method,
        dos_time=dos[0], dos_date=dos[1], crc32=0 if aes else crc32, compressed_size=compressed_size, size=size,
        aes_vendor=AES_VENDOR_AE2 if aes else None, aes_strength=AES_STRENGTH_256 if aes else None,
        actual_method=actual_method)


def aes_extra(actual_method: int, vendor: int = AES_VENDOR_AE2) -> bytes:
    return struct.pack("<HHH2sBH", EXTRA_AES, 7, vendor, b"AE", AES_STRENGTH_256, actual_method)


def build_local_header(h: EntryHeader, *, zip64: bool) -> bytes:
    extra = b""
    csize, usize = h.compressed_size, h.size
    if zip64:
        extra += struct.pack("<HHQQ", EXTRA_ZIP64, 16, usize, csize)
        csize = usize = U32
    if h.method == METHOD_AES:
        extra += aes_extra(h.actual_method, h.aes_vendor or AES_VENDOR_AE2)
    return LOCAL_STRUCT.pack(SIG_LOCAL, h.version_needed, h.flags, h.method, h.dos_time, h.dos_date, h.crc32,
                             csize, usize, len(h.raw_name), len(extra)) + h.raw_name + extra


def build_central_record(h: EntryHeader, offset: int, *, zip64: bool) -> bytes:
    extra = b""
    csize, usize, off = h.compressed_size, h.size, offset
    if zip64:
        # All three fields go to the Zip64 extra whenever the entry is Zip64:
        # one layout, simpler to check, accepted by 7-Zip and libarchive.
        extra += struct.pack("<HHQQQ", EXTRA_ZIP64, 24, usize, csize, offset)
        csize = usize = off = U32
    if h.method == METHOD_AES:
        extra += aes_extra(h.actual_method, h.aes_vendor or AES_VENDOR_AE2)
    return CENTRAL_STRUCT.pack(SIG_CENTRAL, MADE_BY, h.version_needed, h.flags, h.method, h.dos_time, h.dos_date,
                               h.crc32, csize, usize, len(h.raw_name), len(extra), 0, 0, 0, EXTERNAL_ATTR,
                               off) + h.raw_name + extra


def build_end_records(count: int, cd_offset: int, cd_size: int, *, force_zip64: bool = False) -> bytes:
    zip64 = force_zip64 or count >= U16 or cd_offset >= U32 or cd_size >= U32
    out = b""
    if zip64:
        z64_offset = cd_offset + cd_size
        out += ZIP64_EOCD_STRUCT.pack(SIG_ZIP64_EOCD, 44, MADE_BY, 45, 0, 0, count, count, cd_size, cd_offset)
        out += ZIP64_LOCATOR_STRUCT.pack(SIG_ZIP64_LOCATOR, 0, z64_offset, 1)
        return out + EOCD_STRUCT.pack(SIG_EOCD, 0, 0, U16, U16, U32, U32, 0)
    return EOCD_STRUCT.pack(SIG_EOCD, 0, 0, count, count, cd_size, cd_offset, 0)


# ---------------------------------------------------------------- parsing

def bad(msg: str) -> IntegrityError:
    return IntegrityError(msg, hint="the package is damaged or was tampered with; get a fresh copy")


def parse_extras(blob: bytes, where: str) -> dict[int, bytes]:
    out: dict[int, bytes] = {}
    pos = 0
    while pos < len(blob):
        if pos + 4 > len(blob):
            raise bad(f"malformed extra field in {where}")
        hid, ln = struct.unpack_from("<HH", blob, pos)
        pos += 4
        if pos + ln > len(blob):
            raise bad(f"malformed extra field in {where}")
        if hid in out:
            raise bad(f"duplicate extra field 0x{hid:04x} in {where}")
        out[hid] = blob[pos:pos + ln]
        pos += ln
    return out


def decode_name(raw: bytes, flags: int, where: str) -> str:
    try:
        return raw.decode("utf-8") if flags & FLAG_UTF8 else raw.decode("ascii")
    except UnicodeDecodeError:
        if flags & FLAG_UTF8:
            raise bad(f"entry name is not valid UTF-8 in {where}") from None
        return raw.decode("cp437")


def resolve_zip64(extras: dict[int, bytes], values: list[tuple[int, int, int]], where: str) -> list[int]:
    """Replace the 0xFFFF…-saturated *values* (value, sentinel, width) by the
    Zip64 extra's fields, in APPNOTE order."""
    need = [v == sentinel for v, sentinel, _ in values]
    if not any(need):
        return [v for v, _, _ in values]
    blob = extras.get(EXTRA_ZIP64)
    if blob is None:
        raise bad(f"Zip64 sizes announced but no Zip64 extra field in {where}")
    out, pos = [], 0
    for (v, _, width), n in zip(values, need):
        if n:
            if pos + width > len(blob):
                raise bad(f"Zip64 extra field too short in {where}")
            v = int.from_bytes(blob[pos:pos + width], "little")
            pos += width
        out.append(v)
    return out


def parse_aes_extra(extras: dict[int, bytes], where: str) -> tuple[int, int, int]:
    blob = extras.get(EXTRA_AES)
    if blob is None or len(blob) != 7:
        raise bad(f"AES-encrypted entry without a valid AES extra field in {where}")
    vendor, ident, strength, actual = struct.unpack("<H2sBH", blob)
    if ident != b"AE" or vendor not in (AES_VENDOR_AE1, AES_VENDOR_AE2) or strength not in AES_SALT_LEN:
        raise bad(f"unknown AES extra field in {where}")
    if actual not in (METHOD_STORED, METHOD_DEFLATED):
        raise bad(f"unsupported compression method {actual} in {where}")
    return vendor, strength, actual


def header_from_fields(*, raw_name: bytes, version_needed_: int, flags: int, method: int, dos_time: int,
                       dos_date: int, crc: int, csize: int, usize: int, extras: dict[int, bytes],
                       where: str) -> EntryHeader:
    name = decode_name(raw_name, flags, where)
    vendor = strength = None
    actual = method
    if method == METHOD_AES:
        vendor, strength, actual = parse_aes_extra(extras, where)
    elif method not in (METHOD_STORED, METHOD_DEFLATED):
        raise bad(f"unsupported compression method {method} in {where}")
    return EntryHeader(name=name, raw_name=raw_name, version_needed=version_needed_, flags=flags, method=method,
                       dos_time=dos_time, dos_date=dos_date, crc32=crc, compressed_size=csize, size=usize,
                       aes_vendor=vendor, aes_strength=strength, actual_method=actual)


def is_link_or_special(made_by: int, external_attr: int) -> bool:
    if made_by >> 8 == HOST_UNIX:
        mode = external_attr >> 16
        return stat.S_IFMT(mode) not in (0, stat.S_IFREG)
    return bool(external_attr & 0x10)  # MS-DOS directory attribute
