"""Faults: SIGKILL at random points of ``pack`` and ``unpack``, a full disk,
a read-only destination, a source file changing while it is imported.

What must hold (docs/reliability.md): no file at the target path after an
interrupted or failed run, leftovers only under the ``.dk-tmp-*`` prefix,
one clear error line with exit 5 (OUTPUT) for disk problems.
"""

from __future__ import annotations

import copy
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from dossierkit.errors import OutputError
from dossierkit.fsutil import TEMP_PREFIX
from dossierkit.package.pack import pack
from dossierkit.package.unpack import unpack_package
from dossierkit.package.verify import verify_package
from dossierkit.workspace import Workspace
from tests.conftest import REPO, run_cli
from tests.reliability.common import PASSWORD, SIGNING_KEY
from tests.tmpfs import mounted_tmpfs

BIG_MB = 150  # one multi-frame image: `dossierkit pack` takes ~1.5-2 s here (1.2 s of work)
KILLS = 3


def add_big_image(ws: Workspace, megabytes: int) -> None:
    """A multi-frame CT image of the dossier's patient, *megabytes* of pixels."""
    from pydicom import dcmread
    from pydicom.data import get_testdata_file
    from pydicom.uid import generate_uid

    from tests.pkg_fixtures import _instance

    index = ws.images_index()
    ds = dcmread(get_testdata_file("CT_small.dcm"))
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.PatientName, ds.PatientID, ds.PatientBirthDate = "LEFÈVRE^Hélène^Marie", "CHU-00482913", "19580314"
    ds.StudyInstanceUID = index["instances"][0]["study_instance_uid"]
    ds.SeriesInstanceUID, ds.SOPInstanceUID = generate_uid(), generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    frames = megabytes * 2  # 512 x 512 x 16 bits = 0.5 MiB per frame
    ds.Rows = ds.Columns = 512
    ds.NumberOfFrames = frames
    ds.PixelData = bytes(512 * 512 * 2 * frames)
    rel = "images/BIG00001.dcm"
    ds.save_as(ws.path(rel), enforce_file_format=True)
    index["instances"].append(_instance(ds, ws.path(rel), rel).to_dict())
    ws.save_images_index(index)


@pytest.fixture(scope="module")
def big(tmp_path_factory) -> dict:
    from tests.pkg_fixtures import full_workspace

    d = tmp_path_factory.mktemp("big")
    ws = full_workspace(d / "ws", ct=2, mr=1)
    add_big_image(ws, BIG_MB)
    key = d / "signing-key.pem"
    key.write_bytes(SIGNING_KEY.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()))
    key.chmod(0o600)
    pw = d / "password.txt"
    pw.write_text(PASSWORD + "\n")
    return {"ws": d / "ws", "key": key, "pw": pw, "dir": d}


def _pack_argv(big: dict, out: Path) -> list[str]:
    return ["pack", str(big["ws"]), "-o", str(out), "--password-file", str(big["pw"]), "--signing-key",
            str(big["key"]), "--json", "--no-readme"]


def _leftovers(folder: Path, keep: set[str]) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name not in keep)


