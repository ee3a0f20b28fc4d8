"""Hostile packages, crafted with Python's zipfile/pyzipper or by editing a
canonical package at the zip layer: zip slip names, links, a zip bomb,
duplicate names, broken age headers. Each is refused with one line, in
bounded time and memory, and unpack writes nothing anywhere."""

from __future__ import annotations

import io
import json
import os
import stat
import struct
import zipfile
from pathlib import Path

import pytest

from dossierkit.errors import DecryptionError, IntegrityError
from dossierkit.archive import PASSWORD
from dossierkit.package.unpack import unpack_package
from dossierkit.package.verify import verify_package
from tests.reliability import craft
from tests.reliability.common import measure_cli

SLIP_NAMES = ["../EVIL.TXT", "DICOM/../../EVIL.TXT", "/tmp/EVIL.TXT", "C:\\EVIL.TXT", "C:EVIL.TXT",
              "DICOM\\..\\..\\EVIL.TXT", "//server/share/EVIL.TXT"]


def refused(path: Path, secrets: dict) -> str:
    """The one line verify gives for a hostile package (it must not verify)."""
    try:
        rep = verify_package(path, **secrets)
    except DecryptionError as exc:
        line = exc.line()
    else:
        assert not rep.ok and rep.failures
        line = rep.failures[0].message
    assert line and "\n" not in line
    return line


def unpack_refused(path: Path, secrets: dict, sentinels: list[Path] = ()) -> None:
    folder = path.parent
    before = sorted(p.name for p in folder.iterdir())
    with pytest.raises((DecryptionError, IntegrityError)):
        unpack_package(path, folder / "dest", **secrets)
    assert sorted(p.name for p in folder.iterdir()) == before
    for s in sentinels:
        assert not os.path.lexists(s), s


