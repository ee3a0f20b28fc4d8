"""PACS in and out, against real Orthanc servers on loopback (tests/orthanc_fixtures.py):
configuration, echo, find, gather by C-GET / C-MOVE / WADO-RS into the same importer as media,
deliver by C-STORE / STOW-RS, and the faults of each (docs/pacs.md)."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import time
from pathlib import Path

import pydicom
import pydicom.data
import pytest

from dossierkit.errors import RemoteError, UsageError, InputError
from dossierkit.gather.pacs.config import load_pacs, load_pacs_file
from dossierkit.gather.pacs.gather import import_from_pacs
from dossierkit.progress import NullProgress
from dossierkit.workspace import Workspace
from orthanc_fixtures import (MOVE_PORT, OUR_AE, PATIENT, _receiver, pacs_home, pacs_ns, pacs_toml,  # noqa: F401
                              receiver, run_in_ns, sender)
from pkg_fixtures import add_documents, new_workspace

pytestmark = pytest.mark.interop


# ---------------------------------------------------------------------------
# configuration (no server)


def test_config_both_kinds_and_errors(tmp_path):
    path = tmp_path / "pacs.toml"
    path.write_text('[pacs.chu]\nae_title = "PACS"\nhost = "127.0.0.1"\nport = 104\ncalling_ae = "ME"\n'
                    'timeout = 5\n\n[pacs.web]\ndicomweb = "http://127.0.0.1:8042/dicom-web"\nusername = "u"\n'
                    'password_env = "DK_TEST_PACS_PW"\n')
    known = load_pacs_file(path)
    assert known["chu"].kind == "dimse" and known["chu"].timeout == 5.0 and known["chu"].calling_ae == "ME"
    assert known["web"].kind == "dicomweb"
    with pytest.raises(UsageError, match="DK_TEST_PACS_PW is not set"):
        known["web"].password()
    with pytest.raises(UsageError, match="no PACS named 'nope'.*known: chu, web"):
        load_pacs("nope", path)
    path.write_text('[pacs.bad]\nae_title = "PACS"\nhost = "h"\n')
    with pytest.raises(UsageError, match="needs either dicomweb"):
        load_pacs_file(path)
    path.write_text('[pacs.bad]\ndicomweb = "http://x"\nport = 4\n')
    with pytest.raises(UsageError, match="not both"):
        load_pacs_file(path)
    path.write_text('[pacs.bad]\ndicomweb = "http://x"\npasword_file = "x"\n')
    with pytest.raises(UsageError, match="unknown setting"):
        load_pacs_file(path)


def test_password_file_must_be_owner_only(tmp_path):
    secret = tmp_path / "pw"
    secret.write_text("s3cret\n")
    path = tmp_path / "pacs.toml"
    path.write_text(f'[pacs.web]\ndicomweb = "http://127.0.0.1:1/dicom-web"\nusername = "u"\n'
                    f'password_file = "{secret}"\n')
    cfg = load_pacs("web", path)
    os.chmod(secret, 0o640)
    with pytest.raises(InputError, match=r"readable by group or others \(mode 0640\); refused.*chmod 600"):
        cfg.password()
    os.chmod(secret, 0o600)
    assert cfg.password() == "s3cret"


def test_no_pacs_file_is_one_line(tmp_path, cli):
    r = cli("pacs", "echo", "chu", env={"DOSSIERKIT_HOME": str(tmp_path)})
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "pacs.toml" in r.stderr and "no PACS configured" in r.stderr


# ---------------------------------------------------------------------------
# echo, find


def test_echo_dimse_and_dicomweb(pacs_ns, pacs_home):
    for name, kind in (("sender", "C-ECHO"), ("sender-web", "QIDO-RS")):
        r = run_in_ns(pacs_ns, "pacs", "echo", name)
        assert r.returncode == 0, r.stderr
        assert r.stdout.count("\n") == 1 and f"answers the {kind}" in r.stdout


def test_echo_faults_are_one_line_exit_7(pacs_ns, pacs_home, sender):
    pacs_toml(pacs_home, sender, sender, down={"ae_title": "X", "host": "127.0.0.1", "port": 4999, "timeout": 3},
              wrongae={"ae_title": "NOT_SENDER", "host": "127.0.0.1", "port": sender.dicom_port, "timeout": 3},
              webdown={"dicomweb": "http://127.0.0.1:4998/dicom-web", "timeout": 3})
    for name, words in (("down", "cannot be reached"), ("wrongae", "rejected the association"),
                        ("webdown", "cannot be reached")):
        r = run_in_ns(pacs_ns, "pacs", "echo", name)
        assert r.returncode == 7, (name, r.stderr)
        assert r.stderr.count("\n") == 1 and words in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert "Called AE title not recognised" in run_in_ns(pacs_ns, "pacs", "echo", "wrongae").stderr


@pytest.mark.parametrize("name", ["sender", "sender-web"])
def test_find_lists_the_patients_studies(pacs_ns, pacs_home, sender, name):
    r = run_in_ns(pacs_ns, "pacs", "find", name, "--patient-id", PATIENT, "--json")
    assert r.returncode == 0, r.stderr
    studies = json.loads(r.stdout)["studies"]
    expected = [s for s in sender.get("/studies?expand") if s["PatientMainDicomTags"].get("PatientID") == PATIENT]
    assert [s["study_instance_uid"] for s in studies] == [s["MainDicomTags"]["StudyInstanceUID"] for s in expected]
    assert studies[0]["instances"] == sum(len(sender.get(f"/series/{se}")["Instances"]) for se in expected[0]["Series"])
    assert studies[0]["modalities"] == ["OT"] and studies[0]["date"] == "20170101"
    # filters: a later date, another modality
    assert run_in_ns(pacs_ns, "pacs", "find", name, "--patient-id", PATIENT, "--since", "2018-01-01").returncode == 1
    assert run_in_ns(pacs_ns, "pacs", "find", name, "--patient-id", PATIENT, "--modality", "MR").returncode == 1
    table = run_in_ns(pacs_ns, "pacs", "find", name, "--patient-id", PATIENT, "--modality", "OT")
    assert table.returncode == 0 and "20170101" in table.stdout


# ---------------------------------------------------------------------------
# gather


def _orthanc_syntaxes(srv) -> dict[str, str]:
    out = {}
    for iid in srv.get("/instances"):
        uid = srv.get(f"/instances/{iid}")["MainDicomTags"]["SOPInstanceUID"]
        out[uid] = srv.request("GET", f"/instances/{iid}/metadata/TransferSyntax").decode()
    return out


def _patient_uids(srv, patient: str) -> set[str]:
    out = set()
    for p in srv.get("/patients?expand"):
        if p["MainDicomTags"].get("PatientID") == patient:
            for st in p["Studies"]:
                for iid in srv.get(f"/studies/{st}/instances"):
                    out.add(iid["MainDicomTags"]["SOPInstanceUID"])
    return out


@pytest.mark.parametrize("route", ["C-GET", "C-MOVE", "WADO-RS"])
def test_gather_through_the_importer_and_resume(pacs_ns, pacs_home, sender, tmp_path, route):
    ws = new_workspace(tmp_path / "ws")
    name = "sender-web" if route == "WADO-RS" else "sender"
    extra = ["--move-to-self"] if route == "C-MOVE" else []
    tmpdir = tmp_path / "tmpdir"
    tmpdir.mkdir()
    r = run_in_ns(pacs_ns, "import-images", ws.root, "--pacs", name, "--patient-id", PATIENT, "--json", *extra,
                  env={"TMPDIR": str(tmpdir)})
    assert r.returncode == 0, r.stderr
    assert list(tmpdir.iterdir()) == []  # received instances never pass through the system temp folder
    data = json.loads(r.stdout)
    expected = _patient_uids(sender, PATIENT)
    assert data["route"] == route and data["fetched"] == data["imported"] == len(expected) > 10
    index = Workspace(ws.root).images_index()
    assert {d["sop_instance_uid"] for d in index["instances"]} == expected
    # the PACS's bytes: each copy in the transfer syntax Orthanc holds it in (no transcoding on the way)
    held = _orthanc_syntaxes(sender)
    assert len({d["transfer_syntax"] for d in index["instances"]}) > 1
    for d in index["instances"]:
        assert d["transfer_syntax"] == held[d["sop_instance_uid"]]
        assert d["provenance"]["pacs"] == name and d["provenance"]["route"] == route
        assert d["provenance"]["study"] == d["study_instance_uid"] and d["provenance"]["retrieved"].endswith("Z")
        assert d["source"].startswith(f"pacs:{name}/")
    assert not list((ws.images_dir).glob(".pacs-inbox*"))
    # the same pixel data as the PACS serves it
    some = index["instances"][0]
    iid = next(i for i in sender.get("/instances")
               if sender.get(f"/instances/{i}")["MainDicomTags"]["SOPInstanceUID"] == some["sop_instance_uid"])
    served = pydicom.dcmread(__import__("io").BytesIO(sender.request("GET", f"/instances/{iid}/file")))
    assert pydicom.dcmread(ws.root / some["path"]).PixelData == served.PixelData
    # a second run fetches nothing
    again = run_in_ns(pacs_ns, "import-images", ws.root, "--pacs", name, "--patient-id", PATIENT, "--json", *extra)
    assert again.returncode == 0, again.stderr
    d2 = json.loads(again.stdout)
    assert d2["fetched"] == 0 and d2["already_in_workspace"] == len(expected)
    # human output: one summary line
    human = run_in_ns(pacs_ns, "import-images", ws.root, "--pacs", name, "--patient-id", PATIENT, *extra)
    assert human.returncode == 0 and f"{len(expected)} already in the workspace, 0 fetched" in human.stdout


def _in_ns_import(pacs_ns, ws, cfg, **kw):
    with pacs_ns.entered():
        return import_from_pacs(ws, cfg, **kw)


class _PauseAfter(NullProgress):
    def __init__(self, n, action):
        self.n, self.action, self.seen = n, action, 0

    def advance(self, amount=1):
        self.seen += 1
        if self.seen == self.n:
            self.action()


class _PauseAtStart(NullProgress):
    def __init__(self, action):
        self.action = action

    def start(self, label, total=None, unit="B"):
        self.action()


@pytest.mark.parametrize("name", ["sender", "sender-web"])
def test_timeout_mid_transfer_keeps_what_arrived_and_rerun_completes(pacs_ns, pacs_home, sender, tmp_path, name):
    pacs_toml(pacs_home, sender, sender, **{"slow": {"ae_title": sender.aet, "host": "127.0.0.1",
                                                     "port": sender.dicom_port, "calling_ae": OUR_AE, "timeout": 2,
                                                     "retries": 0},
                                            "slow-web": {"dicomweb": sender.dicomweb, "timeout": 2, "retries": 0}})
    cfg = load_pacs("slow" if name == "sender" else "slow-web")
    ws = new_workspace(tmp_path / "ws")
    expected = _patient_uids(sender, PATIENT)
    # DIMSE: paused after the 3rd instance arrived. DICOMweb: the whole series comes in one response that the
    # kernel has buffered long before the 3rd part is read, so the server is paused before the retrieve instead.
    progress = _PauseAfter(3, sender.pause) if name == "sender" else _PauseAtStart(sender.pause)
    try:
        with pytest.raises(RemoteError, match=r"timed out|no answer") as err:
            _in_ns_import(pacs_ns, ws, cfg, patient_id=PATIENT, progress=progress)
    finally:
        sender.resume()
    assert err.value.line().count("\n") == 0
    kept = {i.sop_instance_uid for i in Workspace(ws.root).images()}
    if name == "sender":
        assert "instance(s) imported so far are kept" in err.value.message
        assert 3 <= len(kept) < len(expected)
    report = _in_ns_import(pacs_ns, ws, load_pacs(name), patient_id=PATIENT)
    assert report.fetched == len(expected) - len(kept) and report.already == len(kept)
    assert {i.sop_instance_uid for i in Workspace(ws.root).images()} == expected


def test_study_vanished_between_find_and_get(pacs_ns, pacs_home, sender, tmp_path):
    # a study of its own, uploaded for this test, found, then deleted on the PACS
    from images_fixtures import make_dicom

    f = make_dicom(tmp_path / "x.dcm", uid_seed="vanish", study_seed="vanish-study", series_seed="vanish-series",
                   patient={"PatientName": "VANISH^A", "PatientID": "VANISH-1"})
    sender.upload([f])
    found = json.loads(run_in_ns(pacs_ns, "pacs", "find", "sender", "--patient-id", "VANISH-1", "--json").stdout)
    uid = found["studies"][0]["study_instance_uid"]
    for p in sender.get("/patients?expand"):
        if p["MainDicomTags"].get("PatientID") == "VANISH-1":
            sender.request("DELETE", f"/patients/{p['ID']}")
    ws = new_workspace(tmp_path / "ws")
    for name in ("sender", "sender-web"):
        r = run_in_ns(pacs_ns, "import-images", ws.root, "--pacs", name, "--study", uid)
        assert r.returncode == 7, r.stderr
        assert r.stderr.count("\n") == 1 and "holds no study" in r.stderr and "removed since" in r.stderr


def test_wrong_patient_instance_returned_is_held_back(pacs_ns, pacs_home, sender, tmp_path):
    """An instance filed by the PACS under the asked study UID but another patient (a UID collision): the
    PACS returns it with the study; it is not imported, the problem is named, exit 1."""
    from images_fixtures import make_dicom

    good = make_dicom(tmp_path / "a.dcm", uid_seed="wp-a", study_seed="wp-study", series_seed="wp-s1",
                      patient={"PatientName": "RIGHT^A", "PatientID": "WP-RIGHT"})
    bad = make_dicom(tmp_path / "b.dcm", uid_seed="wp-b", study_seed="wp-study", series_seed="wp-s2",
                     patient={"PatientName": "OTHER^B", "PatientID": "WP-OTHER"})
    sender.upload([good, bad])
    ws = new_workspace(tmp_path / "ws")
    r = run_in_ns(pacs_ns, "import-images", ws.root, "--pacs", "sender", "--patient-id", "WP-RIGHT", "--json")
    assert r.returncode == 1, r.stderr
    data = json.loads(r.stdout)
    assert [p["kind"] for p in data["problems"]] == ["pacs-wrong-patient"]
    assert "WP-OTHER" in data["problems"][0]["reason"]
    assert [i.patient_id for i in Workspace(ws.root).images()] == ["WP-RIGHT"]


# ---------------------------------------------------------------------------
# deliver


@pytest.fixture
def package(pacs_ns, pacs_home, sender, tmp_path):
    """A password package whose images came from the sending PACS (patient ID1)."""
    ws = new_workspace(tmp_path / "ws")
    add_documents(ws)
    r = run_in_ns(pacs_ns, "import-images", ws.root, "--pacs", "sender", "--patient-id", PATIENT)
    assert r.returncode == 0, r.stderr
    assert run_in_ns(pacs_ns, "keys", "generate").returncode == 0
    pw = tmp_path / "pw.txt"
    pw.write_text(secrets.token_urlsafe(24) + "\n")
    os.chmod(pw, 0o600)
    out = tmp_path / "out" / "package.zip"
    r = run_in_ns(pacs_ns, "pack", ws.root, "-o", out, "--password-file", pw, "--allow-incomplete", "--reason",
                  "test: images of another patient")
    assert r.returncode == 0, r.stderr
    return out, pw, ws


@pytest.mark.parametrize("name", ["receiver", "receiver-web"])
def test_deliver_stores_every_image_as_it_is_and_is_idempotent(pacs_ns, package, receiver, tmp_path, name):
    out, pw, ws = package
    r = run_in_ns(pacs_ns, "deliver", out, "--pacs", name, "--password-file", pw, "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    n = len(ws.images())
    assert data["instances"] == data["stored"] == n and data["refused"] == 0
    assert receiver.instance_uids() == {i.sop_instance_uid for i in ws.images()}
    held = _orthanc_syntaxes(receiver)
    for inst in ws.images():  # no transcoding on the way in
        assert held[inst.sop_instance_uid] == inst.transfer_syntax
    again = run_in_ns(pacs_ns, "deliver", out, "--pacs", name, "--password-file", pw, "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["already_present"] == n
    entries = [json.loads(line) for line in (Path(os.environ["DOSSIERKIT_HOME"]) / "journal.jsonl").read_text()
               .splitlines()]
    delivers = [e for e in entries if e.get("event") == "deliver"]
    assert [(e["stored"], e["already_present"], e["complete"]) for e in delivers[-2:]] == [(n, 0, True), (0, n, True)]
    assert not list(out.parent.glob(".dk-tmp-*"))


def test_deliver_coerces_patient_id_in_the_copies_only(pacs_ns, package, receiver):
    out, pw, ws = package
    before = out.read_bytes()
    r = run_in_ns(pacs_ns, "deliver", out, "--pacs", "receiver", "--password-file", pw, "--patient-id", "RCV-77",
                  "--issuer", "CHU-B", "--json")
    assert r.returncode == 0, r.stderr
    pids = {p["MainDicomTags"]["PatientID"] for p in receiver.get("/patients?expand")}
    assert pids == {"RCV-77"}
    iid = receiver.get("/instances")[0]
    assert receiver.get(f"/instances/{iid}/simplified-tags")["IssuerOfPatientID"] == "CHU-B"
    assert out.read_bytes() == before
    assert json.loads(r.stdout)["coercion"] == {"patient_id": "RCV-77", "issuer": "CHU-B"}  # stdout: the user's own
    # the journal and the ack record the coercion (which attributes, the issuer, on how many images), never the ID
    journal_file = Path(os.environ["DOSSIERKIT_HOME"]) / "journal.jsonl"
    entry = [json.loads(line) for line in journal_file.read_text().splitlines()][-1]
    n = len(ws.images())
    assert entry["event"] == "deliver" and entry["coercion"] == {
        "attributes": ["PatientID", "IssuerOfPatientID"], "issuer": "CHU-B", "instances": n}
    ack = out.parent / "ack.json"
    r = run_in_ns(pacs_ns, "ack", out, "-o", ack, "--password-file", pw)
    doc = json.loads(ack.read_text())
    assert r.returncode == 1 and doc["verification"]["completeness"] == "incomplete", r.stderr  # packed incomplete
    assert [d["coercion"] for d in doc["deliveries"]] == [entry["coercion"]]
    assert doc["deliveries"][0]["journal"] == {"seq": entry["seq"], "hash": entry["hash"]}
    assert (doc["deliveries"][0]["pacs"], doc["deliveries"][0]["stored"]) == ("receiver", n)
    text = subprocess.run(["pdftotext", "-layout", ack.with_suffix(".pdf"), "-"], capture_output=True,
                          text=True, check=True).stdout
    flat = " ".join(text.split())
    fr = flat.index("identifiant patient remplacé par celui de notre site (CHU-B)")
    assert fr < flat.index("patient identifier replaced by our site's (CHU-B)")  # French first, English second
    assert f"{n} image(s) sur {n} dans le PACS" in flat
    for leak in ("RCV-77",):  # the new identifier is in neither the journal nor the ack
        assert leak not in journal_file.read_text() and leak not in ack.read_text() and leak not in text


def test_deliver_refuses_a_package_that_does_not_verify(pacs_ns, package, receiver):
    out, pw, _ws = package
    raw = bytearray(out.read_bytes())
    raw[len(raw) // 2] ^= 1
    out.write_bytes(bytes(raw))
    r = run_in_ns(pacs_ns, "deliver", out, "--pacs", "receiver", "--password-file", pw)
    assert r.returncode == 3, r.stderr
    assert receiver.instance_uids() == set()


def test_deliver_to_a_pacs_that_is_down_is_exit_7(pacs_ns, package, pacs_home, sender, _receiver, tmp_path):
    out, pw, _ws = package
    pacs_toml(pacs_home, sender, _receiver, down={"ae_title": "X", "host": "127.0.0.1", "port": 4999, "timeout": 3})
    r = run_in_ns(pacs_ns, "deliver", out, "--pacs", "down", "--password-file", pw)
    assert r.returncode == 7 and r.stderr.count("\n") == 1 and "cannot be reached" in r.stderr, r.stderr
    # unpack --deliver: the folder is extracted before the PACS is tried; the one line says so, and how to send later
    dest = tmp_path / "dest"
    r = run_in_ns(pacs_ns, "unpack", out, dest, "--password-file", pw, "--deliver", "down", "--json")
    assert r.returncode == 7 and r.stderr.count("\n") == 1 and "cannot be reached" in r.stderr, r.stderr
    assert f"{dest} is unpacked and verified, its images not sent" in r.stderr
    assert f"dossierkit deliver {out} --pacs down" in r.stderr and (dest / "DICOMDIR").is_file()


# ---------------------------------------------------------------------------
# faults that need a server of their own


@pytest.fixture
def secured(pacs_ns, tmp_path):
    """An Orthanc whose DICOMweb asks for a user and password (RegisteredUsers)."""
    from orthanc_fixtures import Orthanc

    srv = Orthanc(pacs_ns, tmp_path / "secured", "SECURED", 8044, 4244,
                  extra={"AuthenticationEnabled": True, "RegisteredUsers": {"dk": "right-horse-battery"}})
    srv.users = {"dk": "right-horse-battery"}
    srv.start()
    yield srv
    srv.stop()


def test_dicomweb_401_is_one_line_and_credentials_from_a_0600_file(pacs_ns, pacs_home, sender, _receiver, secured,
                                                                   tmp_path):
    pw = tmp_path / "pw"
    pw.write_text("right-horse-battery\n")
    os.chmod(pw, 0o600)
    bad = tmp_path / "bad"
    bad.write_text("wrong\n")
    os.chmod(bad, 0o600)
    pacs_toml(pacs_home, sender, _receiver,
              anon={"dicomweb": secured.dicomweb, "timeout": 5},
              wrong={"dicomweb": secured.dicomweb, "username": "dk", "password_file": str(bad), "timeout": 5},
              good={"dicomweb": secured.dicomweb, "username": "dk", "password_file": str(pw), "timeout": 5})
    for name in ("anon", "wrong"):
        r = run_in_ns(pacs_ns, "pacs", "echo", name)
        assert r.returncode == 7, r.stderr
        assert r.stderr.count("\n") == 1 and "refused the credentials" in r.stderr and "HTTP 401" in r.stderr
        assert "right-horse-battery" not in r.stderr
    r = run_in_ns(pacs_ns, "pacs", "echo", "good")
    assert r.returncode == 0, r.stderr
    os.chmod(pw, 0o644)
    r = run_in_ns(pacs_ns, "pacs", "echo", "good")
    assert r.returncode == 2 and "chmod 600" in r.stderr and r.stderr.count("\n") == 1


@pytest.fixture
def picky(pacs_ns, tmp_path):
    """A receiving Orthanc whose Lua filter refuses one SOP class (Secondary Capture)."""
    from orthanc_fixtures import Orthanc

    lua = tmp_path / "filter.lua"
    lua.write_text("function ReceivedInstanceFilter(dicom, origin, info)\n"
                   "  return dicom.SOPClassUID ~= '1.2.840.10008.5.1.4.1.1.7'\nend\n")
    srv = Orthanc(pacs_ns, tmp_path / "picky", "PICKY", 8045, 4245, extra={"LuaScripts": [str(lua)]}).start()
    yield srv
    srv.stop()


def test_deliver_to_a_pacs_refusing_a_sop_class_names_each_file(pacs_ns, package, pacs_home, sender, _receiver,
                                                               picky):
    out, pw, ws = package
    pacs_toml(pacs_home, sender, _receiver, picky={"ae_title": "PICKY", "host": "127.0.0.1", "port": 4245,
                                                   "calling_ae": OUR_AE, "timeout": 5})
    r = run_in_ns(pacs_ns, "deliver", out, "--pacs", "picky", "--password-file", pw, "--json")
    assert r.returncode == 7, r.stderr
    data = json.loads(r.stdout)
    sc = [i for i in ws.images() if i.sop_class_uid == "1.2.840.10008.5.1.4.1.1.7"]
    # Orthanc's filter answers the C-STORE with success and drops the instance: caught by asking the PACS after
    assert data["not_found_after_store"] == len(sc) > 0 and data["stored"] == len(ws.images()) - len(sc)
    lost = [x for x in data["results"] if x["result"] == "not-found-after-store"]
    assert all(x["name"].startswith("DICOM/") for x in lost)
    human = run_in_ns(pacs_ns, "deliver", out, "--pacs", "picky", "--password-file", pw)
    assert human.returncode == 7
    assert lost[0]["name"] in human.stdout and "not delivered" in human.stdout


def test_deliver_a_sop_class_the_pacs_does_not_negotiate_is_refused_by_name(pacs_ns, pacs_home, receiver, tmp_path):
    """Orthanc accepts no presentation context for a SOP class it does not know (UnknownSopClassAccepted false):
    that file is reported by name with the reason, the others are stored."""
    from images_fixtures import SAMPLE_PATIENT_DICOM, make_dicom

    src = tmp_path / "src"
    make_dicom(src / "a.dcm", uid_seed="neg-a", patient=SAMPLE_PATIENT_DICOM)
    make_dicom(src / "b.dcm", uid_seed="neg-b", patient=SAMPLE_PATIENT_DICOM, SOPClassUID="1.2.826.0.1.3680043.10.1")
    ws = new_workspace(tmp_path / "ws")
    add_documents(ws)
    assert run_in_ns(pacs_ns, "import-images", ws.root, src).returncode == 0
    assert run_in_ns(pacs_ns, "keys", "generate").returncode == 0
    pw = tmp_path / "pw.txt"
    pw.write_text(secrets.token_urlsafe(24) + "\n")
    out = tmp_path / "p.zip"
    r = run_in_ns(pacs_ns, "pack", ws.root, "-o", out, "--password-file", pw, "--allow-incomplete", "--reason", "t")
    assert r.returncode == 0, r.stderr
    r = run_in_ns(pacs_ns, "deliver", out, "--pacs", "receiver", "--password-file", pw, "--json")
    assert r.returncode == 7, r.stderr
    data = json.loads(r.stdout)
    assert (data["stored"], data["refused"]) == (1, 1)
    refused = next(x for x in data["results"] if x["result"] == "refused")
    assert "accepted no presentation context for SOP class 1.2.826.0.1.3680043.10.1" in refused["reason"]
    assert len(receiver.instance_uids()) == 1


def test_unpack_deliver_and_an_untrusted_package_sends_nothing(pacs_ns, package, receiver, tmp_path):
    out, pw, ws = package
    r = run_in_ns(pacs_ns, "unpack", out, tmp_path / "dest", "--password-file", pw, "--deliver", "receiver", "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["deliver"]["stored"] == len(ws.images()) and (tmp_path / "dest" / "DICOMDIR").exists()
    receiver.clear()
    # a package signed by a key this operator does not trust: exit 6, nothing sent
    other_home = tmp_path / "other-home"
    pacs_toml(other_home, receiver, receiver)  # the same receiving PACS, but no keys and no trust store here
    r = run_in_ns(pacs_ns, "deliver", out, "--pacs", "receiver", "--password-file", pw,
                  env={"DOSSIERKIT_HOME": str(other_home)})
    assert r.returncode == 6, r.stderr
    assert receiver.instance_uids() == set()


@pytest.mark.parametrize("extra", [[], ["--move-to-self"]])
def test_a_retired_sop_class_is_retrieved(pacs_ns, pacs_home, sender, tmp_path, extra):
    """pydicom's color-pl.dcm is Ultrasound Image Storage (Retired), 1.2.840.10008.5.1.4.1.1.6: pynetdicom's
    storage SCP aborted the C-MOVE sub-association for a class it does not know until we register it."""
    ds = pydicom.dcmread(pydicom.data.get_testdata_file("color-pl.dcm"), force=True)
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.6"
    ws = new_workspace(tmp_path / "ws")
    r = run_in_ns(pacs_ns, "import-images", ws.root, "--pacs", "sender", "--study", ds.StudyInstanceUID, "--json",
                  *extra)
    assert r.returncode == 0, r.stderr
    assert ds.SOPInstanceUID in {i.sop_instance_uid for i in Workspace(ws.root).images()}


def test_deliver_and_unpack_deliver_take_the_establishment_ca(pacs_ns, pacs_home, sender, receiver, tmp_path):
    """A package signed with an establishment certificate (X.509) from a sender known only through the CA:
    without --ca-file exit 6 and nothing sent; with it (deliver, unpack --deliver) every image is stored."""
    from x509_fixtures import make_pki

    pki = make_pki(tmp_path / "pki")
    ws = new_workspace(tmp_path / "ws")
    add_documents(ws)
    assert run_in_ns(pacs_ns, "import-images", ws.root, "--pacs", "sender", "--patient-id", PATIENT).returncode == 0
    assert run_in_ns(pacs_ns, "keys", "generate").returncode == 0
    pw = tmp_path / "pw.txt"
    pw.write_text(secrets.token_urlsafe(24) + "\n")
    out = tmp_path / "out" / "p.zip"
    cert, key = pki.certs["good"]
    r = run_in_ns(pacs_ns, "pack", ws.root, "-o", out, "--password-file", pw, "--allow-incomplete", "--reason",
                  "t", "--signing-cert", cert, "--signing-cert-key", key)
    assert r.returncode == 0, r.stderr
    recv_home = tmp_path / "recv-home"  # the receiving side: no trust store, only the CA
    pacs_toml(recv_home, sender, receiver)
    env = {"DOSSIERKIT_HOME": str(recv_home)}
    r = run_in_ns(pacs_ns, "deliver", out, "--pacs", "receiver", "--password-file", pw, env=env)
    assert r.returncode == 6 and receiver.instance_uids() == set(), r.stderr
    r = run_in_ns(pacs_ns, "unpack", out, tmp_path / "d1", "--password-file", pw, "--deliver", "receiver", env=env)
    assert r.returncode == 6 and receiver.instance_uids() == set(), r.stderr
    n = len(ws.images())
    r = run_in_ns(pacs_ns, "unpack", out, tmp_path / "d2", "--password-file", pw, "--deliver", "receiver",
                  "--ca-file", pki.ca, "--json", env=env)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["deliver"]["stored"] == n == len(receiver.instance_uids())
    receiver.clear()
    r = run_in_ns(pacs_ns, "deliver", out, "--pacs", "receiver", "--password-file", pw, "--ca-file", pki.ca,
                  "--json", env=env)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["stored"] == n == len(receiver.instance_uids())
