"""Image rules of the second-opinion profile: each with a failing and a passing case."""

from __future__ import annotations

import shutil

import pytest

from dossierkit.check import run_checks
from dossierkit.check.images import copy_in_place
from dossierkit.gather.documents import add_documents
from dossierkit.gather import import_images
from dossierkit.workspace import init_workspace, read_toml_file

from docsamples import SAMPLES, TODAY
from images_fixtures import DICOMDIR_SET, OTHER_PATIENT_DICOM, SAMPLE_CD, make_dicom, real_file


def codes(ws, prefix="IMG-"):
    return {f.code: f for f in run_checks(ws, today=TODAY).findings if f.code.startswith(prefix)}


def of(ws, code):
    return [f for f in run_checks(ws, today=TODAY).findings if f.code == code]


@pytest.fixture
def ws_report(tmp_path):
    """The sample dossier (INS, and the CHU's IPP in other_ids) with only the
    sample CT report (2026-09-10), no images yet."""
    ws = init_workspace(tmp_path / "ws", read_toml_file(SAMPLES / "dossier.toml"))
    add_documents(ws, [SAMPLES / "documents" / "03-scanner-tap.pdf"], kind="imaging-report")
    return ws


@pytest.fixture
def ws_cd(ws_report):
    import_images(ws_report, [SAMPLE_CD])
    return ws_report


def test_report_without_images_is_an_error(ws_report):
    (f,) = of(ws_report, "IMG-MISSING")
    assert f.level == "error" and "report without images" in f.message and "DOC0001" in f.message


def test_sample_cd_satisfies_every_image_rule(ws_cd):
    found = codes(ws_cd)
    assert set(found) == {"IMG-SKIPPED"} and found["IMG-SKIPPED"].level == "info"
    assert "exe 1" in found["IMG-SKIPPED"].message and "inf 1" in found["IMG-SKIPPED"].message


def test_wrong_patient_study_is_named_without_their_identity(ws_cd, tmp_path):
    for i in range(3):
        make_dicom(tmp_path / "other" / f"IM{i}", patient=OTHER_PATIENT_DICOM, uid_seed=f"o{i}",
                   study_seed="other-study", study_date="20260912", modality="MR", StudyDescription="IRM pelvienne")
    import_images(ws_cd, [tmp_path / "other"])
    (f,) = of(ws_cd, "IMG-PATIENT-MISMATCH")
    assert f.level == "error"
    assert "2026-09-12" in f.message and "MR" in f.message and "IRM pelvienne" in f.message and "3 images" in f.message
    assert "name" in f.message and "birth date" in f.message and "identifier" in f.message
    assert "DURAND" not in f.message.upper() and "1962" not in f.message and "00517220" not in f.message
    (multi,) = of(ws_cd, "IMG-MULTIPLE-PATIENTS")
    assert multi.level == "error" and "2 different patients" in multi.message
    assert "the dossier's patient: study of 2026-09-10, CT" in multi.message and "patient #2: study of 2026-09-12" \
        in multi.message and "DURAND" not in multi.message.upper()


def test_identity_is_normalised_and_other_ids_accepted(ws_report, tmp_path):
    make_dicom(tmp_path / "a" / "IM1", patient={"PatientName": "lefèvre^hélène", "PatientID": "CHU-00482913",
                                                "PatientBirthDate": "19580314"})
    make_dicom(tmp_path / "a" / "IM2", uid_seed="2", patient={"PatientName": "LEFEVRE^HELENE^MARIE",
                                                              "PatientID": "2580375123456"})
    import_images(ws_report, [tmp_path / "a"])
    assert not of(ws_report, "IMG-PATIENT-MISMATCH") and not of(ws_report, "IMG-MULTIPLE-PATIENTS")


def test_unknown_id_with_matching_name_names_the_id_to_add(ws_report, tmp_path):
    make_dicom(tmp_path / "IM1", patient={**dict(PatientName="LEFEVRE^HELENE", PatientBirthDate="19580314"),
                                          "PatientID": "CLINIQUE-77"})
    import_images(ws_report, [tmp_path / "IM1"])
    (f,) = of(ws_report, "IMG-PATIENT-MISMATCH")
    assert "CLINIQUE-77" in f.message and "dossierkit set DIR --other-id CLINIQUE-77" in f.message
    assert not of(ws_report, "IMG-MULTIPLE-PATIENTS")  # same person: one identity
    d = ws_report.dossier
    d.patient.other_ids.append("CLINIQUE-77")
    ws_report.save_dossier(d)
    assert not of(ws_report, "IMG-PATIENT-MISMATCH")


def test_real_dicomdir_set_is_reported_patient_by_patient(ws_report):
    import_images(ws_report, [DICOMDIR_SET / "DICOMDIR"])
    mismatches = of(ws_report, "IMG-PATIENT-MISMATCH")
    assert len(mismatches) == 6  # every study of the set: none is the dossier's patient
    assert all("name" in f.message and "DOE" not in f.message.upper() for f in mismatches)
    (multi,) = of(ws_report, "IMG-MULTIPLE-PATIENTS")
    assert "2 different patients" in multi.message and "patient #1" in multi.message
    # no study is near the report's date: each is flagged as without report
    assert len(of(ws_report, "IMG-STUDY-NO-REPORT")) == 6