def _foreign_zip(kind: str, names_and_data, *, password: str, attrs: dict | None = None) -> bytes:
    """A zip made by pyzipper (AES, password kind) or zipfile (plain)."""
    import pyzipper

    buf = io.BytesIO()
    if kind == PASSWORD:
        zf = pyzipper.AESZipFile(buf, "w", compression=pyzipper.ZIP_DEFLATED, encryption=pyzipper.WZ_AES)
        zf.setpassword(password.encode())
    else:
        zf = zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED)
    with zf:
        for name, data in names_and_data:
            info = getattr(zf, "zipinfo_cls", zipfile.ZipInfo)(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            if attrs and name in attrs:
                info.create_system = 3
                info.external_attr = attrs[name]
            zf.writestr(info, data)
    return buf.getvalue()


def _write(packed, path: Path, zip_bytes: bytes) -> Path:
    rcpt = [packed.secrets["identities"][0].recipient()] if packed.kind == "recipients" else None
    path.write_bytes(craft.wrap(zip_bytes, packed.kind, rcpt))
    return path


def _canonical_zip(packed) -> bytes:
    return craft.zip_layer(packed.path, packed.kind, packed.secrets.get("identities"))


# ------------------------------------------------------------------ zip slip

@pytest.mark.parametrize("name", SLIP_NAMES)
def test_zip_slip_in_a_foreign_zip(any_package, tmp_path, name):
    name = name.replace("/tmp/", f"{tmp_path}/") if name.startswith("/tmp/") else name
    z = _foreign_zip(any_package.kind, [("DOSSIER/MANIFEST.JSON", b"{}"), (name, b"owned")],
                     password=any_package.secrets.get("password", "x"))
    p = _write(any_package, tmp_path / "slip.pkg", z)
    line = refused(p, any_package.secrets)
    assert "refused entry name" in line or "differs from what dossierkit writes" in line or "is compressed" in line, line
    unpack_refused(p, any_package.secrets, [tmp_path.parent / "EVIL.TXT", tmp_path / "EVIL.TXT"])


@pytest.mark.parametrize("evil", ["../../EVIL", "/tmp/EVILX", "C:\\EVIL.X", "..\\..\\EVL"])
def test_zip_slip_in_an_otherwise_canonical_package(any_package, tmp_path, evil):
    """Names are not covered by the WinZip AES MAC: a same-length name edit
    keeps every other header byte canonical; the name check must refuse it."""
    z = _canonical_zip(any_package)
    target = "INDEX.HTM"
    repl = evil.ljust(len(target), "X")[:len(target)]
    p = _write(any_package, tmp_path / "slip.pkg", craft.rename_entry(z, target, repl))
    line = refused(p, any_package.secrets)
    assert "refused entry name" in line and any(w in line for w in ("'..'", "absolute", "backslash", "':'")), line
    unpack_refused(p, any_package.secrets, [Path("/tmp/EVILX"), tmp_path.parent / "EVIL"])


# --------------------------------------------------------------------- links

def test_symlink_entry_in_a_foreign_zip(any_package, tmp_path):
    link = (stat.S_IFLNK | 0o777) << 16
    z = _foreign_zip(any_package.kind, [("DOSSIER/MANIFEST.JSON", b"/etc/passwd")],
                     password=any_package.secrets.get("password", "x"), attrs={"DOSSIER/MANIFEST.JSON": link})
    p = _write(any_package, tmp_path / "link.pkg", z)
    refused(p, any_package.secrets)
    unpack_refused(p, any_package.secrets)


@pytest.mark.parametrize("mode", [stat.S_IFLNK | 0o777, stat.S_IFDIR | 0o755, stat.S_IFIFO | 0o644])
def test_link_or_special_entry_in_an_otherwise_canonical_package(any_package, tmp_path, mode):
    z = bytearray(_canonical_zip(any_package))
    cd = craft.central_directory_offset(bytes(z))  # the first central record
    assert z[cd:cd + 4] == b"PK\x01\x02"
    struct.pack_into("<I", z, cd + 38, mode << 16)  # external attributes
    p = _write(any_package, tmp_path / "special.pkg", bytes(z))
    line = refused(p, any_package.secrets)
    assert "link, a folder or a special file" in line, line
    unpack_refused(p, any_package.secrets)
    assert not any(x.is_symlink() for x in tmp_path.rglob("*"))


# ---------------------------------------------------------------- duplicates

def test_duplicate_names_in_a_foreign_zip(any_package, tmp_path):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns "Duplicate name"
        z = _foreign_zip(any_package.kind, [("A.TXT", b"one"), ("A.TXT", b"two")],
                         password=any_package.secrets.get("password", "x"))
    p = _write(any_package, tmp_path / "dup.pkg", z)
    refused(p, any_package.secrets)
    unpack_refused(p, any_package.secrets)


@pytest.mark.parametrize("other", ["IHE_XDM/SUBSET01/DOC0001.PDF", "ihe_xdm/subset01/doc0001.pdf"])
def test_duplicate_names_in_an_otherwise_canonical_package(any_package, tmp_path, other):
    z = _canonical_zip(any_package)
    p = _write(any_package, tmp_path / "dup.pkg", craft.rename_entry(z, "IHE_XDM/SUBSET01/DOC0002.PDF", other))
    line = refused(p, any_package.secrets)
    assert "duplicate entry" in line, line
    unpack_refused(p, any_package.secrets)


# ------------------------------------------------------------------ zip bomb

BOMB_MB = 1024  # 1 GiB of zeros from ~1 MiB of deflate


@pytest.fixture(scope="module")
def bombs(any_package, tmp_path_factory) -> dict[str, Path]:
    """Hostile packages around a deflate bomb, for one container kind."""
    d = tmp_path_factory.mktemp(f"bomb-{any_package.kind}")
    items = craft.entries(any_package.path, any_package.kind, **any_package.secrets)
    stream, crc = craft.zeros_bomb(BOMB_MB)
    rcpt = [any_package.secrets["identities"][0].recipient()] if any_package.kind == "recipients" else None
    pw = any_package.secrets.get("password")

    def build(name, its, bomb_list):
        return craft.write_package(d / name, any_package.kind, its, password=pw, recipients=rcpt, bombs=bomb_list)

    out = {
        # declared small, inflating huge
        "lying": build("lying.pkg", items, [("EXTRA.BIN", stream, 1000, crc)]),
        # declared huge and honest, not in the manifest
        "honest": build("honest.pkg", items, [("EXTRA.BIN", stream, BOMB_MB << 20, crc)]),
        # the very first entry is the bomb (no manifest read yet)
        "first": build("first.pkg", [], [("DOSSIER/MANIFEST.JSON", stream, BOMB_MB << 20, crc)]),
    }
    # listed in a manifest re-signed by a forger: the size is "declared" by the signed manifest
    m = json.loads(dict(items)["DOSSIER/MANIFEST.JSON"])
    import hashlib

    h = hashlib.sha256()
    block = bytes(1 << 20)
    for _ in range(BOMB_MB):
        h.update(block)
    m["files"].append({"path": "EXTRA.BIN", "size": BOMB_MB << 20, "sha256": h.hexdigest(), "role": "generated"})
    manifest = json.dumps(m, ensure_ascii=False, indent=1).encode()
    sums = dict(items)["DOSSIER/SHA256SUMS"] + f"{h.hexdigest()}  EXTRA.BIN\n".encode()
    from tests.reliability.common import OTHER_KEY

    out["listed"] = build("listed.pkg", craft.reseal(items, OTHER_KEY, manifest=manifest, sums=sums),
                          [("EXTRA.BIN", stream, BOMB_MB << 20, crc)])
    return out


def test_zip_bombs_refused_in_bounded_time_and_memory(any_package, bombs, cli_opts):
    files = list(bombs.values())
    res = measure_cli("unpack", files, cli_opts[any_package.kind])
    for name, f in bombs.items():
        r = res["results"][str(f)]
        lines = [x for x in r["stderr"].splitlines() if x.strip()]
        assert r["exit"] in (3, 4) and len(lines) == 1, (name, r)
        assert r["cpu_seconds"] < 5, (name, r["cpu_seconds"])  # CPU, not wall: the same on a loaded machine
        assert not Path(str(f) + ".dest").exists()
        assert sorted(x.name for x in f.parent.iterdir()) == sorted(x.name for x in files)
    assert res["peak_rss_mb"] < 200, res["peak_rss_mb"]


# ------------------------------------------------------------ age headers

def _age_variants(pkg: bytes, tmp_path: Path) -> dict[str, bytes]:
    header_end = pkg.index(b"\n---") + 1
    mac_line_end = pkg.index(b"\n", header_end) + 1
    other = craft.wrap(b"PK\x05\x06" + bytes(18), "recipients", [_other_recipient()])
    return {
        "v2 intro": pkg.replace(b"age-encryption.org/v1", b"age-encryption.org/v2", 1),
        "scrypt stanza": b"age-encryption.org/v1\n-> scrypt c2FsdHNhbHRzYWx0c2FsdA 18\n"
                         + b"A" * 43 + b"\n--- " + b"A" * 43 + b"\n" + pkg[mac_line_end:],
        "unknown stanza only": b"age-encryption.org/v1\n-> ssh-ed25519 AAAA\n" + b"A" * 43 + b"\n"
                               + pkg[header_end:],
        "endless header": b"age-encryption.org/v1\n" + (b"-> X " + b"A" * 60 + b"\n") * 40000,
        "header cut": pkg[:header_end - 5],
        "MAC altered": pkg[:header_end + 4] + bytes([pkg[header_end + 4] ^ 0x01]) + pkg[header_end + 5:],
        "no payload": pkg[:mac_line_end],
        "another recipient": other,
        "armoured": b"-----BEGIN AGE ENCRYPTED FILE-----\nYWdl\n-----END AGE ENCRYPTED FILE-----\n",
    }


def _other_recipient():
    from dossierkit.archive.age_keys import Identity, generate_identity

    return Identity.from_str(generate_identity()[0]).recipient()


def test_age_file_with_a_wrong_header(recipients_package, tmp_path):
    pkg = recipients_package.path.read_bytes()
    for label, data in _age_variants(pkg, tmp_path).items():
        p = tmp_path / "bad.age"
        p.write_bytes(data)
        line = refused(p, recipients_package.secrets)
        assert "age" in line or "package" in line or "identity" in line, (label, line)
        unpack_refused(p, recipients_package.secrets)


def test_hostile_set_through_the_cli_in_bounded_time_and_memory(recipients_package, password_package, tmp_path,
                                                                 cli_opts):
    """Every hostile age header and foreign zip through `dossierkit unpack`:
    exit 3 or 4, one error line each, nothing written, low peak memory."""
    files = []
    for data in _age_variants(recipients_package.path.read_bytes(), tmp_path).values():
        p = tmp_path / f"age-{len(files)}.age"
        p.write_bytes(data)
        files.append(p)
    res = measure_cli("unpack", files, cli_opts["recipients"])
    zfiles = []
    for i, name in enumerate(SLIP_NAMES):
        z = _foreign_zip("password", [(name, b"owned")], password="other-password")
        p = tmp_path / f"slip-{i}.zip"
        p.write_bytes(z)
        zfiles.append(p)
    res2 = measure_cli("unpack", zfiles, cli_opts["password"])
    for f in files + zfiles:
        r = {**res["results"], **res2["results"]}[str(f)]
        lines = [x for x in r["stderr"].splitlines() if x.strip()]
        assert r["exit"] in (3, 4) and len(lines) == 1 and lines[0].startswith("dossierkit: error:"), (f.name, r)
        assert r["cpu_seconds"] < 5
    assert sorted(x.name for x in tmp_path.iterdir()) == sorted(f.name for f in files + zfiles)
    assert max(res["peak_rss_mb"], res2["peak_rss_mb"]) < 200


@pytest.mark.parametrize("password", [None, b"a-password-for-the-reader"])
def test_zip_reader_inflates_in_bounded_pieces(password):
    """The library reader (zipaes.iter_package_entries, public API) on an
    honest deflate bomb: plaintext comes in pieces of at most 1 MiB, never
    as one buffer the size of the entry."""
    from dossierkit.archive.zipaes import CHUNK, iter_package_entries

    stream, crc = craft.zeros_bomb(64)
    z = craft.CraftZip(password)
    z.add_deflated("BOMB.BIN", stream, declared_size=64 << 20, crc=crc)
    buf = io.BytesIO(z.finish())
    biggest = total = 0
    for entry in iter_package_entries(buf, password=password):
        for chunk in entry.chunks():
            biggest = max(biggest, len(chunk))
            total += len(chunk)
    assert total == 64 << 20 and biggest <= CHUNK, biggest
