"""age v1 container: round trips, interop with the age CLI and pyrage,
tampering, wrong key, keys files, and the zip-inside-age stack."""

from __future__ import annotations

import io
import os
import subprocess

import pyrage
import pytest

from dossierkit.errors import DecryptionError, InputError, IntegrityError, UsageError
from dossierkit.archive.age_keys import (Identity, Recipient, generate_identity, identity_file_text, load_identities,
                                         load_recipients, parse_recipients)
from dossierkit.archive.age_stream import CHUNK
from dossierkit.archive.agefile import age_reader, age_writer
from dossierkit.archive.bech32 import bech32_decode
from dossierkit.archive.zipaes import iter_package_entries, open_writer
from tests.conftest import need_tool

SIZES = [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 16 * CHUNK, 16 * CHUNK + 1, 33 * CHUNK + 7]


@pytest.fixture(scope="module")
def keys():
    return generate_identity()


def encrypt(data: bytes, recipients, piece: int = 100_003) -> bytes:
    out = io.BytesIO()
    with age_writer(out, recipients) as w:
        for i in range(0, len(data), piece):
            w.write(data[i:i + piece])
    return out.getvalue()


def decrypt(blob: bytes, identities) -> bytes:
    with age_reader(io.BytesIO(blob), identities) as r:
        return r.read()


def test_keys_format_and_pyrage_agree(keys):
    secret, public = keys
    assert secret.startswith("AGE-SECRET-KEY-1") and public.startswith("age1") and len(public) == 62
    assert str(pyrage.x25519.Identity.from_str(secret).to_public()) == public
    assert str(Identity.from_str(secret).recipient()) == public
    assert secret not in repr(Identity.from_str(secret))
    bad = public[:-1] + ("q" if public[-1] != "q" else "p")
    assert bech32_decode(bad) is None
    with pytest.raises(UsageError):
        Recipient.from_str(bad)


@pytest.mark.parametrize("size", SIZES)
def test_round_trip_and_pyrage_both_ways(keys, size):
    secret, public = keys
    data = os.urandom(size)
    blob = encrypt(data, [public])
    assert decrypt(blob, [secret]) == data
    ident = pyrage.x25519.Identity.from_str(secret)
    assert pyrage.decrypt(blob, [ident]) == data
    assert decrypt(pyrage.encrypt(data, [ident.to_public()]), [secret]) == data


def test_age_cli_both_ways(keys, tmp_path):
    age = need_tool("age")
    keygen = need_tool("age-keygen")
    secret, public = keys
    data = os.urandom(3 * CHUNK + 5)
    ident_file = tmp_path / "me.key"
    ident_file.write_text(identity_file_text(secret))
    (tmp_path / "ours.age").write_bytes(encrypt(data, [public]))
    out = subprocess.run([age, "-d", "-i", str(ident_file), str(tmp_path / "ours.age")], capture_output=True)
    assert out.returncode == 0 and out.stdout == data, out.stderr
    (tmp_path / "plain").write_bytes(data)
    subprocess.run([age, "-r", public, "-o", str(tmp_path / "theirs.age"), str(tmp_path / "plain")], check=True)
    assert decrypt((tmp_path / "theirs.age").read_bytes(), [secret]) == data
    # an identity file written by age-keygen loads, comments and all
    subprocess.run([keygen, "-o", str(tmp_path / "k2")], check=True, capture_output=True)
    [ident2] = load_identities(tmp_path / "k2")
    pub2 = [ln.split(": ")[1] for ln in (tmp_path / "k2").read_text().splitlines() if "public key" in ln][0]
    assert str(ident2.recipient()) == pub2


def test_several_recipients_and_wrong_key(keys):
    secret, public = keys
    other_secret, other_public = generate_identity()
    third_secret, _ = generate_identity()
    blob = encrypt(b"x" * 1000, [other_public, public])
    assert decrypt(blob, [secret]) == b"x" * 1000
    assert decrypt(blob, [third_secret, other_secret]) == b"x" * 1000
    with pytest.raises(DecryptionError, match="wrong key"):
        decrypt(blob, [third_secret])
    with pytest.raises(DecryptionError, match="not an age"):
        decrypt(b"PK\x03\x04 not age", [secret])


