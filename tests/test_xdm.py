"""IHE XDM (issue #16): METADATA.XML in the package and in `export-xdm`.

No well-kept package ships the ebRIM 3.0 / lcm / rs XSDs, so the structure
the profile requires is checked here with independent code: the UUIDs are
written out literally (IHE ITI TF-3 §4.2.5), not imported from
dossierkit.package.xdm_codes; hashes and sizes are recomputed from the files.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import zipfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from lxml import etree

from dossierkit.errors import IntegrityError, UsageError
from dossierkit.package import root as root_module
from dossierkit.package import xdm
from dossierkit.package.pack import pack
from dossierkit.package.unpack import unpack_package
from dossierkit.package.verify import verify_package
from dossierkit.package.xdm_export import export_xdm, message_size
from dossierkit.trust.signing import fingerprint
from dossierkit.workspace import Workspace
from tests.conftest import need_tool, run_cli
from tests.pkg_fixtures import PATIENT, add_documents, full_workspace, new_workspace

PASSWORD = "tulipe-orage-cadran-mesure-violon-24"
KEY = Ed25519PrivateKey.generate()
LCM = "urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0"
RIM = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"
NS = {"rim": RIM, "lcm": LCM}
# IHE ITI TF-3 Table 4.2.5-x, written out independently of the code under test.
DE_CLASSIFICATIONS = {
    "urn:uuid:93606bcf-9494-43ec-9b4e-a7748d1a838d": "author",
    "urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a": "classCode",
    "urn:uuid:f4f85eac-e6cb-4883-b524-f2705394840f": "confidentialityCode",
    "urn:uuid:a09d5840-386c-46f2-b5ad-9c3699a4309d": "formatCode",
    "urn:uuid:f33fb8ac-18af-42cc-ae0e-ed0b0bdb91e1": "healthCareFacilityTypeCode",
    "urn:uuid:cccf5598-8b07-4b77-a05e-ae952c785ead": "practiceSettingCode",
    "urn:uuid:f0306f51-975f-434e-a61c-c59651d33983": "typeCode",
}
DE_PATIENT_ID = "urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427"
DE_UNIQUE_ID = "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab"
SS_AUTHOR = "urn:uuid:a7058bb9-b4e4-4307-ba5b-e3f0ab85e12d"
SS_CONTENT_TYPE = "urn:uuid:aa543740-bdda-424e-8c96-df4873be8500"
SS_UNIQUE_ID = "urn:uuid:96fdda7c-d067-4183-912e-bf5ee74998a8"
SS_SOURCE_ID = "urn:uuid:554ac39e-e3fe-47fe-b233-965d2a147832"
SS_PATIENT_ID = "urn:uuid:6b5aea1a-874d-4603-a4bc-96a0a7b38446"
SS_NODE = "urn:uuid:a54d6aa5-d40d-43f9-88c5-b4633d873bdd"
STABLE = "urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1"
APPROVED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"
HAS_MEMBER = "urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember"
DE_SLOTS = ("creationTime", "hash", "languageCode", "size", "sourcePatientId", "sourcePatientInfo", "URI")
NIR = PATIENT["identifier"]["value"]
INS_CX = f"{NIR}{97 - int(NIR) % 97:02d}^^^&1.2.250.1.213.1.4.8&ISO"
LOINC = {"rcp": "34794-8", "pathology": "60568-3", "imaging-report": "18748-4", "operative-report": "34874-8",
         "biology": "11502-2", "treatment-plan": "18776-5", "referral-letter": "96349-6"}


@pytest.fixture(scope="module")
def packed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("xdm")
    ws = full_workspace(tmp / "ws")
    res = pack(ws, tmp / "out" / "dossier.zip", signing_key=KEY, password=PASSWORD)
    dest = tmp / "root"
    unpack_package(res.package, dest, password=PASSWORD, expect_signer=res.signer_fingerprint)
    return ws, res, dest


def _slots(obj) -> dict[str, list[list[str]]]:
    out: dict[str, list[list[str]]] = {}
    for s in obj.findall(f"{{{RIM}}}Slot"):
        out.setdefault(s.get("name"), []).append([v.text for v in s.findall(f"{{{RIM}}}ValueList/{{{RIM}}}Value")])
    return out


def _one_slot(obj, name: str) -> list[str]:
    found = _slots(obj).get(name, [])
    assert len(found) == 1, f"slot {name} present {len(found)} times on {obj.get('id')}"
    return found[0]


def _children(obj, tag: str, attr: str) -> dict[str, list]:
    out: dict[str, list] = {}
    for c in obj.findall(f"{{{RIM}}}{tag}"):
        out.setdefault(c.get(attr), []).append(c)
    return out


def check_structure(data: bytes, subset: Path, *, patient_cx: str, kinds: dict[str, str] | None = None) -> dict:
    """Item-by-item check of METADATA.XML against ITI TF-3 / XDM; returns facts for further asserts."""
    root = etree.fromstring(data)
    assert root.tag == f"{{{LCM}}}SubmitObjectsRequest"
    lists = root.findall(f"{{{RIM}}}RegistryObjectList")
    assert len(lists) == 1
    objects = lists[0]
    all_ids = [e.get("id") for e in root.iter() if e.get("id")]
    assert len(all_ids) == len(set(all_ids)), "ids must be unique"
    pdfs = sorted(p.name for p in subset.iterdir() if p.suffix == ".PDF")
    entries = objects.findall(f"{{{RIM}}}ExtrinsicObject")
    assert len(entries) == len(pdfs) and pdfs, "one ExtrinsicObject per PDF, nothing else"
    unique_ids, uris = set(), []
    for eo in entries:
        eid = eo.get("id")
        assert re.fullmatch(r"urn:uuid:[0-9a-f-]{36}", eid)
        assert eo.get("mimeType") == "application/pdf" and eo.get("objectType") == STABLE
        assert eo.get("status") == APPROVED
        for name in DE_SLOTS:
            _one_slot(eo, name)
        uri = _one_slot(eo, "URI")[0]
        uris.append(uri)
        assert "/" not in uri and (subset / uri).is_file(), "URI relative to the subset folder"
        body = (subset / uri).read_bytes()
        assert _one_slot(eo, "hash") == [hashlib.sha1(body).hexdigest()]
        assert _one_slot(eo, "size") == [str(len(body))]
        assert re.fullmatch(r"\d{14}", _one_slot(eo, "creationTime")[0])
        assert _one_slot(eo, "languageCode") == ["fr-FR"]
        assert _one_slot(eo, "sourcePatientId") == [patient_cx]
        info = _one_slot(eo, "sourcePatientInfo")
        assert [v.split("|")[0] for v in info] == ["PID-3", "PID-5", "PID-7", "PID-8"]
        assert info[0].startswith(f"PID-3|{patient_cx}")
        names = eo.findall(f"{{{RIM}}}Name/{{{RIM}}}LocalizedString")
        assert len(names) == 1 and names[0].get("value")
        classes = _children(eo, "Classification", "classificationScheme")
        assert set(classes) == set(DE_CLASSIFICATIONS), "every document classification, nothing else"
        for scheme, cs in classes.items():
            assert len(cs) == 1, f"{DE_CLASSIFICATIONS[scheme]} present {len(cs)} times"
            c = cs[0]
            assert c.get("classifiedObject") == eid
            if DE_CLASSIFICATIONS[scheme] == "author":
                assert c.get("nodeRepresentation") == ""
                assert _one_slot(c, "authorPerson")[0]
            else:
                assert c.get("nodeRepresentation")
                assert len(_one_slot(c, "codingScheme")) == 1
                assert c.find(f"{{{RIM}}}Name/{{{RIM}}}LocalizedString").get("value")
        if kinds is not None:
            type_code = classes["urn:uuid:f0306f51-975f-434e-a61c-c59651d33983"][0]
            assert type_code.get("nodeRepresentation") == LOINC[kinds[uri]]
            assert _one_slot(type_code, "codingScheme") == ["2.16.840.1.113883.6.1"]
        fmt = classes["urn:uuid:a09d5840-386c-46f2-b5ad-9c3699a4309d"][0]
        assert fmt.get("nodeRepresentation") == "urn:ihe:iti:xds:2017:mimeTypeSufficient"
        ext = _children(eo, "ExternalIdentifier", "identificationScheme")
        assert set(ext) == {DE_PATIENT_ID, DE_UNIQUE_ID}
        assert all(len(v) == 1 and v[0].get("registryObject") == eid for v in ext.values())
        assert ext[DE_PATIENT_ID][0].get("value") == patient_cx
        uid = ext[DE_UNIQUE_ID][0].get("value")
        assert re.fullmatch(r"2\.25\.[1-9]\d*", uid) and len(uid) <= 64
        unique_ids.add(uid)
    assert len(unique_ids) == len(entries)
    assert sorted(uris) == pdfs

    packages = objects.findall(f"{{{RIM}}}RegistryPackage")
    assert len(packages) == 1
    ss = packages[0]
    sid = ss.get("id")
    assert re.fullmatch(r"\d{14}", _one_slot(ss, "submissionTime")[0])
    recipient = _one_slot(ss, "intendedRecipient")[0]
    assert recipient.count("|") >= 1
    ss_classes = _children(ss, "Classification", "classificationScheme")
    assert set(ss_classes) == {SS_AUTHOR, SS_CONTENT_TYPE} and all(len(v) == 1 for v in ss_classes.values())
    ss_ext = _children(ss, "ExternalIdentifier", "identificationScheme")
    assert set(ss_ext) == {SS_UNIQUE_ID, SS_SOURCE_ID, SS_PATIENT_ID}
    assert all(len(v) == 1 for v in ss_ext.values())
    assert ss_ext[SS_PATIENT_ID][0].get("value") == patient_cx
    assert re.fullmatch(r"[0-2](\.\d+)+", ss_ext[SS_UNIQUE_ID][0].get("value"))
    nodes = [c for c in objects.findall(f"{{{RIM}}}Classification") if c.get("classificationNode") == SS_NODE]
    assert len(nodes) == 1 and nodes[0].get("classifiedObject") == sid
    assoc = objects.findall(f"{{{RIM}}}Association")
    assert sorted(a.get("targetObject") for a in assoc) == sorted(e.get("id") for e in entries)
    for a in assoc:
        assert a.get("associationType") == HAS_MEMBER and a.get("sourceObject") == sid
        assert _one_slot(a, "SubmissionSetStatus") == ["Original"]
    return {"unique_ids": unique_ids, "recipient": recipient, "root": root}


# ---------------------------------------------------------------------------
# In the package


def test_package_metadata_item_by_item(packed):
    ws, res, dest = packed
    data = (dest / "IHE_XDM" / "SUBSET01" / "METADATA.XML").read_bytes()
    manifest = json.loads((dest / "DOSSIER" / "MANIFEST.JSON").read_bytes())
    kinds = {d["path"].rsplit("/", 1)[1]: d["kind"] for d in manifest["documents"]}
    facts = check_structure(data, dest / "IHE_XDM" / "SUBSET01", patient_cx=INS_CX, kinds=kinds)
    assert manifest["xdm"] == {"metadata": "IHE_XDM/SUBSET01/METADATA.XML", "patient_id": INS_CX,
                               "patient_id_kind": "INS-NIR"}
    assert any(f["path"] == "IHE_XDM/SUBSET01/METADATA.XML" and f["role"] == "xdm-metadata"
               for f in manifest["files"])
    sums = (dest / "DOSSIER" / "SHA256SUMS").read_text()
    assert f"{hashlib.sha256(data).hexdigest()}  IHE_XDM/SUBSET01/METADATA.XML" in sums
    # documents only: no image is described
    assert b"DICOM/" not in data
    assert "second" in ws.dossier.second_opinion.name.lower() or facts["recipient"]
    # README.TXT and INDEX.HTM mention it
    assert "METADATA.XML" in (dest / "README.TXT").read_text(encoding="utf-8")
    assert 'href="IHE_XDM/SUBSET01/METADATA.XML"' in (dest / "INDEX.HTM").read_text(encoding="utf-8")


def test_package_verify_checks_xdm(packed):
    _ws, res, _dest = packed
    report = verify_package(res.package, password=PASSWORD, expect_signer=res.signer_fingerprint)
    assert report.ok and report.status("xdm") == "ok"


def test_unique_ids_stable_per_document(tmp_path, packed):
    ws, _res, dest = packed
    first = check_structure((dest / "IHE_XDM/SUBSET01/METADATA.XML").read_bytes(), dest / "IHE_XDM/SUBSET01",
                            patient_cx=INS_CX)["unique_ids"]
    again = pack(ws, tmp_path / "again.zip", signing_key=KEY, password=PASSWORD)
    unpack_package(again.package, tmp_path / "again", password=PASSWORD,
                   expect_signer=again.signer_fingerprint)
    second = check_structure((tmp_path / "again/IHE_XDM/SUBSET01/METADATA.XML").read_bytes(),
                             tmp_path / "again/IHE_XDM/SUBSET01", patient_cx=INS_CX)["unique_ids"]
    assert first == second, "the same document of the same dossier keeps its uniqueId"
    other = new_workspace(tmp_path / "other")
    add_documents(other)
    other_ids = {xdm.document_unique_id(other.dossier.id, d.sha256) for d in other.documents()}
    assert not other_ids & first, "another dossier never reuses them"


def _forged_pack(monkeypatch, tmp_path, forge) -> Path:
    real = root_module.build_metadata

    def forged(**kw):
        return forge(real(**kw))
    monkeypatch.setattr(root_module, "build_metadata", forged)
    ws = new_workspace(tmp_path / "ws")
    add_documents(ws)
    return pack(ws, tmp_path / "forged.zip", signing_key=KEY, password=PASSWORD, allow_incomplete=True,
                reason="test").package


FP = fingerprint(KEY.public_key())


def test_signed_but_wrong_hash_is_an_integrity_failure(monkeypatch, tmp_path):
    def forge(data: bytes) -> bytes:
        digest = re.search(rb'name="hash">\s*<rim:ValueList>\s*<rim:Value>([0-9a-f]{40})', data).group(1)
        return data.replace(digest, b"0" * 40, 1)
    package = _forged_pack(monkeypatch, tmp_path, forge)
    report = verify_package(package, password=PASSWORD, expect_signer=FP)
    assert not report.ok and report.status("signature") == "ok" and report.status("files") == "ok"
    assert [f.check for f in report.failures] == ["xdm"] and "SHA-1" in report.failures[0].message
    pw = tmp_path / "pw.txt"
    pw.write_text(PASSWORD + "\n")
    r = run_cli("verify", package, "--password-file", pw, "--expect-signer", FP)
    assert r.returncode == 3, r.stdout + r.stderr
    assert "METADATA.XML" in r.stdout + r.stderr


def test_signed_but_wrong_patient_never_packs(monkeypatch, tmp_path):
    def forge(data: bytes) -> bytes:
        other = b"1999999999999^^^&amp;1.2.250.1.213.1.4.8&amp;ISO"
        return data.replace(INS_CX.encode().replace(b"&", b"&amp;"), other)
    with pytest.raises(IntegrityError, match="xdm"):
        _forged_pack(monkeypatch, tmp_path, forge)
    assert not (tmp_path / "forged.zip").exists()


def test_tampered_metadata_bytes_detected(packed, tmp_path):
    """One flipped bit in METADATA.XML's entry: verify fails (exit 3)."""
    _ws, res, _dest = packed
    copy = tmp_path / "copy.zip"
    copy.write_bytes(res.package.read_bytes())
    with zipfile.ZipFile(copy) as zf:
        info = zf.getinfo("IHE_XDM/SUBSET01/METADATA.XML")
    raw = bytearray(copy.read_bytes())
    start = info.header_offset
    nlen, xlen = int.from_bytes(raw[start + 26:start + 28], "little"), int.from_bytes(raw[start + 28:start + 30],
                                                                                   "little")
    raw[start + 30 + nlen + xlen + info.compress_size // 2] ^= 0x01
    copy.write_bytes(bytes(raw))
    report = verify_package(copy, password=PASSWORD, expect_signer=FP)
    assert not report.ok and any("METADATA.XML" in (f.file or "") + f.message for f in report.failures)
    pw = tmp_path / "pw.txt"
    pw.write_text(PASSWORD + "\n")
    assert run_cli("verify", copy, "--password-file", pw, "--expect-signer", FP).returncode == 3


@pytest.mark.parametrize("edit, expect", [
    (lambda s: re.sub(r'(name="size">\s*<rim:ValueList>\s*<rim:Value>)\d+', r"\g<1>1", s, count=1), "bytes"),
    (lambda s: s.replace("<rim:Value>DOC0002.PDF</rim:Value>", "<rim:Value>DOC9999.PDF</rim:Value>"), "names no"),
    (lambda s: s.replace("<rim:Value>DOC0002.PDF</rim:Value>", "<rim:Value>DOC0001.PDF</rim:Value>"), "twice"),
    (lambda s: re.sub(r'<rim:Slot name="hash">.*?</rim:Slot>', "", s, count=1, flags=re.S), "0 times"),
    (lambda s: s.replace('identificationScheme="urn:uuid:2e82c1f6', 'identificationScheme="urn:uuid:0e82c1f6', 1),
     "uniqueId"),
    (lambda s: s.replace("2580375123456", "1580375123456", 1), "patient id"),
    (lambda s: '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "x">]>' + s.split("?>", 1)[1], "DOCTYPE"),
    (lambda s: s[: len(s) // 2], "well-formed"),
    (lambda s: s.replace("</lcm:SubmitObjectsRequest>", "<a/>" * 200_000 + "</lcm:SubmitObjectsRequest>"),
     "more elements"),
])
def test_metadata_problems_name_each_mismatch(packed, edit, expect):
    _ws, _res, dest = packed
    subset = dest / "IHE_XDM" / "SUBSET01"
    files = {p.name: (p.stat().st_size, hashlib.sha1(p.read_bytes()).hexdigest())
             for p in subset.iterdir() if p.suffix == ".PDF"}
    good = (subset / "METADATA.XML").read_text(encoding="utf-8")
    assert xdm.metadata_problems(good.encode(), files, expected_patient=INS_CX) == []
    bad = edit(good)
    assert bad != good
    problems = xdm.metadata_problems(bad.encode(), files, expected_patient=INS_CX)
    assert problems and any(expect in p for p in problems), problems


def test_patient_id_choices(tmp_path, monkeypatch):
    settings = xdm.load_settings(tmp_path / "absent.toml")
    ws = new_workspace(tmp_path / "ws")
    d = ws.dossier
    assert xdm.patient_id(d, settings).cx == INS_CX
    d.patient.identifier.system = "INS-NIA"
    assert xdm.patient_id(d, settings).cx.endswith("^^^&1.2.250.1.213.1.4.9&ISO")
    d.patient.identifier.system, d.patient.identifier.value = "IPP", "IPP-0042"
    assert xdm.patient_id(d, settings).kind == "local", "an IPP without an establishment OID matches nothing"
    conf = tmp_path / "xdm.toml"
    conf.write_text('[establishment]\nname = "CHU Test"\noid = "1.2.250.1.999.1"\nfiness = "440000289"\n'
                    '[codes.type]\nrcp = { code = "X-RCP", scheme = "1.2.3", display = "RCP maison" }\n',
                    encoding="utf-8")
    settings = xdm.load_settings(conf)
    pid = xdm.patient_id(d, settings)
    assert (pid.cx, pid.kind) == ("IPP-0042^^^&1.2.250.1.999.1&ISO", "IPP")
    assert settings.type_code("rcp").code == "X-RCP" and settings.type_code("pathology").code == "60568-3"
    d.patient.identifier.issuer = "1.2.250.1.888"
    assert xdm.patient_id(d, settings).authority == "1.2.250.1.888"
    conf.write_text('[establishment]\noid = "CHU"\n', encoding="utf-8")
    with pytest.raises(Exception, match="not an OID"):
        xdm.load_settings(conf)


def test_hospital_codes_reach_the_metadata(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    (home / "xdm.toml").write_text(
        '[codes.document]\nhealthcare_facility_type = { code = "SA07", scheme = "1.2.250.1.71.4.2.4", '
        'display = "Centre de lutte contre le cancer" }\n', encoding="utf-8")
    monkeypatch.setenv("DOSSIERKIT_HOME", str(home))
    ws = new_workspace(tmp_path / "ws")
    add_documents(ws)
    out = tmp_path / "IHE_XDM.ZIP"
    export_xdm(ws, out)
    with zipfile.ZipFile(out) as zf:
        data = zf.read("IHE_XDM/SUBSET01/METADATA.XML")
    assert b'nodeRepresentation="SA07"' in data and b'nodeRepresentation="SA01"' not in data


# ---------------------------------------------------------------------------
# export-xdm


def test_export_xdm_cli_zip_opens_everywhere(tmp_path):
    ws = new_workspace(tmp_path / "ws")
    add_documents(ws)
    out = tmp_path / "IHE_XDM.ZIP"
    r = run_cli("export-xdm", ws.root, "-o", out, "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["documents"] == 7 and doc["patient_id_kind"] == "INS-NIR" and doc["warnings"] == []
    assert doc["subject"] == "XDM/1.0/DDM+7 documents LEFEVRE Helene 14/03/1958"
    assert doc["max_message_bytes"] == 10 * 1024 * 1024
    r7 = subprocess.run([need_tool("7zz"), "t", str(out)], capture_output=True, text=True)
    assert r7.returncode == 0 and "Everything is Ok" in r7.stdout, r7.stdout
    with zipfile.ZipFile(out) as zf:
        assert zf.testzip() is None
        names = zf.namelist()
        assert names[:3] == ["README.TXT", "INDEX.HTM", "IHE_XDM/SUBSET01/METADATA.XML"]
        assert sorted(names[3:]) == [f"IHE_XDM/SUBSET01/DOC{n:04d}.PDF" for n in range(1, 8)]
        assert all(i.flag_bits & 0x1 == 0 for i in zf.infolist()), "plain zip, no encryption"
        zf.extractall(tmp_path / "x")
    for rec in ws.documents():
        assert any(hashlib.sha256(p.read_bytes()).hexdigest() == rec.sha256
                   for p in (tmp_path / "x/IHE_XDM/SUBSET01").glob("*.PDF"))
    check_structure((tmp_path / "x/IHE_XDM/SUBSET01/METADATA.XML").read_bytes(), tmp_path / "x/IHE_XDM/SUBSET01",
                    patient_cx=INS_CX)
    x7 = subprocess.run([need_tool("7zz"), "x", f"-o{tmp_path / 'x7'}", str(out)], capture_output=True, text=True)
    assert x7.returncode == 0 and (tmp_path / "x7/IHE_XDM/SUBSET01/METADATA.XML").is_file()
    human = run_cli("export-xdm", ws.root, "-o", out)
    assert human.returncode == 5 and "exists" in human.stderr, "never overwrites without --force"
    human = run_cli("export-xdm", ws.root, "-o", out, "--force")
    assert human.returncode == 0 and "XDM/1.0/DDM+7 documents LEFEVRE Helene 14/03/1958" in human.stdout


def test_export_single_document_subject_and_size_warning(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    (home / "xdm.toml").write_text("[mssante]\nmax_message_mb = 0.001\n", encoding="utf-8")
    monkeypatch.setenv("DOSSIERKIT_HOME", str(home))
    ws = new_workspace(tmp_path / "ws")
    add_documents(ws, [("02-anatomopathologie.pdf", "pathology", "2026-09-30", "Biopsie")])
    res = export_xdm(ws, tmp_path / "one.zip")
    assert res.subject == "XDM/1.0/DDM+CR d'anatomie et de cytologie pathologiq LEFEVRE Helene 14/03/1958"
    assert len(res.subject.split("+", 1)[1].split(" LEFEVRE")[0]) == 40
    assert res.message_bytes == message_size(res.size) > res.size * 4 // 3
    assert res.warnings and "MB" in res.warnings[0]


def test_export_refusals_leave_nothing(tmp_path):
    ws = new_workspace(tmp_path / "ws")
    out = tmp_path / "IHE_XDM.ZIP"
    r = run_cli("export-xdm", ws.root, "-o", out)
    assert r.returncode == 2 and "no document" in r.stderr and not out.exists()
    add_documents(ws)
    data = (ws.root / "dossier.toml").read_text(encoding="utf-8")
    (ws.root / "dossier.toml").write_text(data.replace('system = "INS-NIR"', 'system = "IPP"'), encoding="utf-8")
    r = run_cli("export-xdm", ws.root, "-o", out)
    assert r.returncode == 2 and "no INS" in r.stderr and not out.exists()
    (ws.root / "dossier.toml").write_text(data, encoding="utf-8")
    doc = Workspace(ws.root).documents()[3]
    body = bytearray((ws.root / doc.path).read_bytes())
    body[len(body) // 2] ^= 0x01
    (ws.root / doc.path).write_bytes(bytes(body))
    with pytest.raises(IntegrityError, match="changed since it was added"):
        export_xdm(Workspace(ws.root), out)
    assert not out.exists() and not list(tmp_path.glob(".dk-tmp-*"))
    with pytest.raises(UsageError):
        xdm.build_metadata(dossier=ws.dossier, documents=[None] * (xdm.MAX_XDM_DOCUMENTS + 1),
                           settings=xdm.load_settings(), submitted="2026-11-23T09:23:56Z")


def test_packages_made_before_xdm_still_verify():
    """No `xdm` member in the manifest (older packages): nothing to check, no failure;
    a member naming another path, or announcing a file that is missing, is a failure."""
    assert xdm.package_problems(None, announced=None, expected_patient=None, identifier=None, dossier_id="DK-1",
                                files={"DOC0001.PDF": (10, None)}) == []
    assert xdm.package_problems(None, announced="IHE_XDM/SUBSET02/METADATA.XML", expected_patient=INS_CX,
                                identifier=("INS-NIR", NIR), dossier_id="DK-1", files={})
    assert xdm.package_problems(None, announced=xdm.METADATA, expected_patient=INS_CX,
                                identifier=("INS-NIR", NIR), dossier_id="DK-1", files={})
    assert xdm.patient_id_problems(INS_CX, identifier=("INS-NIR", NIR), dossier_id="DK-1") == []
    assert xdm.patient_id_problems(INS_CX, identifier=("INS-NIR", "1" + NIR[1:]), dossier_id="DK-1")
    assert xdm.patient_id_problems(INS_CX.replace(".4.8&", ".4.9&"), identifier=("INS-NIR", NIR), dossier_id="DK-1")
