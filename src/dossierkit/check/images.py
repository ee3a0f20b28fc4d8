"""Rules on image copies (DESIGN §4). Codes: docs/findings.md (section Images).

Messages name studies by date, modality, description and image count, and
files by their workspace path or source path; another patient's identity
found in a DICOM header is never repeated (only *which* of name, birth date,
identifier differ).
"""

from __future__ import annotations

import os
import re

from dossierkit.check.documents import doc_text, document_date, label
from dossierkit.check.engine import CheckContext, RuleSpec, rule
from dossierkit.check.identity import compare_image, toml_suspect
from dossierkit.errors import InputError
from dossierkit.gather.dicomfile import ACCEPTANCE_RULES, RECHECK_HEAD_SIZE, read_header, uid_problem
from dossierkit.gather.image_removal import image_id
from dossierkit.gather.importer import copy_in_place
from dossierkit.gather.summary import describe_study, identity_key, patient_identities
from dossierkit.identity import fold, parse_dicom_date
from dossierkit.model import ImageInstance, StudySummary, group_studies

# Words of French/English imaging report titles and texts, by DICOM modality.
_MODALITY_WORDS: dict[str, tuple[str, ...]] = {
    "CT": ("SCANNER", "TDM", "TOMODENSITOMETRIE", "UROSCANNER", "ANGIOSCANNER", "COROSCANNER", "CT", "CT-SCAN",
           "COMPUTED TOMOGRAPHY", "TEP-TDM", "PET-CT", "TEP-SCANNER"),
    "MR": ("IRM", "MRI", "RESONANCE MAGNETIQUE", "MAGNETIC RESONANCE", "ANGIO-IRM", "ENTERO-IRM"),
    "PT": ("TEP", "PET", "TEP-TDM", "PET-CT", "TEP-SCANNER", "PETSCAN", "PET-SCAN", "FDG"),
    "NM": ("SCINTIGRAPHIE", "SCINTIGRAPHY", "TEMP", "SPECT", "SCINTI"),
    "US": ("ECHOGRAPHIE", "ECHO", "ULTRASOUND", "DOPPLER", "ECHOENDOSCOPIE", "ULTRASONOGRAPHY"),
    "MG": ("MAMMOGRAPHIE", "MAMMOGRAPHY", "TOMOSYNTHESE", "TOMOSYNTHESIS"),
    "CR": ("RADIOGRAPHIE", "RADIOGRAPHY", "RADIO", "X-RAY", "RX", "CLICHE"),
    "DX": ("RADIOGRAPHIE", "RADIOGRAPHY", "RADIO", "X-RAY", "RX", "CLICHE"),
    "XA": ("ANGIOGRAPHIE", "ANGIOGRAPHY", "ARTERIOGRAPHIE", "EMBOLISATION"),
}
# Not acquisitions: key images, screenshots, reports, presentation states go with any report.
_ANY_REPORT = {"OT", "SC", "SR", "PR", "KO", "DOC", "REG", "SEG", "RTSTRUCT", "RTPLAN", "RTDOSE", "RTRECORD"}
_WORD_RE = {m: re.compile(r"(?<![A-Z0-9])(" + "|".join(re.escape(w) for w in ws) + r")(?![A-Z0-9])")
            for m, ws in _MODALITY_WORDS.items()}


def report_modalities(text: str) -> set[str]:
    """DICOM modalities an imaging report's title/text speaks of (empty: unknown)."""
    folded = fold(text)
    return {m for m, rx in _WORD_RE.items() if rx.search(folded)}


def _studies(ctx: CheckContext) -> list[StudySummary]:
    return ctx.memo("image-studies", lambda: group_studies(ctx.images))


def _first_path(st: StudySummary) -> str:
    return st.series[0].instances[0].path


def _compare(ctx: CheckContext, inst: ImageInstance):
    # accepted IDs: patient.identifier and patient.other_ids (compare_dicom_identity reads both)
    return compare_image(ctx, inst.patient_name, inst.patient_id, inst.patient_birth_date)