def test_tampering_truncation_and_appending(keys):
    secret, public = keys
    data = os.urandom(3 * CHUNK + 100)
    blob = encrypt(data, [public])
    header_end = blob.index(b"\n---") + 1
    for pos in (header_end + 2, header_end + 60, len(blob) - 20, len(blob) - CHUNK - 50):
        bad = bytearray(blob)
        bad[pos] ^= 0x04
        with pytest.raises((IntegrityError, DecryptionError)):
            decrypt(bytes(bad), [secret])
    # header stanza body edited: no identity matches any more (or MAC fails)
    bad = bytearray(blob)
    bad[blob.index(b"\n", blob.index(b"-> X25519")) + 3] ^= 0x01
    with pytest.raises((IntegrityError, DecryptionError)):
        decrypt(bytes(bad), [secret])
    for cut in (len(blob) - 1, len(blob) - (len(data) % CHUNK) - 16, header_end + 10):
        with pytest.raises(IntegrityError, match="truncated|altered"):
            decrypt(blob[:cut], [secret])
    # appended bytes: the last chunk no longer authenticates (age cannot tell where it ended)
    with pytest.raises(IntegrityError, match="altered|after the end"):
        decrypt(blob + b"\0", [secret])
    assert decrypt(blob, [secret]) == data


def test_key_files(tmp_path, keys):
    secret, public = keys
    text = f"# team PACS\n\n{public}\n  # second\n{generate_identity()[1]}\n"
    assert [str(r) for r in parse_recipients(text)][0] == public
    (tmp_path / "r.txt").write_text(text)
    assert len(load_recipients(tmp_path / "r.txt")) == 2
    with pytest.raises(InputError, match="line 2"):
        parse_recipients(f"{public}\nnot-a-key\n")
    with pytest.raises(InputError, match="no age recipient"):
        parse_recipients("# only a comment\n")
    (tmp_path / "id.txt").write_text("# created\nAGE-SECRET-KEY-1BOGUS\n")
    with pytest.raises(InputError, match="line 2"):
        load_identities(tmp_path / "id.txt")


def test_zip_inside_age_streams_both_ways(keys, tmp_path):
    """The recipients container: plain zip -> age, read back age -> zip, no temp file."""
    secret, public = keys
    payload = {f"DICOM/ST000001/SE000001/IM{i:06d}": os.urandom(s) for i, s in enumerate([0, 10, 3 * CHUNK + 1])}
    for name, data in payload.items():
        (tmp_path / name.replace("/", "_")).write_bytes(data)
    out = io.BytesIO()
    with age_writer(out, [public]) as aw, open_writer(aw, password=None) as zw:
        for name in payload:
            zw.add_file(name, tmp_path / name.replace("/", "_"))
    got = {}
    with age_reader(io.BytesIO(out.getvalue()), [secret]) as plain:
        for entry in iter_package_entries(plain, password=None):
            got[entry.name] = b"".join(bytes(c) for c in entry.chunks())
    assert got == payload
    assert b"DICOM/" not in out.getvalue()  # age hides the names


def test_age_then_7zip_opens_the_inner_zip(keys, tmp_path):
    age = need_tool("age")
    sz = need_tool("7zz")
    secret, public = keys
    (tmp_path / "f").write_bytes(b"hello" * 1000)
    with open(tmp_path / "pkg.age", "wb") as fh, age_writer(fh, [public]) as aw, \
            open_writer(aw, password=None) as zw:
        zw.add_file("A/F", tmp_path / "f")
    (tmp_path / "k").write_text(identity_file_text(secret))
    subprocess.run([age, "-d", "-i", str(tmp_path / "k"), "-o", str(tmp_path / "pkg.zip"), str(tmp_path / "pkg.age")],
                   check=True)
    res = subprocess.run([sz, "t", str(tmp_path / "pkg.zip")], capture_output=True, text=True)
    assert res.returncode == 0 and "Everything is Ok" in res.stdout


def test_writer_error_leaves_an_invalid_file(keys):
    secret, public = keys
    out = io.BytesIO()
    with pytest.raises(RuntimeError):
        with age_writer(out, [public]) as w:
            w.write(b"partial")
            raise RuntimeError("interrupted")
    with pytest.raises(IntegrityError):
        decrypt(out.getvalue(), [secret])
