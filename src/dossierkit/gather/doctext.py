"""What a French medical document's text says, pure functions (no I/O).

Works on the text extracted by :mod:`dossierkit.gather.documents`: guess the kind of
document, find its date and title, find the patient identity it states,
and the essential items of a fiche RCP (INCa: meeting date, proposal,
at least three specialties, tumour site).

Matching runs on :func:`dossierkit.identity.fold` text (upper-case ASCII), so
accents and case never matter. These are heuristics: they are written to
avoid false alarms on real layouts (labels followed by a colon, practitioner
nouns) rather than to read free prose.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from dossierkit.identity import IdentityComparison, family_matches, fold, name_tokens
from dossierkit.model import Patient

# --------------------------------------------------------------------------- dates

_MONTHS = {"JANVIER": 1, "FEVRIER": 2, "MARS": 3, "AVRIL": 4, "MAI": 5, "JUIN": 6, "JUILLET": 7, "AOUT": 8,
           "SEPTEMBRE": 9, "OCTOBRE": 10, "NOVEMBRE": 11, "DECEMBRE": 12}
DATE_RE = re.compile(
    r"\b(?:(?P<d>\d{1,2})[/.\-](?P<m>\d{1,2})[/.\-](?P<y>\d{4})"
    r"|(?P<iy>\d{4})-(?P<im>\d{2})-(?P<id>\d{2})"
    r"|(?P<td>1ER|\d{1,2})\s+(?P<tm>" + "|".join(_MONTHS) + r")\s+(?P<ty>\d{4}))\b")
# A date right after these words is a birth date, never the document's date.
_BIRTH_CONTEXT = re.compile(r"NAISSANCE|\bNEE?\b|\bNE\s*\(E\)|\bDDN\b")
_DOC_DATE_CONTEXT = re.compile(r"\bDATE\b|\bLE\b")


def _date_of(m: re.Match) -> dt.date | None:
    try:
        if m.group("y"):
            y, mo, d = int(m.group("y")), int(m.group("m")), int(m.group("d"))
        elif m.group("iy"):
            y, mo, d = int(m.group("iy")), int(m.group("im")), int(m.group("id"))
        else:
            td = m.group("td")
            y, mo, d = int(m.group("ty")), _MONTHS[m.group("tm")], 1 if td == "1ER" else int(td)
        date = dt.date(y, mo, d)
    except (ValueError, KeyError):
        return None
    return date if 1900 <= date.year <= 2100 else None


def _dates_with_context(folded: str):
    """Yield (date, words before it on its line since the previous date)."""
    prev_end = 0
    for m in DATE_RE.finditer(folded):
        start = max(prev_end, folded.rfind("\n", 0, m.start()) + 1, m.start() - 40)
        prev_end = m.end()
        date = _date_of(m)
        if date is not None:
            yield date, folded[start:m.start()], m


def find_document_date(text: str) -> dt.date | None:
    """The document's own date: the first date introduced by « date » or « le »
    that is not a birth date (« Né(e) le », « Date de naissance »)."""
    for date, before, _ in _dates_with_context(fold(text)):
        if _BIRTH_CONTEXT.search(before):
            continue
        if _DOC_DATE_CONTEXT.search(before):
            return date
    return None


def parse_user_date(value: str | dt.date | None) -> dt.date | None:
    """A date given by a user: ISO ``YYYY-MM-DD`` or French ``JJ/MM/AAAA``."""
    if value is None or isinstance(value, dt.date):
        return value
    s = str(value).strip()
    try:
        return dt.date.fromisoformat(s)
    except ValueError:
        pass
    m = DATE_RE.fullmatch(fold(s))
    return _date_of(m) if m else None


# --------------------------------------------------------------------------- title

_TITLE_WORDS = re.compile(r"\b(COMPTE[- ]RENDU|CR\b|FICHE|LETTRE|PROGRAMME|BILAN|RAPPORT|SYNTHESE|RESUME|"
                          r"EXAMEN|CONSULTATION|REUNION|ORDONNANCE|PROTOCOLE)")
_NOT_TITLE = re.compile(r"PATIENT|\bNOM\b|PRENOM|\bNEE?\b|NE\s*\(E\)|NAISSANCE|\bIPP\b|\bINS\b|\bNIR\b|"
                        r"\bMME\b|\bMADAME\b|\bMONSIEUR\b")
_FILE_LIKE = re.compile(r"\.(pdf|docx?|odt|rtf|txt)$|^(untitled|sans titre|document\d*)$", re.I)


def clean_metadata_title(title: object) -> str | None:
    """A PDF /Title worth showing, or None (empty, a file name, « untitled »)."""
    if not isinstance(title, str):
        return None
    t = " ".join(title.split())
    if t.lower().startswith("microsoft word - "):
        t = t[17:]
    if len(re.findall(r"[A-Za-zÀ-ÿ]", t)) < 3 or _FILE_LIKE.search(t):
        return None
    return t[:200]


def guess_title(text: str) -> str | None:
    """The first line that reads like a title in the first lines of *text*,
    else the first meaningful line; lines stating the patient are skipped."""
    lines = _join_wrapped([" ".join(line.split()) for line in text.splitlines() if line.strip()])
    lines = [line for line in lines if len(re.findall(r"[A-Za-zÀ-ÿ]", line)) >= 4][:15]
    candidates = [line for line in lines if not _NOT_TITLE.search(fold(line))]
    for line in candidates:
        if _TITLE_WORDS.search(fold(line)):
            return _shorten(line)
    return _shorten(candidates[0]) if candidates else None


_CONTINUED = re.compile(r"[-—–:,(/&]$|\b(?:DE|DU|DES|D'|LA|LE|LES|ET|EN|A|AU|AUX|POUR|PAR|SUR)$")
TITLE_MAX = 160


def _join_wrapped(lines: list[str]) -> list[str]:
    """Join a title the PDF's layout wrapped (« … (RCP) — » / « Cancer du
    sein »): a line ending in a dash, a colon or a linking word, or followed
    by a line starting in lower case, with a parenthesis or a dash, continues
    on the next line."""
    out: list[str] = []
    for line in lines:
        if out and len(out[-1]) < TITLE_MAX and (_CONTINUED.search(fold(out[-1])) or line[:1].islower()
                                                  or line[:1] in "(—–"):
            out[-1] = f"{out[-1]} {line}"
        else:
            out.append(line)
    return out


def _shorten(line: str) -> str:
    """At most TITLE_MAX characters, cut at a word, never ending on a dash."""
    if len(line) > TITLE_MAX:
        line = line[:TITLE_MAX].rsplit(" ", 1)[0] + " …"
    return line.rstrip(" -—–:,")


# --------------------------------------------------------------------------- kind

# (pattern, weight): a match in the heading (first lines) counts double.
_KIND_PATTERNS: dict[str, list[tuple[str, float]]] = {
    "rcp": [(r"REUNION DE CONCERTATION PLURIDISCIPLINAIRE", 5), (r"FICHE (DE )?RCP", 5), (r"\bRCP\b", 1),
            (r"QUORUM", 2), (r"PROPOSITION THERAPEUTIQUE", 1)],
    "pathology": [(r"ANATOMIE ET (DE )?CYTOLOGIE PATHOLOGIQUES?", 5), (r"ANATOMIE PATHOLOGIQUE", 4),
                  (r"ANATOMO-?(CYTO-?)?PATHOLOGI", 3), (r"EXAMEN MACROSCOPIQUE", 2),
                  (r"EXAMEN MICROSCOPIQUE", 2), (r"IMMUNOHISTOCHIMI", 2), (r"HISTOLOGIQUE", 1)],
    "imaging-report": [(r"COMPTE[- ]RENDU D'IMAGERIE", 5), (r"\bIMAGERIE\b", 1),
                       (r"SCANNER|TOMODENSITOMETRI|\bTDM\b", 2), (r"\bIRM\b", 2), (r"MAMMOGRAPHI", 1),
                       (r"ECHOGRAPHI", 1), (r"\bTEP\b|TEP-?SCAN|PET-?SCAN", 2), (r"SCINTIGRAPHI", 2),
                       (r"PRODUIT DE CONTRASTE", 2), (r"RADIOLOGUE", 1)],
    "operative-report": [(r"COMPTE[- ]RENDU OPERATOIRE|\bCR OPERATOIRE", 5), (r"\bOPERATEUR\b", 2),
                         (r"ANESTHESISTE", 1), (r"\bINCISION\b", 2), (r"PER-?OPERATOIRE", 1)],
    "biology": [(r"BIOLOGIE MEDICALE", 4), (r"LABORATOIRE", 2), (r"HEMOGRAMME|NUMERATION FORMULE", 2),
                (r"VALEURS DE REFERENCE", 2), (r"BIOLOGISTE", 2), (r"CREATININE", 1)],
    "treatment-plan": [(r"PROGRAMME PERSONNALISE DE SOINS", 6), (r"\bPPS\b", 3)],
    "referral-letter": [(r"LETTRE D'ADRESSAGE", 6), (r"CHERS? CONFRERES?|CHERES? CONSOEURS?|CHERS? COLLEGUES?", 3),
                        (r"JE VOUS ADRESSE", 3), (r"SECOND AVIS", 1), (r"CONFRATERNEL", 2)],
    "consultation": [(r"COMPTE[- ]RENDU DE CONSULTATION", 5), (r"\bCONSULTATION\b", 1)],
    "second-opinion-letter": [(r"COURRIER DE SECOND AVIS", 6), (r"SECOND AVIS :", 3)],
}
_KIND_RES = {k: [(re.compile(p), w) for p, w in v] for k, v in _KIND_PATTERNS.items()}
KIND_MIN_SCORE = 4
KIND_MARGIN = 1.5  # the winner must beat the runner-up by this factor


def kind_scores(text: str) -> dict[str, float]:
    folded = fold(text)
    lines = [" ".join(line.split()) for line in folded.splitlines() if line.strip()]
    # one line each: a heading the layout wrapped (« Réunion de Concertation / Pluridisciplinaire ») still matches
    heading, folded = " ".join(lines[:8]), " ".join(lines)
    scores = {}
    for kind, pats in _KIND_RES.items():
        s = 0.0
        for rx, w in pats:
            if rx.search(heading):
                s += 2 * w
            elif rx.search(folded):
                s += w
        scores[kind] = s
    return scores


def guess_kind(text: str) -> str | None:
    """The document kind its text points to (``rcp``, ``pathology``…), or None
    when the text is absent or ambiguous (then ask the user for ``--kind``)."""
    if not text or not text.strip():
        return None
    ranked = sorted(kind_scores(text).items(), key=lambda kv: kv[1], reverse=True)
    (best, s1), (_, s2) = ranked[0], ranked[1]
    if s1 >= KIND_MIN_SCORE and s1 >= KIND_MARGIN * s2:
        return best
    return None


# --------------------------------------------------------------------------- identity


@dataclass
class StatedIdentity:
    """Patient identity statements found in a document's text (folded tokens)."""

    full_names: list[tuple[str, ...]] = field(default_factory=list)  # family and given, order unknown
    family_names: list[tuple[str, ...]] = field(default_factory=list)  # from « Nom : », « Nom de naissance : »
    usage_names: list[tuple[str, ...]] = field(default_factory=list)  # from « Nom d'usage : », « Nom utilisé : »
    given_names: list[tuple[str, ...]] = field(default_factory=list)  # from « Prénom(s) : »
    birth_dates: list[dt.date] = field(default_factory=list)
    ins: list[str] = field(default_factory=list)  # 13 digits (key dropped)
    ipp: list[str] = field(default_factory=list)

    @property
    def states_patient(self) -> bool:
        return any((self.full_names, self.family_names, self.usage_names, self.given_names, self.birth_dates,
                    self.ins, self.ipp))