@rule("images-for-imaging-report")
def images_for_imaging_report(ctx: CheckContext, spec: RuleSpec):
    """An imaging report without the images: the second practitioner must see them."""
    kind = spec.params.get("report_kind", "imaging-report")
    reports = ctx.documents_of(kind)
    if reports and not ctx.images:
        names = ", ".join(label(r) for r in reports)
        yield spec.finding(f"report without images: {names} but no image copies — import the images with "
                           "`dossierkit import-images DIR SOURCE` (the patient's CD, a folder, a zip)",
                           "images/")


@rule("image-identity")
def image_identity(ctx: CheckContext, spec: RuleSpec):
    """Every study's DICOM patient must be the dossier's patient (except on
    what dossier-identity blames dossier.toml for)."""
    suspect = set(toml_suspect(ctx))
    for st in _studies(ctx):
        bad: dict[tuple[str, ...], int] = {}
        id_only: set[str] = set()
        for se in st.series:
            for inst in se.instances:
                cmp = _compare(ctx, inst)
                reasons = tuple(r for r in cmp.reasons() if r not in suspect)
                if reasons:
                    bad[reasons] = bad.get(reasons, 0) + 1
                    if reasons == ("identifier",) and (cmp.name_ok or "name" in suspect) \
                            and (cmp.birth_date_ok or "birth date" in suspect):
                        id_only.add(inst.patient_id or "")
        for reasons, count in bad.items():
            what = " and ".join(reasons)
            of = f"{count} of its images" if count != st.instance_count else "its images"
            if reasons == ("identifier",) and id_only:
                # Same name and birth date: most likely this patient's ID at another centre. Naming it is needed to fix.
                ids = ", ".join(sorted(id_only))
                msg = (f"{describe_study(st)}: the PatientID of {of} ({ids}) is not the dossier's identifier while "
                       "name and birth date match — if it is this patient's ID at another establishment, add it: "
                       f"`dossierkit set DIR --other-id {sorted(id_only)[0]}`; otherwise remove these images")
            else:
                verb = "differs" if len(reasons) == 1 else "differ"
                msg = (f"{describe_study(st)}: patient {what} in {of} {verb} from the dossier's patient — a wrong "
                       "patient's images are a safety hazard: remove them (`dossierkit remove-images DIR --study "
                       f"{st.study_instance_uid}`) or correct dossier.toml (`dossierkit set DIR …`)")
            yield spec.finding(msg, _first_path(st))


@rule("image-identity-unknown")
def image_identity_unknown(ctx: CheckContext, spec: RuleSpec):
    """Studies whose images state no patient at all (anonymised) cannot be checked."""
    for st in _studies(ctx):
        if all(identity_key(i) == ("unknown",) for se in st.series for i in se.instances):
            yield spec.finding(f"{describe_study(st)}: no patient name, ID or birth date in the images — check by "
                               "eye that they are this patient's", _first_path(st))


@rule("images-single-patient")
def images_single_patient(ctx: CheckContext, spec: RuleSpec):
    """Images of more than one patient identity (the dossier's patient counts once)."""
    mine = ("dossier patient",)
    groups: dict[tuple, list[ImageInstance]] = {}
    for key, insts in patient_identities(ctx.images).items():
        if key == ("unknown",):
            continue
        cmp = _compare(ctx, insts[0])
        if not cmp.mismatch or cmp.reasons() == ["identifier"]:
            key = mine  # one person under several spellings or IDs
        groups.setdefault(key, []).extend(insts)
    if len(groups) > 1:
        # Patient by patient, without their identities: studies and image counts.
        ordered = sorted(groups.items(), key=lambda kv: (kv[0] != mine, -len(kv[1])))
        parts = []
        for n, (key, insts) in enumerate(ordered, 1):
            who = "the dossier's patient" if key == mine else f"patient #{n}"
            studies = group_studies(insts)
            listing = "; ".join(describe_study(st) for st in studies)
            parts.append(f"{who}: {listing}")
        yield spec.finding(f"the images belong to {len(groups)} different patients — " + " | ".join(parts) +
                           " — keep only the dossier patient's images", "index/images.json")


