"""Image copies (issue #3): DICOM header reading, sources (folder, DICOMDIR,
zip) and :func:`import_images`. Index layout and rules: docs/images.md."""

from dossierkit.gather.dicomfile import CorruptDicomError, DicomHeader, NotDicomError, parse_header, read_header
from dossierkit.gather.importer import ERROR_KINDS, ImportReport, copy_name, import_images, skip_label
from dossierkit.gather.sources import SourcePlan, media_dicomdir_references, plan_source
from dossierkit.gather.summary import ImagesSummary, describe_study, identity_key, patient_identities, summarize

__all__ = ["import_images", "ImportReport", "read_header", "parse_header", "DicomHeader", "NotDicomError",
           "CorruptDicomError", "plan_source", "SourcePlan", "media_dicomdir_references", "summarize",
           "ImagesSummary", "patient_identities", "identity_key", "describe_study", "copy_name", "skip_label",
           "ERROR_KINDS"]
