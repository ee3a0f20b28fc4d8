"""winzip_aes.KeySupply: entry keys derived ahead on a thread of its own.

The deadlock these tests pin: with more entries than the look-ahead, the
thread waits for room, and only a notification from ``take`` wakes it (found
by the 8 GB / 16 000-file benchmark: pack hung at entry ~8 200)."""

from __future__ import annotations

import threading

import pytest

from dossierkit.archive.winzip_aes import SALT_LEN, KeySupply, derive_keys

PW = b"correct horse battery staple"


def _take_all(supply: KeySupply, n: int, timeout: float = 30.0) -> list:
    got: list = []
    t = threading.Thread(target=lambda: got.extend(supply.take() for _ in range(n)), daemon=True)
    t.start()
    t.join(timeout)
    assert not t.is_alive(), f"take() hung after {len(got)} of {n} pairs"
    return got


@pytest.mark.parametrize("expect", [None, 3, 25, 40])
def test_more_entries_than_the_lookahead_never_hang(expect):
    supply = KeySupply(PW, ahead=2).start()
    try:
        if expect is not None:
            supply.expect(expect)
        pairs = _take_all(supply, 25)
    finally:
        supply.close()
    assert len(pairs) == 25
    salts = [s for s, _ in pairs]
    assert len(set(salts)) == 25 and all(len(s) == SALT_LEN for s in salts)
    for salt, keys in pairs[:3]:  # the keys are the salt's: PBKDF2 as WinZip AES defines it
        assert keys == derive_keys(PW, salt)


def test_take_without_start_and_expect_zero_still_delivers():
    supply = KeySupply(PW, ahead=4)
    try:
        supply.expect(0)
        assert len(_take_all(supply, 3)) == 3
    finally:
        supply.close()


def test_close_stops_the_thread_and_drops_the_keys():
    supply = KeySupply(PW, ahead=8).start()
    _take_all(supply, 1)
    thread = supply._thread
    assert thread is not None and thread.is_alive()
    supply.close()
    assert not thread.is_alive() and not supply._ready
