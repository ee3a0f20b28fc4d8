"""Issue #14 point 6: end-of-name checks use ``\\Z`` (``$`` also matches
before a final newline: ``is_safe_entry_path("README.TXT\\n")`` was True),
and every control character at every position of an entry name is refused
by each check that sees a name: the package layout rules, the manifest,
SHA256SUMS, the zip reader and the zip writer."""

from __future__ import annotations

import hashlib
import json

import pytest

from dossierkit.archive.zipformat import check_entry_name, writer_name_check
from dossierkit.errors import IntegrityError, UsageError
from dossierkit.package import layout
from dossierkit.package.manifest import MANIFEST_FORMAT, parse_manifest
from dossierkit.package.sums import parse_sums

NAMES = ["README.TXT", "DICOM/ST000001/SE000001/IM000001", "IHE_XDM/SUBSET01/DOC0001.PDF"]
C0_AND_DEL = [chr(c) for c in range(0x20)] + ["\x7f"]
CONTROLS = C0_AND_DEL + [chr(c) for c in range(0x80, 0xA0)] + ["\u2028", "\u2029", "\ufeff"]


def _variants(name: str, ch: str):
    """*ch* inserted at every position of *name* (start and end included),
    and replacing every character of it."""
    for i in range(len(name) + 1):
        yield name[:i] + ch + name[i:]
    for i in range(len(name)):
        yield name[:i] + ch + name[i + 1:]


def _manifest(path: str) -> bytes:
    return json.dumps({"format": MANIFEST_FORMAT, "schema": 1, "completeness": {},
                       "files": [{"path": path, "size": 0, "sha256": hashlib.sha256(b"").hexdigest(),
                                  "role": "readme"}]}).encode()


def test_the_names_themselves_pass_every_check():
    for name in NAMES:
        assert layout.is_safe_entry_path(name) and check_entry_name(name) == name and writer_name_check(name)
        assert parse_sums(f"{'0' * 64}  {name}\n".encode()) == {name: "0" * 64}
        assert name in parse_manifest(_manifest(name)).files
    assert layout.is_dicom_file_id(NAMES[1])


def test_a_final_newline_is_not_part_of_a_safe_name():
    assert not layout.is_safe_entry_path("README.TXT\n")
    assert not layout.is_dicom_file_id("DICOM/ST000001/SE000001/IM000001\n")
    assert not layout.is_dicom_file_id("DICOM\n/ST000001")


@pytest.mark.parametrize("ch", CONTROLS, ids=[f"U+{ord(c):04X}" for c in CONTROLS])
def test_a_control_character_anywhere_in_a_name_is_refused(ch):
    for name in NAMES:
        for bad in _variants(name, ch):
            assert not layout.is_safe_entry_path(bad), repr(bad)
            assert not layout.is_dicom_file_id(bad), repr(bad)
            with pytest.raises(IntegrityError, match="is not a package path|a NUL character"):
                parse_manifest(_manifest(bad))
            if bad.isascii() and "\n" not in bad:  # SHA256SUMS is ASCII, one path per line
                with pytest.raises(IntegrityError, match="is not '<sha256>  <path>'"):
                    parse_sums(f"{'0' * 64}  {bad}\n".encode())
            if ch in C0_AND_DEL:  # the zip layer's own rule (C1 and others: the layout's upper-case rule)
                with pytest.raises(IntegrityError, match="control character"):
                    check_entry_name(bad)
                with pytest.raises(UsageError, match="control character"):
                    writer_name_check(bad)