_CIVILITY = r"(?:MME|MADAME|MLLE|MADEMOISELLE|MONSIEUR|MR|M\.)"
# Where a name value stops: punctuation, the next label, a date.
_NAME_STOP = re.compile(r"[,;:()/\d]|\s[-—–]\s|\bNEE?\b|\bNE\s*\(E\)|\bDATE\b|\bIPP\b|\bINS\b|\bNIR\b|\bSEXE\b|"
                        r"\bAGEE?\b|\bDOMICILI")
_PATIENT_LABEL = re.compile(r"\bPATIENT(?:E|\s*\(E\))?\s*:\s*(?P<v>[^\n]*)")
_NAME_LABEL = re.compile(r"(?<![\w'])NOM(?P<q>\s+DE\s+NAISSANCE|\s+D'USAGE|\s+DE\s+FAMILLE|\s+UTILISE|\s+MARITAL|"
                         r"\s+D'EPOUSE|\s+DE\s+JEUNE\s+FILLE)?\s*:\s*(?P<v>[^\n]*)")
_USAGE_QUALIFIERS = ("USAGE", "UTILISE", "MARITAL", "EPOUSE")
_BORN_NAME = re.compile(r"\bNEE?\s+(?!LE\b)(?P<b>[A-Z][A-Z'\- ]*)")
_FULL_NAME_LABEL = re.compile(r"\bNOM\s+(?:ET|/)\s+PRENOMS?(?:\s*\(S\))?\s*:\s*(?P<v>[^\n]*)")
_GIVEN_LABEL = re.compile(r"\bPRENOMS?(?:\s*\(S\))?\s*:\s*(?P<v>[^\n]*)")
_CIVILITY_BORN = re.compile(r"\b" + _CIVILITY + r"\s+(?P<v>[A-Z][A-Z'\- ]{1,60}?)\s*,?\s+(?:NEE?|NE\s*\(E\))\s+LE\b")
_BIRTH = re.compile(r"(?:\bNE\s*\(E\)|\bNEE?\b|DATE\s+DE\s+NAISSANCE|\bDDN\b)\s*(?:LE\b)?\s*:?\s*")
_INS = re.compile(r"\b(?:INS|NIR|MATRICULE\s+INS|SECURITE\s+SOCIALE)\b[^\d\n]{0,25}(?P<v>[12](?:[ .]?\d){12,14})")
_IPP = re.compile(r"\bIPP\b\s*(?:N\S{0,2}\s*)?:?\s*(?P<v>[A-Z0-9][A-Z0-9\-/]{2,30})")


