"""The PACS route of the guides, run as written against the test Orthancs (issue #12, "Done when"):
docs/guide-staff.md "From the PACS" (its two ``sh`` blocks: a hospital PACS named ``chu``, then the
walk-through on the test PACS: find → gather → check → pack → verify → deliver) and
docs/guide-receiving.md "4. Into your PACS" (echo, deliver, unpack --deliver).

The guides name each PACS by its pacs.toml name; the test writes that pacs.toml (the host, port and AE
title of the test Orthancs: ``chu`` is an Orthanc holding the sample CD's images of Mme X, ``sender`` /
``receiver`` the two test PACS, ``pacs-chu`` the receiving one). Besides that, only the placeholders a
reader fills in are replaced, each named here: the study UID chosen from ``find`` (``1.2.250.1.59.…``),
the namespace PID and folder printed by ``tests/orthanc_fixtures.py`` (``<pid>``, ``/tmp/pacs-lab/home``),
and the USB key's mount point (``/media/usb/``). Every command runs; each exit code is the one the guide
says (0, and 1 for the ``check`` it says will report the other patient)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pydicom
import pytest

from conftest import REPO
from dossierkit.resources import samples_dir
from dossierkit.workspace import Workspace
from orthanc_fixtures import OUR_AE, Orthanc, _receiver, pacs_ns, pacs_toml, receiver, sender  # noqa: F401
from test_guide_staff import sh_blocks
from test_guides_patient_pipeline import BIN, bash, sh_block

pytestmark = pytest.mark.interop

STAFF = REPO / "docs" / "guide-staff.md"
RECEIVING = REPO / "docs" / "guide-receiving.md"
CD = samples_dir() / "images" / "cd" / "DICOM"


@pytest.fixture
def chu(pacs_ns, tmp_path):
    """The hospital's PACS of the staff guide: Mme X's CT and OT studies (the sample CD)."""
    srv = Orthanc(pacs_ns, tmp_path / "chu", "CHU", 8047, 4247).start()
    try:
        assert srv.upload(sorted(p for p in CD.rglob("IM*"))) == 14
        yield srv
    finally:
        srv.stop()


def run_block(block: str, cwd: Path, env: dict[str, str], prefix: list[str] = ()) -> tuple[list[int], str]:
    """Every command line of *block* in one bash (variables carry over): the exit code of each, and what they
    printed."""
    rcfile = cwd / ".rc"
    lines = [line for line in block.replace("\\\n", " ").splitlines() if line.strip()]
    script = "exec 3>" + str(rcfile) + "\n" + "".join(f"{line}\necho $? >&3\n" for line in lines)
    full = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", **env}
    full.pop("COLUMNS", None)
    r = subprocess.run([*prefix, "bash", "-u", "-c", script], cwd=cwd, env=full, capture_output=True, text=True,
                       timeout=900)
    codes = [int(x) for x in rcfile.read_text().split()]
    assert len(codes) == len(lines), f"stopped after {len(codes)} of {len(lines)}:\n{r.stdout}\n{r.stderr}"
    return codes, r.stdout + r.stderr


def test_the_pacs_route_of_the_guides_as_written(pacs_ns, sender, receiver, chu, tmp_path):
    where = tmp_path / "secretariat"
    where.mkdir()
    (where / ".venv").symlink_to(REPO / ".venv")  # the walk-through runs `.venv/bin/dossierkit` from a checkout
    home = tmp_path / "home"
    pacs_toml(home, sender, receiver,
              chu={"ae_title": "CHU", "host": "127.0.0.1", "port": 4247, "calling_ae": OUR_AE, "timeout": 10},
              **{"pacs-chu": {"ae_title": receiver.aet, "host": "127.0.0.1", "port": receiver.dicom_port,
                              "calling_ae": OUR_AE, "timeout": 10}})
    env = {"DOSSIERKIT_HOME": str(home)}
    bash(sh_block(STAFF, "## 1. Create the workspace (once per dossier)"), where, env)  # the workspace mme-x

    blocks = [b for marked, b in sh_blocks(STAFF.read_text(encoding="utf-8")) if marked]  # <!-- walk: pacs -->
    assert len(blocks) == 2
    hospital, lab = blocks
    ot_study = str(pydicom.dcmread(next((CD / "ST000002").rglob("IM*")), stop_before_pixels=True).StudyInstanceUID)
    assert "1.2.250.1.59.…" in hospital
    codes, out = run_block(hospital.replace("1.2.250.1.59.…", ot_study), where, env, pacs_ns.prefix())
    assert codes == [0, 0, 0, 0], out
    assert "answers the C-ECHO" in out and "2 studies on chu" in out
    images = Workspace(where / "mme-x").images()
    assert {i.modality for i in images} == {"CT", "OT"} and len(images) == 14  # CT by --modality, OT by --study

    assert "<pid>" in lab and "/tmp/pacs-lab/home" in lab
    lab = lab.replace("<pid>", str(pacs_ns.holder.pid)).replace("/tmp/pacs-lab/home", str(home))
    codes, out = run_block(lab, where, env)
    assert codes == [0, 0, 0, 0, 1, 0, 0, 0, 0], out  # check: 1, ID1 is not Mme X
    sent = {i.sop_instance_uid for i in Workspace(where / "mme-x").images()}
    assert receiver.instance_uids() == sent and len(sent) > 14

    receiver.clear()
    [block] = [b for marked, b in sh_blocks(RECEIVING.read_text(encoding="utf-8")) if marked]
    assert "/media/usb/" in block and "deliver" in block
    codes, out = run_block(block.replace("/media/usb/", f"{where}/"), where, env, pacs_ns.prefix())
    assert codes == [0, 0, 0], out
    assert receiver.instance_uids() == sent
    assert (where / "dossier-mme-x" / "DICOMDIR").is_file()
    assert f"{len(sent)} already present" in out  # unpack --deliver after deliver sends nothing twice
