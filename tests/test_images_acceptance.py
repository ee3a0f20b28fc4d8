"""Issue #13: `check` (and pack, which runs it) applies the one definition of
an acceptable image to every indexed image — also to images an older index
holds, whose copies it reads again (structure, transfer syntax against
encoding, encapsulated framing) unless the index records that they passed
today's rules; a re-import of the same source records it for duplicates."""

from __future__ import annotations

import shutil

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dossierkit.errors import IncompleteError
from dossierkit.gather import import_images
from dossierkit.gather.dicomfile import ACCEPTANCE_RULES
from dossierkit.gather.image_removal import remove_images
from dossierkit.package.pack import pack

from images_fixtures import make_dicom, make_encapsulated, real_file
from pkg_fixtures import add_documents, new_workspace
from pkg_fixtures import findings_by_code as codes

JPEG = b"\xff\xd8" + b"\x00" * 60 + b"\xff\xd9"
KEY = Ed25519PrivateKey.generate()


@pytest.fixture
def ws(tmp_path):
    w = new_workspace(tmp_path / "ws")
    add_documents(w)
    return w


def as_older_index(ws, *, replace: dict[str, bytes] | None = None, drop=("accepted",)) -> None:
    """Make the index look written before the acceptance rules were recorded
    (and, with *replace*, as if an older import had copied other bytes)."""
    import hashlib

    index = ws.images_index()
    for inst in index["instances"]:
        for key in drop:
            inst.pop(key, None)
        data = (replace or {}).get(inst["path"])
        if data is not None:
            (ws.root / inst["path"]).write_bytes(data)
            inst["sha256"], inst["size"] = hashlib.sha256(data).hexdigest(), len(data)
    ws.save_images_index(index)


def test_import_records_the_rules_each_image_passed(ws, tmp_path):
    make_encapsulated(tmp_path / "in" / "GOOD", [b"", JPEG], uid_seed="good")
    import_images(ws, [tmp_path / "in"])
    (inst,) = ws.images()
    assert inst.accepted == ACCEPTANCE_RULES and inst.pixel_data == "encapsulated"
    assert "IMG-NOT-ACCEPTABLE" not in codes(ws)


def test_an_older_index_is_read_again_broken_framing_is_an_error_pack_refuses(ws, tmp_path):
    make_encapsulated(tmp_path / "in" / "GOOD", [b"", JPEG], uid_seed="good")
    make_dicom(tmp_path / "in" / "CT", uid_seed="ct")
    import_images(ws, [tmp_path / "in"])
    broken = make_encapsulated(tmp_path / "old" / "BOT", [b"\x00\x00\x00", JPEG], uid_seed="good").read_bytes()
    enc = next(i.path for i in ws.images() if i.pixel_data == "encapsulated")
    as_older_index(ws, replace={enc: broken})  # what an import before the framing check let through
    (f,) = codes(ws)["IMG-NOT-ACCEPTABLE"]
    assert f.level == "error" and f.file == enc and "Basic Offset Table" in f.message
    assert f"remove-images DIR {enc[7:-4]}" in f.message
    with pytest.raises(IncompleteError):
        pack(ws, tmp_path / "out" / "d.zip", signing_key=KEY, password="tulipe-orage-cadran-mesure-violon-24")
    remove_images(ws, [enc])
    assert "IMG-NOT-ACCEPTABLE" not in codes(ws)


def test_an_older_index_with_a_transfer_syntax_the_data_set_contradicts(ws, tmp_path):
    """pydicom's SC_rgb_jpeg.dcm: Implicit VR under JPEG Baseline (dcmdump fails on it)."""
    make_dicom(tmp_path / "in" / "CT", uid_seed="ct")
    import_images(ws, [tmp_path / "in"])
    (inst,) = ws.images()
    as_older_index(ws, replace={inst.path: real_file("SC_rgb_jpeg.dcm").read_bytes()})
    (f,) = codes(ws)["IMG-NOT-ACCEPTABLE"]
    assert "Implicit VR but its transfer syntax 1.2.840.10008.1.2.4.50" in f.message


def test_images_that_passed_todays_rules_are_not_read_again(ws, tmp_path):
    """The recorded version spares the re-read: a copy damaged *after* import
    (same size) is not re-read by check — pack's hash check is what catches
    that — but the same copy in an older index is."""
    make_encapsulated(tmp_path / "in" / "GOOD", [b"", JPEG], uid_seed="good")
    import_images(ws, [tmp_path / "in"])
    (inst,) = ws.images()
    data = bytearray((ws.root / inst.path).read_bytes())
    bot = data.index(b"\xfe\xff\x00\xe0\x00\x00\x00\x00")  # the empty Basic Offset Table item
    data[bot + 4] = 3
    (ws.root / inst.path).write_bytes(bytes(data))
    assert "IMG-NOT-ACCEPTABLE" not in codes(ws)
    as_older_index(ws)
    assert "IMG-NOT-ACCEPTABLE" in codes(ws)


def test_reimporting_the_same_source_records_the_rules_for_duplicates(ws, tmp_path):
    make_encapsulated(tmp_path / "in" / "GOOD", [b"", JPEG], uid_seed="good")
    make_dicom(tmp_path / "in" / "CT", uid_seed="ct")
    import_images(ws, [tmp_path / "in"])
    as_older_index(ws)
    assert {i.accepted for i in ws.images()} == {None}
    report = import_images(ws, [tmp_path / "in"])
    assert report.duplicates == 2 and report.imported == 0
    assert {i.accepted for i in ws.images()} == {ACCEPTANCE_RULES}


def test_a_copy_restored_from_an_older_index_gets_the_rules_recorded_too(ws, tmp_path):
    """A copy gone from an older index's workspace is restored by importing
    its source again, and its record gets today's rules like a duplicate's:
    check need not re-read the copy it just rebuilt."""
    make_dicom(tmp_path / "in" / "CT", uid_seed="ct")
    make_dicom(tmp_path / "in" / "CT2", uid_seed="ct2")
    import_images(ws, [tmp_path / "in"])
    as_older_index(ws)
    gone = ws.root / sorted(i.path for i in ws.images())[0]
    gone.unlink()
    report = import_images(ws, [tmp_path / "in"])
    assert (report.restored, report.duplicates, report.imported) == (1, 1, 0)
    assert gone.is_file()
    assert {i.accepted for i in ws.images()} == {ACCEPTANCE_RULES}


def test_an_older_index_without_pixel_data_states_gets_them_from_the_copies(ws, tmp_path):
    make_dicom(tmp_path / "in" / "NOPIX", uid_seed="nopix", drop=("PixelData",))
    make_dicom(tmp_path / "in" / "GOOD", uid_seed="good")
    import_images(ws, [tmp_path / "in"])
    as_older_index(ws, drop=("accepted", "pixel_data"))
    found = codes(ws)
    (f,) = found["IMG-NO-PIXELS"]
    assert "1 image object(s)" in f.message and "IMG-NOT-ACCEPTABLE" not in found


def test_a_missing_copy_is_the_presence_rule_s_finding_only(ws, tmp_path):
    make_dicom(tmp_path / "in" / "GOOD", uid_seed="good")
    import_images(ws, [tmp_path / "in"])
    as_older_index(ws)
    (inst,) = ws.images()
    shutil.move(ws.root / inst.path, tmp_path / "elsewhere.dcm")
    found = codes(ws)
    assert "IMG-NOT-ACCEPTABLE" not in found and found  # image-copies-present names it