def _cut(value: str) -> list[str]:
    stop = _NAME_STOP.search(value)
    return [t for t in name_tokens(value[:stop.start()] if stop else value) if len(t) > 1]


def _name_value(value: str) -> tuple[str, ...]:
    value = re.sub(r"^\s*" + _CIVILITY + r"\s+", "", value.strip())
    toks = _cut(value)
    born = _BORN_NAME.search(value)  # « Mme MARTIN née LEFÈVRE »: both names are hers
    if born and _cut(value[:born.start()]):
        toks += [t for t in _cut(born.group("b")) if t not in toks]
    return tuple(toks[:8])


def stated_identity(text: str) -> StatedIdentity:
    """Find what *text* states about its patient: labelled names (« Patient(e) : »,
    « Nom : », « Prénom : », « Mme X, née le »), birth dates (« Né(e) le »,
    « Date de naissance »), INS/NIR and IPP."""
    out = StatedIdentity()
    folded = fold(text)
    seen: set[tuple[int, tuple[str, ...]]] = set()
    for rx, target in ((_FULL_NAME_LABEL, out.full_names), (_PATIENT_LABEL, out.full_names),
                       (_CIVILITY_BORN, out.full_names), (_NAME_LABEL, out.family_names),
                       (_GIVEN_LABEL, out.given_names)):
        for m in rx.finditer(folded):
            toks = _name_value(m.group("v"))
            dest = target
            if rx is _NAME_LABEL and m.group("q") and any(q in m.group("q") for q in _USAGE_QUALIFIERS):
                dest = out.usage_names
            key = (id(dest), toks)
            if toks and key not in seen:
                seen.add(key)
                dest.append(toks)
    for m in _BIRTH.finditer(folded):
        dm = DATE_RE.match(folded, m.end())
        date = _date_of(dm) if dm else None
        if date and date not in out.birth_dates:
            out.birth_dates.append(date)
    for m in _INS.finditer(folded):
        digits = re.sub(r"\D", "", m.group("v"))
        if len(digits) in (13, 15) and digits[:13] not in out.ins:
            out.ins.append(digits[:13])
    for m in _IPP.finditer(folded):
        if m.group("v") not in out.ipp:
            out.ipp.append(m.group("v"))
    return out


