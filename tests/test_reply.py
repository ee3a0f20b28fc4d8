"""The way back (issue #17): a reply started from a received package (password
zip and age), its check profile, derived addressees, the patient's restriction
(carried over and added at reply time) enforced by pack and receipt and absent
from every output, and the story across both hospitals' journals."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from docsamples import SAMPLES, build_sample_workspace, copy_workspace
from pypdf import PdfReader

from dossierkit import localtime
from dossierkit.check import run_checks
from dossierkit.errors import DecryptionError, IntegrityError, OutputError, UsageError
from dossierkit.gather.documents import add_documents
from dossierkit.package.unpack import unpack_package
from dossierkit.trace import journal
from dossierkit.trace.flows import ack_for_package, pack_and_record, receipt_for_package, receipt_request
from dossierkit.trace.reply import init_reply, pack_reply, restrict_reply, story
from dossierkit.trace.secrets import open_secrets, pack_protection
from dossierkit.trust.keys import generate_keys, load_signing_key
from dossierkit.workspace import Workspace, new_dossier_id
from tests.conftest import run_cli

REPLY = SAMPLES / "reply"
LETTER = REPLY / "01-courrier-second-avis.pdf"  # to Dr Paul Garnier and Dr Anne Roux
LETTER_RESTRICTED = REPLY / "02-courrier-second-avis-restreint.pdf"  # names no initial physician
RCP_2D_AVIS = REPLY / "03-fiche-rcp-2d-avis.pdf"
RCP_UNMARKED = REPLY / "04-fiche-rcp-non-marquee.pdf"
PROTECTED = "Garnier"  # the sample's initial physician, Dr Paul Garnier


class Hospitals:
    """Hospital A (CHU de Nantes) sent the sample dossier twice: a password zip
    with the patient's restriction, an age file without it; hospital B (the
    second practitioner) acknowledged both. Each has its own keys and journal."""

    def __init__(self, root: Path):
        self.root = root
        self.a_keys, self.b_keys = generate_keys(root / "a-keys"), generate_keys(root / "b-keys")
        self.a_journal, self.b_journal = root / "a-journal.jsonl", root / "b-journal.jsonl"
        ws = build_sample_workspace(root / "a-ws")
        assert ws.dossier.restrictions == ["no-copy-to-initial-physician"]
        free = copy_workspace(ws, root / "a-ws-free")
        d = free.dossier
        d.restrictions, d.id = [], new_dossier_id()
        free.save_dossier(d)
        self.zip, self.zip_pw = root / "sent" / "dossier.zip", root / "sent" / "pw.txt"
        self.age = root / "sent" / "dossier.age"
        self.zip_receipt = self._send(ws, self.zip, pack_protection(generate=True, password_out=self.zip_pw))
        self.age_receipt = self._send(free, self.age, pack_protection(recipients=[self.b_keys.age_recipient]))
        self.zip_ack = self._ack(self.zip, self.zip_receipt, password_file=self.zip_pw)
        self.age_ack = self._ack(self.age, self.age_receipt, identity=self.b_keys.age_identity)

    def _send(self, ws: Workspace, out: Path, protection) -> Path:
        out.parent.mkdir(exist_ok=True)
        packed = pack_and_record(ws, out, protection=protection, key=load_signing_key(self.a_keys.signing_key),
                                 receipt=receipt_request(self.root / "a-receipts", "usb-patient"),
                                 journal_file=self.a_journal)
        return packed.receipt.json_path

    def _ack(self, package: Path, receipt: Path, **secret) -> Path:
        return ack_for_package(package, out=self.root / "b-acks", key=load_signing_key(self.b_keys.signing_key),
                               secrets=open_secrets(package, **secret), receipt_file=receipt,
                               journal_file=self.b_journal).json_path

    def secrets(self, package: Path):
        if package == self.zip:
            return open_secrets(package, password_file=self.zip_pw)
        return open_secrets(package, identity=self.b_keys.age_identity)


@pytest.fixture(scope="module")
def hospitals(tmp_path_factory):
    return Hospitals(tmp_path_factory.mktemp("hospitals"))


def start(h: Hospitals, package: Path, where: Path):
    return init_reply(where, package, h.secrets(package), expect_signer=h.a_keys.fingerprint,
                      journal_file=h.b_journal)


def codes(ws) -> set[str]:
    return {f.code for f in run_checks(ws).findings if f.level == "error"}


def test_reply_from_password_zip_carries_the_restriction(hospitals, tmp_path):
    started = start(hospitals, hospitals.zip, tmp_path / "reply")
    ws, origin = started.workspace, started.origin
    sent = json.loads(hospitals.zip_receipt.read_text())
    ack = json.loads(hospitals.zip_ack.read_text())
    assert (origin.dossier_id, origin.package_sha256) == (sent["dossier_id"], sent["package"]["sha256"])
    assert (origin.receipt_id, origin.ack_id) == (sent["receipt_id"], ack["ack_id"])  # found in B's journal
    assert origin.signer == hospitals.a_keys.fingerprint
    d = ws.dossier
    assert d.purpose == "second-opinion-reply" and d.profile == "second-opinion-reply" and d.id != origin.dossier_id
    assert d.patient.family_name == "Lefèvre" and d.treating_gp.name == "Dr Anne Roux"
    assert d.sender.name == "Pr Sophie Marchand"
    assert d.restrictions == ["no-copy-to-initial-physician"] and d.initial_physician is None
    assert PROTECTED not in (ws.root / "dossier.toml").read_text(encoding="utf-8")
    assert ws.withheld()["initial_physician"]["name"] == "Dr Paul Garnier"
    assert started.addressees == ["treating-gp", "patient"]
    # The profile: the letter is required; the carried-over refusal must be recorded by the second physician.
    assert codes(ws) == {"SECOND-OPINION-LETTER-MISSING", "RESTRICTION-NOT-RECORDED"}
    add_documents(ws, [LETTER_RESTRICTED], kind="second-opinion-letter")
    record = restrict_reply(ws.root, recorded_by="Pr Sophie Marchand", journal_file=hospitals.b_journal)
    assert record.source == "dossier" and record.recorded_at.endswith("Z")
    assert codes(Workspace(ws.root)) == set()


def test_reply_from_age_file_goes_to_both_physicians_and_the_patient(hospitals, tmp_path):
    started = start(hospitals, hospitals.age, tmp_path / "reply")
    ws = started.workspace
    assert started.restrictions == [] and started.addressees == ["initial-physician", "treating-gp", "patient"]
    add_documents(ws, [LETTER], kind="second-opinion-letter")
    add_documents(ws, [RCP_2D_AVIS], kind="rcp")
    assert codes(ws) == set()
    gp = generate_keys(tmp_path / "gp-keys")
    packed = pack_reply(ws, tmp_path / "out", key=load_signing_key(hospitals.b_keys.signing_key), channel="mssante",
                        recipients={"treating-gp": [gp.age_recipient]}, journal_file=hospitals.b_journal)
    by_role = {p.addressees[0]: p for p in packed.packages}
    assert list(by_role) == ["initial-physician", "treating-gp", "patient"]
    assert by_role["treating-gp"].container == "recipients" and by_role["treating-gp"].password_file is None
    assert by_role["initial-physician"].password_file != by_role["patient"].password_file
    for role, p in by_role.items():  # each package opens with its own secret only
        receipt = json.loads(Path(p.receipt["json"]).read_text())
        assert [r.get("role") for r in receipt["recipients"]] == [role]
        assert sorted(c.get("role") for c in receipt["copies"]) == sorted(set(by_role) - {role})
        assert receipt["reply_to"]["dossier_id"] == started.origin.dossier_id
        assert receipt["reply_to"]["receipt_id"] == started.origin.receipt_id
        assert receipt["withheld_copies"] == [] and receipt["purpose"] == "second-opinion-reply"
    own = open_secrets(by_role["patient"].package, password_file=by_role["patient"].password_file)
    assert unpack_package(by_role["patient"].package, tmp_path / "patient-view", **own.open_kwargs(),
                          expect_signer=hospitals.b_keys.fingerprint).report.ok
    with pytest.raises(DecryptionError):  # open_secrets tries the passphrase at once (issue #15, point 27)
        other = open_secrets(by_role["patient"].package, password_file=by_role["initial-physician"].password_file)
        unpack_package(by_role["patient"].package, tmp_path / "wrong", **other.open_kwargs(),
                       expect_signer=hospitals.b_keys.fingerprint)
    assert not (tmp_path / "wrong").exists()
    gp_secrets = open_secrets(by_role["treating-gp"].package, identity=gp.age_identity)
    assert unpack_package(by_role["treating-gp"].package, tmp_path / "gp-view", **gp_secrets.open_kwargs(),
                          expect_signer=hospitals.b_keys.fingerprint).report.ok


def test_a_folder_that_cannot_be_made_stops_the_reply_with_nothing_written(hospitals, tmp_path):
    # out/patient is a file: the reply used to write the physicians' packages, passphrases, receipts and
    # journal entries first, then fail on the third
    ws = start(hospitals, hospitals.age, tmp_path / "reply").workspace
    add_documents(ws, [LETTER], kind="second-opinion-letter")
    add_documents(ws, [RCP_2D_AVIS], kind="rcp")
    out = tmp_path / "out"
    out.mkdir()
    (out / "patient").write_text("in the way\n")
    journal_before = hospitals.b_journal.read_bytes()
    with pytest.raises(OutputError, match="a file is where this folder goes") as caught:
        pack_reply(ws, out, key=load_signing_key(hospitals.b_keys.signing_key), channel="mssante",
                   journal_file=hospitals.b_journal)
    assert "nothing was written" in caught.value.line()
    assert sorted(p.name for p in out.iterdir()) == ["patient"]  # no package, passphrase, receipt, nor folder
    assert hospitals.b_journal.read_bytes() == journal_before


def test_one_shared_passphrase_makes_one_package_naming_every_addressee(hospitals, tmp_path, monkeypatch):
    ws = start(hospitals, hospitals.age, tmp_path / "reply").workspace
    add_documents(ws, [LETTER], kind="second-opinion-letter")
    pw = tmp_path / "shared.txt"
    pw.write_text("vallée-tilleul-ardoise-moineau-cerisier-lanterne\n")
    packed = pack_reply(ws, tmp_path / "out", key=load_signing_key(hospitals.b_keys.signing_key), channel="hand",
                        shared=pack_protection(password_file=pw), journal_file=hospitals.b_journal)
    assert len(packed.packages) == 1 and packed.packages[0].addressees == ["initial-physician", "treating-gp",
                                                                            "patient"]
    receipt = json.loads(Path(packed.packages[0].receipt["json"]).read_text())
    assert [r["role"] for r in receipt["recipients"]] == ["initial-physician", "treating-gp"]
    assert [c["role"] for c in receipt["copies"]] == ["patient"]
    # the same from a pipeline: the shared passphrase from an environment variable
    env = {"DK_SHARED": "vallée-tilleul-ardoise-moineau-cerisier-lanterne", "DOSSIERKIT_JOURNAL": str(tmp_path / "j")}
    r = run_cli("reply", "pack", ws.root, "-o", tmp_path / "out-env", "--channel", "hand", "--password-env",
                "DK_SHARED", "--signing-key", hospitals.b_keys.signing_key, "--json", env=env)
    assert r.returncode == 0, r.stderr
    (one,) = json.loads(r.stdout)["packages"]
    assert one["password_file"] is None
    monkeypatch.setenv("DK_SHARED", env["DK_SHARED"])  # open_secrets tries it on the package at once
    assert open_secrets(one["package"], password_env="DK_SHARED").password == env["DK_SHARED"]


def test_fiche_rcp_of_the_new_rcp_must_say_2d_avis(hospitals, tmp_path):
    ws = start(hospitals, hospitals.age, tmp_path / "reply").workspace
    add_documents(ws, [LETTER], kind="second-opinion-letter")
    add_documents(ws, [RCP_UNMARKED], kind="rcp")
    assert codes(ws) == {"RCP-NOT-MARKED-2D-AVIS"}
    # The original fiche RCP (not a second opinion) is refused the same way.
    ws2 = start(hospitals, hospitals.age, tmp_path / "reply2").workspace
    add_documents(ws2, [LETTER, SAMPLES / "documents" / "01-fiche-rcp.pdf"], kind="auto")
    assert "RCP-NOT-MARKED-2D-AVIS" in codes(ws2)


def _texts_of(folder: Path) -> str:
    """Every byte a person could read in *folder*: text files, JSON, PDFs' text."""
    out = []
    for p in sorted(folder.rglob("*")):
        if not p.is_file():
            continue
        if p.suffix.lower() == ".pdf":
            out.append("\n".join(page.extract_text() or "" for page in PdfReader(p).pages))
        out.append(p.read_bytes().decode("utf-8", "replace"))
    return "\n".join(out)


