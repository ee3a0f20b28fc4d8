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