def _patient_ins(patient: Patient) -> str | None:
    ident = patient.identifier
    if ident and ident.system.startswith("INS"):
        digits = re.sub(r"\D", "", ident.value)
        return digits[:13] if len(digits) >= 13 else None
    return None


def compare_document_identity(patient: Patient, stated: StatedIdentity) -> IdentityComparison:
    """Compare what a document states with the dossier's patient.

    A name contradicts when none of the patient's family (or birth) names is
    among its words; a « nom d'usage » only when no other name statement
    matches (a married name the dossier does not record is not another
    patient); a given name when the first one found is not one of the
    patient's; an INS when its 13 digits differ. An IPP never contradicts
    (each establishment has its own), it only adds nothing.
    """
    name_ok: bool | None = None
    families = [set(name_tokens(patient.family_name))]
    if patient.birth_name:
        families.append(set(name_tokens(patient.birth_name)))
    for toks in stated.full_names:
        ok = any(f and f <= set(toks) for f in families) or family_matches(patient, toks)
        name_ok = ok if name_ok is None else (name_ok and ok)
    for toks in stated.family_names:
        ok = family_matches(patient, toks)
        name_ok = ok if name_ok is None else (name_ok and ok)
    if stated.usage_names and not name_ok:
        usage_ok = all(family_matches(patient, toks) for toks in stated.usage_names)
        name_ok = usage_ok if name_ok is None else False
    mine = {t for g in patient.given_names for t in name_tokens(g)}
    for toks in stated.given_names:
        ok = toks[0] in mine
        name_ok = ok if name_ok is None else (name_ok and ok)
    bd_ok = all(d == patient.birth_date for d in stated.birth_dates) if stated.birth_dates else None
    ins = _patient_ins(patient)
    id_ok = all(i == ins for i in stated.ins) if (stated.ins and ins) else None
    return IdentityComparison(name_ok, bd_ok, id_ok)