_PROBLEM_ADVICE = {
    "corrupt": " — not imported: get an intact copy of this file (or of the CD) and import it again",
    "invalid": " — not imported: a receiving PACS would refuse it too; ask the sender for a conformant copy",
    "unreadable": " — not imported: copy the media again and import it",
    "uid-conflict": " — two different files claim to be the same image: find out which one is right; if it is not "
                    "the one kept, take that out (`dossierkit remove-images DIR IMG…`) and import the right one",
}


@rule("image-problems")
def image_problems(ctx: CheckContext, spec: RuleSpec):
    """Problems recorded by the imports (corrupt files, UID conflicts, media
    inconsistencies), filtered by the ``kinds`` parameter."""
    kinds = set(spec.params.get("kinds", []))
    for p in ctx.images_index.get("problems", []):
        kind = p.get("kind")
        if kind in kinds:
            yield spec.finding(f"{p.get('reason')}{_PROBLEM_ADVICE.get(kind, '')}", problem_file(p))


def problem_file(p: dict) -> str:
    """How a finding names a file an import could not take: the medium's own
    name (``source #1 (folder): DICOM/IM0001``), never the sending machine's
    path (an index written before sources were named holds that path: only
    its part under the source is shown)."""
    name = str(p.get("file") or "")
    if not os.path.isabs(name):
        return name
    root = str(p.get("source") or "")
    if "!" in name:
        return f"zip: {name.split('!', 1)[1]}"
    rel = os.path.relpath(name, root if os.path.isdir(root) else os.path.dirname(root)) if root else ""
    return f"source: {rel}" if rel and not rel.startswith("..") and rel != "." else "source file"


def _acceptance(ctx: CheckContext) -> dict[str, str]:
    """Why each unacceptable image is so, by workspace path — the one
    definition import applies (:func:`dossierkit.gather.dicomfile.parse_header`).

    UIDs are checked from the index. The copy of an image indexed under older
    rules (``accepted`` below :data:`ACCEPTANCE_RULES`: indexes written before
    #13) is read again: its element structure, transfer syntax against its
    encoding and encapsulated framing, one file at a time, pixel values never
    read (a first read of 16 KiB, then element and item headers only). An
    image that passes fills in the pixel-data state such an index lacks.
    Its cost per image: docs/images.md (measured with benchmarks/bench_recheck.py)."""
    def compute() -> dict[str, str]:
        problems: dict[str, str] = {}
        for inst in ctx.images:
            why = uid_problem(inst, inst.transfer_syntax)
            if why is None and (inst.accepted or 0) < ACCEPTANCE_RULES:
                try:
                    header = read_header(ctx.root / inst.path, head_size=RECHECK_HEAD_SIZE)
                except InputError as exc:  # NotDicomError, CorruptDicomError; a missing copy: its own rule says so
                    if (ctx.root / inst.path).is_file():
                        why = exc.message
                else:
                    if inst.pixel_data is None:
                        inst.pixel_data = header.pixel_data
            if why:
                problems[inst.path] = why
        return problems
    return ctx.memo("image-acceptance", compute)


@rule("image-acceptable")
def image_acceptable(ctx: CheckContext, spec: RuleSpec):
    """Indexed images that import would refuse today and pack could not
    carry or a PACS could not read (:func:`_acceptance`)."""
    for path, why in _acceptance(ctx).items():
        yield spec.finding(f"{image_id(path)}: {why} — take it out with `dossierkit remove-images DIR "
                           f"{image_id(path)}`", path)


_PIXEL_MESSAGES = {
    "private": "{n} image object(s) whose pixels are in a private element, not in the standard Pixel Data "
               "(e.g. {first}): copied as found; the receiving viewer may show no image",
    "none": "{n} image object(s) without any pixel data (e.g. {first}): copied as found — if the source viewer "
            "shows an image for them, the copy may be incomplete: compare with the medium",
}