def test_restriction_added_at_reply_time_removes_the_initial_physician_from_every_output(hospitals, tmp_path):
    started = start(hospitals, hospitals.age, tmp_path / "reply")
    ws = started.workspace
    assert ws.dossier.initial_physician.name == "Dr Paul Garnier"
    add_documents(ws, [LETTER], kind="second-opinion-letter")
    restrict_reply(ws.root, recorded_by="Pr Sophie Marchand", journal_file=hospitals.b_journal)
    ws = Workspace(ws.root)
    assert ws.dossier.initial_physician is None and ws.dossier.restriction_record(
        "no-copy-to-initial-physician").source == "reply"
    # The letter addressed to Dr Garnier cannot go: the check names no one, but refuses it.
    findings = [f for f in run_checks(ws).findings if f.code == "PROTECTED-PERSON-NAMED"]
    assert len(findings) == 1 and PROTECTED not in findings[0].message
    shutil.rmtree(tmp_path / "reply")
    ws = start(hospitals, hospitals.age, tmp_path / "reply").workspace
    add_documents(ws, [LETTER_RESTRICTED], kind="second-opinion-letter")
    add_documents(ws, [RCP_2D_AVIS], kind="rcp")
    env = {"DOSSIERKIT_JOURNAL": str(tmp_path / "b-cli.jsonl")}
    r = run_cli("reply", "restrict", ws.root, "--recorded-by", "Pr Sophie Marchand", "--json", env=env)
    assert r.returncode == 0, r.stderr
    r = run_cli("reply", "pack", ws.root, "-o", tmp_path / "out", "--channel", "usb-patient", "--signing-key",
                hospitals.b_keys.signing_key, "--json", env=env)
    assert r.returncode == 0, r.stderr
    packed = json.loads(r.stdout)
    assert [p["addressees"] for p in packed["packages"]] == [["treating-gp"], ["patient"]]
    assert packed["withheld"] == ["no-copy-to-initial-physician"]
    for p in packed["packages"]:
        receipt = json.loads(Path(p["receipt"]["json"]).read_text())
        assert receipt["withheld_copies"] == [{"restriction": "no-copy-to-initial-physician", "count": 1}]
        entry = receipt["restrictions"][0]
        assert entry["code"] == "no-copy-to-initial-physician" and entry["recorded_by"] == "Pr Sophie Marchand"
        assert "initial-physician" not in {x.get("role") for x in receipt["recipients"] + receipt["copies"]}
        secrets = open_secrets(p["package"], password_file=p["password_file"])
        unpack_package(p["package"], tmp_path / "view" / p["addressees"][0], **secrets.open_kwargs(),
                       expect_signer=hospitals.b_keys.fingerprint)
    # what the patient reads: beside the package and inside, a reply's words (they were the outbound dossier's)
    beside = (tmp_path / "out" / "patient" / "LISEZMOI-README.TXT").read_bytes().decode("utf-8")
    assert "la réponse du second avis sur votre dossier médical" in beside and "\r\n" in beside
    assert "the encrypted reply to a request for a second opinion" in beside
    assert "Donnez-le vous-même" not in beside and "préparé pour un second avis" not in beside
    readme = (tmp_path / "view" / "patient" / "README.TXT").read_text(encoding="utf-8")
    assert readme.startswith("RÉPONSE DE SECOND AVIS — SECOND OPINION REPLY")
    assert "DICOMDIR, DICOM/" not in readme and not (tmp_path / "view" / "patient" / "DICOM").exists()
    index = (tmp_path / "view" / "patient" / "INDEX.HTM").read_text(encoding="utf-8")
    assert "In reply to dossier" in index and started.origin.dossier_id in index and "Not an addressee" in index
    pdf_text = "\n".join(page.extract_text() for page in PdfReader(packed["packages"][0]["receipt"]["pdf"]).pages)
    assert "no-copy-to-initial-physician" in pdf_text or "médecin initial" in pdf_text
    # who recorded the patient's refusal, and when: in local time with its zone, not the UTC stamp
    recorded_at = json.loads(Path(packed["packages"][0]["receipt"]["json"]).read_text())["restrictions"][0]["recorded_at"]
    flat = " ".join(pdf_text.split())
    assert f"recueillie par Pr Sophie Marchand, le {localtime.local(recorded_at)[0]}" in flat, flat
    assert recorded_at not in pdf_text and "(UTC)" not in pdf_text
    # grep every output: packages' content, receipts (JSON, PDF), journal, command output
    everything = "\n".join([_texts_of(tmp_path / "view"), _texts_of(tmp_path / "out"),
                            (tmp_path / "b-cli.jsonl").read_text(), r.stdout, r.stderr])
    assert "Lefèvre" in everything  # the grep sees the content (the patient is named inside)
    assert PROTECTED.lower() not in everything.lower()


