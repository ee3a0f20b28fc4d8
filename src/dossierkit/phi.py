"""Scrub patient-identifying data from text that may end up in logs.

When a dossier is loaded its patient's identity is registered here; the CLI
passes every error line and ``--debug`` traceback through :func:`scrub`, so
a file path or message quoting the patient's name, birth date or identifier
shows ``[PHI]`` instead. Matching is case- and accent-insensitive.
"""

from __future__ import annotations

import re
import threading

from dossierkit.identity import fold
from dossierkit.model import Patient

_lock = threading.Lock()
_patterns: list[re.Pattern[str]] = []
MASK = "[PHI]"


# What may stand between the parts of a date or an identifier in a file name
# or a typed value: 14_03_1958, 2 58 03 75 123 456, CHU-00482913.
_SEP = r"[\s._/\-]?"
_MONTHS_FR = ("JANVIER", "FEVRIER", "MARS", "AVRIL", "MAI", "JUIN", "JUILLET", "AOUT", "SEPTEMBRE", "OCTOBRE",
              "NOVEMBRE", "DECEMBRE")


def _date_patterns(day) -> list[str]:
    """The birth date as people write it: day-month-year with a 4- or 2-digit
    year, with or without leading zeros, any separator or none
    (14031958, 14_03_1958, 14.3.1958, 140358), year first (1958-03-14,
    19580314), or with the month in French (14 mars 1958). Not the year or
    the day and month alone: they would mask ordinary numbers."""
    d, m, y = day.day, day.month, day.year
    dd, mm, yy = f"0?{d}" if d < 10 else str(d), f"0?{m}" if m < 10 else str(m), f"{y % 100:02d}"
    out = [rf"(?<!\d){dd}{_SEP}{mm}{_SEP}(?:{y}|{yy})(?!\d)", rf"(?<!\d){y}{_SEP}{m:02d}{_SEP}{d:02d}(?!\d)",
           rf"(?<!\d)0?{d}(?:ER)?\s*{_MONTHS_FR[m - 1]}\s*{y}(?!\d)"]
    return out


def _id_pattern(value: str) -> str:
    """An identifier with any one separator (or none) between its characters."""
    chars = [c for c in fold(value) if c.isalnum()]
    return _SEP.join(re.escape(c) for c in chars)


def _patterns_of(patient: Patient) -> list[str]:
    words: set[str] = set()
    for name in [patient.family_name, patient.birth_name or "", *patient.given_names]:
        for part in re.split(r"[\s\-']+", name):
            if len(part) >= 3:  # very short tokens would mask ordinary words
                words.add(part)
    out = [re.escape(fold(w)) for w in sorted(words, key=len, reverse=True)]
    out += _date_patterns(patient.birth_date)
    ids = list(patient.other_ids) + ([patient.identifier.value] if patient.identifier else [])
    for i in ids:
        if len([c for c in i if c.isalnum()]) >= 4:
            out.append(_id_pattern(i))
        digits = max(re.findall(r"\d+", i), key=len, default="")
        if len(digits) >= 6 and digits != i:  # CHU-00482913 quoted as 00482913
            out.append(rf"(?<!\d){_id_pattern(digits)}(?!\d)")
    return out


def mentions(text: str, patient: Patient) -> bool:
    """True when *text* holds *patient*'s name, birth date or an identifier
    in one of the forms :func:`scrub` masks (a file name about to travel
    unencrypted, say)."""
    folded = fold(text)
    return any(re.search(p, folded, re.IGNORECASE) for p in _patterns_of(patient))


def register(patient: Patient) -> None:
    pats = _patterns_of(patient)
    with _lock:
        for p in pats:
            # Compare on the folded (accent-free, upper) form of the text.
            _patterns.append(re.compile(p, re.IGNORECASE))


def _fold_with_map(text: str) -> tuple[str, list[int]]:
    """fold(text) and, for each folded character, the index of the original
    character it comes from (folding may change the length: "…" → "...")."""
    parts: list[str] = []
    where: list[int] = []
    for i, ch in enumerate(text):
        f = fold(ch)
        parts.append(f)
        where.extend([i] * len(f))
    return "".join(parts), where


def scrub(text: str) -> str:
    with _lock:
        pats = list(_patterns)
    if not pats or not text:
        return text
    folded, where = _fold_with_map(text)
    spans: list[tuple[int, int]] = []
    for p in pats:
        # match on the folded text, mask the original characters it came from
        spans += [(where[m.start()], where[m.end() - 1] + 1) for m in p.finditer(folded) if m.end() > m.start()]
    if not spans:
        return text
    spans.sort()
    out, last = [], 0
    for s, e in spans:
        if s < last:
            continue
        out.append(text[last:s])
        out.append(MASK)
        last = e
    out.append(text[last:])
    return "".join(out)


def clear() -> None:
    with _lock:
        _patterns.clear()
