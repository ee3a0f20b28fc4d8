"""A damaged workspace is bad input: an index of the wrong shape, unreadable,
or a folder in its place; an invalid dossier.toml; a workspace that cannot
be written. One line on stderr, the documented exit code (2, or 5 for a
workspace that cannot be written), never 70, and nothing changed."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dossierkit.errors import InputError, OutputError
from dossierkit.fsutil import read_error
from dossierkit.gather import import_images
from dossierkit.gather import importer
from dossierkit.gather.documents import add_documents
from dossierkit.resources import samples_dir
from dossierkit.workspace import Workspace, init_workspace
from tests.conftest import SAMPLE_PATIENT, run_cli

SAMPLES = samples_dir()
CD = SAMPLES / "images" / "cd"
DAMAGED = "the workspace index is damaged; restore it from a backup"


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """A workspace with three documents and the sample CD's images."""
    root = tmp_path_factory.mktemp("template") / "ws"
    ws = init_workspace(root, dict(SAMPLE_PATIENT))
    add_documents(ws, sorted((SAMPLES / "documents").glob("0[123]*.pdf")))
    assert import_images(ws, [CD]).imported == 14
    return root


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> dict[str, str]:
    home = {"DOSSIERKIT_HOME": str(tmp_path_factory.mktemp("home"))}
    r = run_cli("keys", "generate", env=home)
    assert r.returncode == 0, r.stderr
    return {**home, "DK_PW": "correct horse battery staple"}


@pytest.fixture
def ws(template, tmp_path) -> Path:
    root = tmp_path / "ws"
    shutil.copytree(template, root)
    return root