def test_naming_the_protected_physician_as_recipient_is_refused(hospitals, tmp_path):
    ws = start(hospitals, hospitals.zip, tmp_path / "reply").workspace
    add_documents(ws, [LETTER_RESTRICTED], kind="second-opinion-letter")
    restrict_reply(ws.root, recorded_by="Pr Sophie Marchand", journal_file=hospitals.b_journal)
    key = load_signing_key(hospitals.b_keys.signing_key)
    gp = generate_keys(tmp_path / "k")
    for kw in ({"recipients": {"initial-physician": [gp.age_recipient]}}, {"extra_to": ["initial-physician"]},
               {"extra_to": ["Dr Paul Garnier, CHU de Nantes"]}, {"extra_to": ["Garnier Paul"]}):
        with pytest.raises(UsageError, match="restriction"):
            pack_reply(ws.root, tmp_path / "out", key=key, channel="mssante", journal_file=hospitals.b_journal, **kw)
    assert not (tmp_path / "out").exists()  # refused before anything is written
    r = run_cli("reply", "pack", ws.root, "-o", tmp_path / "out", "--channel", "mssante", "--signing-key",
                hospitals.b_keys.signing_key, "--to", "Dr Paul Garnier", "--journal", tmp_path / "j.jsonl")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "restriction" in r.stderr
    # The receipt of a reply package is refused for the protected person too (from the signed manifest).
    packed = pack_reply(ws.root, tmp_path / "out", key=key, channel="mssante", journal_file=hospitals.b_journal)
    pkg = next(p for p in packed.packages if p.addressees == ["patient"])
    with pytest.raises(UsageError, match="restriction"):
        receipt_for_package(pkg.package, channel="hand", out=tmp_path / "rc", key=key, to=["initial-physician"],
                            secrets=open_secrets(pkg.package, password_file=pkg.password_file))
    # … and its default addressees are derived the same way.
    issued = receipt_for_package(pkg.package, channel="hand", out=tmp_path / "rc", key=key,
                                 secrets=open_secrets(pkg.package, password_file=pkg.password_file))
    assert [x["role"] for x in issued.document["recipients"]] == ["treating-gp"]
    assert issued.document["withheld_copies"] == [{"restriction": "no-copy-to-initial-physician", "count": 1}]


