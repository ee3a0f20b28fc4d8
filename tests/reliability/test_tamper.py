"""Tamper matrix: every alteration of a package makes ``verify`` fail with a
message naming the cause, and ``unpack`` leave nothing (docs/reliability.md).

Property tests flip bytes and truncate copies of one small real package per
container; the structured cases (swapped file, re-signed manifest, edited
SHA256SUMS/DICOMDIR, appended entry) rebuild the package at the zip layer
the way an attacker holding the password or the recipient's public key can.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings, strategies as st

from dossierkit.errors import DecryptionError, IntegrityError, UntrustedError
from dossierkit.package import layout
from dossierkit.package.unpack import unpack_package
from dossierkit.package.verify import CHECKS, verify_package
from dossierkit.trust.signing import fingerprint
from tests.conftest import run_cli
from tests.reliability import craft
from tests.reliability.common import OTHER_KEY, SIGNING_KEY

FLIPS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CUTS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
EXPECTED_SIGNER = fingerprint(SIGNING_KEY.public_key())


def failure_of(path: Path, secrets: dict, **kw) -> tuple[str, str]:
    """(what failed, its one line) for a package that must not verify."""
    try:
        rep = verify_package(path, **secrets, **kw)
    except DecryptionError as exc:
        what, line = "decryption", exc.line()
    else:
        assert not rep.ok, "an altered package verified"
        assert rep.failures, "not ok but no failure named"
        f = rep.failures[0]
        assert f.check in CHECKS
        what, line = f.check, f.message
    assert line.strip() and "\n" not in line and "internal error" not in line, line
    return what, line


def assert_unpack_leaves_nothing(path: Path, secrets: dict, **kw) -> None:
    """unpack raises one error and leaves the folder as it found it."""
    folder = path.parent
    before = sorted(p.name for p in folder.iterdir())
    with pytest.raises((DecryptionError, IntegrityError, UntrustedError)) as ei:
        unpack_package(path, folder / "dest", **secrets, **kw)
    assert "\n" not in ei.value.line()
    assert sorted(p.name for p in folder.iterdir()) == before


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("tamper")


def _offsets(size: int):
    # Headers sit at both ends (first entries, central directory, end
    # records, age header); the bulk is image and document data.
    return st.one_of(st.integers(0, 255), st.integers(max(0, size - 512), size - 1), st.integers(0, size - 1))


def _flip_case(packed, scratch: Path, offset: int, mask: int) -> None:
    data = bytearray(packed.path.read_bytes())
    data[offset] ^= mask
    p = scratch / f"flip-{packed.kind}.pkg"
    p.write_bytes(bytes(data))
    what, _line = failure_of(p, packed.secrets)
    event(f"{packed.kind}: {what}")


@FLIPS
@given(data=st.data())
def test_flipped_byte_password(password_package, scratch, data):
    size = password_package.result.size
    _flip_case(password_package, scratch, data.draw(_offsets(size)), data.draw(st.integers(1, 255)))


@FLIPS
@given(data=st.data())
def test_flipped_byte_recipients(recipients_package, scratch, data):
    size = recipients_package.result.size
    _flip_case(recipients_package, scratch, data.draw(_offsets(size)), data.draw(st.integers(1, 255)))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_unpack_of_a_flipped_package_leaves_nothing(any_package, tmp_path_factory, data):
    raw = bytearray(any_package.path.read_bytes())
    raw[data.draw(_offsets(len(raw)))] ^= data.draw(st.integers(1, 255))
    p = tmp_path_factory.mktemp("unpack") / "flipped.pkg"
    p.write_bytes(bytes(raw))
    assert_unpack_leaves_nothing(p, any_package.secrets)


@CUTS
@given(data=st.data())
def test_truncated_package_fails(any_package, scratch, data):
    raw = any_package.path.read_bytes()
    n = data.draw(st.one_of(st.integers(0, len(raw) - 1), st.integers(max(0, len(raw) - 600), len(raw) - 1)))
    p = scratch / f"cut-{any_package.kind}.pkg"
    p.write_bytes(raw[:n])
    what, line = failure_of(p, any_package.secrets)
    event(f"{any_package.kind}: {what}")
    if what == "container":
        assert "truncated" in line or "end" in line or "missing" in line, line


def test_truncated_package_unpack_leaves_nothing(any_package, tmp_path):
    raw = any_package.path.read_bytes()
    for n in (0, 3, len(raw) // 2, len(raw) - 1):
        p = tmp_path / "cut.pkg"
        p.write_bytes(raw[:n])
        assert_unpack_leaves_nothing(p, any_package.secrets)


# ------------------------------------------------------ structured tampering

def _items(packed):
    return craft.entries(packed.path, packed.kind, **packed.secrets)


def _rebuild(packed, path: Path, items, **kw) -> Path:
    rcpt = [packed.secrets["identities"][0].recipient()] if packed.kind == "recipients" else None
    return craft.write_package(path, packed.kind, items, password=packed.secrets.get("password"), recipients=rcpt,
                               **kw)


def _images(items) -> list[str]:
    return [n for n, _ in items if n.startswith("DICOM/")]


def test_rebuilt_untouched_package_verifies(any_package, tmp_path):
    """The crafting path itself is sound: without an edit, it verifies."""
    p = _rebuild(any_package, tmp_path / "same.pkg", _items(any_package))
    rep = verify_package(p, **any_package.secrets, expect_signer=EXPECTED_SIGNER)
    assert rep.ok, rep.failures


def test_file_swapped_for_another_valid_file(any_package, tmp_path):
    items = _items(any_package)
    a, b = _images(items)[:2]
    d = dict(items)
    swapped = [(n, d[b] if n == a else data) for n, data in items]
    p = _rebuild(any_package, tmp_path / "swapped.pkg", swapped)
    what, line = failure_of(p, any_package.secrets)
    assert what == "files" and a in line and ("SHA-256" in line or "bytes" in line), line
    assert_unpack_leaves_nothing(p, any_package.secrets)


def _edited_manifest(items) -> bytes:
    m = json.loads(dict(items)[layout.MANIFEST])
    m["documents"][0]["title"] = "Fiche RCP (modifiée)"
    return json.dumps(m, ensure_ascii=False, indent=1).encode()


def test_manifest_edited_without_resigning(any_package, tmp_path):
    items = _items(any_package)
    edited = [(n, _edited_manifest(items) if n == layout.MANIFEST else d) for n, d in items]
    p = _rebuild(any_package, tmp_path / "m.pkg", edited)
    what, line = failure_of(p, any_package.secrets)
    assert what == "signature" and "MANIFEST.JSON" in line and "altered" in line, line
    assert_unpack_leaves_nothing(p, any_package.secrets)


def test_manifest_edited_and_resigned_with_another_key(any_package, tmp_path):
    items = _items(any_package)
    resigned = craft.reseal(items, OTHER_KEY, manifest=_edited_manifest(items))
    p = _rebuild(any_package, tmp_path / "resigned.pkg", resigned)
    # The issue #14 forgery: authentic signature, unknown key. Not a success:
    # verdict "untrusted" (exit 6), every other check holds, nothing unpacked.
    rep = verify_package(p, **any_package.secrets)
    assert not rep.ok and rep.verdict == "untrusted" and rep.exit_code == 6
    assert rep.signer_fingerprint == fingerprint(OTHER_KEY.public_key()) != EXPECTED_SIGNER
    assert [f.check for f in rep.failures] == ["sender"] and "unknown sender" in rep.failures[0].message
    what, line = failure_of(p, any_package.secrets, expect_signer=EXPECTED_SIGNER)
    assert what == "sender" and "not the expected signer" in line, line
    with pytest.raises(UntrustedError, match="unknown sender"):
        unpack_package(p, tmp_path / "dest", **any_package.secrets)
    assert not (tmp_path / "dest").exists()
    assert_unpack_leaves_nothing(p, any_package.secrets, expect_signer=EXPECTED_SIGNER)


def test_sha256sums_edited(any_package, tmp_path):
    items = _items(any_package)
    sums = dict(items)[layout.SUMS]
    img = _images(items)[0]
    digest = craft.sums_of(items)[img].encode()
    forged = sums.replace(digest, b"0" * 64)
    # edited alone: the signature no longer covers it
    p = _rebuild(any_package, tmp_path / "s1.pkg", [(n, forged if n == layout.SUMS else d) for n, d in items])
    what, line = failure_of(p, any_package.secrets)
    assert what == "signature" and "SHA256SUMS" in line, line
    assert_unpack_leaves_nothing(p, any_package.secrets)
    # edited and re-signed (a signer's bug, or a forger): disagrees with the manifest
    p = _rebuild(any_package, tmp_path / "s2.pkg", craft.reseal(items, SIGNING_KEY, sums=forged))
    what, line = failure_of(p, any_package.secrets, expect_signer=EXPECTED_SIGNER)
    assert what == "sums" and img in line and "disagree" in line, line
    # a line removed and re-signed
    dropped = b"".join(x + b"\n" for x in sums.split(b"\n") if x and not x.endswith(img.encode()))
    p = _rebuild(any_package, tmp_path / "s3.pkg", craft.reseal(items, SIGNING_KEY, sums=dropped))
    what, line = failure_of(p, any_package.secrets)
    assert what == "sums" and img in line and "not in SHA256SUMS" in line, line


def test_dicomdir_edited(any_package, tmp_path):
    items = _items(any_package)
    d = dict(items)
    ref = _images(items)[0].split("/")[-1].encode()  # IM000001, as a record's Referenced File ID component
    edited = craft.replace_all(d[layout.DICOMDIR], ref, b"IM000999")
    # edited alone: its hash no longer matches the signed manifest
    p = _rebuild(any_package, tmp_path / "dd1.pkg", [(n, edited if n == layout.DICOMDIR else x) for n, x in items])
    what, line = failure_of(p, any_package.secrets)
    assert what == "files" and "DICOMDIR" in line and "SHA-256" in line, line
    assert_unpack_leaves_nothing(p, any_package.secrets)
    # edited with the manifest updated and re-signed: the record walk names it
    import hashlib

    m = json.loads(d[layout.MANIFEST])
    for f in m["files"]:
        if f["path"] == layout.DICOMDIR:
            old = f["sha256"]
            f["sha256"] = hashlib.sha256(edited).hexdigest()
    manifest = json.dumps(m, ensure_ascii=False, indent=1).encode()
    sums = d[layout.SUMS].replace(old.encode(), hashlib.sha256(edited).hexdigest().encode())
    forged = craft.reseal([(n, edited if n == layout.DICOMDIR else x) for n, x in items], SIGNING_KEY,
                          manifest=manifest, sums=sums.replace(hashlib.sha256(d[layout.MANIFEST]).hexdigest().encode(),
                                                               hashlib.sha256(manifest).hexdigest().encode()))
    p = _rebuild(any_package, tmp_path / "dd2.pkg", forged)
    rep = verify_package(p, **any_package.secrets)
    msgs = [f.message for f in rep.failures if f.check == "dicomdir"]
    assert not rep.ok and any("IM000999" in x and "not an image of the package" in x for x in msgs), rep.failures
    assert any("no DICOMDIR record references it" in x for x in msgs), msgs


def test_entry_appended_with_dossierkit_writer(any_package, tmp_path):
    items = _items(any_package) + [("EXTRA/NOTE.TXT", b"appended after signing\n")]
    p = _rebuild(any_package, tmp_path / "extra.pkg", items)
    what, line = failure_of(p, any_package.secrets)
    assert what == "files" and "EXTRA/NOTE.TXT" in line and "not listed" in line, line
    assert_unpack_leaves_nothing(p, any_package.secrets)


def test_entry_appended_with_pyzipper(password_package, tmp_path):
    import pyzipper

    p = password_package.copy_to(tmp_path)
    with pyzipper.AESZipFile(p, "a", encryption=pyzipper.WZ_AES) as zf:
        zf.setpassword(password_package.secrets["password"].encode())
        zf.writestr("EXTRA.TXT", b"appended by another tool")
    what, line = failure_of(p, password_package.secrets)
    assert what == "container" and "EXTRA.TXT" in line, line
    assert_unpack_leaves_nothing(p, password_package.secrets)


def test_bytes_appended_after_the_end(any_package, tmp_path):
    p = any_package.copy_to(tmp_path)
    with open(p, "ab") as fh:
        fh.write(b"PK\x03\x04trailing garbage")
    what, line = failure_of(p, any_package.secrets)
    # zip: bytes after the end record; age: the last chunk is no longer last
    assert what == "container" and ("after the end" in line or "altered or truncated" in line), line
    assert_unpack_leaves_nothing(p, any_package.secrets)


def test_entries_reordered(any_package, tmp_path):
    items = _items(any_package)
    seal, rest = items[:3], items[3:]
    p = _rebuild(any_package, tmp_path / "order.pkg", list(reversed(seal)) + rest)
    what, line = failure_of(p, any_package.secrets)
    assert what == "container" and "expected DOSSIER/MANIFEST.JSON" in line, line


# ------------------------------------------------------------------ the CLI

@pytest.fixture(scope="module")
def cli_secrets(tmp_path_factory, password_package, recipients_package):
    d = tmp_path_factory.mktemp("secrets")
    pw = d / "password.txt"
    pw.write_text(password_package.secrets["password"] + "\n")
    pw.chmod(0o600)
    ident = d / "identity.txt"
    ident.write_text(str(recipients_package.secrets["identities"][0]) + "\n")
    ident.chmod(0o600)
    return {"password": ["--password-file", str(pw)], "recipients": ["--identity", str(ident)]}


def _flipped_copy(packed, tmp_path: Path, where: int) -> Path:
    raw = bytearray(packed.path.read_bytes())
    raw[where] ^= 0x20
    p = tmp_path / f"flipped-{packed.kind}.pkg"
    p.write_bytes(bytes(raw))
    return p


def test_cli_exit_codes_on_tampered_packages(any_package, cli_secrets, tmp_path):
    opts = cli_secrets[any_package.kind]
    middle = _flipped_copy(any_package, tmp_path, any_package.result.size // 2)
    r = run_cli("verify", middle, *opts, "--json")
    assert r.returncode == 3, (r.returncode, r.stderr)
    report = json.loads(r.stdout)
    assert report["ok"] is False and report["failures"][0]["message"]
    r = run_cli("unpack", middle, tmp_path / "dest", *opts)
    assert r.returncode == 3 and r.stderr.count("dossierkit: error:") == 1, r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [middle.name]


def test_cli_exit_4_for_an_altered_first_entry(password_package, cli_secrets, tmp_path):
    # the first entry's salt: indistinguishable from a wrong password, said so in one line
    p = _flipped_copy(password_package, tmp_path, 70)
    r = run_cli("verify", p, *cli_secrets["password"])
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert r.returncode == 4 and len(lines) == 1 and "damaged" in lines[0], r.stderr


def test_cli_forged_package_is_exit_6_not_0(recipients_package, cli_secrets, tmp_path):
    """Issue #14: README.TXT altered and re-signed with a fresh Ed25519 key.
    An age package can be made by anyone holding the recipient's public key:
    the signature is authentic, the sender unknown — exit 6 for verify and
    unpack (nothing extracted), with the full fingerprint to compare."""
    items = _items(recipients_package)
    d = dict(items)
    readme = d[layout.README] + b"\r\nMISE A JOUR : appelez le 01 02 03 04 05 pour le mot de passe.\r\n"
    old_sha, new_sha = (hashlib.sha256(x).hexdigest() for x in (d[layout.README], readme))
    m = json.loads(d[layout.MANIFEST])
    (entry,) = [f for f in m["files"] if f["path"] == layout.README]
    entry["size"], entry["sha256"] = len(readme), new_sha
    d[layout.README], d[layout.SUMS] = readme, d[layout.SUMS].replace(old_sha.encode(), new_sha.encode())
    forged = craft.reseal([(n, d[n]) for n, _ in items], OTHER_KEY,
                          manifest=json.dumps(m, ensure_ascii=False, indent=1).encode())
    p = _rebuild(recipients_package, tmp_path / "forged.age", forged)
    assert verify_package(p, **recipients_package.secrets, expect_signer=fingerprint(OTHER_KEY.public_key())).ok
    opts = cli_secrets["recipients"]
    forger = fingerprint(OTHER_KEY.public_key())
    spaced = " ".join(forger[i:i + 4] for i in range(0, 64, 4))
    r = run_cli("verify", p, *opts)
    assert r.returncode == 6, (r.returncode, r.stdout, r.stderr)
    assert spaced[:39] in r.stdout and spaced[40:] in r.stdout and "NOT trusted" in r.stdout, r.stdout
    assert f"dossierkit trust add {forger} --name" in r.stdout, r.stdout  # one unbroken line to copy
    r = run_cli("verify", p, *opts, "--json")
    rep = json.loads(r.stdout)
    assert r.returncode == 6 and rep["verdict"] == "untrusted" and rep["signer"]["known"] is False
    assert {c: v for c, v in rep["checks"].items() if v != "ok"} == {"sender": "failed"}
    r = run_cli("unpack", p, tmp_path / "dest", *opts)
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert r.returncode == 6 and len(lines) == 1 and spaced in lines[0] and "trust add" in lines[0], r.stderr
    r = run_cli("unpack", p, tmp_path / "dest", *opts, "--expect-signer", EXPECTED_SIGNER)
    assert r.returncode == 6 and "not the expected signer" in r.stderr, r.stderr
    r = run_cli("unpack", p, tmp_path / "dest", *opts, "--expect-signer", EXPECTED_SIGNER[:16])
    assert r.returncode == 2 and "full fingerprint" in r.stderr, r.stderr
    assert sorted(x.name for x in tmp_path.iterdir()) == ["forged.age"]
    # the genuine package verifies, and names its trusted sender
    r = run_cli("verify", recipients_package.path, *opts, "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["signer"]["basis"] == "trust-store", r.stderr


def test_unpack_force_keeps_the_old_tree_when_the_new_package_fails(any_package, tmp_path):
    dest = tmp_path / "dest"
    unpack_package(any_package.path, dest, **any_package.secrets)
    before = sorted((str(p.relative_to(dest)), p.stat().st_size) for p in dest.rglob("*"))
    raw = bytearray(any_package.path.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    bad = tmp_path / "bad.pkg"
    bad.write_bytes(bytes(raw))
    with pytest.raises(IntegrityError):
        unpack_package(bad, dest, force=True, **any_package.secrets)
    assert sorted((str(p.relative_to(dest)), p.stat().st_size) for p in dest.rglob("*")) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.pkg", "dest"]
