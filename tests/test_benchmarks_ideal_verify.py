"""benchmarks/ideal_verify.py: the bare work of a password verify, on real
WinZip AES packages written by dossierkit's writer (issue #18)."""

from __future__ import annotations

import hashlib
import io
import os

import pytest

from benchmarks.ideal_verify import PARTS, ideal_verify, main
from dossierkit.archive.zipaes import open_writer

PW = b"a benchmark passphrase"


def _package(tmp_path, *, force_zip64=False, password=PW):
    contents = {"DOSSIER/MANIFEST.JSON": b'{"files": []}\n' * 50, "EMPTY": b"",
                "DICOM/IM000001": os.urandom(3 * 1024 * 1024 + 5),  # more than the 1 MiB buffer it starts with
                "DICOM/IM000002": os.urandom(70_000)}
    buf = io.BytesIO()
    with open_writer(buf, password=password, force_zip64=force_zip64) as zw:
        for name, data in contents.items():
            zw.add_bytes(name, data)
    path = tmp_path / "pkg.zip"
    path.write_bytes(buf.getvalue())
    return path, contents


@pytest.mark.parametrize("force_zip64", [False, True])
def test_it_does_every_entry_and_hashes_every_byte_of_the_package(tmp_path, force_zip64):
    path, contents = _package(tmp_path, force_zip64=force_zip64)
    result = ideal_verify(path, PW)
    assert result["entries"] == len(contents)
    assert result["package_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert set(result["parts"]) == set(PARTS) and all(v >= 0 for v in result["parts"].values())
    assert result["parts"]["keys"] > 0  # four key derivations, a fraction of a ms each
    assert sum(result["parts"].values()) <= result["cpu_seconds"] + 0.01


def test_a_wrong_password_or_an_altered_byte_fails_the_mac(tmp_path):
    path, _ = _package(tmp_path)
    with pytest.raises(ValueError, match="MAC"):
        ideal_verify(path, b"not the passphrase")
    data = bytearray(path.read_bytes())
    data[data.index(b"DICOM/IM000001") + 200] ^= 1  # in that entry's ciphertext
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="MAC"):
        ideal_verify(path, PW)


def test_command_line_prints_json_or_one_line_and_exits_2_on_failure(tmp_path, capsys):
    path, contents = _package(tmp_path)
    pw = tmp_path / "pw.txt"
    pw.write_text(PW.decode() + "\n")
    assert main([str(path), "--password-file", str(pw), "--json"]) == 0
    assert f'"entries": {len(contents)}' in capsys.readouterr().out
    assert main([str(path), "--password-file", str(pw)]) == 0
    assert "of CPU on one thread" in capsys.readouterr().out
    pw.write_text("wrong\n")
    assert main([str(path), "--password-file", str(pw)]) == 2
    assert "fails its MAC" in capsys.readouterr().err
    not_zip = tmp_path / "age.age"
    not_zip.write_bytes(b"age-encryption.org/v1\n" + os.urandom(200))
    assert main([str(not_zip), "--password-file", str(pw)]) == 2
    assert "not a password package" in capsys.readouterr().err
    bad = bytearray(path.read_bytes())
    bad[28:30] = (9).to_bytes(2, "little")  # the first entry's extra field length: its AES record is cut
    path.write_bytes(bytes(bad))
    assert main([str(path), "--password-file", str(pw)]) == 2
    assert capsys.readouterr().err.startswith(f"ideal_verify: {path}: ")
