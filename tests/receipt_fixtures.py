"""A manifest of the shape package/manifest.py builds (docs/package-format.md),
for receipt tests that do not need a real package."""

from __future__ import annotations

import copy

INITIAL_PHYSICIAN = "Dr Jean Moreau-Valbonne"

MANIFEST = {
    "format": "dossierkit-package-manifest",
    "schema": 1,
    "dossier_id": "DK-20261120-ABCDEF12",
    "dossier": {
        "id": "DK-20261120-ABCDEF12",
        "patient": {"family_name": "Lefèvre", "given_names": ["Hélène", "Marie"], "birth_date": "1958-03-14",
                    "sex": "F", "identifier": {"value": "2580375123456", "system": "INS-NIR"}},
        "sender": {"name": "Secrétariat d'oncologie, CH de Valence", "email": "onco@ch-valence.mssante.fr"},
        "initial_physician": {"name": INITIAL_PHYSICIAN, "establishment": "Clinique des Cèdres",
                              "email": "j.moreau@cedres.mssante.fr"},
        "treating_gp": {"name": "Dr Françoise Dubœuf", "establishment": "Cabinet médical de Crest"},
        "second_opinion": {"name": "Pr Anne Girard", "establishment": "Centre Léon Bérard, Lyon"},
        "restrictions": [],
    },
    "documents": [
        {"kind": "rcp", "title": "Fiche RCP thoracique — réunion du 12 octobre 2026", "date": "2026-10-12",
         "sha256": "ab" * 32},
        {"kind": "pathology", "title": "Compte rendu d'anatomopathologie : biopsie bronchique", "date": "2026-09-30",
         "sha256": "cd" * 32},
        {"kind": "imaging-report", "title": "Scanner thoraco-abdomino-pelvien (TAP) — œdème péri-lésionnel",
         "date": "2026-09-25", "sha256": "12" * 32},
    ],
    "studies": [
        {"date": "2026-09-25", "modalities": ["CT"], "count": 123,
         "series": [{"modality": "CT", "number": 2, "count": 120}, {"modality": "CT", "number": 3, "count": 3}]},
        {"date": "2026-10-01", "modalities": ["CT", "PT"], "count": 200,
         "series": [{"modality": "PT", "number": 1, "count": 200}]},
    ],
    "completeness": {"status": "incomplete", "profile": "second-opinion",
                     "waived": [{"code": "DOC-MISSING-OPERATIVE", "level": "error",
                                 "message": "no operative report"}],
                     "reason": "pas d'intervention chirurgicale"},
    "container": "password",
}


def manifest(restricted: bool = False) -> dict:
    m = copy.deepcopy(MANIFEST)
    if restricted:
        m["dossier"]["restrictions"] = ["no-copy-to-initial-physician"]
    return m
