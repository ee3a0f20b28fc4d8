"""The fixed identifiers of IHE XDS/XDM metadata (IHE ITI TF-3 §4.2.5,
"Metadata object types and identification schemes") and the French OIDs the
ANS CI-SIS uses for people and identifiers.

These are part of the standards, not choices: they are constants here, each
with the name the specification gives it. The codes a hospital may adjust
(type, class, facility, practice setting…) are data:
``templates/xdm/codes.toml`` (docs/package-format.md §7).
"""

from __future__ import annotations

# ebXML Registry 3.0 namespaces (OASIS regrep 3.0: lcm, rim, rs).
NS_LCM = "urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0"
NS_RIM = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"
NS_RS = "urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0"
NSMAP = {"lcm": NS_LCM, "rim": NS_RIM}

STATUS_APPROVED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"
ASSOCIATION_HAS_MEMBER = "urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember"

# Object types and classification nodes.
DOCUMENT_ENTRY_STABLE = "urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1"  # XDSDocumentEntry (stable)
SUBMISSION_SET_NODE = "urn:uuid:a54d6aa5-d40d-43f9-88c5-b4633d873bdd"  # XDSSubmissionSet

# Classification schemes of XDSDocumentEntry.
DE_AUTHOR = "urn:uuid:93606bcf-9494-43ec-9b4e-a7748d1a838d"
DE_CLASS_CODE = "urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a"
DE_CONFIDENTIALITY_CODE = "urn:uuid:f4f85eac-e6cb-4883-b524-f2705394840f"
DE_FORMAT_CODE = "urn:uuid:a09d5840-386c-46f2-b5ad-9c3699a4309d"
DE_HEALTHCARE_FACILITY_TYPE_CODE = "urn:uuid:f33fb8ac-18af-42cc-ae0e-ed0b0bdb91e1"
DE_PRACTICE_SETTING_CODE = "urn:uuid:cccf5598-8b07-4b77-a05e-ae952c785ead"
DE_TYPE_CODE = "urn:uuid:f0306f51-975f-434e-a61c-c59651d33983"

# Identification schemes of XDSDocumentEntry.
DE_PATIENT_ID = "urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427"
DE_UNIQUE_ID = "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab"

# Classification schemes and identification schemes of XDSSubmissionSet.
SS_AUTHOR = "urn:uuid:a7058bb9-b4e4-4307-ba5b-e3f0ab85e12d"
SS_CONTENT_TYPE_CODE = "urn:uuid:aa543740-bdda-424e-8c96-df4873be8500"
SS_PATIENT_ID = "urn:uuid:6b5aea1a-874d-4603-a4bc-96a0a7b38446"
SS_SOURCE_ID = "urn:uuid:554ac39e-e3fe-47fe-b233-965d2a147832"
SS_UNIQUE_ID = "urn:uuid:96fdda7c-d067-4183-912e-bf5ee74998a8"

# Name -> UUID, as the specification names them (tests and error messages).
SCHEME_NAMES = {
    DE_AUTHOR: "XDSDocumentEntry.author",
    DE_CLASS_CODE: "XDSDocumentEntry.classCode",
    DE_CONFIDENTIALITY_CODE: "XDSDocumentEntry.confidentialityCode",
    DE_FORMAT_CODE: "XDSDocumentEntry.formatCode",
    DE_HEALTHCARE_FACILITY_TYPE_CODE: "XDSDocumentEntry.healthCareFacilityTypeCode",
    DE_PRACTICE_SETTING_CODE: "XDSDocumentEntry.practiceSettingCode",
    DE_TYPE_CODE: "XDSDocumentEntry.typeCode",
    DE_PATIENT_ID: "XDSDocumentEntry.patientId",
    DE_UNIQUE_ID: "XDSDocumentEntry.uniqueId",
    SS_AUTHOR: "XDSSubmissionSet.author",
    SS_CONTENT_TYPE_CODE: "XDSSubmissionSet.contentTypeCode",
    SS_PATIENT_ID: "XDSSubmissionSet.patientId",
    SS_SOURCE_ID: "XDSSubmissionSet.sourceId",
    SS_UNIQUE_ID: "XDSSubmissionSet.uniqueId",
}

# French identifiers (ANS: Référentiel INS; annuaire santé RPPS/FINESS).
OID_INS_NIR = "1.2.250.1.213.1.4.8"  # matricule INS from the NIR
OID_INS_NIA = "1.2.250.1.213.1.4.9"  # matricule INS from a NIA (temporary number)
OID_RPPS = "1.2.250.1.71.4.2.1"  # national identifier of health professionals (IDNPS)
OID_STRUCTURES = "1.2.250.1.71.4.2.2"  # national identifier of structures (IDNST: "1" + FINESS)

# The OID arc under which dossierkit derives its own ids: 2.25 (ITU-T X.667,
# an OID from a UUID) — no registration needed, unique by construction.
OID_UUID_ARC = "2.25"
