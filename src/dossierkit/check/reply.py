"""Rules of the ``second-opinion-reply`` profile (INCa step 6, issue #17):
the reply answers a dossier received, a fiche RCP of a new RCP says it is a
second opinion, the patient's refusal is recorded by the second physician,
and no document of the reply names the person a restriction protects.

Messages never name the protected person (they may be printed or logged).
"""

from __future__ import annotations

import re

from dossierkit.check.documents import doc_text, label
from dossierkit.check.engine import CheckContext, RuleSpec, rule
from dossierkit.identity import fold, name_tokens

# "2d avis", "2nd avis", "2e avis", "second avis", "deuxième avis" (accents and case folded).
SECOND_OPINION_MARK = re.compile(r"\b(?:2\s?(?:D|ND|E|EME)|SECOND|DEUXIEME)\s+AVIS\b")
_TITLES = {"DR", "PR", "DOCTEUR", "PROFESSEUR", "MME", "MADAME", "M", "MR", "MONSIEUR"}


@rule("reply-origin")
def reply_origin(ctx: CheckContext, spec: RuleSpec):
    if ctx.dossier.reply_to is None:
        yield spec.finding("this workspace does not say which dossier it answers ([reply_to] in dossier.toml) — "
                           "start the reply with `dossierkit reply init DIR --from-package PACKAGE`", "dossier.toml")


@rule("rcp-second-opinion-marked")
def rcp_second_opinion_marked(ctx: CheckContext, spec: RuleSpec):
    """A fiche RCP in a reply comes from a new RCP: INCa asks it to be marked
    « 2d avis ». A scan cannot be read: said at the rule's level as a warning."""
    for rec in ctx.documents_of("rcp"):
        text = doc_text(ctx, rec)
        if text is None:
            yield spec.finding(f"{label(rec)} is a scan: check by eye that it is marked « 2d avis »", rec.path,
                               level="warning", code=spec.code + "-UNREADABLE")
        elif not SECOND_OPINION_MARK.search(fold(text)):
            yield spec.finding(f"{label(rec)} does not say it is a second opinion — a fiche RCP of the new RCP "
                               "must be marked « 2d avis » (or « second avis »)", rec.path)


@rule("restriction-recorded")
def restriction_recorded(ctx: CheckContext, spec: RuleSpec):
    """Every restriction of a reply is recorded by the second physician: who and when."""
    d = ctx.dossier
    for code in d.restrictions:
        rec = d.restriction_record(code)
        if rec is None or not rec.recorded_by or not rec.recorded_at:
            where = "carried over from the dossier received" if rec and rec.source == "dossier" else "recorded"
            yield spec.finding(f"restriction {code} ({where}): who recorded it and when is missing — "
                               f"`dossierkit reply restrict DIR --restriction {code} --recorded-by \"Dr …\"`",
                               "dossier.toml")


def _protected_words(person: dict) -> list[str]:
    """The words that would name a protected person in a document: the
    family name (last name word) — recognised alone, as a reader would."""
    words = [t for t in name_tokens(person.get("name")) if t not in _TITLES]
    return words[-1:] if words else []


@rule("protected-person-absent")
def protected_person_absent(ctx: CheckContext, spec: RuleSpec):
    """No document of the reply names a person a restriction protects (the
    reply must not reach or mention them): their family name as a word."""
    withheld = ctx.workspace.withheld()
    for field, person in withheld.items():
        words = _protected_words(person)
        if not words:
            continue
        rx = re.compile(r"\b" + r"\s+".join(re.escape(w) for w in words) + r"\b")
        role = field.replace("_", " ")
        for rec in ctx.documents:
            text = doc_text(ctx, rec)
            if text is not None and rx.search(fold(text)):
                yield spec.finding(f"{label(rec)} names the {role}, whom the patient's restriction excludes — "
                                   "remove the mention (addressee, copy) and add the corrected letter", rec.path)