def tree(folder: Path) -> dict[str, str]:
    """Every file and folder under *folder*, with each file's SHA-256."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(folder.rglob("*"))}


def one_error_line(r, code: int = 2) -> str:
    assert r.returncode == code, (r.returncode, r.stderr)
    assert r.stdout == "" and r.stderr.count("\n") == 1 and r.stderr.startswith("dossierkit: error: "), r.stderr
    return r.stderr


def edit_index(ws: Path, name: str, change) -> None:
    p = ws / "index" / name
    data = json.loads(p.read_text(encoding="utf-8"))
    data = change(data)
    p.write_text(json.dumps(data, indent=2), encoding="utf-8")


def _drop_sha256(docs):
    del docs[2]["sha256"]
    return docs


@pytest.mark.parametrize("content, says", [
    ({"a": 1}, "not valid JSON for this index (not a list)"),
    (["x"], "record 1 is text, not an object"),
    ([{"id": 5}], "record 1 has an id that is a number, not text"),
    (_drop_sha256, "record 3 has no sha256"),
])
def test_documents_index_of_the_wrong_shape_is_exit_2(ws, content, says):
    edit_index(ws, "documents.json", content if callable(content) else lambda _: content)
    line = one_error_line(run_cli("check", ws, "--json"))
    assert f"index/documents.json: {says} — {DAMAGED} or re-add the documents" in line


_LIST = ("list", "{ws}")
_ADD = ("add", "{ws}", str(SAMPLES / "documents" / "05-biologie.pdf"))
_SET = ("set-document", "{ws}", "DOC0001", "--title", "x")
_REMOVE = ("remove", "{ws}", "DOC0001")
_XDM = ("export-xdm", "{ws}", "-o", "{out}/xdm.zip")
_PACK = ("pack", "{ws}", "-o", "{out}/d.zip", "--password-env", "DK_PW", "--weak-password-ok")
_REMOVE_IMAGES = ("remove-images", "{ws}", "IMG000001")


@pytest.mark.parametrize("index, args", [("documents.json", a) for a in (_LIST, _ADD, _SET, _REMOVE, _XDM, _PACK)]
                         + [("images.json", a) for a in (_LIST, _PACK, _REMOVE_IMAGES)])
def test_every_command_stops_on_a_record_of_the_wrong_shape(ws, tmp_path, home, index, args):
    if index == "documents.json":
        edit_index(ws, index, _drop_sha256)
        says = "index/documents.json: record 3 has no sha256"
    else:
        edit_index(ws, index, lambda d: {**d, "instances": d["instances"][:3] + [{"path": None}]})
        says = "index/images.json: record 4 has no sop_instance_uid"
    (tmp_path / "out").mkdir()
    before = tree(tmp_path)
    line = one_error_line(run_cli(*(a.format(ws=ws, out=tmp_path / "out") for a in args), env=home))
    assert says in line and DAMAGED in line
    assert tree(tmp_path) == before


@pytest.mark.parametrize("change, says", [
    (lambda d: d["instances"].__setitem__(1, {**d["instances"][1], "size": "12"}),
     "record 2 has a size that is text, not a whole number"),
    (lambda d: d["instances"].__setitem__(2, ["x"]), "record 3 is a list, not an object"),
    (lambda d: d["instances"][0].__setitem__("has_meta", None), "record 1 has a has_meta that is null"),
    (lambda d: d.__setitem__("instances", "nope"), "not valid JSON for this index ('instances' is not a list)"),
    (lambda d: d.__setitem__("problems", 5), "not valid JSON for this index ('problems' is a number, not a list)"),
    (lambda d: d.__setitem__("imports", [5]), "not valid JSON for this index ('imports' item 1 is a number, not an "
                                              "object)"),
    (lambda d: d["imports"][0].__setitem__("sources", [["x"]]),
     "not valid JSON for this index (the sources of import 1 are not a list of text)"),
    (lambda d: d.__setitem__("skipped", {"x": {"txt": "2"}}),
     "not valid JSON for this index (the 'skipped' counts of a source are not whole numbers)"),
])
def test_image_index_of_the_wrong_shape_is_exit_2(ws, change, says):
    def edit(d):
        change(d)
        return d
    edit_index(ws, "images.json", edit)
    before = tree(ws)
    line = one_error_line(run_cli("check", ws, "--json"))
    assert f"index/images.json: {says}" in line and DAMAGED in line and "import-images WS --reset" in line
    assert tree(ws) == before


def test_records_are_numbered_in_an_index_of_another_layout(ws):
    """An index written by hand (an item over several lines) is read whole: its records are numbered the same."""
    edit_index(ws, "images.json", lambda d: {**d, "instances": d["instances"][:4] + [{**d["instances"][4],
                                                                                     "sha256": None}]})
    assert '\n    {\n' in (ws / "index" / "images.json").read_text(encoding="utf-8")
    with pytest.raises(InputError, match=r"images\.json: record 5 has no sha256"):
        Workspace(ws).images()


@pytest.mark.parametrize("change", [
    lambda d: {**d, "instances": d["instances"][:3] + [{"path": None}] + d["instances"][4:]},
    lambda d: {**d, "instances": [{k: v for k, v in i.items() if k != "sha256"} for i in d["instances"]]},
    lambda d: {**d, "imports": [5]},
])
def test_import_into_a_damaged_image_index_changes_nothing(ws, change):
    """Before, the copies the bad record hid were removed or renamed and the index rewritten, then exit 70."""
    edit_index(ws, "images.json", change)
    before = tree(ws)
    line = one_error_line(run_cli("import-images", ws, CD))
    assert "index/images.json: " in line and DAMAGED in line
    assert tree(ws) == before
    # what the line says to do works
    r = run_cli("import-images", ws, CD, "--reset", "--json")
    assert r.returncode == 0, r.stderr
    assert len(Workspace(ws).images()) == 14


@pytest.mark.parametrize("index, command", [("documents.json", "check"), ("documents.json", "list"),
                                            ("documents.json", "add"), ("images.json", "check"),
                                            ("images.json", "import-images")])
def test_an_index_replaced_by_a_folder_is_exit_2(ws, index, command):
    (ws / "index" / index).unlink()
    (ws / "index" / index).mkdir()
    before = tree(ws)
    extra = {"add": [SAMPLES / "documents" / "05-biologie.pdf"], "import-images": [CD]}.get(command, [])
    line = one_error_line(run_cli(command, ws, *extra))
    assert f"index/{index}: is a folder, not a file — " in line
    assert tree(ws) == before


def test_an_unreadable_index_is_exit_2(ws):
    line = read_error(PermissionError(13, "Permission denied"), ws / "index" / "documents.json").line()
    assert line.endswith("index/documents.json: cannot read it (permission denied) — give this user read access "
                         "to it, or run as its owner")
    # root reads a file whatever its mode: as root, the command runs without the capabilities that allow it
    prefix = ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner"] if os.geteuid() == 0 else []
    if prefix and shutil.which("setpriv") is None:
        assert os.environ.get("CI") != "true", "setpriv (util-linux) is needed to run this test as root"
        pytest.skip("running as root without setpriv (util-linux): cannot make a file unreadable")
    (ws / "index" / "documents.json").chmod(0)
    try:
        r = subprocess.run([*prefix, sys.executable, "-m", "dossierkit", "check", str(ws), "--json"],
                           capture_output=True, text=True, timeout=300)
    finally:
        (ws / "index" / "documents.json").chmod(0o600)
    line = one_error_line(r)
    assert "index/documents.json: cannot read it (permission denied)" in line


@contextlib.contextmanager
def read_only(folder: Path):
    """*folder* made unwritable in a way that holds for root too (the immutable flag), else by its mode."""
    if os.geteuid() == 0:
        if subprocess.run(["chattr", "+i", folder], capture_output=True).returncode != 0:
            pytest.skip("root writes whatever the mode, and chattr +i is not available on this file system")
        try:
            yield
        finally:
            subprocess.run(["chattr", "-i", folder], check=True)
    else:
        folder.chmod(0o555)
        try:
            yield
        finally:
            folder.chmod(0o755)


def test_import_into_a_read_only_workspace_is_exit_5_nothing_left(ws):
    before = tree(ws)
    with read_only(ws / "images"):
        line = one_error_line(run_cli("import-images", ws, CD), code=5)
    assert "images: cannot write here (read-only or permission denied) — make the workspace writable" in line
    assert tree(ws) == before


def test_import_whose_index_folder_is_read_only_makes_no_copy(ws):
    """The copies' folder writable, the index's not: stopped before any copy
    (which no index would name), exit 5."""
    before = tree(ws)
    with read_only(ws / "index"):
        line = one_error_line(run_cli("import-images", ws, CD), code=5)
    assert "index: cannot write here (read-only or permission denied) — make the workspace writable" in line
    assert tree(ws) == before


def test_import_whose_index_spool_cannot_be_opened_is_exit_5(ws, monkeypatch):
    """In process, for any user: the scratch file of the index records (opened first) is refused."""
    real_open = open

    def refuse_spool(path, *args, **kwargs):
        if str(path).endswith("-index.part"):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)
    monkeypatch.setattr(importer, "open", refuse_spool, raising=False)
    before = tree(ws)
    with pytest.raises(OutputError, match="cannot write here") as ei:
        import_images(Workspace(ws), [CD])
    assert ei.value.exit_code == 5 and ei.value.path == str(ws / "images")
    assert tree(ws) == before


@pytest.mark.parametrize("reset", [False, True])
def test_import_into_a_workspace_with_an_invalid_dossier_writes_nothing(ws, reset):
    """Before, every file was copied and the import recorded, then exit 2."""
    (ws / "dossier.toml").write_text("patient = [\n", encoding="utf-8")
    before = tree(ws)
    line = one_error_line(run_cli("import-images", ws, CD, *(["--reset"] if reset else [])))
    assert "dossier.toml: not valid TOML" in line
    assert tree(ws) == before