def test_corrupt_file_is_an_error_naming_it(ws_cd, tmp_path):
    shutil.copy(real_file("MR_truncated.dcm"), tmp_path / "MR_truncated.dcm")
    import_images(ws_cd, [tmp_path / "MR_truncated.dcm"])
    (f,) = of(ws_cd, "IMG-CORRUPT")
    assert f.level == "error" and f.file.startswith("source #") and "truncated" in f.message
    assert str(tmp_path) not in f.file + f.message  # the sending machine's path stays in the workspace


def test_uid_conflict_is_an_error(ws_cd, tmp_path):
    src = SAMPLE_CD / "DICOM" / "ST000001" / "SE000001" / "IM000001"
    tampered = bytearray(src.read_bytes())
    tampered[-1] ^= 1  # one pixel differs
    (tmp_path / "IM000001").write_bytes(bytes(tampered))
    import_images(ws_cd, [tmp_path / "IM000001"])
    (f,) = of(ws_cd, "IMG-UID-CONFLICT")
    assert f.level == "error" and f.file.startswith("source #") and "images/IMG" in f.message
    assert str(tmp_path) not in f.file + f.message


def test_missing_copy_is_an_error(ws_cd):
    victim = ws_cd.images()[3]
    (ws_cd.root / victim.path).unlink()
    (f,) = of(ws_cd, "IMG-COPY-MISSING")
    assert f.file == victim.path


def test_anonymous_images_are_a_warning(ws_cd, tmp_path):
    make_dicom(tmp_path / "anon", patient={}, study_seed="anon")
    import_images(ws_cd, [tmp_path / "anon"])
    (f,) = of(ws_cd, "IMG-PATIENT-UNKNOWN")
    assert f.level == "warning" and "2026-09-10" in f.message


def test_study_without_report(ws_cd, tmp_path):
    make_dicom(tmp_path / "late", study_seed="late", study_date="20261020", modality="CT")
    make_dicom(tmp_path / "mr", uid_seed="mr", study_seed="mr", study_date="20260911", modality="MR")
    import_images(ws_cd, [tmp_path / "late", tmp_path / "mr"])
    found = of(ws_cd, "IMG-STUDY-NO-REPORT")
    assert sorted(f.message[:33] for f in found) == ["study of 2026-09-11, MR, “TDM TAP", "study of 2026-10-20, CT, “TDM TAP"]
    assert all(f.level == "warning" for f in found)


def test_media_problems_are_warnings(ws_report, tmp_path):
    cd = tmp_path / "cd"
    shutil.copytree(SAMPLE_CD, cd)
    (cd / "DICOM" / "ST000001" / "SE000001" / "IM000005").unlink()
    import_images(ws_report, [cd])
    (f,) = of(ws_report, "IMG-MEDIA")
    assert f.level == "warning" and "IM000005" in f.message
    assert not of(ws_report, "IMG-CORRUPT")


def test_files_without_meta_are_a_warning(ws_cd, tmp_path):
    make_dicom(tmp_path / "raw", meta=False, uid_seed="raw")
    import_images(ws_cd, [tmp_path / "raw"])
    (f,) = of(ws_cd, "IMG-NO-META")
    assert f.level == "warning" and f.file.startswith("images/IMG")


def test_no_skipped_files_no_info(ws_report, tmp_path):
    make_dicom(tmp_path / "only" / "IM1")
    import_images(ws_report, [tmp_path / "only"])
    assert "IMG-SKIPPED" not in codes(ws_report)


# -- image-copies-present (IMG-COPY-MISSING): an lstat of each copy, its folders resolved once (issue #18)

def _copies(ws):
    return sorted((ws.root / "images").glob("IMG*.dcm"))


def test_a_deleted_or_resized_copy_is_named(ws_cd):
    gone, grown = _copies(ws_cd)[:2]
    gone.unlink()
    with open(grown, "ab") as fh:
        fh.write(b"\0")
    found = of(ws_cd, "IMG-COPY-MISSING")
    assert sorted(f.file for f in found) == sorted(f"images/{p.name}" for p in (gone, grown))
    assert all(f.level == "error" and "import the images again" in f.message for f in found)


def test_a_copy_replaced_by_a_link_is_not_a_copy(ws_cd, tmp_path):
    """Even to a file of the right size: what is packed must be the workspace's own file."""
    victim = _copies(ws_cd)[0]
    outside = tmp_path / "outside.dcm"
    shutil.copyfile(victim, outside)
    victim.unlink()
    victim.symlink_to(outside)
    (f,) = of(ws_cd, "IMG-COPY-MISSING")
    assert f.file == f"images/{victim.name}"


def test_an_images_folder_leading_out_of_the_workspace_fails_every_copy(ws_cd, tmp_path):
    n = len(_copies(ws_cd))
    elsewhere = tmp_path / "elsewhere"
    shutil.move(ws_cd.root / "images", elsewhere)
    (ws_cd.root / "images").symlink_to(elsewhere, target_is_directory=True)
    assert len(of(ws_cd, "IMG-COPY-MISSING")) == n > 0


@pytest.mark.parametrize("rel", ["../x.dcm", "/etc/passwd", "images/../../x.dcm", "images//IMG000001.dcm",
                                 "./images/IMG000001.dcm", "images\\..\\..\\x.dcm", "C:x.dcm", ""])
def test_names_that_are_not_the_importers_are_never_in_place(ws_cd, rel):
    real = _copies(ws_cd)[0]
    assert copy_in_place(ws_cd.root, f"images/{real.name}", real.stat().st_size, {})
    assert not copy_in_place(ws_cd.root, rel, real.stat().st_size, {})
