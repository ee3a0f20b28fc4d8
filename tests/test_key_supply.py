"""FreshKeys: entry keys derived ahead on the flow's worker (and on the
caller's thread whenever the worker is busy), and the Worker itself (order,
errors, bounded queue, abandonment).

The deadlock the first test pins (an earlier design, found by the 8 GB /
16 000-file benchmark: pack hung at entry ~8 200): with more entries than the
look-ahead, the keys must keep coming."""

from __future__ import annotations

import threading

import pytest

from dossierkit.archive import Worker
from dossierkit.archive import zipwriter
from dossierkit.archive.winzip_aes import SALT_LEN, derive_keys
from dossierkit.archive.zipaes import FreshKeys
from tests.conftest import wait_until

PW = b"correct horse battery staple"


def _take_all(supply: FreshKeys, n: int, timeout: float = 30.0) -> list:
    got: list = []
    t = threading.Thread(target=lambda: got.extend(supply.take() for _ in range(n)), daemon=True)
    t.start()
    t.join(timeout)
    assert not t.is_alive(), f"take() hung after {len(got)} of {n} pairs"
    return got


class _Derivations(list):
    """The threads the writer's key derivations ran on, in the order they
    began, and the thread of each salt (``thread_of``): the order of two
    derivations begun on two threads at once is the scheduler's."""

    def __init__(self) -> None:
        super().__init__()
        self.thread_of: dict[bytes, str] = {}


@pytest.fixture
def derivations(monkeypatch):
    seen = _Derivations()
    real = zipwriter.derive_keys

    def spy(password, salt):
        name = threading.current_thread().name
        seen.append(name)
        seen.thread_of[bytes(salt)] = name
        return real(password, salt)

    monkeypatch.setattr(zipwriter, "derive_keys", spy)
    return seen


@pytest.mark.parametrize("expect", [None, 3, 25, 40])
def test_more_entries_than_the_lookahead_never_hang(expect):
    with Worker("dk-test") as worker:
        supply = FreshKeys(PW, worker, ahead=2).start()
        if expect is not None:
            supply.expect(expect)
        pairs = _take_all(supply, 25)
    assert len(pairs) == 25
    salts = [s for s, _ in pairs]
    assert len(set(salts)) == 25 and all(len(s) == SALT_LEN for s in salts)
    for salt, keys in pairs[:3]:  # the keys are the salt's: PBKDF2 as WinZip AES defines it
        assert keys == derive_keys(PW, salt)


def test_keys_are_derived_on_the_worker_and_no_more_than_expected(derivations):
    with Worker("dk-test") as worker:
        supply = FreshKeys(PW, worker).start()
        supply.expect(5)
        worker.submit(lambda: None).result()  # jobs run in order: the look-ahead is done
        assert len(_take_all(supply, 5)) == 5
    assert derivations and set(derivations) == {"dk-test"}
    assert len(derivations) == 5  # not the whole look-ahead


def test_take_never_waits_for_a_busy_worker_and_drops_the_look_ahead_not_begun(derivations):
    started, release = threading.Event(), threading.Event()
    with Worker("dk-test") as worker:
        worker.submit(lambda: started.set() or release.wait(20))  # the worker busy (a window)
        assert started.wait(20)
        supply = FreshKeys(PW, worker).start()  # look-ahead queued behind the busy job
        pairs = _take_all(supply, 3, timeout=10)  # writing starts: no wait for the worker
        supply.expect(0)  # no more pairs: the worker's idle time then has nothing to derive
        release.set()
        worker.submit(lambda: None).result()
    assert len(pairs) == 3 and derivations.count("dk-test") == 0  # the queued look-ahead never ran
    assert len(derivations) == 3 and "dk-test" not in derivations


def test_once_writing_the_worker_derives_pairs_in_its_idle_time(derivations):
    """From the first take, the idle worker keeps PACE_READY pairs ready
    (no more: it then sleeps until pairs are taken) and takes hand them
    out; a worker held by a window derives nothing meanwhile."""
    with Worker("dk-test") as worker:
        supply = FreshKeys(PW, worker)  # no look-ahead
        supply.expect(100)
        first = supply.take()  # derived here; the idle worker starts filling
        wait_until(lambda: len(derivations) == 1 + zipwriter.PACE_READY, "the idle worker's pairs")
        worker.submit(lambda: None).result()
        assert len(derivations) == 1 + zipwriter.PACE_READY  # capped: the worker sleeps
        later = [supply.take() for _ in range(zipwriter.PACE_READY)]
        started, release = threading.Event(), threading.Event()
        worker.submit(lambda: started.set() or release.wait(20))  # a window holds the worker
        assert started.wait(20)
        busy_from = len(derivations)
        more = _take_all(supply, 3, timeout=10)  # no pair ready: derived here, no wait
        release.set()
        worker.submit(lambda: None).result()
    thread_of = derivations.thread_of
    assert thread_of[first[0]] == "MainThread"
    assert [thread_of[salt] for salt, _ in later] == ["dk-test"] * zipwriter.PACE_READY
    assert "dk-test" not in [thread_of[salt] for salt, _ in more]  # taken on _take_all's thread
    assert "dk-test" not in derivations[busy_from:busy_from + 3]
    salts = {first[0], *(salt for salt, _ in later), *(salt for salt, _ in more)}
    assert len(salts) == 1 + zipwriter.PACE_READY + 3


def test_without_a_worker_or_beyond_the_expected_keys_are_derived_on_take(derivations):
    assert len(_take_all(FreshKeys(PW, None), 2)) == 2
    assert len(derivations) == 2 and "dk-test" not in derivations
    with Worker("dk-test") as worker:
        supply = FreshKeys(PW, worker)
        supply.expect(0)
        assert len(_take_all(supply, 3)) == 3


def test_worker_runs_jobs_in_order_and_hands_errors_to_result():
    order: list[int] = []
    with Worker("dk-test", depth=2) as worker:  # a queue of 2: submit waits for room, never deadlocks
        jobs = [worker.submit(order.append, i) for i in range(50)]
        boom = worker.submit(int, "not a number")
        after = worker.submit(lambda: "still runs")
        assert after.result() == "still runs"
    assert order == list(range(50)) and all(j.done() for j in jobs)
    with pytest.raises(ValueError):
        boom.result()


def test_abandon_returns_at_once_and_drops_the_queued_jobs():
    started, release = threading.Event(), threading.Event()
    worker = Worker("dk-test")
    try:
        blocked = worker.submit(lambda: started.set() or release.wait(20))
        dropped = worker.submit(lambda: "ran")
        assert started.wait(20)
        worker.abandon()  # must not wait for the blocked job
    finally:
        release.set()
    assert blocked.result() is True
    with pytest.raises(RuntimeError, match="closed"):
        dropped.result()
