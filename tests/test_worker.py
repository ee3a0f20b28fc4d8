"""archive.worker: the one worker thread, and the optional work it does in
its idle time (``Worker.fill_idle_time``: verify's keys of the entries
ahead, issue #18)."""

from __future__ import annotations

import threading
import time

from dossierkit.archive import Worker
from tests.conftest import wait_until

GUARD = 30  # seconds: a hang guard, never a time budget


def test_jobs_come_before_idle_work_that_never_ends():
    """A step that always has more to do runs while the queue is empty,
    yet every submitted job still runs, in order (fails if the worker kept
    calling the step without looking at its queue: result() would hang)."""
    calls = []

    def endless() -> bool:
        calls.append(threading.current_thread().name)
        return True

    with Worker("dk-test") as worker:
        worker.fill_idle_time(endless)
        wait_until(lambda: len(calls) > 100, "the idle step")
        done = []
        jobs = [worker.submit(done.append, i, borrows=False) for i in range(200)]
        finisher = threading.Thread(target=lambda: [j.result() for j in jobs], daemon=True)
        finisher.start()
        finisher.join(GUARD)
        assert not finisher.is_alive(), "jobs waited behind the idle work"
        assert done == list(range(200))
        worker.fill_idle_time(None)
    assert set(calls) == {"dk-test"}  # on the worker's thread only


def test_a_step_with_nothing_to_do_sleeps_until_the_next_job():
    """False means "nothing now": the worker blocks on its queue (no busy
    loop) and tries the step again after the next job. Counted against the
    jobs, not against the clock: at most one try when the step is set (the
    thread may see it before or after its arming job) and one after each
    job (none after a job followed by another), whatever the scheduler
    does; a busy loop makes thousands."""
    calls = []

    def nothing() -> bool:
        calls.append(1)
        return False

    with Worker("dk-test") as worker:
        worker.fill_idle_time(nothing)  # queues one arming job
        worker.submit(time.sleep, 0.05, borrows=False).result()
        wait_until(lambda: len(calls) >= 1, "the try once the queue is empty")
        time.sleep(0.2)  # room for a busy loop to show
        assert len(calls) <= 3, f"{len(calls)} tries for 2 jobs: the worker kept calling a step that had nothing to do"
        before = len(calls)
        worker.submit(int, borrows=False).result()
        wait_until(lambda: len(calls) > before, "the try after the next job")
        time.sleep(0.2)
        assert len(calls) <= 4, f"{len(calls)} tries for 3 jobs"


def test_a_failing_step_is_dropped_and_the_worker_goes_on():
    """Idle work is optional: a step that raises is not called again, and
    the worker keeps running jobs (its owner does the work itself)."""
    calls = []

    def broken() -> bool:
        calls.append(1)
        raise ValueError("speculation went wrong")

    with Worker("dk-test") as worker:
        worker.fill_idle_time(broken)
        wait_until(lambda: len(calls) == 1, "the step")
        for i in range(5):
            assert worker.submit(abs, -i, borrows=False).result() == i
        assert len(calls) == 1


def test_withdrawn_idle_work_is_not_called_again():
    calls = []

    def step() -> bool:
        calls.append(1)
        return len(calls) < 10**9

    with Worker("dk-test") as worker:
        worker.fill_idle_time(step)
        wait_until(lambda: len(calls) > 10, "the step")
        worker.fill_idle_time(None)
        worker.submit(int, borrows=False).result()  # any step running at withdrawal has ended
        stopped = len(calls)
        time.sleep(0.1)
        assert len(calls) == stopped
