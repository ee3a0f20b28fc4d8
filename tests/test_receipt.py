import io
import json
import subprocess

import pytest
from pypdf import PdfReader

from conftest import need_tool
from dossierkit.trace import journal, receipt, receipt_pdf
from dossierkit.errors import IntegrityError, UsageError
from dossierkit.trust.keys import generate_keys, load_signing_key
from receipt_fixtures import INITIAL_PHYSICIAN, manifest


@pytest.fixture(scope="module")
def key(tmp_path_factory):
    return load_signing_key(generate_keys(tmp_path_factory.mktemp("keys")).signing_key)


@pytest.fixture
def package(tmp_path):
    p = tmp_path / "DOSSIER.zip"
    p.write_bytes(b"PK\x03\x04" + bytes(range(256)) * 40)
    return p


def _issue(tmp_path, key, package, *, restricted=False, **kw):
    s = receipt.summary_from_manifest(manifest(restricted), "ef" * 32)
    return receipt.issue_receipt(s, package, channel=kw.pop("channel", "usb-patient"), key=key,
                                 out=tmp_path / "out", journal_path=tmp_path / "journal.jsonl", **kw)


def _text(pdf_path):
    return " ".join(" ".join(p.extract_text() for p in PdfReader(pdf_path).pages).split())


def test_receipt_contents_signed_and_journaled(tmp_path, key, package):
    r = _issue(tmp_path, key, package, to=["Pr Anne Girard, Centre Léon Bérard"], copies=["treating-gp"])
    doc = json.loads(r.json_path.read_bytes())
    assert r.json_path.name == f"{doc['receipt_id']}.json" and r.pdf_path.exists()
    assert doc["package"] == {"file_name": "DOSSIER.zip", "sha256": receipt.package_facts(package).sha256,
                              "size": package.stat().st_size}
    assert doc["patient"] == {"family_name": "Lefèvre", "given_names": ["Hélène", "Marie"],
                              "birth_date": "1958-03-14"}  # minimal identity: no INS, no sex
    assert [d["sha256_prefix"] for d in doc["documents"]] == ["ab" * 8, "cd" * 8, "12" * 8]
    assert doc["studies"][0] == {"date": "2026-09-25", "modalities": ["CT"], "series": 2, "count": 123}
    assert doc["completeness"]["waived"][0]["code"] == "DOC-MISSING-OPERATIVE"
    assert doc["journal"] == {"seq": 0, "hash": journal.GENESIS}
    assert r.json_path.read_bytes() == receipt.document_bytes(doc)
    entry = journal.read_entries(tmp_path / "journal.jsonl")[-1]
    assert entry["event"] == "receipt" and entry["receipt_id"] == doc["receipt_id"]
    assert "Lef" not in json.dumps(entry, ensure_ascii=False)  # ids and hashes only
    check = receipt.verify_file(r.json_path, package=package, journal_path=tmp_path / "journal.jsonl",
                                expect_signer=doc["signature"]["fingerprint"])
    assert check.ok and check.package_checked and check.journal["ok"]


def _similar(c: str) -> str:
    """A different character of the same class, so edits stay plausible JSON."""
    for alphabet in ("0123456789", "abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ"):
        if c in alphabet:
            return alphabet[(alphabet.index(c) + 1) % len(alphabet)]
    return {" ": "_", '"': "'", ":": ";", ",": ";", "{": "[", "}": "]", "[": "{", "]": "}", "\n": " "}.get(c, "x")


@pytest.mark.parametrize("kind", ["receipt", "ack"])
def test_any_one_character_change_fails_verification(tmp_path, key, package, kind):
    r = _issue(tmp_path, key, package, pdf=False)
    if kind == "ack":
        res = receipt.VerificationFacts(True, True, dossier_id="DK-1", manifest_sha256="ef" * 32)
        r = receipt.issue_ack(package, res, key=key, out=tmp_path / "out", receipt=r.document, pdf=False)
    original = r.json_path.read_bytes().decode("utf-8")
    receipt.verify_file(r.json_path)
    survivors = []
    for i, c in enumerate(original):
        r.json_path.write_text(original[:i] + _similar(c) + original[i + 1:], encoding="utf-8")
        try:
            receipt.verify_file(r.json_path)
            survivors.append((i, c))
        except IntegrityError:
            pass
    assert survivors == [], f"edits not detected at {survivors[:5]}"


