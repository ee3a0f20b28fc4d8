"""The one concurrency primitive of dossierkit: a bounded producer/consumer
with a single worker thread.

A flow (pack, verify) owns at most one :class:`Worker`: the flow's thread
(the producer) submits jobs, the worker thread runs them **one at a time,
in submission order**, and the producer collects a :class:`Job`'s result
(or its exception) when it needs it. The queue is bounded: ``submit``
blocks while ``DEPTH`` jobs wait, and the worker never waits for the
producer, so a blocked ``submit`` always makes progress.

Buffer ownership — the only rule, stated here once:

* A job owns every object passed to it from ``submit`` until the job is
  done. The producer must not write into a buffer it handed to a job
  before that job (or any later one: jobs finish in order) is done.
* Reused buffers go through a :class:`Ring`: ``take()`` hands the producer
  one buffer of the ring; it stays the producer's until its next
  ``take()``. From then on the jobs submitted so far may still read it,
  and ``take()`` gives it back only once the worker has run past every one
  of them (a job submitted with ``borrows=False`` is not waited for). So a producer may hand any job a view of the buffer it holds,
  and never waits for a particular job to reuse memory.
* Immutable ``bytes`` need no ring.

Idle time: ``fill_idle_time(step)`` gives the worker optional work for the
moments its queue is empty (pack's and verify's keys of the entries
ahead): it calls ``step()`` — one short piece of work, True if it did one —
until a job arrives or ``step`` has nothing to do, so the flow's jobs wait
at most one step. ``step`` only touches what its owner shares for it.

Ending: ``close()`` (or leaving the ``with`` block) runs the queued jobs
(drops them if the block raised) and joins the thread, on the owner's
thread; ``abandon()`` — for a stream abandoned early, which the garbage
collector may finalise on any thread, the worker included — drops the
queued jobs and returns at once, never joining: a job still running only
touches the objects it was given. The thread is started
on the first ``submit``, so a flow with nothing to hand off never starts one.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

DEPTH = 256  # jobs that may wait in the queue


class Job:
    """A submitted job: ``result()`` waits for it and returns its value or
    raises its exception. Done is a lock held from submission until the
    job has run (a plain lock: an Event's condition costs more than a small
    job)."""

    __slots__ = ("_fn", "_args", "_running", "_value", "_error")

    def __init__(self, fn: Callable[..., Any], args: tuple):
        self._fn, self._args = fn, args
        self._running = threading.Lock()
        self._running.acquire()
        self._value: Any = None
        self._error: BaseException | None = None

    def _run(self) -> None:
        try:
            self._value = self._fn(*self._args)
        except BaseException as exc:  # handed to result(), on the producer's thread
            self._error = exc
        finally:
            self._fn = self._args = None  # type: ignore[assignment]  # release the buffers now
            self._running.release()

    def _drop(self) -> None:
        self._error = RuntimeError("the worker was closed")
        self._fn = self._args = None  # type: ignore[assignment]
        self._running.release()

    def done(self) -> bool:
        return not self._running.locked()

    def wait(self) -> None:
        with self._running:
            pass

    def result(self) -> Any:
        self.wait()
        if self._error is not None:
            raise self._error
        return self._value


class _Lane:
    """The queue of one worker thread's life (a restarted thread gets a new
    one, so an abandoned thread still dropping its jobs touches nothing new)."""

    def __init__(self, depth: int):
        self.jobs: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self.room = threading.BoundedSemaphore(depth)
        self.dropping = False
        self.idle: Callable[[], bool] | None = None  # Worker.fill_idle_time


class Worker:
    """One worker thread running submitted jobs in order (module docstring)."""

    def __init__(self, name: str = "dk-worker", *, depth: int = DEPTH):
        self._name = name
        self._depth = depth
        self._lane: _Lane | None = None
        self._thread: threading.Thread | None = None
        self.last: Job | None = None  # the last job submitted that may read a lent buffer

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(drop=exc_type is not None)

    def submit(self, fn: Callable[..., Any], *args: Any, borrows: bool = True) -> Job:
        """Queue ``fn(*args)``. ``borrows=False`` says the job reads no
        buffer lent through a :class:`Ring` (key derivation, say): a ring
        does not wait for it before lending a buffer again."""
        lane = self._started()
        lane.room.acquire()  # bounded: wait while DEPTH jobs are queued
        job = Job(fn, args)
        lane.jobs.put(job)
        if borrows:
            self.last = job
        return job

    def _started(self) -> _Lane:
        if self._thread is None or self._lane is None:
            self._lane = _Lane(self._depth)
            self._thread = threading.Thread(target=self._run, args=(self._lane,), name=self._name, daemon=True)
            self._thread.start()
        return self._lane

    def fill_idle_time(self, step: Callable[[], bool] | None) -> None:
        """Have the worker call *step* while no job waits (module
        docstring), from now until ``fill_idle_time(None)`` or the end of
        the thread. *step* does one short piece of optional work and returns
        True, or returns False when it has none: the worker then sleeps
        until the next job, and tries *step* again after it."""
        if step is None:
            if self._lane is not None:
                self._lane.idle = None
            return
        self._started().idle = step
        self.submit(_nothing, borrows=False)  # wakes a sleeping worker to try it

    @staticmethod
    def _run(lane: _Lane) -> None:
        while True:
            step = lane.idle
            if step is not None and not lane.dropping and lane.jobs.empty():
                try:
                    if step():
                        continue
                except BaseException:  # optional work: its owner does it itself if it never gets done
                    lane.idle = None
            job = lane.jobs.get()
            if job is None:
                return
            if lane.dropping:
                job._drop()
            else:
                job._run()
            lane.room.release()

    def close(self, *, drop: bool = False) -> None:
        """Run the queued jobs (or *drop* them, after an error), then stop
        the thread and join it (it restarts on the next ``submit``)."""
        self._stop(drop=drop, join=True)

    def abandon(self) -> None:
        """Drop the queued jobs and return at once, never joining: for a
        stream abandoned early, which the garbage collector may finalise on
        any thread (a job still running only touches what it was given)."""
        self._stop(drop=True, join=False)

    def _stop(self, *, drop: bool, join: bool) -> None:
        thread, lane = self._thread, self._lane
        self._thread = self._lane = None
        self.last = None
        if thread is None or lane is None:
            return
        lane.dropping = drop
        lane.jobs.put(None)  # never blocks: the bound is on jobs, not on the stop
        if join and thread is not threading.current_thread():
            thread.join()


def _nothing() -> None:
    return None


class Ring:
    """``count`` reusable buffers of ``size`` bytes (``planes`` buffers per
    slot), lent between the producer and *worker*'s jobs as the module
    docstring says (no worker: the producer's alone)."""

    def __init__(self, worker: Worker | None, size: int, *, count: int = 4, planes: int = 1):
        self._worker = worker
        self._planes = [[bytearray(size) for _ in range(count)] for _ in range(planes)]
        self._released: list[Job | None] = [None] * count  # the worker's last job when each slot was left
        self._slot = -1

    def take(self) -> None:
        """Leave the current slot to the jobs submitted so far, and move to
        the next one, once the worker has run past the jobs that may read it."""
        count = len(self._released)
        if self._slot >= 0 and self._worker is not None:
            self._released[self._slot] = self._worker.last
        self._slot = (self._slot + 1) % count
        pending, self._released[self._slot] = self._released[self._slot], None
        if pending is not None:
            pending.wait()

    def view(self, plane: int = 0) -> memoryview:
        """The current slot's buffer of *plane*."""
        return memoryview(self._planes[plane][self._slot])
