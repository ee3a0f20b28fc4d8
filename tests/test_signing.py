import os
import stat

import pytest
from hypothesis import given, settings, strategies as st

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dossierkit.errors import IntegrityError, OutputError, UsageError
from dossierkit.trust.keys import generate_keys, load_signing_key
from dossierkit.trust.signing import canonical_json, fingerprint_matches, sign_document, verify_document


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    return generate_keys(tmp_path_factory.mktemp("keys"))


def test_private_files_are_0600_and_public_parts_printed(keys):
    for p in (keys.signing_key, keys.age_identity):
        assert stat.S_IMODE(os.stat(p).st_mode) == 0o600
    assert keys.age_recipient.startswith("age1")
    assert len(keys.fingerprint) == 64


def test_generate_refuses_to_overwrite(keys):
    with pytest.raises(OutputError):
        generate_keys(keys.directory)


def test_canonical_json_sorted_compact_utf8():
    assert canonical_json({"b": 1, "a": "é"}) == '{"a":"é","b":1}'.encode()
    with pytest.raises(ValueError):
        canonical_json({"x": 1.5})


def test_sign_verify_roundtrip_and_expected_signer(keys):
    key = load_signing_key(keys.signing_key)
    doc = sign_document({"id": "R1", "items": [1, 2, {"t": "Hélène"}]}, key)
    assert verify_document(doc).fingerprint == keys.fingerprint
    verify_document(doc, expect_signer=keys.fingerprint)
    spaced = " ".join(keys.fingerprint[i:i + 4] for i in range(0, 64, 4)).upper()
    verify_document(doc, expect_signer=spaced)  # as read from a receipt: groups of 4, any case
    with pytest.raises(IntegrityError, match="expected signer"):
        verify_document(doc, expect_signer="0" * 64)
    for short in ("abc", keys.fingerprint[:16], keys.fingerprint[:63], keys.fingerprint + "0"):
        with pytest.raises(UsageError, match="full fingerprint"):  # a prefix is never enough
            fingerprint_matches(keys.fingerprint, short)


_KEY = Ed25519PrivateKey.generate()


@settings(max_examples=60, deadline=None)
@given(st.text(min_size=1, max_size=40))
def test_any_change_breaks_signature(text):
    doc = sign_document({"title": "x", "note": text}, _KEY)
    doc["note"] = text + "!"
    with pytest.raises(IntegrityError):
        verify_document(doc)


def test_replaced_key_and_signature_is_caught_by_expected_signer(keys, tmp_path):
    key = load_signing_key(keys.signing_key)
    other = load_signing_key(generate_keys(tmp_path / "other").signing_key)
    doc = sign_document({"a": 1}, key)
    forged = sign_document({"a": 2}, other)
    assert verify_document(forged)  # self-consistent…
    with pytest.raises(IntegrityError):
        verify_document(forged, expect_signer=keys.fingerprint)  # …but not from the expected signer
    assert doc != forged