def test_a_different_package_fails(tmp_path, key, package):
    r = _issue(tmp_path, key, package, pdf=False)
    other = tmp_path / "other.zip"
    data = bytearray(package.read_bytes())
    data[100] ^= 1
    other.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="is not the package of"):
        receipt.verify_file(r.json_path, package=other)
    assert receipt.verify_file(r.json_path, package=package).package_checked


def test_expected_signer(tmp_path, key, package):
    r = _issue(tmp_path, key, package, pdf=False)
    with pytest.raises(IntegrityError, match="expected signer"):
        receipt.verify_file(r.json_path, expect_signer="0123456789abcdef" * 4)
    with pytest.raises(UsageError, match="full fingerprint"):  # a 64-bit prefix is not enough
        receipt.verify_file(r.json_path, expect_signer=r.document["signature"]["fingerprint"][:16])


def test_truncated_journal_is_caught_by_receipt_verify(tmp_path, key, package):
    jpath = tmp_path / "journal.jsonl"
    journal.append(jpath, {"event": "pack", "package_sha256": "00" * 32})
    r = _issue(tmp_path, key, package, pdf=False)
    assert r.document["journal"]["seq"] == 1 and r.journal_entry["seq"] == 2
    assert receipt.verify_file(r.json_path, journal_path=jpath).ok
    jpath.write_bytes(jpath.read_bytes().splitlines(keepends=True)[0])  # cut the receipt's own entry
    res = receipt.verify_file(r.json_path, journal_path=jpath)
    assert not res.ok and "no entry for it after entry 1" in res.problems[0]
    jpath.write_bytes(b"")
    res = receipt.verify_file(r.json_path, journal_path=jpath)
    assert not res.ok and "truncated" in res.problems[0]


def test_restriction_removes_the_initial_physician_everywhere(tmp_path, key, package):
    r = _issue(tmp_path, key, package, restricted=True)  # default copies: initial physician + treating GP
    doc = r.document
    assert [c["name"] for c in doc["copies"]] == ["Dr Françoise Dubœuf"]
    assert doc["withheld_copies"] == [{"restriction": "no-copy-to-initial-physician", "count": 1}]
    assert doc["restrictions"][0]["code"] == "no-copy-to-initial-physician"
    text = _text(r.pdf_path)
    assert "Copie au médecin initial non adressée, à la demande du patient" in " ".join(text.split())
    for where in (r.json_path.read_bytes().decode(), text, (tmp_path / "journal.jsonl").read_text()):
        for token in ("Moreau", "Valbonne", "cedres", "Cèdres"):
            assert token not in where
    # By name, by e-mail or by role keyword: withheld all the same.
    s = receipt.summary_from_manifest(manifest(True), None)
    for spec in ("Docteur Jean MOREAU-VALBONNE", "Secrétariat <j.moreau@cedres.mssante.fr>", "initial-physician",
                 "Dr Moreau-Valbonne, clinique"):
        who = receipt.addressees(s, None, [spec, "treating-gp"])
        assert [c.get("role") for c in who.copies] == ["treating-gp"], spec
        assert who.withheld == [{"restriction": "no-copy-to-initial-physician", "count": 1}]
    with pytest.raises(UsageError, match="forbids"):
        receipt.addressees(receipt.summary_from_manifest(manifest(True), None), ["initial-physician"], None)


def test_without_restriction_the_initial_physician_gets_a_copy(tmp_path, key, package):
    r = _issue(tmp_path, key, package)
    assert INITIAL_PHYSICIAN in [c["name"] for c in r.document["copies"]]
    assert r.document["withheld_copies"] == [] and r.document["restrictions"] == []
    assert "Moreau" in _text(r.pdf_path)


def test_pdf_text_has_hash_titles_and_accents(tmp_path, key, package):
    r = _issue(tmp_path, key, package)
    text = _text(r.pdf_path)
    assert r.document["package"]["sha256"] in text
    for d in manifest()["documents"]:
        assert " ".join(d["title"].split()) in text, d["title"]
    for words in ("Récépissé de transmission", "Hélène Marie", "Lefèvre", "Complétude", "Clé USB"):
        assert words in text
    fp = r.document["signature"]["fingerprint"]  # all of it, in groups of 4 to read aloud: 2 lines of 8 groups
    assert " ".join(fp[i:i + 4] for i in range(0, 32, 4)) in text and " ".join(fp[i:i + 4] for i in range(32, 64, 4)) in text


