import datetime as dt

import pytest
from hypothesis import given, settings, strategies as st

from dossierkit.errors import InputError
from dossierkit.model import InvalidDossierError, dossier_from_dict
from dossierkit.workspace import Workspace, init_workspace, load_dossier_file
from tests.conftest import SAMPLE_PATIENT


def _valid(**over):
    d = {"id": "DK-1", **{k: (dict(v) if isinstance(v, dict) else v) for k, v in SAMPLE_PATIENT.items()}}
    d.update(over)
    return d


def test_valid_dossier_roundtrips_through_toml(tmp_path):
    ws = init_workspace(tmp_path / "ws", _valid(restrictions=["no-copy-to-initial-physician"],
                                                 initial_physician={"name": "Dr Paul Garnier"}))
    again = Workspace(ws.root).dossier
    assert again.patient.birth_date == dt.date(1958, 3, 14)
    assert again.patient.given_names == ["Hélène", "Marie"]
    assert again.has_restriction("no-copy-to-initial-physician")
    assert again.initial_physician.name == "Dr Paul Garnier"


def test_every_problem_reported_at_once():
    bad = _valid(patient={"family_name": "", "given_names": [], "birth_date": "14/03/1958", "sex": "Z",
                          "identifier": {"value": "123", "system": "INS-NIR"}},
                 restrictions=["no-such-thing"], sender={"name": "x", "email": "not-an-email"})
    with pytest.raises(InvalidDossierError) as ei:
        dossier_from_dict(bad)
    text = ei.value.line()
    for fld in ("patient.family_name", "patient.given_names", "patient.birth_date", "patient.sex",
                "patient.identifier.value", "restrictions", "sender.email"):
        assert fld in text
    assert len(ei.value.problems) >= 7


def test_consent_in_future_and_unknown_person_field():
    with pytest.raises(InvalidDossierError, match="consent.date"):
        dossier_from_dict(_valid(consent={"given": True, "date": "2999-01-01"}))
    with pytest.raises(InvalidDossierError, match="initial_physician.phone_number"):
        dossier_from_dict(_valid(initial_physician={"name": "Dr X", "phone_number": "1"}))


def test_broken_toml_is_one_clear_line(tmp_path):
    p = tmp_path / "dossier.toml"
    p.write_text("id = \n[patient")
    with pytest.raises(InputError, match="not valid TOML"):
        load_dossier_file(p)


@settings(max_examples=150, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=12) | st.dates(),
                    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.sampled_from(
                        ["id", "patient", "family_name", "given_names", "birth_date", "sex", "identifier",
                         "consent", "given", "date", "restrictions", "sender", "name", "value", "system",
                         "other_ids"]), c, max_size=5), max_leaves=20))
def test_loader_never_crashes_on_arbitrary_structures(data):
    try:
        dossier_from_dict(data)
    except InvalidDossierError as exc:
        assert exc.problems and all(isinstance(p, str) and "\n" not in p for p in exc.problems)
