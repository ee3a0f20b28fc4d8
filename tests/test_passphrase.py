"""Passphrase generation, strength estimate, secret reading."""

from __future__ import annotations

import math
import stat

import pytest

from dossierkit.errors import InputError, UsageError
from dossierkit.archive.passphrase import (check_password_strength, generate_passphrase, normalise,
                                           passphrase_entropy_estimate, read_password, wordlist,
                                           write_password_file)


def test_wordlist_is_4096_distinct_plain_words():
    words = wordlist()
    assert len(words) == 4096 == len(set(words))
    assert all(w.isascii() and w.isalpha() and w.islower() and 4 <= len(w) <= 8 for w in words)
    for bad in ("cancer", "mort", "tumeur", "merde"):
        assert bad not in words


def test_generated_passphrases():
    p = generate_passphrase()
    assert p.entropy_bits >= 80 and p.words == 7 and p.entropy_bits == 7 * math.log2(4096)
    assert all(w in wordlist() for w in p.text.split("-"))
    assert generate_passphrase(96).words == 8
    assert len({generate_passphrase().text for _ in range(50)}) == 50
    with pytest.raises(UsageError, match="at least 80"):
        generate_passphrase(64)
    assert abs(passphrase_entropy_estimate(p.text) - p.entropy_bits) <= 2


@pytest.mark.parametrize("weak", ["password", "P@ssw0rd!", "aaaaaaaaaaaaaaaaaaaaaaaa", "azertyuiop123456",
                                  "Tr0ub4dor&3", "Jean-Dupont-1958"])
def test_weak_passwords_refused_unless_accepted(weak):
    with pytest.raises(UsageError, match="too weak"):
        check_password_strength(weak)
    assert check_password_strength(weak, weak_ok=True) < 60


@pytest.mark.parametrize("strong", ["x7#Lq9!zR2mW-8vK", "maison jardin soleil voiture piano orange"])
def test_strong_passwords_accepted(strong):
    assert check_password_strength(strong) >= 60


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


def test_random_mixed_case_strings_are_not_taken_for_one_dictionary_word():
    # Regression: any letter run was capped at one dictionary word (17 bits),
    # so a 32-character random token scored 19 bits and was refused.
    import secrets

    from dossierkit.archive.passphrase import passphrase_entropy_estimate

    assert passphrase_entropy_estimate("JJHgscxTn3JOubNfbCtJPufJheYjncZI") > 100
    assert min(passphrase_entropy_estimate(secrets.token_urlsafe(24)) for _ in range(100)) >= 60
    assert passphrase_entropy_estimate("PasswordPassword") < 60  # still two guessable words
