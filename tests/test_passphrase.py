"""Passphrase generation, strength estimate, secret reading."""

from __future__ import annotations

import datetime as dt
import math
import secrets
import stat

import pytest

from dossierkit.errors import InputError, UsageError
from dossierkit.archive.passphrase import (MIN_GUESSES_LOG10, check_password_strength, generate_passphrase,
                                           normalise, read_password, typed_forms, wordlist, write_password_file)
from dossierkit.model import dossier_from_dict
from dossierkit.trace.secrets import date_spellings, dossier_user_inputs


def test_wordlist_is_distinct_plain_french_words():
    words = wordlist()
    assert len(words) == len(set(words)) >= 2048
    assert all(w.isascii() and w.isalpha() and w.islower() and 4 <= len(w) <= 8 for w in words)
    for bad in ("cancer", "mort", "tumeur", "merde"):
        assert bad not in words


def test_wordlist_has_no_english_word_nor_first_name():
    """Issue #15 point 14: the filter (scripts/clean_wordlist.py) holds —
    no word of zxcvbn's English, first-name, surname and password lists,
    none of its deny list; the words the walk-through met are gone."""
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    from scripts.clean_wordlist import DENY, refused

    words = set(wordlist())
    for name, listed in FREQUENCY_LISTS.items():
        assert not words & set(listed), (name, sorted(words & set(listed))[:10])
    assert not words & DENY and not [w for w in words if refused(w)]
    for met in ("hill", "daniel", "suspect", "fous", "ferrari", "kong", "week", "meeting", "chicago", "alain"):
        assert met not in words


def test_generated_passphrases():
    p = generate_passphrase()
    per_word = math.log2(len(wordlist()))
    assert p.entropy_bits >= 80 and p.words == math.ceil(80 / per_word) == 8 and p.entropy_bits == 8 * per_word
    assert p.text == p.text.lower() and p.text.count(" ") == 7
    assert all(w in wordlist() for w in p.text.split(" "))
    assert generate_passphrase(96).words == 9
    assert len({generate_passphrase().text for _ in range(20)}) == 20
    with pytest.raises(UsageError, match="at least 80"):
        generate_passphrase(64)


@pytest.mark.parametrize("count", [pytest.param(40), pytest.param(300, marks=pytest.mark.slow)])
def test_every_generated_passphrase_passes_the_check_knowing_the_dossier(count):
    inputs = dossier_user_inputs(_dossier("Lefèvre", ["Hélène", "Marie"], "1958-03-14"))
    estimates = [check_password_strength(generate_passphrase().text, user_inputs=inputs) for _ in range(count)]
    print(f"{count} generated passphrases: zxcvbn log10 guesses min {min(estimates):.1f}, "
          f"median {sorted(estimates)[count // 2]:.1f}")
    assert min(estimates) >= MIN_GUESSES_LOG10 + 2, min(estimates)


def _dossier(family, given, birth, dossier_id="DK-20261123-63D8C94E"):
    return dossier_from_dict({"id": dossier_id, "patient": {
        "family_name": family, "given_names": given, "birth_date": birth, "sex": "F",
        "identifier": {"value": "2580375123456", "system": "INS-NIR"}},
        "initial_physician": {"name": "Dr Paul Martin", "establishment": "CHR d'Orléans"},
        "consent": {"given": True, "date": "2026-11-02", "given_by": "patient"}})


# The audit's list (issue #14): each passed the old 60-bit estimate.
AUDIT = [("Helene.Lefevre.1958", ("Lefèvre", ["Hélène"], "1958-03-14")),
         ("Jean Dupont 01/02/1960", ("Dupont", ["Jean"], "1960-02-01")),
         ("Cancer2024Cancer2024", ("Lefèvre", ["Hélène"], "1958-03-14")),
         ("Hopital-Paris-2024", ("Lefèvre", ["Hélène"], "1958-03-14")),
         ("DK-20261123-63D8C94E", ("Lefèvre", ["Hélène"], "1958-03-14"))]
# Further ways of building a password from the dossier.
BUILT = ["hélène1958", "Lefevre14031958", "14/03/1958Helene", "HeleneMarieLefevre", "lefevre-14-mars-1958",
         "2580375123456", "Martin.Orleans.2026", "63D8C94E-20261123", "Marie14mars58!"]