def _kill_at_random_points(argv_for, full_seconds: float, rng: random.Random) -> list[tuple[float, int]]:
    """Run ``argv_for(i)`` KILLS times, SIGKILLing each after a random delay
    within the time a full run took; returns (delay, returncode) pairs."""
    out = []
    for i in range(KILLS):
        delay = rng.uniform(0.3, 0.9) * full_seconds  # mostly past the interpreter start-up
        proc = subprocess.Popen([sys.executable, "-m", "dossierkit", *argv_for(i)], cwd=REPO,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        out.append((round(delay, 2), proc.wait()))
    return out


def test_sigkill_during_pack_leaves_no_package(big):
    out_dir = big["dir"] / "packs"
    out_dir.mkdir()
    t0 = time.perf_counter()
    r = run_cli(*_pack_argv(big, out_dir / "full.zip"))
    full = time.perf_counter() - t0
    assert r.returncode == 0, r.stderr
    seed = 20261101  # fixed: the same kill points on every run
    runs = _kill_at_random_points(lambda i: _pack_argv(big, out_dir / f"killed{i}.zip"), full, random.Random(seed))
    assert sum(rc == -signal.SIGKILL for _d, rc in runs) >= KILLS - 1, (seed, runs, full)
    absent = 0
    for i in range(KILLS):
        target = out_dir / f"killed{i}.zip"
        if target.exists():  # killed after the rename (journal, exit): a whole, verified package
            assert verify_package(target, password=PASSWORD).ok, (seed, runs, i)
        else:
            absent += 1
    assert absent >= 1, (seed, runs, full)  # at least one kill landed while packing
    left = _leftovers(out_dir, {"full.zip", *(f"killed{i}.zip" for i in range(KILLS))})
    assert all(n.startswith(TEMP_PREFIX) for n in left), (seed, left)


def _tree(root: Path) -> list[tuple[str, int]]:
    return sorted((str(p.relative_to(root)), p.stat().st_size) for p in root.rglob("*") if p.is_file())


def test_sigkill_during_unpack_leaves_no_tree(big):
    pkg = big["dir"] / "for-unpack.zip"
    if not pkg.exists():
        pack(big["ws"], pkg, signing_key=SIGNING_KEY, password=PASSWORD, write_readme=False)
    dest_dir = big["dir"] / "unpacked"
    dest_dir.mkdir()

    def argv(name: str) -> list[str]:
        return ["unpack", str(pkg), str(dest_dir / name), "--password-file", str(big["pw"]), "--json"]

    t0 = time.perf_counter()
    r = run_cli(*argv("full"))
    full = time.perf_counter() - t0
    assert r.returncode == 0, r.stderr
    seed = 20261102  # fixed: the same kill points on every run
    runs = _kill_at_random_points(lambda i: argv(f"killed{i}"), full, random.Random(seed))
    assert sum(rc == -signal.SIGKILL for _d, rc in runs) >= KILLS - 1, (seed, runs, full)
    absent = 0
    for i in range(KILLS):
        dest = dest_dir / f"killed{i}"
        if dest.exists():  # killed after the rename: the whole verified tree
            assert _tree(dest) == _tree(dest_dir / "full"), (seed, runs, i)
        else:
            absent += 1
    assert absent >= 1, (seed, runs, full)
    left = _leftovers(dest_dir, {"full", *(f"killed{i}" for i in range(KILLS))})
    assert all(n.startswith(TEMP_PREFIX) for n in left), (seed, left)
    for n in left:  # decrypted files of a killed run: private to the user
        assert (dest_dir / n).stat().st_mode & 0o077 == 0, n


# ------------------------------------------------------------ disk problems

def _one_error_line(r) -> str:
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("dossierkit: error:"), r.stderr
    return lines[0]


def test_disk_full_during_pack(big, tmp_path):
    with mounted_tmpfs(tmp_path / "small", "size=2m") as mnt:
        r = run_cli(*_pack_argv(big, mnt / "dossier.zip"))
        assert r.returncode == 5, (r.returncode, r.stderr)
        assert "no space left" in _one_error_line(r)
        assert list(mnt.iterdir()) == []


def test_disk_full_during_unpack(password_package, tmp_path):
    with mounted_tmpfs(tmp_path / "small", "size=64k") as mnt:
        with pytest.raises(OutputError, match="no space left"):
            unpack_package(password_package.path, mnt / "dest", **password_package.secrets)
        assert list(mnt.iterdir()) == []


def test_read_only_destination(password_package, rel_workspace, tmp_path):
    with mounted_tmpfs(tmp_path / "ro", "size=1m,ro") as mnt:
        with pytest.raises(OutputError, match="read-only"):
            pack(rel_workspace, mnt / "dossier.zip", signing_key=SIGNING_KEY, password=PASSWORD)
        with pytest.raises(OutputError):
            unpack_package(password_package.path, mnt / "dest", **password_package.secrets)
        assert list(mnt.iterdir()) == []
        pw = tmp_path / "pw"
        pw.write_text(PASSWORD)
        r = run_cli("unpack", password_package.path, mnt / "dest", "--password-file", pw)
        assert r.returncode == 5 and "read-only" in _one_error_line(r).lower()


# ------------------------------------------- source changing during import

@pytest.mark.parametrize("change", ["grows", "rewritten, same size"])
def test_source_file_changing_while_imported(tmp_path, monkeypatch, change):
    from pydicom import dcmread
    from pydicom.data import get_testdata_file
    from pydicom.uid import generate_uid

    from dossierkit.gather import importer
    from tests.pkg_fixtures import new_workspace

    ws = new_workspace(tmp_path / "ws")
    src = tmp_path / "cd"
    src.mkdir()
    base = dcmread(get_testdata_file("CT_small.dcm"))
    for i in range(3):
        ds = copy.deepcopy(base)
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.save_as(src / f"IM{i}.dcm", enforce_file_format=True)
    victim = src / "IM1.dcm"
    real_copy = importer.copy_through

    def copy_while_changing(fh, *a, **kw):
        if Path(getattr(fh, "name", "")) == victim:
            st = victim.stat()
            with open(victim, "r+b") as w:
                if change == "grows":
                    w.seek(0, 2)
                    w.write(b"\0" * 4096)
                else:
                    w.seek(st.st_size - 1)
                    w.write(b"\x7f")
            import os

            os.utime(victim, ns=(st.st_atime_ns, st.st_mtime_ns + 2_000_000_000))
        return real_copy(fh, *a, **kw)

    monkeypatch.setattr(importer, "copy_through", copy_while_changing)
    report = importer.import_images(ws, [src])
    assert report.imported == 2, report.to_dict()
    probs = [p for p in report.problems if p["file"].endswith("IM1.dcm")]
    assert probs and "changed while" in probs[0]["reason"], report.problems
    assert report.exit_code == 1
    assert len(Workspace(ws.root).images()) == 2
    assert not [p for p in ws.images_dir.iterdir() if p.name.startswith(TEMP_PREFIX)]


def test_sigkill_during_the_readback_leaves_no_package(rel_workspace, tmp_path):
    """The precise point a random kill may miss: the package is complete but
    not yet read back. Nothing may be at the target path then either."""
    out = tmp_path / "out" / "dossier.zip"
    script = (
        "import os, signal\n"
        "from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey\n"
        "import dossierkit.archive\n"
        "dossierkit.archive.read_back = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)\n"
        "from dossierkit.package.pack import pack\n"
        f"pack({str(rel_workspace)!r}, {str(out)!r}, signing_key=Ed25519PrivateKey.generate(), "
        f"password={PASSWORD!r})\n")
    r = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == -signal.SIGKILL, r.stderr
    assert not out.exists()
    assert all(p.name.startswith(TEMP_PREFIX) for p in out.parent.iterdir())


def test_disk_full_during_import(tmp_path):
    from pydicom import dcmread
    from pydicom.data import get_testdata_file
    from pydicom.uid import generate_uid

    from tests.pkg_fixtures import new_workspace
    from tests.reliability.measure import run as run_inprocess

    src = tmp_path / "cd"
    src.mkdir()
    base = dcmread(get_testdata_file("CT_small.dcm"))
    for i in range(30):  # ~1.2 MB of images for a 600 KiB file system
        ds = copy.deepcopy(base)
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.save_as(src / f"IM{i}.dcm", enforce_file_format=True)
    with mounted_tmpfs(tmp_path / "small", "size=600k") as mnt:
        ws = new_workspace(mnt / "ws")
        code, _out, err = run_inprocess(["import-images", str(ws.root), str(src), "--json"])
        lines = [x for x in err.splitlines() if x.strip()]
        assert code == 5 and len(lines) == 1 and "no space left" in lines[0], err
        ws = Workspace(ws.root)
        last = ws.images_index()["imports"][-1]
        assert last["status"] == "interrupted" and 0 < last["imported"] < 30, last
        copies = sorted(p.name for p in ws.images_dir.iterdir())
        assert copies == sorted(Path(i.path).name for i in ws.images())  # every indexed copy, nothing else