def test_a_package_from_an_unknown_sender_starts_no_reply(hospitals, tmp_path):
    r = run_cli("reply", "init", tmp_path / "reply", "--from-package", hospitals.zip, "--password-file",
                hospitals.zip_pw, "--journal", tmp_path / "j.jsonl")
    assert r.returncode == 6 and "trust add" in r.stderr, r.stderr
    assert not (tmp_path / "reply").exists()
    store = tmp_path / "trusted.toml"
    assert run_cli("trust", "add", hospitals.a_keys.fingerprint, "--name", "CHU de Nantes", "--trust-store",
                   store).returncode \
        == 0
    r = run_cli("reply", "init", tmp_path / "reply", "--from-package", hospitals.zip, "--password-file",
                hospitals.zip_pw, "--journal", tmp_path / "j.jsonl", "--trust-store", store, "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["addressees"] == ["treating-gp", "patient"]


def test_an_altered_package_starts_no_reply(hospitals, tmp_path):
    bad = tmp_path / "dossier.zip"
    data = bytearray(hospitals.zip.read_bytes())
    data[len(data) // 2] ^= 1
    bad.write_bytes(data)
    with pytest.raises(IntegrityError):
        init_reply(tmp_path / "reply", bad, open_secrets(bad, password_file=hospitals.zip_pw),
                   journal_file=tmp_path / "j.jsonl")
    assert not (tmp_path / "reply").exists()


def test_the_journals_tell_the_whole_story(hospitals, tmp_path):
    a_journal, b_journal = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    shutil.copy(hospitals.a_journal, a_journal)
    shutil.copy(hospitals.b_journal, b_journal)
    started = init_reply(tmp_path / "reply", hospitals.zip, hospitals.secrets(hospitals.zip), journal_file=b_journal,
                         expect_signer=hospitals.a_keys.fingerprint)
    ws = started.workspace
    add_documents(ws, [LETTER_RESTRICTED], kind="second-opinion-letter")
    restrict_reply(ws.root, recorded_by="Pr Sophie Marchand", journal_file=b_journal)
    packed = pack_reply(ws, tmp_path / "out", key=load_signing_key(hospitals.b_keys.signing_key), channel="mssante",
                        recipients={"treating-gp": [hospitals.a_keys.age_recipient]}, journal_file=b_journal)
    gp_pkg = next(p for p in packed.packages if p.addressees == ["treating-gp"])
    # Hospital A (here holding the GP's key) acknowledges the reply it received.
    ack = ack_for_package(gp_pkg.package, out=tmp_path / "a-acks", key=load_signing_key(hospitals.a_keys.signing_key),
                          secrets=open_secrets(gp_pkg.package, identity=hospitals.a_keys.age_identity),
                          receipt_file=gp_pkg.receipt["json"], expect_signer=hospitals.b_keys.fingerprint,
                          journal_file=a_journal)
    assert ack.document["reply_to"]["dossier_id"] == started.origin.dossier_id
    sent = json.loads(hospitals.zip_receipt.read_text())
    both = {c["dossier_id"]: c for c in story([a_journal, b_journal])}[sent["dossier_id"]]
    assert both["complete"]
    stages = both["stages"]
    assert [x["receipt_id"] for x in stages["sent"]] == [sent["receipt_id"]]
    assert stages["sent"][0]["journal"] == str(a_journal) and "named_by" not in stages["sent"][0]
    assert stages["received"][0]["ack_id"] == started.origin.ack_id and stages["received"][0]["journal"] == str(
        b_journal)
    # (B's journal also holds the other tests' replies to this dossier)
    assert {p.receipt["id"] for p in packed.packages} <= {x["receipt_id"] for x in stages["opinion returned"]}
    assert [x["ack_id"] for x in stages["acknowledged"]] == [ack.id]
    # Hospital A's journal alone tells it too: the reply (signed, verified) names B's ack.
    alone = {c["dossier_id"]: c for c in story([a_journal])}[sent["dossier_id"]]
    assert alone["complete"] and alone["stages"]["received"][0]["named_by"] == ack.id
    # B's journal alone does not know of A's acknowledgement.
    assert not {c["dossier_id"]: c for c in story([b_journal])}[sent["dossier_id"]]["stages"]["acknowledged"]
    for path in (a_journal, b_journal):
        assert journal.verify(path).ok
    r = run_cli("journal", "show", a_journal, b_journal)
    assert r.returncode == 0, r.stderr
    assert "sent → received → opinion returned → acknowledged" in r.stdout
    r = run_cli("journal", "show", b_journal, "--json")
    chain = {c["dossier_id"]: c for c in json.loads(r.stdout)["story"]}[sent["dossier_id"]]
    assert chain["stages"]["received"] and not chain["complete"]
