from dossierkit.workspace import Workspace
from tests.conftest import run_cli


def test_init_from_options_records_identity_other_ids_consent_restriction(tmp_path):
    r = run_cli("init", tmp_path / "ws", "--family-name", "Lefèvre", "--given-names", "Hélène Marie",
                "--birth-date", "1958-03-14", "--sex", "f", "--patient-id", "2580375123456", "--id-system", "INS-NIR",
                "--other-id", "CHU-00482913", "--other-id", "CHU-00482913", "--initial-physician", "Dr Paul Garnier",
                "--consent-date", "2026-11-02", "--consent-by", "patient",
                "--restriction", "no-copy-to-initial-physician", "--json")
    assert r.returncode == 0, r.stderr
    d = Workspace(tmp_path / "ws").dossier
    assert d.patient.other_ids == ["CHU-00482913"]
    assert d.patient.identifier.system == "INS-NIR" and d.patient.sex == "F"
    assert d.consent.given and d.has_restriction("no-copy-to-initial-physician")


def test_init_reports_every_problem_and_writes_nothing(tmp_path):
    r = run_cli("init", tmp_path / "ws", "--family-name", "X", "--birth-date", "1958-13-40", "--sex", "Q")
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 3 and all(line.startswith("dossierkit: error:") for line in lines)
    assert "Traceback" not in r.stderr and not (tmp_path / "ws" / "dossier.toml").exists()


def test_init_refuses_existing_workspace(tmp_path):
    args = ["init", tmp_path / "ws", "--family-name", "X", "--given-names", "Y", "--birth-date", "1958-03-14",
            "--sex", "F"]
    assert run_cli(*args).returncode == 0
    r = run_cli(*args)
    assert r.returncode == 5 and "--force" in r.stderr
    assert run_cli(*args, "--force").returncode == 0
