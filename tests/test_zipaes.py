"""WinZip AES / plain streaming zip: round trips, interop (7-Zip, pyzipper,
zipfile), tampering, hostile packages."""

from __future__ import annotations

import hashlib
import io
import os
import stat
import subprocess
import threading
import zipfile

import pytest
import pyzipper
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dossierkit.errors import DecryptionError, IntegrityError, UsageError
from dossierkit.archive import Worker, zipformat
from dossierkit.archive.zipaes import iter_package_entries, open_writer
from tests.conftest import need_tool
from tests.pkg_fixtures import derivation_threads

PW = b"correct horse battery staple"


@pytest.fixture
def files(tmp_path):
    """Real payloads of awkward sizes: empty, sub-block, block edges, > 1 MiB
    (crosses a keystream segment), a real DICOM file."""
    from pydicom.data import get_testdata_file

    out = {}
    for i, size in enumerate([0, 1, 15, 16, 17, 4096, (1 << 20) + 17]):
        p = tmp_path / f"in{i}"
        p.write_bytes(os.urandom(size))
        out[f"DICOM/ST000001/SE000001/IM{i:06d}"] = p
    out["DICOM/ST000001/SE000002/IM000001"] = get_testdata_file("CT_small.dcm")
    return out


def write_package(files, *, password=PW, force_zip64=False, extra_text=True) -> tuple[bytes, list]:
    buf = io.BytesIO()
    results = []
    with open_writer(buf, password=password, force_zip64=force_zip64) as zw:
        for name, path in files.items():
            results.append(zw.add_file(name, path))
        if extra_text:
            results.append(zw.add_bytes("DOSSIER/MANIFEST.JSON", b'{"entries": []}\n' * 200, compress=True))
    return buf.getvalue(), results


def read_all(data: bytes, password=PW, **kw) -> dict[str, bytes]:
    out = {}
    for entry in iter_package_entries(io.BytesIO(data), password=password, **kw):
        blob = b"".join(bytes(c) for c in entry.chunks())
        assert entry.sha256 == hashlib.sha256(blob).hexdigest()
        assert entry.size == len(blob)
        out[entry.name] = blob
    return out


@pytest.mark.parametrize("password", [PW, None], ids=["aes", "plain"])
@pytest.mark.parametrize("force_zip64", [False, True], ids=["zip32", "zip64"])
def test_round_trip_and_reported_hashes(files, password, force_zip64):
    data, results = write_package(files, password=password, force_zip64=force_zip64)
    got = read_all(data, password=password)
    for res in results:
        assert hashlib.sha256(got[res.name]).hexdigest() == res.sha256
    for name, path in files.items():
        assert got[name] == open(path, "rb").read()
    assert got["DOSSIER/MANIFEST.JSON"] == b'{"entries": []}\n' * 200


def test_headers_are_neutral(files):
    data, _ = write_package(files)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        assert z.comment == b""
        for info in z.infolist():
            assert info.date_time == (1980, 1, 1, 0, 0, 0)
            assert info.compress_type == zipformat.METHOD_AES
            assert info.CRC == 0  # AE-2: no plaintext checksum in clear
            extras = zipformat.parse_extras(info.extra, "test")
            assert set(extras) == {zipformat.EXTRA_AES}
            assert extras[zipformat.EXTRA_AES][:4] == b"\x02\x00AE"  # vendor version 2 (AE-2)
            assert extras[zipformat.EXTRA_AES][4] == 3  # AES-256


def test_plaintext_never_in_the_aes_output(tmp_path):
    marker = b"LEFEVRE^HELENE-2580375123456" * 100
    p = tmp_path / "doc"
    p.write_bytes(marker)
    data, _ = write_package({"IHE_XDM/SUBSET01/DOC0001.PDF": p})
    assert b"LEFEVRE" not in data


# --------------------------------------------------------------- interop

