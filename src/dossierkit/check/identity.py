"""Whose dossier is it: the documents' and images' patient against
dossier.toml's (DESIGN §4; codes in docs/findings.md).

A document or an image naming another patient is a safety hazard and is
reported one by one (``DOC-IDENTITY-MISMATCH`` here, ``IMG-PATIENT-MISMATCH``
in :mod:`dossierkit.check.images`). But when *every* document and image that
states the patient agrees with the others and not with dossier.toml — a
one-digit typo in the birth date, a misspelt family name — it is
dossier.toml that is wrong (issue #15): one ``DOSSIER-IDENTITY-SUSPECT``
finding says so, and the per-file findings, whose advice would be to take
the whole dossier apart, are not raised for that attribute.
"""

from __future__ import annotations

from dataclasses import dataclass

from dossierkit.check.documents import doc_text, label
from dossierkit.check.engine import CheckContext, RuleSpec, rule
from dossierkit.gather.doctext import StatedIdentity, compare_document_identity, stated_identity
from dossierkit.identity import IdentityComparison, compare_dicom_identity, parse_dicom_date, parse_dicom_pn
from dossierkit.model import DocumentRecord

NAME, BIRTH_DATE = "name", "birth date"
MIN_SOURCES = 2  # one file alone is not evidence against dossier.toml


def stated(ctx: CheckContext, rec: DocumentRecord) -> StatedIdentity | None:
    """What an intact text document states about its patient (read once)."""
    text = doc_text(ctx, rec)
    if text is None:
        return None
    return ctx.memo(f"doc-identity:{rec.id}", lambda: stated_identity(text))


def compare_image(ctx: CheckContext, pn: str | None, patient_id: str | None, birth_date: str | None
                  ) -> IdentityComparison:
    """compare_dicom_identity, once per distinct (name, id, birth date)."""
    cache = ctx.memo("image-identity-cache", dict)
    raw = (pn, patient_id, birth_date)
    if raw not in cache:
        cache[raw] = compare_dicom_identity(ctx.dossier.patient, *raw)
    return cache[raw]


@dataclass
class _Source:
    comparison: IdentityComparison
    names: frozenset[str]  # every name token the source states
    birth_dates: frozenset


def _sources(ctx: CheckContext) -> tuple[list[_Source], int, int]:
    """Every document (with text and a stated patient) and every distinct
    image identity, with what they state; and how many of each."""
    out: list[_Source] = []
    docs = 0
    for rec in ctx.documents:
        st = stated(ctx, rec)
        if st is None or not st.states_patient:
            continue
        docs += 1
        names = {t for group in (st.full_names, st.family_names, st.usage_names, st.given_names) for toks in group
                 for t in toks}
        out.append(_Source(compare_document_identity(ctx.dossier.patient, st), frozenset(names),
                           frozenset(st.birth_dates)))
    raws = {(i.patient_name, i.patient_id, i.patient_birth_date) for i in ctx.images}
    for pn, pid, bd in raws:
        parsed = parse_dicom_pn(pn)
        date = parse_dicom_date(bd)
        out.append(_Source(compare_image(ctx, pn, pid, bd), frozenset(parsed.family + parsed.given),
                           frozenset([date] if date else [])))
    return out, docs, len(raws)


def toml_suspect(ctx: CheckContext) -> list[str]:
    """The attributes (``name``, ``birth date``) on which every source that
    states them — at least MIN_SOURCES — disagrees with dossier.toml while
    agreeing with each other: dossier.toml is then what is wrong."""

    def compute() -> list[str]:
        sources, _, _ = _sources(ctx)
        suspect = []
        for attr, ok_of, values_of in ((NAME, lambda s: s.comparison.name_ok, lambda s: s.names),
                                       (BIRTH_DATE, lambda s: s.comparison.birth_date_ok, lambda s: s.birth_dates)):
            stating = [s for s in sources if ok_of(s) is not None]
            if len(stating) < MIN_SOURCES or any(ok_of(s) for s in stating):
                continue
            values = [values_of(s) for s in stating]
            common = frozenset.intersection(*values) if all(values) else frozenset()
            if common and (attr == NAME or len(frozenset.union(*values)) == 1):
                suspect.append(attr)
        return suspect

    return ctx.memo("identity-toml-suspect", compute)


@rule("dossier-identity")
def dossier_identity(ctx: CheckContext, spec: RuleSpec):
    suspect = toml_suspect(ctx)
    if not suspect:
        return
    _, docs, idents = _sources(ctx)
    what = " and ".join(suspect)
    field = {NAME: "--family-name / --given-names", BIRTH_DATE: "--birth-date YYYY-MM-DD"}
    fix = " ".join(field[a] for a in suspect)
    yield spec.finding(f"every document and image that states the patient ({docs} document(s), {idents} image "
                       f"identit{'y' if idents == 1 else 'ies'}) agrees on the patient's {what}, and it differs "
                       f"from dossier.toml's — dossier.toml is probably wrong: check the {what} it holds against "
                       f"the patient's papers and correct it with `dossierkit set DIR {fix}` (do not take the "
                       "documents out)", "dossier.toml")


@rule("document-identity")
def document_identity(ctx: CheckContext, spec: RuleSpec):
    """A document naming another patient (except on what dossier-identity
    already blames dossier.toml for)."""
    patient = ctx.dossier.patient
    suspect = set(toml_suspect(ctx))
    for rec in ctx.documents:
        st = stated(ctx, rec)
        if st is None or not st.states_patient:
            continue
        cmp = compare_document_identity(patient, st)
        reasons = [r for r in cmp.reasons() if r not in suspect]
        if reasons:
            yield spec.finding(f"{label(rec)} names another patient ({' and '.join(reasons)} differ from "
                               "dossier.toml's) — if it is another patient's, take it out (`dossierkit remove DIR "
                               f"{rec.id}`): a wrong patient's document is a safety hazard; if it is this "
                               "patient's, correct dossier.toml (`dossierkit set DIR …`)", rec.path)


@rule("document-identity-stated")
def document_identity_stated(ctx: CheckContext, spec: RuleSpec):
    for rec in ctx.documents:
        st = stated(ctx, rec)
        if st is not None and not st.states_patient:
            yield spec.finding(f"{label(rec)} does not state the patient's identity (no « Nom », « Patient(e) », "
                               "« Né(e) le », INS or IPP found) — check it is the right patient's", rec.path)


