"""Plan of the media root: which workspace file lands where, under neutral names.

The root follows what receiving hospitals' media importers expect (IHE PDI,
DICOM PS3.10 / PS3.11 STD-GEN-USB): every path component is a DICOM file ID
component — at most 8 characters from ``A–Z 0–9 _``, at most 8 levels — with
an ISO 9660-style extension only on the non-DICOM files we create.

    README.TXT, INDEX.HTM, DICOMDIR
    DICOM/ST000001/SE000001/IM000001      study n / series n / image n, no extension
    IHE_XDM/SUBSET01/DOC0001.PDF          documents, named by their workspace id
    DOSSIER/MANIFEST.JSON, SHA256SUMS, MANIFEST.SIG

Names carry no patient data: they are ordinals.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from dossierkit.errors import UsageError
from dossierkit.model import DOCUMENT_KINDS, DocumentRecord, ImageInstance, SeriesSummary, StudySummary, group_studies

README = "README.TXT"
INDEX = "INDEX.HTM"
DICOMDIR = "DICOMDIR"
MANIFEST = "DOSSIER/MANIFEST.JSON"
SUMS = "DOSSIER/SHA256SUMS"
SIGNATURE = "DOSSIER/MANIFEST.SIG"
CMS_SIGNATURE = "DOSSIER/MANIFEST.P7S"  # optional 4th entry: detached CMS of MANIFEST.JSON (docs/package-format.md)
DOCUMENTS_FOLDER = "IHE_XDM/SUBSET01"
IMAGES_FOLDER = "DICOM"

# The three DOSSIER files come first in the container so that a reader can
# authenticate the manifest before any payload byte, then check each entry
# against it as it streams by (no seeking: age streams cannot seek).
SEAL_FILES = (MANIFEST, SUMS, SIGNATURE)

# \Z, not $: "$" also matches before a final "\n" ("README.TXT\n" would pass).
_FILE_ID_COMPONENT = re.compile(r"^[A-Z0-9_]{1,8}\Z")
# Paths a package may contain: upper-case components (DICOM file IDs, and the
# few longer names DESIGN fixes such as SHA256SUMS), an extension only on the
# last one. Images must further be DICOM file IDs (is_dicom_file_id).
_SAFE_PATH = re.compile(r"^(?:[A-Z0-9_]{1,16}/){0,7}[A-Z0-9_]{1,16}(?:\.[A-Z0-9]{1,4})?\Z")
_MAX_ORDINAL = 999_999


def is_dicom_file_id(path: str) -> bool:
    """True when *path* (``/``-separated) is a conformant DICOM File ID (PS3.10 §8.5)."""
    parts = path.split("/")
    return 0 < len(parts) <= 8 and all(_FILE_ID_COMPONENT.match(p) for p in parts)


def is_safe_entry_path(path: str) -> bool:
    """True when *path* is a name this format may contain: relative, no ``..``,
    no empty component, upper-case file-ID characters only."""
    return bool(_SAFE_PATH.match(path))


@dataclass(slots=True)  # one per file (issue #18)
class PlannedDocument:
    record: DocumentRecord
    path: str  # entry path in the root


@dataclass(slots=True)  # one per file (issue #18)
class PlannedInstance:
    record: ImageInstance
    path: str


@dataclass
class PlannedSeries:
    summary: SeriesSummary
    instances: list[PlannedInstance]


@dataclass
class PlannedStudy:
    summary: StudySummary
    series: list[PlannedSeries]

    @property
    def instance_count(self) -> int:
        return sum(len(s.instances) for s in self.series)


@dataclass
class MediaLayout:
    documents: list[PlannedDocument]
    studies: list[PlannedStudy]

    def instances(self) -> Iterator[PlannedInstance]:
        for st in self.studies:
            for se in st.series:
                yield from se.instances

    @property
    def instance_count(self) -> int:
        return sum(st.instance_count for st in self.studies)


_KIND_ORDER = {k: i for i, k in enumerate(DOCUMENT_KINDS)}
_WORKSPACE_DOC_ID = re.compile(r"DOC\d{4}")


def _ordinal(prefix: str, n: int) -> str:
    if n > _MAX_ORDINAL:
        raise UsageError(f"too many items for one package (more than {_MAX_ORDINAL} {prefix} entries)",
                         hint="split the dossier")
    return f"{prefix}{n:06d}"


def document_name(n: int) -> str:
    if n > 9999:
        raise UsageError("too many documents for one package (more than 9999)", hint="split the dossier")
    return f"DOC{n:04d}.PDF"


def plan_layout(documents: list[DocumentRecord], images: list[ImageInstance]) -> MediaLayout:
    """Assign every document and image its entry path.

    Documents are ordered by kind (the order of DOCUMENT_KINDS: fiche RCP
    first), then date and id; images by study date, series number, instance
    number (:func:`group_studies`). The same workspace gives the same plan.
    """
    docs = sorted(documents, key=lambda d: (_KIND_ORDER.get(d.kind, len(_KIND_ORDER)), d.date or "", d.id))
    # The workspace's own ids name the files (DOC0008 in `check` and `list` is
    # DOC0008.PDF in the package: issue #15, point 24); numbered in order only
    # if some id is not of that form.
    if all(_WORKSPACE_DOC_ID.fullmatch(d.id) for d in docs) and len({d.id for d in docs}) == len(docs):
        names = [f"{d.id}.PDF" for d in docs]
    else:
        names = [document_name(i) for i in range(1, len(docs) + 1)]
    planned_docs = [PlannedDocument(d, f"{DOCUMENTS_FOLDER}/{name}") for d, name in zip(docs, names)]
    studies = []
    for si, st in enumerate(group_studies(images), 1):
        st_dir = f"{IMAGES_FOLDER}/{_ordinal('ST', si)}"
        series = []
        for ei, se in enumerate(st.series, 1):
            se_dir = f"{st_dir}/{_ordinal('SE', ei)}"
            series.append(PlannedSeries(se, [PlannedInstance(inst, f"{se_dir}/{_ordinal('IM', ii)}")
                                             for ii, inst in enumerate(se.instances, 1)]))
        studies.append(PlannedStudy(st, series))
    return MediaLayout(planned_docs, studies)