# --------------------------------------------------------------------------- fiche RCP

# Specialty -> (practitioner nouns, discipline names). Nouns count anywhere;
# discipline names only next to a practitioner (« Oncologie médicale : Dr X »),
# because the proposal itself names treatments (« radiothérapie du sein »).
SPECIALTIES: dict[str, tuple[list[str], list[str]]] = {
    "oncologie médicale": ([r"ONCOLOGUES?(?!\s*RADIO)(?:\s+MEDICAL(?:E)?S?)?", r"CANCEROLOGUES?"],
                           [r"ONCOLOGIE\s+MEDICALE"]),
    "radiothérapie": ([r"(?:ONCOLOGUES?\s+)?RADIOTHERAPEUTES?", r"RADIO-?ONCOLOGUES?"],
                      [r"RADIOTHERAPIE", r"ONCOLOGIE\s+RADIOTHERAPIE"]),
    "chirurgie": ([r"CHIRURGIEN(?:NE)?S?"], [r"CHIRURGIE"]),
    "neurochirurgie": ([r"NEUROCHIRURGIEN(?:NE)?S?"], [r"NEUROCHIRURGIE"]),
    "radiologie": ([r"RADIOLOGUES?"], [r"RADIOLOGIE", r"IMAGERIE"]),
    "anatomie pathologique": ([r"(?:ANATOMO-?(?:CYTO-?)?)?PATHOLOGISTES?"],
                              [r"ANATOMIE\s+(?:ET\s+(?:DE\s+)?CYTOLOGIE\s+)?PATHOLOGIQUES?",
                               r"ANATOMO-?(?:CYTO-?)?PATHOLOGIE"]),
    "médecine nucléaire": ([r"MEDECINS?\s+NUCLEAIRES?", r"NUCLEARISTES?"], [r"MEDECINE\s+NUCLEAIRE"]),
    "hématologie": ([r"(?:ONCO-?)?HEMATOLOGUES?"], [r"HEMATOLOGIE"]),
    "gastro-entérologie": ([r"(?:HEPATO-?)?GASTRO-?ENTEROLOGUES?"], [r"(?:HEPATO-?)?GASTRO-?ENTEROLOGIE"]),
    "pneumologie": ([r"(?:ONCO-?)?PNEUMOLOGUES?", r"PNEUMO-?ONCOLOGUES?"], [r"PNEUMOLOGIE"]),
    "gynécologie": ([r"(?:ONCO-?)?GYNECOLOGUES?"], [r"GYNECOLOGIE"]),
    "urologie": ([r"UROLOGUES?"], [r"UROLOGIE"]),
    "dermatologie": ([r"DERMATOLOGUES?"], [r"DERMATOLOGIE"]),
    "ORL": ([r"ORL", r"OTO-?RHINO-?LARYNGOLOGISTES?"], [r"OTO-?RHINO-?LARYNGOLOGIE"]),
    "gériatrie": ([r"(?:ONCO-?)?GERIATRES?"], [r"(?:ONCO-?)?GERIATRIE"]),
    "neurologie": ([r"NEUROLOGUES?"], [r"NEUROLOGIE"]),
    "endocrinologie": ([r"ENDOCRINOLOGUES?"], [r"ENDOCRINOLOGIE"]),
    "néphrologie": ([r"NEPHROLOGUES?"], [r"NEPHROLOGIE"]),
    "pédiatrie": ([r"(?:ONCO-?)?PEDIATRES?"], [r"(?:ONCO-?)?PEDIATRIE"]),
    "génétique": ([r"(?:ONCO-?)?GENETICIEN(?:NE)?S?"], [r"(?:ONCO-?)?GENETIQUE"]),
    "soins palliatifs": ([r"PALLIATOLOGUES?", r"MEDECINS?\s+(?:DE\s+)?SOINS\s+PALLIATIFS"], [r"SOINS\s+PALLIATIFS"]),
}


