"""pack's read-back of the central directory (archive/readback.py): an
independent, streaming parse that must find exactly the entries written —
names, local header offsets, stored sizes, count — and end records (Zip64
included) that agree; any single field wrong is refused."""

from __future__ import annotations

import io
import struct
import tracemalloc
import zipfile
from types import SimpleNamespace

import pytest

from dossierkit.archive import readback
from dossierkit.archive.readback import check_central_directory, read_back
from dossierkit.archive.zipaes import open_writer
from dossierkit.errors import IntegrityError

PW = b"tulipe-orage-cadran-mesure"
NAMES = ["DOSSIER/MANIFEST.JSON", "DOSSIER/SHA256SUMS", "DOSSIER/MANIFEST.SIG",
         *(f"DICOM/ST000001/SE000001/IM{i:06d}" for i in range(1, 8))]


def written_zip(tmp_path, *, password=PW, force_zip64=False, names=NAMES):
    """A zip written by dossierkit's writer, and the (name, offset, stored
    size) of its entries as the writer placed them."""
    buf = io.BytesIO()
    with open_writer(buf, password=password, force_zip64=force_zip64) as zw:
        for i, name in enumerate(names):
            zw.add_bytes(name, bytes([i]) * (i * 37), compress=False)
    path = tmp_path / "p.zip"
    path.write_bytes(buf.getvalue())
    return path, [(n, off, stored) for n, (off, stored) in zip(names, zw.placed())]


def check(path, entries):
    with open(path, "rb") as fh:
        check_central_directory(fh, path.stat().st_size, iter(entries), path)


def records(data: bytes) -> list[int]:
    """Offsets of the central directory records (the test's own walk)."""
    _sig, _d, _cd, _n, count, _size, cd_offset, _c = struct.unpack_from("<IHHHHIIH", data, len(data) - 22)
    if count == 0xFFFF:
        z64 = struct.unpack_from("<IIQI", data, len(data) - 42)[2]
        cd_offset = struct.unpack_from("<Q", data, z64 + 48)[0]
    out, at = [], cd_offset
    while data[at:at + 4] == b"PK\x01\x02":
        out.append(at)
        n, x, c = struct.unpack_from("<HHH", data, at + 28)
        at += 46 + n + x + c
    return out


@pytest.mark.parametrize("password", [PW, None], ids=["aes", "plain"])
@pytest.mark.parametrize("force_zip64", [False, True], ids=["zip32", "zip64"])
def test_the_entries_written_are_found(tmp_path, monkeypatch, password, force_zip64):
    path, entries = written_zip(tmp_path, password=password, force_zip64=force_zip64)
    with zipfile.ZipFile(path) as zf:  # the oracle: another parser reads the same
        assert [(i.filename, i.header_offset, i.compress_size) for i in zf.infolist()] == entries
    check(path, entries)
    monkeypatch.setattr(readback, "_READ", 7)  # chunk edges inside every record
    check(path, entries)
    read_back(path, SimpleNamespace(size=path.stat().st_size), entries)  # any iterable; a list too


def _patch(path, at: int, fmt: str, value) -> None:
    data = bytearray(path.read_bytes())
    struct.pack_into(fmt, data, at, value)
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("force_zip64", [False, True], ids=["zip32", "zip64"])
@pytest.mark.parametrize("field", ["signature", "name", "offset", "stored size", "disk", "flags utf8 dropped"])
def test_a_wrong_directory_entry_is_refused(tmp_path, field, force_zip64):
    path, entries = written_zip(tmp_path, force_zip64=force_zip64)
    at = records(path.read_bytes())[4]
    off, stored = entries[4][1], entries[4][2]
    if field == "signature":
        _patch(path, at, "<I", 0x02014B51)
    elif field == "name":
        _patch(path, at + 46 + 5, "<B", ord("X"))
    elif field == "offset":
        _patch(path, at + 46 + len(entries[4][0]) + 20 if force_zip64 else at + 42,
               "<Q" if force_zip64 else "<I", off + 1)
    elif field == "stored size":
        _patch(path, at + 46 + len(entries[4][0]) + 12 if force_zip64 else at + 20,
               "<Q" if force_zip64 else "<I", stored - 1)
    elif field == "disk":
        _patch(path, at + 34, "<H", 1)
    else:  # a name of byte 0x80 read as cp437 differs from the UTF-8 one
        names = [*NAMES[:4], "DICOM/É", *NAMES[5:]]
        path, entries = written_zip(tmp_path, force_zip64=force_zip64, names=names)
        at = records(path.read_bytes())[4]
        _patch(path, at + 8, "<H", 0x0001)  # flags: encrypted, no UTF-8 bit
    with pytest.raises(IntegrityError, match="does not read back"):
        check(path, entries)


