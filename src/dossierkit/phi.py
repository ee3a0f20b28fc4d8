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


def _forms(patient: Patient) -> set[str]:
    out: set[str] = set()
    for name in [patient.family_name, patient.birth_name or "", *patient.given_names]:
        for part in re.split(r"[\s\-']+", name):
            if len(part) >= 3:  # very short tokens would mask ordinary words
                out.add(part)
    bd = patient.birth_date
    out |= {bd.isoformat(), bd.strftime("%Y%m%d"), bd.strftime("%d/%m/%Y"), bd.strftime("%d.%m.%Y"),
            bd.strftime("%d-%m-%Y")}
    ids = list(patient.other_ids) + ([patient.identifier.value] if patient.identifier else [])
    out |= {i for i in ids if len(i) >= 4}
    return out


def register(patient: Patient) -> None:
    forms = _forms(patient)
    with _lock:
        for f in sorted(forms, key=len, reverse=True):
            # Compare on the folded (accent-free, upper) form of the text.
            _patterns.append(re.compile(re.escape(fold(f)), re.IGNORECASE))


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