def test_7zip_tests_and_extracts_our_package(files, tmp_path):
    sz = need_tool("7zz")
    data, _ = write_package(files)
    pkg = tmp_path / "pkg.zip"
    pkg.write_bytes(data)
    ok = subprocess.run([sz, "t", f"-p{PW.decode()}", str(pkg)], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "Everything is Ok" in ok.stdout
    bad = subprocess.run([sz, "t", "-pnot the password", str(pkg)], capture_output=True, text=True)
    assert bad.returncode != 0
    out = tmp_path / "x"
    subprocess.run([sz, "x", f"-p{PW.decode()}", f"-o{out}", str(pkg)], check=True, capture_output=True)
    for name, path in files.items():
        assert (out / name).read_bytes() == open(path, "rb").read()


@pytest.mark.parametrize("password", [PW, None], ids=["aes", "plain"])
def test_7zip_accepts_forced_zip64(files, tmp_path, password):
    sz = need_tool("7zz")
    data, _ = write_package(files, password=password, force_zip64=True)
    assert zipformat.SIG_ZIP64_EOCD in data
    pkg = tmp_path / "pkg.zip"
    pkg.write_bytes(data)
    res = subprocess.run([sz, "t", f"-p{PW.decode()}", str(pkg)], capture_output=True, text=True)
    assert res.returncode == 0 and "Everything is Ok" in res.stdout, res.stdout + res.stderr


@pytest.mark.parametrize("force_zip64", [False, True], ids=["zip32", "zip64"])
def test_libarchive_extracts_our_package_from_a_pipe(files, tmp_path, force_zip64):
    """bsdtar (libarchive) streams the package from stdin: our local headers
    carry real sizes, so no central directory is needed to extract."""
    bsdtar = need_tool("bsdtar")
    data, _ = write_package(files, force_zip64=force_zip64)
    out = tmp_path / "x"
    out.mkdir()
    res = subprocess.run([bsdtar, "--passphrase", PW.decode(), "-xf", "-", "-C", str(out)], input=data,
                         capture_output=True)
    assert res.returncode == 0, res.stderr
    for name, path in files.items():
        assert (out / name).read_bytes() == open(path, "rb").read()
    bad = subprocess.run([bsdtar, "--passphrase", "wrong", "-xf", "-", "-C", str(out)], input=data,
                         capture_output=True)
    assert bad.returncode != 0


def test_we_read_7zip_output(files, tmp_path):
    sz = need_tool("7zz")
    src = tmp_path / "src"
    for name, path in files.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_bytes(open(path, "rb").read())
    pkg = tmp_path / "7z.zip"
    # files named one by one: 7-Zip then stores no folder entries (which we refuse)
    subprocess.run([sz, "a", "-tzip", "-mem=AES256", "-mx0", "-mtc=off", f"-p{PW.decode()}", str(pkg), *files],
                   cwd=src, check=True, capture_output=True)
    got = {}
    for e in iter_package_entries(open(pkg, "rb"), password=PW, strict=False):
        got[e.name] = b"".join(bytes(c) for c in e.chunks())
    for name, path in files.items():
        assert got[name] == open(path, "rb").read()


def test_pyzipper_reads_ours_and_we_read_pyzipper(files):
    data, _ = write_package(files)
    with pyzipper.AESZipFile(io.BytesIO(data)) as z:
        z.setpassword(PW)
        for name, path in files.items():
            assert z.read(name) == open(path, "rb").read()
    buf = io.BytesIO()
    with pyzipper.AESZipFile(buf, "w", compression=pyzipper.ZIP_DEFLATED, encryption=pyzipper.WZ_AES) as z:
        z.setpassword(PW)
        for name, path in files.items():
            z.writestr(name, open(path, "rb").read())
    got = read_all(buf.getvalue(), strict=False)
    for name, path in files.items():
        assert got[name] == open(path, "rb").read()
    with pytest.raises(IntegrityError, match="differs from what dossierkit writes"):
        read_all(buf.getvalue(), strict=True)


# --------------------------------------------------------------- failures

def test_wrong_password(files):
    data, _ = write_package(files)
    with pytest.raises(DecryptionError, match="wrong password"):
        read_all(data, password=b"wrong")
    with pytest.raises(DecryptionError, match="password is needed"):
        read_all(data, password=None)


FIXED_SALT = bytes(range(16))
COLLIDING_PASSWORD = b"guess146635"  # found offline: same 2-byte verifier as PW for FIXED_SALT


def test_verifier_collision_is_still_caught_by_the_mac(tmp_path, monkeypatch):
    """1 wrong password in 65 536 passes the 2-byte check: the HMAC decides."""
    from types import SimpleNamespace

    from dossierkit.archive import winzip_aes
    from dossierkit.archive.winzip_aes import derive_keys

    assert derive_keys(COLLIDING_PASSWORD, FIXED_SALT)[2] == derive_keys(PW, FIXED_SALT)[2]
    monkeypatch.setattr(winzip_aes, "secrets", SimpleNamespace(token_bytes=lambda n: FIXED_SALT[:n]))
    p = tmp_path / "f"
    p.write_bytes(b"x" * 100)
    data, _ = write_package({"A/B": p}, extra_text=False)
    assert FIXED_SALT in data
    with pytest.raises(DecryptionError, match="wrong password"):
        read_all(data, password=COLLIDING_PASSWORD)
    assert read_all(data)["A/B"] == b"x" * 100


@pytest.mark.parametrize("where", ["ciphertext", "mac", "central", "end"])
def test_tampering_is_detected(files, where):
    data, _ = write_package(files)
    cd = data.rindex(zipformat.SIG_CENTRAL)
    pos = {"ciphertext": 200, "mac": data.index(b"PK\x03\x04", 10) - 3, "central": cd + 20,
           "end": len(data) - 10}[where]
    bad = bytearray(data)
    bad[pos] ^= 0x01
    with pytest.raises((IntegrityError, DecryptionError)):
        read_all(bytes(bad))
    read_all(data)  # the untouched package passes


def test_later_entry_tampering_names_the_entry(files):
    data, _ = write_package(files)
    target = b"DICOM/ST000001/SE000001/IM000006"
    pos = data.index(target) + len(target) + 11 + 18 + 100
    bad = bytearray(data)
    bad[pos] ^= 0xFF
    with pytest.raises(IntegrityError, match="IM000006"):
        read_all(bytes(bad))


def test_truncated_trailing_garbage_and_appended_entry(files, tmp_path):
    data, _ = write_package(files)
    for cut in (len(data) - 1, len(data) // 2, 10):
        with pytest.raises(IntegrityError, match="truncated"):
            read_all(data[:cut])
    with pytest.raises(IntegrityError, match="after the end"):
        read_all(data + b"\0")
    # an entry spliced in before the central directory (CD left as it was)
    extra_zip, _ = write_package({"EXTRA/FILE": files["DICOM/ST000001/SE000001/IM000003"]}, extra_text=False)
    spliced = data[:data.index(zipformat.SIG_CENTRAL)] + extra_zip[:extra_zip.index(zipformat.SIG_CENTRAL)] + \
        data[data.index(zipformat.SIG_CENTRAL):]
    with pytest.raises(IntegrityError):
        read_all(spliced)


def test_comment_refused():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("A", b"x")
        z.comment = b"Mme LEFEVRE"
    with pytest.raises(IntegrityError, match="comment"):
        read_all(buf.getvalue(), password=None, strict=False)


def plain_zip(*entries) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for info, data in entries:
            z.writestr(info, data)
    return buf.getvalue()


@pytest.mark.parametrize("name", ["../evil", "a/../../evil", "/etc/passwd", "C:/x", "a\\b", "a//b", "./a", "AUX",
                                  "a/NUL.txt", "dir/"])
def test_hostile_names_refused(name):
    with pytest.raises(IntegrityError, match="refused entry name"):
        read_all(plain_zip((zipfile.ZipInfo(name), b"x")), password=None, strict=False)
    with pytest.raises(UsageError):
        open_writer(io.BytesIO(), password=None).add_bytes(name, b"x")


def test_safe_foreign_zip_accepted():
    got = read_all(plain_zip((zipfile.ZipInfo("a/b.txt"), b"hello")), password=None, strict=False)
    assert got == {"a/b.txt": b"hello"}


def test_duplicates_links_and_unencrypted_entries_refused():
    with pytest.raises(IntegrityError, match="duplicate"):
        read_all(plain_zip((zipfile.ZipInfo("a/B"), b"1"), (zipfile.ZipInfo("A/b"), b"2")), password=None,
                 strict=False)
    link = zipfile.ZipInfo("a/link")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    with pytest.raises(IntegrityError, match="link"):
        read_all(plain_zip((link, b"/etc/passwd")), password=None, strict=False)
    # a plain zip given as a password package: someone else's zip (exit 4), not an altered package (exit 3)
    with pytest.raises(DecryptionError, match="not a dossierkit package: .* entries are not encrypted"):
        read_all(plain_zip((zipfile.ZipInfo("a"), b"1")), password=PW, strict=False)
    with pytest.raises(UsageError, match="duplicate"):
        w = open_writer(io.BytesIO(), password=None)
        w.add_bytes("A/B", b"1")
        w.add_bytes("a/b", b"2")


def test_data_descriptor_refused():
    class Unseekable(io.RawIOBase):
        def __init__(self):
            self.buf = io.BytesIO()

        def writable(self):
            return True

        def write(self, b):
            return self.buf.write(b)

    out = Unseekable()
    with zipfile.ZipFile(out, "w") as z:  # unseekable: zipfile falls back to data descriptors
        with z.open("a", "w") as fh:
            fh.write(b"data")
    with pytest.raises(IntegrityError, match="data descriptor"):
        read_all(out.buf.getvalue(), password=None, strict=False)


def test_max_entry_size(files):
    data, _ = write_package(files)
    with pytest.raises(IntegrityError, match="more than the"):
        read_all(data, max_entry_size=(1 << 20))
    read_all(data, max_entry_size=(1 << 20) + 17)


def test_deflate_bomb_bounded():
    payload = b"\0" * (10 << 20)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("a", payload)
    data = bytearray(buf.getvalue())
    # lie about the size in both headers: the reader must stop at the declared size
    for sig, off in ((zipformat.SIG_LOCAL, 22), (zipformat.SIG_CENTRAL, 24)):
        i = data.index(sig)
        data[i + off:i + off + 4] = (1000).to_bytes(4, "little")
    with pytest.raises(IntegrityError, match="more data than"):
        read_all(bytes(data), password=None, strict=False)


def test_streaming_reader_on_a_pipe(files):
    data, _ = write_package(files)
    r, w = os.pipe()

    def feed():
        with os.fdopen(w, "wb") as fh:
            fh.write(data)

    t = threading.Thread(target=feed)
    t.start()
    with os.fdopen(r, "rb") as fh:
        names = [e.name for e in iter_package_entries(fh, password=PW) if e.drain()]
    t.join()
    assert names == list(files) + ["DOSSIER/MANIFEST.JSON"]


# --------------------------------------------------------------- property

@pytest.fixture(scope="module")
def small_package():
    buf = io.BytesIO()
    with open_writer(buf, password=b"pw") as zw:
        zw.add_bytes("A/EMPTY", b"")
        zw.add_bytes("A/TEXT.JSON", b'{"k": "v"}' * 20, compress=True)
        zw.add_bytes("B/DATA", bytes(range(256)) * 2)
    return buf.getvalue()


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pos=st.integers(min_value=0), flip=st.integers(min_value=1, max_value=255))
def test_any_single_byte_flip_is_detected(small_package, pos, flip):
    data = bytearray(small_package)
    pos %= len(data)
    data[pos] ^= flip
    with pytest.raises((IntegrityError, DecryptionError)):
        for entry in iter_package_entries(io.BytesIO(bytes(data)), password=b"pw"):
            entry.drain()


def test_keys_go_to_whichever_thread_is_free(files, tmp_path, monkeypatch):
    """On a seekable file the reader learns the salts ahead (pread) and
    lets its worker derive their keys in its idle time; an entry the stream
    reaches first is derived on the reading thread. Each entry's keys are
    derived once, by one thread or the other. With a slow reading thread
    the worker derives ahead (fails when the prefetch is switched off: every
    derivation then runs on the reading thread); a wrong password is still
    told apart."""
    data, _ = write_package(files)
    pkg = tmp_path / "pkg.zip"
    pkg.write_bytes(data)
    threads = derivation_threads(monkeypatch, slow_main=0.2)  # a reading thread slower than the worker
    with open(pkg, "rb") as fh:
        got = {e.name: e.drain() for e in iter_package_entries(fh, password=PW)}
    assert set(got) == set(files) | {"DOSSIER/MANIFEST.JSON"}
    assert len(threads) == len(got)  # one derivation per entry, none repeated
    assert "dk-zip" in threads, threads  # the worker derived ahead of the stream
    with open(pkg, "rb") as fh, pytest.raises(DecryptionError, match="wrong password"):
        for e in iter_package_entries(fh, password=b"wrong"):
            e.drain()


def test_the_reader_never_waits_for_a_busy_worker_to_derive_keys(files, tmp_path, monkeypatch):
    """A worker held by other jobs derives nothing: the reading thread
    derives every entry's keys itself instead of waiting for it (fails if
    keys_for waited for the worker's batch: the read would block here).
    ``check_mac=False``: the HMACs would go to the worker too."""
    data, _ = write_package(files)
    pkg = tmp_path / "pkg.zip"
    pkg.write_bytes(data)
    threads = derivation_threads(monkeypatch)
    release = threading.Event()
    worker = Worker("dk-test")
    worker.submit(release.wait, 120, borrows=False)  # busy until the read is over
    try:
        reader = threading.Thread(target=lambda: got.update(
            {e.name: e.drain() for e in iter_package_entries(open(pkg, "rb"), password=PW, worker=worker,
                                                              check_mac=False)}),
            daemon=True)
        got: dict[str, str] = {}
        reader.start()
        reader.join(60)  # a hang guard, not a time budget
        finished_while_busy = not reader.is_alive()
    finally:
        release.set()
        worker.close()
    assert finished_while_busy, "the reader waited for the busy worker"
    assert set(got) == set(files) | {"DOSSIER/MANIFEST.JSON"}
    assert len(threads) == len(got) and set(threads) == {reader.name}, threads


def test_an_abandoned_stream_does_not_wait_for_its_threads(files, tmp_path, monkeypatch):
    """Closing a reader mid-stream — or the garbage collector doing it, on
    whatever thread it happens to run — must not join the reader's threads:
    CI once hung when a collection inside a starting thread (holding
    threading's own lock) joined the key prefetcher's pool. Here the
    prefetcher's jobs for later entries block; close() must return anyway."""

    from dossierkit.archive import zipreader

    data, _ = write_package(files)
    pkg = tmp_path / "pkg.zip"
    pkg.write_bytes(data)
    nlen, xlen = zipformat.LOCAL_STRUCT.unpack(data[:zipformat.LOCAL_STRUCT.size])[-2:]
    first_salt = data[zipformat.LOCAL_STRUCT.size + nlen + xlen:][:16]
    release = threading.Event()
    real = zipreader.derive_keys

    def later_entries_stall(password, salt, *a, **k):
        if bytes(salt) != first_salt:
            release.wait(120)  # until the test releases it: a close() that joins would wait here
        return real(password, salt, *a, **k)

    monkeypatch.setattr(zipreader, "derive_keys", later_entries_stall)
    try:
        with open(pkg, "rb") as fh:
            it = iter_package_entries(fh, password=PW)
            next(it).drain()
            closer = threading.Thread(target=it.close, daemon=True)
            closer.start()
            closer.join(60)  # a hang guard, not a time budget: the stalled job is never released before
            returned_while_stalled = not closer.is_alive() and not release.is_set()
    finally:
        release.set()
    assert returned_while_stalled, "close() waited for the reader's worker"


def test_zip_reader_closes_its_stream_on_leaving_the_block(files, tmp_path):
    """The container's reader closes the entry iterator itself (on this
    thread) when its block ends early, instead of leaving it to the GC."""
    from dossierkit.archive import PASSWORD, zip_reader

    data, _ = write_package(files)
    pkg = tmp_path / "pkg.zip"
    pkg.write_bytes(data)
    with open(pkg, "rb") as fh, pytest.raises(KeyError):
        with zip_reader(fh, PASSWORD, password=PW, identities=None) as it:
            next(it)
            raise KeyError("stop early")
    assert it.gi_frame is None  # finished: its finally already ran


def test_check_mac_off_leaves_integrity_to_the_sha256(files, tmp_path):
    """check_mac=False: first entry authenticated (wrong password still told
    apart), later ones not — an altered later entry shows only as a SHA-256
    that differs from what the writer reported (what a manifest check sees)."""

    data, results = write_package(files)
    expected = {r.name: r.sha256 for r in results}
    pkg = tmp_path / "pkg.zip"
    pkg.write_bytes(data)
    with open(pkg, "rb") as fh:
        seen = [(e.name, e.drain(), e.authenticated) for e in iter_package_entries(fh, password=PW, check_mac=False)]
    assert [a for _, _, a in seen] == [True] + [False] * (len(seen) - 1)
    assert all(expected[n] == sha for n, sha, _ in seen)
    target = b"DICOM/ST000001/SE000001/IM000006"
    bad = bytearray(data)
    bad[data.index(target) + len(target) + 11 + 18 + 100] ^= 0xFF
    got = {e.name: e.drain() for e in iter_package_entries(io.BytesIO(bytes(bad)), password=PW, check_mac=False)}
    assert got[target.decode()] != expected[target.decode()]
    with pytest.raises(IntegrityError, match="IM000006"):
        read_all(bytes(bad))  # the default still catches it in the container
    with pytest.raises(DecryptionError, match="wrong password"):
        read_all(data, password=b"nope", check_mac=False)
    first = bytearray(data)
    first[data.index(b"IM000000") + 8 + 11 + 18 + 1] ^= 0x01  # 1-byte entry: its only data byte
    with pytest.raises(DecryptionError):
        read_all(bytes(first), check_mac=False)


def test_inflate_in_bounded_pieces():
    """A highly compressible entry (64 MiB of zeros in ~64 KiB) comes out in
    pieces of at most 1 MiB, whatever the compressed chunk holds."""
    from dossierkit.archive.zipaes import CHUNK

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
        with z.open("ZEROS", "w", force_zip64=False) as fh:
            for _ in range(64):
                fh.write(bytes(1 << 20))
    biggest = total = 0
    for entry in iter_package_entries(io.BytesIO(buf.getvalue()), password=None, strict=False):
        for chunk in entry.chunks():
            biggest, total = max(biggest, len(chunk)), total + len(chunk)
    assert total == 64 << 20 and biggest <= CHUNK


@pytest.mark.parametrize("password,check_mac", [(PW, True), (PW, False), (None, True)],
                         ids=["aes-mac", "aes-nomac", "plain-crc"])
def test_big_entries_on_two_threads(tmp_path, password, check_mac):
    """Entries from 4 MiB are hashed/authenticated on a helper thread: same
    results, and a flipped byte deep inside is still caught (or, without the
    MAC, shows in the SHA-256)."""
    big = tmp_path / "big"
    big.write_bytes(os.urandom(9 * (1 << 20) + 5))
    small = tmp_path / "small"
    small.write_bytes(b"first entry")
    data, results = write_package({"A/SMALL": small, "A/BIG": big}, password=password, extra_text=False)
    want = {r.name: r.sha256 for r in results}
    got = {e.name: e.drain() for e in iter_package_entries(io.BytesIO(data), password=password, check_mac=check_mac)}
    assert got == want
    bad = bytearray(data)
    bad[data.index(b"A/BIG") + (7 << 20)] ^= 0x10
    if check_mac:
        with pytest.raises(IntegrityError, match="A/BIG"):
            read_all(bytes(bad), password=password)
    else:
        got = {e.name: e.drain() for e in iter_package_entries(io.BytesIO(bytes(bad)), password=password,
                                                                check_mac=False)}
        assert got["A/BIG"] != want["A/BIG"] and got["A/SMALL"] == want["A/SMALL"]


def test_writer_refuses_special_files_and_changing_files(tmp_path):
    from dossierkit.errors import InputError

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    w = open_writer(io.BytesIO(), password=PW)
    with pytest.raises(InputError, match="not a regular file"):
        w.add_file("A/FIFO", fifo)
    with pytest.raises(InputError, match="not a regular file"):
        w.add_file("A/DIR", tmp_path)
    ok = tmp_path / "ok"
    ok.write_bytes(b"x" * 10)
    assert w.add_file("A/OK", ok).size == 10
    big = tmp_path / "big"
    big.write_bytes(os.urandom(3 << 20))

    class Shrink:  # truncates the file after its first chunk was stored
        def start(self, *a, **k): pass
        def finish(self): pass
        def advance(self, n):
            os.truncate(big, 1 << 20)

    for password in (PW, None):
        big.write_bytes(os.urandom(3 << 20))
        with pytest.raises(InputError, match="changed while"):
            open_writer(io.BytesIO(), password=password).add_file("A/BIG", big, progress=Shrink())


@pytest.mark.parametrize("password", [PW, None], ids=["aes", "plain"])
def test_add_stream_stores_the_pieces_given(password):
    """A generated file given as pieces (the manifest, inflated as it goes)
    reads back whole; a plain zip asks for the pieces twice (CRC first); a
    size that is not the one announced is refused."""
    blob = os.urandom(3 * (1 << 20) + 5)
    calls = []

    def pieces():
        calls.append(1)
        return (blob[i:i + 700_001] for i in range(0, len(blob), 700_001))
    buf = io.BytesIO()
    with open_writer(buf, password=password) as zw:
        res = zw.add_stream("DOSSIER/MANIFEST.JSON", len(blob), pieces)
    assert res.sha256 == hashlib.sha256(blob).hexdigest() and res.size == len(blob)
    assert len(calls) == (1 if password else 2)
    assert read_all(buf.getvalue(), password=password, strict=password is not None)["DOSSIER/MANIFEST.JSON"] == blob
    with pytest.raises(UsageError, match="announced"):
        with open_writer(io.BytesIO(), password=password) as zw:
            zw.add_stream("DOSSIER/MANIFEST.JSON", len(blob) + 1, pieces)