@pytest.mark.parametrize("change", ["one missing", "one more", "two swapped", "a size", "an offset"])
def test_entries_that_differ_from_the_directory_are_refused(tmp_path, change):
    path, entries = written_zip(tmp_path)
    if change == "one missing":
        entries = entries[:-1]
    elif change == "one more":
        entries = [*entries, ("DICOM/ST000001/SE000001/IM000099", entries[-1][1] + 1, 28)]
    elif change == "two swapped":
        entries[5], entries[6] = entries[6], entries[5]
    elif change == "a size":
        entries[-1] = (entries[-1][0], entries[-1][1], entries[-1][2] + 1)
    else:
        entries[0] = (entries[0][0], 1, entries[0][2])
    with pytest.raises(IntegrityError, match="does not read back"):
        check(path, entries)


@pytest.mark.parametrize("damage", ["count", "count on disk", "directory size", "directory offset", "comment",
                                    "end signature"])
def test_a_wrong_end_record_is_refused(tmp_path, damage):
    path, entries = written_zip(tmp_path)
    end = path.stat().st_size - 22
    at, fmt, value = {"count": (10, "<H", len(entries) - 1), "count on disk": (8, "<H", len(entries) + 1),
                      "directory size": (12, "<I", 1), "directory offset": (16, "<I", 3),
                      "comment": (20, "<H", 1), "end signature": (0, "<I", 0)}[damage]
    _patch(path, end + at, fmt, value)
    with pytest.raises(IntegrityError, match="does not read back"):
        check(path, entries)


@pytest.mark.parametrize("damage", ["locator offset", "locator signature", "zip64 count", "zip64 directory size",
                                    "zip64 directory offset", "zip64 record size", "end count not saturated"])
def test_a_wrong_zip64_end_record_is_refused(tmp_path, damage):
    path, entries = written_zip(tmp_path, force_zip64=True)
    size = path.stat().st_size
    z64 = size - 22 - 20 - 56
    at, fmt, value = {"locator offset": (size - 42 + 8, "<Q", z64 - 1), "locator signature": (size - 42, "<I", 0),
                      "zip64 count": (z64 + 32, "<Q", len(entries) + 1),
                      "zip64 directory size": (z64 + 40, "<Q", 5), "zip64 directory offset": (z64 + 48, "<Q", 1),
                      "zip64 record size": (z64 + 4, "<Q", 45), "end count not saturated": (size - 12, "<H", 3)}[damage]
    _patch(path, at, fmt, value)
    with pytest.raises(IntegrityError, match="does not read back"):
        check(path, entries)


def test_a_file_too_short_or_not_read_is_refused(tmp_path):
    path = tmp_path / "short.zip"
    path.write_bytes(b"PK\x05\x06")
    with pytest.raises(IntegrityError, match="too short"):
        check(path, [])
    path, entries = written_zip(tmp_path)
    with pytest.raises(IntegrityError, match="bytes on disk"):
        read_back(path, SimpleNamespace(size=path.stat().st_size + 1), entries)


def test_memory_does_not_grow_with_the_entries(tmp_path):
    """20 000 entries: the check holds a chunk of the directory, not a record
    a file (zipfile's infolist took ≈ 0.7 kB an entry), and consumes the
    expected entries as it goes."""
    names = [f"DICOM/ST000001/SE{i // 1000:06d}/IM{i % 1000:06d}" for i in range(20_000)]
    buf = io.BytesIO()
    with open_writer(buf, password=None) as zw:
        for name in names:
            zw.add_bytes(name, b"")
    path = tmp_path / "many.zip"
    path.write_bytes(buf.getvalue())
    placed = zw.placed()
    pulled = 0

    def entries():
        nonlocal pulled
        for name, (off, stored) in zip(names, placed):
            pulled += 1
            yield name, off, stored
    tracemalloc.start()
    try:
        check(path, entries())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert pulled == len(names)
    assert peak < 3 * readback._READ, peak  # 20 000 ZipInfo would be ≈ 14 MB
