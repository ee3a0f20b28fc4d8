"""Issue #14 points 3 and 5 on whole packages.

3. Memory bounded whatever the entry count: verify and unpack stop at the
   first entry the manifest does not list, so what they hold never exceeds
   the manifest's count. A 400 000-entry age package, made with only the
   recipient's public key, is refused under 100 MB peak RSS in seconds
   (``slow``); the refusal itself, on a smaller one, in the normal run.
5. Strict JSON reached through ``dossierkit verify``: a seal or a manifest
   holding a 5 000-digit integer, 3 000-deep nesting or a duplicate key is
   exit 3 with one line, never 70, before any signature check.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dossierkit.archive import PASSWORD
from dossierkit.package import layout
from dossierkit.package.unpack import unpack_package
from dossierkit.package.verify import verify_package
from dossierkit.errors import IntegrityError
from tests.reliability import craft
from tests.reliability.common import SIGNING_KEY, measure_cli


def _items(packed) -> list[tuple[str, bytes]]:
    return craft.entries(packed.path, packed.kind, **packed.secrets)


def _recipients(packed):
    return [packed.secrets["identities"][0].recipient()] if packed.kind != PASSWORD else None


def _password(packed):
    return packed.secrets.get("password")


def _many(packed, tmp_path: Path, count: int, *, at: int | None = None) -> Path:
    """The package's own entries with *count* unlisted empty ones inserted
    after entry *at* (default: after everything listed)."""
    items = _items(packed)
    at = len(items) if at is None else at
    out = tmp_path / f"many-{count}.pkg"
    craft.many_entries_package(out, packed.kind, items[:at], count, password=_password(packed),
                               recipients=_recipients(packed))
    return out


def test_verify_stops_at_the_first_unlisted_entry(any_package, tmp_path):
    """2 000 unlisted entries after the DOSSIER files and the README: one
    failure naming the first, and none after it (the pass stopped there:
    the container's end, the missing files, the next names are not read)."""
    out = _many(any_package, tmp_path, 2000, at=4)
    rep = verify_package(out, **any_package.secrets)
    assert not rep.ok and [(f.check, f.file) for f in rep.failures] == [("files", "EXTRA/E0000000")]
    assert "not listed in the manifest" in rep.failures[0].message and "stopped" in rep.failures[0].message
    assert rep.status("container") == "not checked" and rep.package_size == out.stat().st_size
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(IntegrityError, match="not listed in the manifest"):
        unpack_package(out, tmp_path / "dest", **any_package.secrets)
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_a_repeated_listed_entry_stops_the_pass(any_package, tmp_path):
    items = _items(any_package)
    dup = items[:5] + [items[4]] + items[5:]
    out = tmp_path / "dup.pkg"
    craft.many_entries_package(out, any_package.kind, dup, 0, password=_password(any_package),
                               recipients=_recipients(any_package))
    rep = verify_package(out, **any_package.secrets)
    # The zip layer refuses a repeated name before verify sees it twice.
    assert not rep.ok and rep.failures[-1].file in (items[4][0], None) and len(rep.failures) == 1, rep.failures


def test_no_usable_manifest_stops_the_pass(any_package, tmp_path):
    items = craft.reseal(_items(any_package), SIGNING_KEY, manifest=b'{"a": 1, "a": 2}')
    out = tmp_path / "bad-manifest.pkg"
    craft.many_entries_package(out, any_package.kind, items, 2000, password=_password(any_package),
                               recipients=_recipients(any_package))
    rep = verify_package(out, **any_package.secrets)
    assert [f.check for f in rep.failures] == ["manifest"] and "duplicate key" in rep.failures[0].message
    assert rep.status("container") == "not checked"


@pytest.fixture(scope="module")
def package_400k(any_package, tmp_path_factory) -> Path:
    return _many(any_package, tmp_path_factory.mktemp(f"400k-{any_package.kind}"), 400_000)


@pytest.mark.slow
@pytest.mark.parametrize("command", ["verify", "unpack"])
def test_400_000_entries_refused_under_100_mb_in_seconds(any_package, package_400k, cli_opts, command):
    """The audit's package: 400 000 empty entries (37.6 MB as age), made
    with only the recipient's public key (age) or the password (zip). Before:
    283 MB and 11 s; now stopped at the first."""
    out = package_400k
    res = measure_cli(command, [out], cli_opts[any_package.kind] + (["--json"] if command == "verify" else []),
                      timeout=600)
    r = res["results"][str(out)]
    if command == "verify":
        lines = [f["message"] for f in json.loads(r["stdout"])["failures"]]
    else:
        lines = [x for x in r["stderr"].splitlines() if x.strip()]
    assert r["exit"] == 3 and len(lines) == 1 and "not listed in the manifest" in lines[0], r
    print(f"{any_package.kind} {command}: {out.stat().st_size / 1e6:.1f} MB, 400 000 entries: exit {r['exit']}, "
          f"{r['seconds']:.2f} s ({r['cpu_seconds']:.2f} s CPU), peak RSS {res['peak_rss_mb']:.1f} MB")
    # CPU seconds, not wall time: the bound must hold on a loaded machine too.
    assert r["cpu_seconds"] < 10 and res["peak_rss_mb"] < 100, (r["cpu_seconds"], res["peak_rss_mb"])
    assert sorted(p.name for p in out.parent.iterdir()) == [out.name]


# ------------------------------------------------------------ strict JSON

HOSTILE_JSON = {
    "5000-digit integer": b'{"format": "dossierkit-manifest-signature", "version": ' + b"9" * 5000 + b"}",
    "3000-deep nesting": b'{"format": ' + b"[" * 3000 + b"]" * 3000 + b"}",
    "duplicate key": b'{"format": "x", "format": "dossierkit-manifest-signature"}',
    "NaN": b'{"format": "dossierkit-manifest-signature", "version": NaN}',
    "1e400": b'{"format": "dossierkit-manifest-signature", "version": 1e400}',
    "lone surrogate": b'{"format": "\\ud800"}',
    "NUL": b'{"format": "\\u0000"}',
}


@pytest.fixture(scope="module")
def hostile_json_packages(any_package, tmp_path_factory) -> dict[str, Path]:
    """Each hostile document once as the seal (read first, before any
    signature check) and once as the manifest, signed by the (trusted)
    sender: strict parsing does not depend on who signed."""
    folder = tmp_path_factory.mktemp(f"json-{any_package.kind}")
    items = _items(any_package)
    out = {}
    for label, doc in HOSTILE_JSON.items():
        seal = [(n, doc if n == layout.SIGNATURE else d) for n, d in items]
        resealed = craft.reseal(items, SIGNING_KEY, manifest=doc)
        for where, its in (("seal", seal), ("manifest", resealed)):
            p = folder / f"{where}-{label.replace(' ', '-')}.pkg"
            craft.write_package(p, any_package.kind, its, password=_password(any_package),
                                recipients=_recipients(any_package))
            out[f"{where}: {label}"] = p
    return out


def test_hostile_json_in_seal_or_manifest_exits_3_with_one_line(any_package, hostile_json_packages, cli_opts):
    res = measure_cli("verify", list(hostile_json_packages.values()), cli_opts[any_package.kind] + ["--json"],
                      timeout=600)
    for label, p in hostile_json_packages.items():
        r = res["results"][str(p)]
        assert r["exit"] == 3 and not r["stderr"], (label, r)
        failures = json.loads(r["stdout"])["failures"]
        where = "signature" if label.startswith("seal") else "manifest"
        assert [f["check"] for f in failures] == [where], (label, failures)
        line = failures[0]["message"]
        assert "not valid JSON" in line and "\n" not in line and len(line) < 160, (label, line)
    res = measure_cli("unpack", list(hostile_json_packages.values()), cli_opts[any_package.kind], timeout=600)
    for label, p in hostile_json_packages.items():
        r = res["results"][str(p)]
        lines = [x for x in r["stderr"].splitlines() if x.strip()]
        assert r["exit"] == 3 and len(lines) == 1 and "not valid JSON" in lines[0], (label, r)