def test_core_font_fallback_keeps_french_and_transliterates_the_rest(tmp_path, key, package):
    r = _issue(tmp_path, key, package, pdf=False)
    buf = io.BytesIO()
    receipt_pdf.render(r.document, buf, use_system_fonts=False)
    buf.seek(0)
    text = " ".join(" ".join(p.extract_text() for p in PdfReader(buf).pages).split())
    assert "Récépissé de transmission" in text and "Hélène" in text
    assert "oedème péri-lésionnel" in text and "Dubo" in text  # œ has no Latin-1 code
    assert r.document["package"]["sha256"] in text


def test_qr_code_decodes_to_the_package_sha256(tmp_path, key, package):
    pdftoppm = need_tool("pdftoppm")
    from pyzbar.pyzbar import decode
    from PIL import Image

    r = _issue(tmp_path, key, package)
    subprocess.run([pdftoppm, "-png", "-r", "120", "-f", "1", "-l", "1", r.pdf_path, tmp_path / "page"], check=True)
    (png,) = tmp_path.glob("page*.png")
    codes = decode(Image.open(png))
    # A text a phone shows as is (issue #15, point 26): receipt, dossier, local
    # date, file, and the SHA-256 to compare with 7-Zip's or certutil's.
    (text,) = [c.data.decode() for c in codes]
    lines = text.splitlines()
    assert lines[0] == f"Récépissé / Receipt {r.document['receipt_id']}"
    assert lines[1] == f"Dossier {r.document['dossier_id']}"
    assert lines[2].startswith("Date ") and "heure de Paris" in lines[2] and "T" not in lines[2][:8]
    assert lines[3] == f"Fichier / File {r.document['package']['file_name']}"
    assert lines[4] == f"SHA-256 {r.document['package']['sha256']}"


def test_ack_binds_receipt_and_package(tmp_path, key, package):
    r = _issue(tmp_path, key, package)
    altered = receipt.VerificationFacts(False, None, ["DICOM/IMG0001: SHA-256 mismatch"], "DK-1")
    a = receipt.issue_ack(package, altered, key=key, out=tmp_path / "acks", receipt=r.document, by="Pr A. Girard",
                          journal_path=tmp_path / "journal.jsonl")
    doc = a.document
    assert doc["receipt"]["receipt_id"] == r.document["receipt_id"]
    assert doc["verification"]["result"] == "altered" and doc["verification"]["completeness"] == "unknown"
    assert doc["journal"]["seq"] == 1 and "patient" not in doc
    assert "ALTÉRÉ / ALTERED" in _text(a.pdf_path)
    assert receipt.verify_file(a.json_path, package=package, journal_path=tmp_path / "journal.jsonl").ok
    other = tmp_path / "other.zip"
    other.write_bytes(b"different")
    fine = receipt.VerificationFacts(True, True, [], "DK-1")
    swapped = receipt.issue_ack(other, fine, key=key, out=tmp_path / "acks", receipt=r.document, pdf=False)
    v = swapped.document["verification"]
    assert v["result"] == "altered" and "not the package receipt" in v["problems"][0]
    good = receipt.issue_ack(package, fine, key=key, out=tmp_path / "acks", receipt=r.document, pdf=False)
    assert good.document["verification"]["result"] == "intact"


def test_unknown_channel_and_missing_recipient(tmp_path, key, package):
    with pytest.raises(UsageError, match="channel"):
        _issue(tmp_path, key, package, channel="pigeon")
    m = manifest()
    del m["dossier"]["second_opinion"]
    with pytest.raises(UsageError, match="no recipient"):
        receipt.addressees(receipt.summary_from_manifest(m, None), None, None)


def test_a_waived_finding_is_told_in_the_readers_words_not_checks_message():
    """check's message speaks to the sender and may quote a source's folder
    names (a CD's folder named after the patient and an ID): the receipt,
    which travels unencrypted, carries the reader's words instead."""
    finding = {"code": "IMG-UID-CONFLICT", "level": "error",
               "message": "same SOP Instance UID as images/IMG000003.dcm (imported from source #1 (folder): "
                          "LEFEVRE_2580375123456/IM000001) but different content: not imported"}
    (waived,) = receipt._completeness({"status": "incomplete", "waived": [finding]})["waived"]
    assert waived["code"] == "IMG-UID-CONFLICT" and waived["level"] == "error"
    assert "2580375123456" not in waived["message"] and "LEFEVRE" not in waived["message"]
    assert waived["message"].startswith("Deux images différentes") and " / Two different images" in waived["message"]