def _alternation(patterns: dict[str, list[str]]) -> re.Pattern:
    return re.compile("|".join(f"(?P<s{i}>\\b(?:{'|'.join(p)})\\b)" for i, p in enumerate(patterns.values())))


_SPEC_NAMES = list(SPECIALTIES)
_NOUNS_RE = _alternation({k: v[0] for k, v in SPECIALTIES.items()})
_ANY_RE = _alternation({k: v[0] + v[1] for k, v in SPECIALTIES.items()})
_LABEL_END = re.compile(r"\s*[:\-\u2013\u2014]\s*")
_PRACTITIONER = re.compile(r"\b(?:DR|PR|DOCTEUR|PROFESSEUR)\b\.?")


def _specialty_of(m: re.Match) -> str:
    return _SPEC_NAMES[int(m.lastgroup[1:])]


def find_specialties(text: str) -> list[str]:
    """Distinct medical specialties present, in order of appearance.

    Each line is cut at « Dr »/« Pr »: a segment that names a practitioner
    counts at most one specialty (the first mentioned: « chirurgien
    gynécologue » is one person); text before any practitioner counts each
    practitioner noun, and a discipline used as a label (« Oncologie
    médicale : Dr X »).
    """
    found: list[str] = []
    for line in fold(text).splitlines():
        parts = _PRACTITIONER.split(line)
        for i, seg in enumerate(parts):
            if i == 0:
                hits = [_specialty_of(m) for m in _NOUNS_RE.finditer(seg)]
                label = _ANY_RE.search(seg.rstrip(" :-\u2013\u2014"), pos=max(0, len(seg) - 60))
                if len(parts) > 1 and label and _LABEL_END.fullmatch(seg, label.end()):
                    hits.append(_specialty_of(label))  # « Oncologie médicale : Dr X »
            else:
                m = _ANY_RE.search(seg)
                hits = [_specialty_of(m)] if m else []
            for h in hits:
                if h not in found:
                    found.append(h)
    return found


_MEETING_DATE = re.compile(r"(?:DATE\s+(?:DE\s+(?:LA\s+)?)?(?:REUNION|RCP|SEANCE|PASSAGE|PRESENTATION)"
                           r"|(?:REUNION|RCP|SEANCE|CONCERTATION)\s+DU|PRESENTE\s+(?:EN\s+RCP\s+)?LE)"
                           r"[^\n\d]{0,30}")
_PROPOSAL = re.compile(r"\bPROPOSITIONS?\b|\bDECISIONS?\b|\bCONDUITE\s+A\s+TENIR\b|\bAVIS\s+DE\s+LA\s+RCP\b")
_SITE_LABEL = re.compile(r"(?:\bLOCALISATIONS?|\bSITE\s+(?:TUMORAL|PRIMITIF|DE\s+LA\s+TUMEUR)|\bORGANE|\bSIEGE|"
                         r"\bTOPOGRAPHIE|\bTUMEUR\s+PRIMITIVE|\bPRIMITIF)[^\n:]{0,30}:\s*[A-Z]")


@dataclass
class RcpContent:
    """The essential items of a fiche RCP found in its text."""

    meeting_date: dt.date | None
    has_proposal: bool
    specialties: list[str]
    has_tumour_site: bool


def rcp_content(text: str) -> RcpContent:
    folded = fold(text)
    meeting = None
    for m in _MEETING_DATE.finditer(folded):
        dm = DATE_RE.match(folded, m.end())
        if dm and _date_of(dm):
            meeting = _date_of(dm)
            break
    return RcpContent(meeting_date=meeting, has_proposal=bool(_PROPOSAL.search(folded)),
                      specialties=find_specialties(text), has_tumour_site=bool(_SITE_LABEL.search(folded)))