@rule("image-pixel-data")
def image_pixel_data(ctx: CheckContext, spec: RuleSpec):
    """Image objects without standard pixel data, by ``state`` (private, none)."""
    state = spec.params.get("state", "none")
    bad = _acceptance(ctx)  # also fills in the state of images an older index holds without it
    found = [i for i in ctx.images if i.pixel_data == state and i.path not in bad]
    if found:
        first = f"{image_id(found[0].path)}, {found[0].origin}" if found[0].origin else image_id(found[0].path)
        yield spec.finding(_PIXEL_MESSAGES[state].format(n=len(found), first=first), found[0].path)


@rule("image-study-split")
def image_study_split(ctx: CheckContext, spec: RuleSpec):
    """One StudyInstanceUID under several PatientIDs (or an empty one beside
    a filled one): a PACS that groups by PatientID makes two studies of it."""
    for st in _studies(ctx):
        ids = {(i.patient_id or "").strip() for se in st.series for i in se.instances}
        if len(ids) > 1:
            empty = "" in ids
            n = len(ids)
            how = (f"{n - 1} PatientID(s) and images with none" if empty else f"{n} different PatientIDs")
            yield spec.finding(f"{describe_study(st)}: one study under {how} — a receiving PACS files it per "
                               f"PatientID, as {n} separate studies; the DICOMDIR lists it under each patient. "
                               "Check it is one patient's, or remove the stray images "
                               f"(`dossierkit remove-images DIR IMG…`)", _first_path(st))


@rule("images-without-meta")
def images_without_meta(ctx: CheckContext, spec: RuleSpec):
    no_meta = [i for i in ctx.images if not i.has_meta]
    if no_meta:
        n = len(no_meta)
        yield spec.finding(f"{n} image file{'s' if n != 1 else ''} without DICOM Part 10 preamble/meta header "
                           f"(e.g. {no_meta[0].path}), copied as found: some viewers and PACS refuse such files",
                           no_meta[0].path)


@rule("images-skipped")
def images_skipped(ctx: CheckContext, spec: RuleSpec):
    totals: dict[str, int] = {}
    for counts in ctx.images_index.get("skipped", {}).values():
        for label_, n in counts.items():
            totals[label_] = totals.get(label_, 0) + n
    if totals:
        detail = ", ".join(f"{k} {v}" for k, v in sorted(totals.items()))
        yield spec.finding(f"{sum(totals.values())} non-image file(s) skipped at import ({detail})",
                           "index/images.json")


@rule("image-copies-present")
def image_copies_present(ctx: CheckContext, spec: RuleSpec):
    """Each indexed copy is still in the workspace, a regular file of its
    size (a cheap ``lstat``; hashes are verified when the package is built).
    A symbolic link, or a name that leaves its folder, is not a copy."""
    folders: dict[str, bool] = {}  # folder of the copies → inside the workspace (resolved once each)
    for inst in ctx.images:
        if not copy_in_place(ctx.root, inst.path, inst.size, folders):
            yield spec.finding(f"image copy {inst.path} is missing or changed — import the images again from their "
                               "source to restore it",
                               inst.path)


@rule("image-studies-reported")
def image_studies_reported(ctx: CheckContext, spec: RuleSpec):
    """Each study should have an imaging report of about its date (± ``days``)
    that speaks of its modality (when the report names one)."""
    days = int(spec.params.get("days", 7))
    reports = ctx.documents_of(spec.params.get("report_kind", "imaging-report"))
    if not reports:
        return  # the missing report is the document rule's finding
    described = []
    for rec in reports:
        text = " ".join(filter(None, [rec.title, doc_text(ctx, rec)]))
        described.append((document_date(rec), report_modalities(text)))
    for st in _studies(ctx):
        sdate = parse_dicom_date(st.date)
        mods = set(st.modalities)
        matched = False
        for rdate, rmods in described:
            mod_ok = not rmods or not mods or bool(mods & rmods) or mods <= _ANY_REPORT
            date_ok = sdate is None or rdate is None or abs((sdate - rdate).days) <= days
            if mod_ok and date_ok and (sdate is not None or rmods):
                matched = True
                break
        if not matched:
            yield spec.finding(f"{describe_study(st)}: no imaging report of that date (±{days} days) and modality — "
                               "add its report with `dossierkit add DIR FILE --kind imaging-report`",
                               _first_path(st))
