import datetime as dt

import pytest

from dossierkit import phi
from dossierkit.model import Identifier, Patient


@pytest.fixture(autouse=True)
def _clean():
    phi.clear()
    yield
    phi.clear()


def test_scrub_masks_every_form_of_the_identity():
    phi.register(Patient("Lefèvre", ["Hélène", "Marie"], dt.date(1958, 3, 14), "F",
                         Identifier("2580375123456", "INS-NIR"), other_ids=["CHU-00482913"]))
    text = "/media/LEFEVRE_helene/x.pdf 14/03/1958 19580314 1958-03-14 2580375123456 chu-00482913 Marie"
    out = phi.scrub(text)
    for needle in ("LEFEVRE", "helene", "1958", "2580375123456", "00482913", "Marie"):
        assert needle.lower() not in out.lower()
    assert out.startswith("/media/[PHI]_[PHI]/x.pdf")


@pytest.mark.parametrize("written", ["LEFEVRE_14031958.pdf", "scan 140358.pdf", "14_03_1958", "1958_03_14",
                                     "né le 14.3.1958", "14/3/58", "14 mars 1958", "14 MARS 1958",
                                     "NIR 2 58 03 75 123 456", "IPP 00482913", "chu 00482913", "2580375123456"])
def test_scrub_masks_the_usual_spellings_of_the_birth_date_and_ids(written):
    phi.register(Patient("Lefèvre", ["Hélène"], dt.date(1958, 3, 14), "F",
                         Identifier("2580375123456", "INS-NIR"), other_ids=["CHU-00482913"]))
    out = phi.scrub(f"cannot read: /media/usb/{written}")
    assert "[PHI]" in out
    for needle in ("14031958", "140358", "1958", "00482913", "123 456", "2580375123456"):
        assert needle not in out, out


@pytest.mark.parametrize("ordinary", ["page 14 of 1958 pages", "2024-03-14", "IMG000014.dcm", "14 files, 58 MB",
                                      "sha256 1958031", "00482914"])
def test_scrub_leaves_ordinary_numbers_alone(ordinary):
    phi.register(Patient("Lefèvre", ["Hélène"], dt.date(1958, 3, 14), "F",
                         Identifier("2580375123456", "INS-NIR"), other_ids=["CHU-00482913"]))
    assert phi.scrub(ordinary) == ordinary


def test_scrub_is_identity_without_registration():
    assert phi.scrub("nothing to hide") == "nothing to hide"


def test_cli_error_line_masks_patient_from_workspace(tmp_path, cli):
    from tests.conftest import SAMPLE_PATIENT
    from dossierkit.workspace import init_workspace

    init_workspace(tmp_path / "ws", dict(SAMPLE_PATIENT))
    missing = tmp_path / "LEFEVRE Helene scan.pdf"
    r = cli("--debug", "add", tmp_path / "ws", missing, "--kind", "rcp")
    assert r.returncode == 2
    assert "LEFEVRE" not in r.stderr.upper() and "HELENE" not in r.stderr.upper()
    assert "[PHI]" in r.stderr



def test_remove_takes_a_document_out(tmp_path, cli):
    from tests.conftest import SAMPLE_PATIENT
    from tests.docsamples import make_pdf
    from dossierkit.workspace import Workspace, init_workspace

    ws = init_workspace(tmp_path / "ws", dict(SAMPLE_PATIENT))
    pdf = make_pdf(tmp_path / "bio.pdf", ["Compte rendu de biologie", "Date : 12/10/2026"])
    assert cli("add", ws.root, pdf, "--kind", "biology").returncode == 0
    assert [d.id for d in Workspace(ws.root).documents()] == ["DOC0001"]
    r = cli("remove", ws.root, "DOC0001", "--json")
    assert r.returncode == 0, r.stderr
    assert Workspace(ws.root).documents() == [] and not (ws.root / "documents" / "DOC0001.pdf").exists()
    r = cli("remove", ws.root, "DOC0009")
    assert r.returncode == 2 and "DOC0009" in r.stderr


def test_init_on_an_existing_workspace_named_after_the_patient_masks_its_name_in_logs(tmp_path, cli):
    from tests.conftest import SAMPLE_PATIENT
    from dossierkit.workspace import init_workspace

    ws = tmp_path / "Lefevre_Helene_14031958"
    init_workspace(ws, dict(SAMPLE_PATIENT))
    toml = tmp_path / "new.toml"
    toml.write_text((ws / "dossier.toml").read_text(encoding="utf-8"), encoding="utf-8")
    r = cli("init", ws, "--from", toml)  # stderr is a pipe here: a log
    assert r.returncode == 5 and "already exists" in r.stderr
    assert "Lefevre" not in r.stderr and "14031958" not in r.stderr and "[PHI]" in r.stderr
