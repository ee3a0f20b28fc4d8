"""Filter the passphrase word list (src/dossierkit/archive/wordlist_fr.txt), in place.

A generated passphrase is dictated over the phone and typed by a patient or a
secretary: every word must be an ordinary French word, spelled as heard. The
filter removes (issue #15 point 14):

* every word found in any of zxcvbn's frequency lists — English words
  (``english_wikipedia``, ``us_tv_and_film``), first names (``male_names``,
  ``female_names``), surnames, and common passwords (which also hold French
  first names, brands and places: "alain", "ferrari", "chicago"). A word
  shared by French and English ("absence") goes too: harmless, and it keeps
  the rule checkable by anyone with zxcvbn;
* the words of :data:`DENY` (vulgar, violence, distress, religion) that the
  list's original deny list missed.

Reproducible and idempotent: ``python scripts/clean_wordlist.py`` with the
zxcvbn version pinned in pyproject.toml gives the same list, and a second
run changes nothing (tests/test_passphrase.py checks the list against the
same rule). The list keeps its comment header; the generator draws as many
words as ≥ 80 bits need from whatever size remains (docs/security.md).
"""

from __future__ import annotations

import sys
from pathlib import Path

from zxcvbn.frequency_lists import FREQUENCY_LISTS

LIST = Path(__file__).resolve().parent.parent / "src" / "dossierkit" / "archive" / "wordlist_fr.txt"
DENY = frozenset("""
abattu alarme angoisse arabe arabes armement battent battre battu battue battus chiant condamne cons crise
emmerde enceinte fous fout foutre foutu larmes malheur peur pleure pleurer prie prier vieil vieille vieilles viol
""".split())


def refused(word: str) -> str | None:
    """Why *word* may not be in the list, or None."""
    if word in DENY:
        return "deny list"
    for name, words in FREQUENCY_LISTS.items():
        if word in _sets()[name]:
            return f"zxcvbn {name}"
    return None


_SETS: dict[str, frozenset[str]] = {}


def _sets() -> dict[str, frozenset[str]]:
    if not _SETS:
        _SETS.update({name: frozenset(words) for name, words in FREQUENCY_LISTS.items()})
    return _SETS


def main() -> int:
    lines = LIST.read_text(encoding="ascii").splitlines()
    kept, removed = [], 0
    for line in lines:
        word = line.strip()
        if word and not word.startswith("#") and refused(word):
            removed += 1
            continue
        kept.append(line)
    LIST.write_text("\n".join(kept) + "\n", encoding="ascii")
    words = sum(1 for x in kept if x.strip() and not x.startswith("#"))
    print(f"{LIST.name}: {removed} words removed, {words} kept")
    return 0


if __name__ == "__main__":
    sys.exit(main())