@pytest.mark.parametrize("password,who", AUDIT, ids=[a[0] for a in AUDIT])
def test_the_audit_passwords_are_refused_knowing_the_dossier(password, who):
    inputs = dossier_user_inputs(_dossier(*who))
    with pytest.raises(UsageError, match="too weak"):
        check_password_strength(password, user_inputs=inputs)
    assert check_password_strength(password, user_inputs=inputs, weak_ok=True) < MIN_GUESSES_LOG10


@pytest.mark.parametrize("password", BUILT)
def test_passwords_built_from_the_dossier_are_refused(password):
    inputs = dossier_user_inputs(_dossier("Lefèvre", ["Hélène", "Marie"], "1958-03-14"))
    assert check_password_strength(password, user_inputs=inputs, weak_ok=True) < MIN_GUESSES_LOG10


@pytest.mark.parametrize("weak", ["password", "P@ssw0rd!", "aaaaaaaaaaaaaaaaaaaaaaaa", "azertyuiop123456",
                                  "Tr0ub4dor&3", "Jean-Dupont-1958", "PasswordPassword", "abc123"])
def test_weak_passwords_refused_unless_accepted(weak):
    with pytest.raises(UsageError, match="too weak"):
        check_password_strength(weak)
    assert check_password_strength(weak, weak_ok=True) < MIN_GUESSES_LOG10


@pytest.mark.parametrize("strong", ["x7#Lq9!zR2mW-8vKp3&Y", "JJHgscxTn3JOubNfbCtJPufJheYjncZI",
                                    "maison jardin soleil voiture piano orange bateau"])
def test_strong_passwords_accepted(strong):
    inputs = dossier_user_inputs(_dossier("Lefèvre", ["Hélène", "Marie"], "1958-03-14"))
    assert check_password_strength(strong, user_inputs=inputs) >= MIN_GUESSES_LOG10


def test_random_tokens_pass_and_long_passwords_are_estimated_on_their_first_72_characters():
    assert min(check_password_strength(secrets.token_urlsafe(16)) for _ in range(30)) >= MIN_GUESSES_LOG10
    assert check_password_strength("x7#Lq9!zR2mW-8vK" * 10) >= MIN_GUESSES_LOG10  # zxcvbn refuses > 72


def test_birth_date_spellings():
    spelled = date_spellings(dt.date(1960, 2, 1))
    for s in ("01/02/1960", "1/2/1960", "01021960", "1960-02-01", "19600201", "01/02/60", "010260",
              "1 fevrier 1960", "1fevrier1960", "fevrier1960", "01.02.1960", "1960"):
        assert s in spelled, s


def test_typed_forms_of_a_dictated_passphrase():
    assert typed_forms("corniche lavande oursin") == [b"corniche lavande oursin", b"corniche-lavande-oursin"]
    assert typed_forms("Corniche-Lavande  Oursin ")[1:] == [b"corniche lavande oursin", b"corniche-lavande-oursin"]
    assert typed_forms("x7#Lq9!zR2mW-8vK") == [b"x7#Lq9!zR2mW-8vK"]  # not words: used as typed only
    assert typed_forms("Été") == ["Été".encode()]


def test_read_password_sources(tmp_path, monkeypatch):
    f = tmp_path / "pw"
    write_password_file(f, "un-deux-trois")
    assert stat.S_IMODE(f.stat().st_mode) == 0o600
    assert read_password(file=f) == "un-deux-trois"
    with pytest.raises(Exception):
        write_password_file(f, "again")  # never overwrites silently
    monkeypatch.setenv("DK_TEST_PW", "from-env")
    assert read_password(env="DK_TEST_PW") == "from-env"
    assert read_password(prompt=lambda: "typed") == "typed"
    with pytest.raises(UsageError, match="not set"):
        read_password(env="DK_TEST_UNSET_VARIABLE")
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(InputError, match="empty"):
        read_password(file=tmp_path / "empty")
    with pytest.raises(UsageError, match="no password"):
        read_password()


def test_normalise_nfc():
    assert normalise("e\u0301t\u00e9") == "\u00e9t\u00e9".encode()
