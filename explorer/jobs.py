"""Expensive work, bounded (no Streamlit here; ``ui/jobs.py`` shows the queue on a page).

- **At most K jobs at once per process and lane**, the rest wait in first-come order with their
  place known (:meth:`JobLimiter.ahead`). Each lane is one standard-library
  :class:`~concurrent.futures.ThreadPoolExecutor` of K workers: the executor's queue is the queue,
  nothing home-made. Two lanes (:func:`limiter`): ``"pass"`` for work of one forward pass
  (an analysis, an ablation; K = ``$EXPLORER_MAX_PASS_JOBS``, default the core count) and
  ``"batch"`` for work of many passes (attribution, Models comparison over sentences, corpus
  index, head patterns; K = ``$EXPLORER_MAX_JOBS``, default half the cores, at least 1). So a
  visitor's first table never waits behind another visitor's hour of attribution. A batch
  worker runs torch on ``$EXPLORER_JOB_THREADS`` threads (default: half the cores shared by
  the K workers, at least 1), leaving the other half to one-pass work, and at a lower CPU
  priority (niceness + ``$EXPLORER_BATCH_NICENESS``, default 10, on the worker's own thread):
  while a visitor's one-pass work waits for a core, the kernel gives it that core first, and a
  batch job still has every core nobody else wants.
- **Identical requests share one computation**: a job is keyed (``(kind, model, text, …)``, the
  keys of the one budgeted cache); a request for a key already queued or running waits for that
  job instead of starting another.
- **Cancelled when nobody waits**: every waiter leaves through :meth:`JobLimiter.run`'s
  ``finally``; when the last one has gone (its tab closed, new text typed), a queued job is taken
  out of the queue and a running one raises :class:`JobCancelled` at its next batch (the
  ``progress`` callback every batch loop already calls), and its memory is given back.

The computation runs in a worker thread, not in the visitor's script thread, so one visitor
leaving does not stop a result that another visitor still waits for.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Hashable
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Generic, TypeVar

MAX_JOBS_ENV_VAR = "EXPLORER_MAX_JOBS"
MAX_PASS_JOBS_ENV_VAR = "EXPLORER_MAX_PASS_JOBS"
JOB_THREADS_ENV_VAR = "EXPLORER_JOB_THREADS"
BATCH_NICENESS_ENV_VAR = "EXPLORER_BATCH_NICENESS"
DEFAULT_BATCH_NICENESS = 10
BATCH = "batch"
PASS = "pass"

ProgressCallback = Callable[[int, int], None]
"""``progress(done, total)``, called by a job between batches; raises :class:`JobCancelled`
once nobody waits for the job."""
Value = TypeVar("Value")


class JobCancelled(Exception):
    """Raised inside a job at its next batch once every session waiting for it has gone."""


def cores() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
               else os.cpu_count() or 1)


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    try:
        value = int(raw) if raw else default
    except ValueError:
        value = default
    return value if value >= 1 else default


def max_jobs(lane: str = BATCH) -> int:
    """K for a lane: ``$EXPLORER_MAX_JOBS`` (batch; default half the cores, at least 1) or
    ``$EXPLORER_MAX_PASS_JOBS`` (one-pass work; default the cores)."""
    if lane == PASS:
        return _env_int(MAX_PASS_JOBS_ENV_VAR, cores())
    return _env_int(MAX_JOBS_ENV_VAR, max(1, cores() // 2))


def batch_niceness() -> int:
    """How much lower a batch worker's CPU priority is than the server's (0: the same)."""
    raw = os.environ.get(BATCH_NICENESS_ENV_VAR, "").strip()
    try:
        return max(0, int(raw)) if raw else DEFAULT_BATCH_NICENESS
    except ValueError:
        return DEFAULT_BATCH_NICENESS


def lower_this_threads_priority(by: int) -> None:
    """Raise the niceness of the calling thread (Linux: per thread) by ``by``; nothing where
    the system has no per-thread priority."""
    if by <= 0 or not hasattr(os, "setpriority") or not hasattr(threading, "get_native_id"):
        return
    try:
        thread = threading.get_native_id()
        current = os.getpriority(os.PRIO_PROCESS, thread)
        os.setpriority(os.PRIO_PROCESS, thread, min(19, current + by))
    except OSError:
        pass


def job_threads(lane: str = BATCH) -> int | None:
    """torch threads of one batch worker (None: torch's default, for the one-pass lane)."""
    if lane == PASS:
        return None
    return _env_int(JOB_THREADS_ENV_VAR, max(1, cores() // (2 * max_jobs(BATCH))))


@dataclass
class Job(Generic[Value]):
    """One keyed computation and the sessions waiting for it."""

    key: Hashable
    future: Future = field(default_factory=Future)
    done: int = 0
    total: int = 0
    waiters: int = 0
    cancelled: threading.Event = field(default_factory=threading.Event)

    def progress(self, done: int, total: int) -> None:
        """Record progress; raise :class:`JobCancelled` when nobody waits any more."""
        self.done, self.total = int(done), int(total)
        if self.cancelled.is_set():
            raise JobCancelled(str(self.key))


class JobLimiter:
    """At most ``max_jobs`` computations at once; identical keys computed once; a computation
    nobody waits for is dropped from the queue or stopped at its next batch."""

    def __init__(self, max_jobs: int, threads: int | None = None, name: str = "jobs",
                 after_job: Callable[[], None] | None = None, niceness: int = 0) -> None:
        self.max_jobs = max(1, int(max_jobs))
        self.threads = threads
        self.niceness = niceness
        self._executor = ThreadPoolExecutor(self.max_jobs, thread_name_prefix=name,
                                            initializer=self._worker_started)
        self._lock = threading.Lock()
        self._jobs: dict[Hashable, Job] = {}
        self._queued: list[Job] = []
        self._running: set[int] = set()
        self._after_job = after_job
        self.started = 0
        self.cancelled = 0

    def _worker_started(self) -> None:
        lower_this_threads_priority(self.niceness)
        if self.threads is not None:
            import torch  # per-thread setting: this worker only
            torch.set_num_threads(self.threads)

    def running(self) -> int:
        with self._lock:
            return len(self._running)

    def queued(self) -> int:
        with self._lock:
            return len(self._queued)

    def ahead(self, job: Job) -> int:
        """Jobs that start before ``job`` (0: it starts next); -1 once it runs or ended."""
        with self._lock:
            return self._queued.index(job) if job in self._queued else -1

    def _work(self, job: Job, compute: Callable[[ProgressCallback], Value]) -> Value:
        with self._lock:
            if job in self._queued:
                self._queued.remove(job)
            self._running.add(id(job))
            self.started += 1
        try:
            job.progress(0, 0)  # cancelled while it waited to start
            return compute(job.progress)
        finally:
            with self._lock:
                self._running.discard(id(job))
                if self._jobs.get(job.key) is job:
                    del self._jobs[job.key]
            if job.cancelled.is_set() and self._after_job is not None:
                self._after_job()

    def submit(self, key: Hashable, compute: Callable[[ProgressCallback], Value]) -> Job:
        """The job for ``key`` (a new one queued, or the one already queued or running), with
        one more waiter; every call must be matched by :meth:`leave`."""
        with self._lock:
            job = self._jobs.get(key)
            if job is None:
                job = Job(key)
                self._jobs[key] = job
                self._queued.append(job)
                job.future = self._executor.submit(self._work, job, compute)
            job.waiters += 1
            return job

    def leave(self, job: Job) -> None:
        """A waiter has gone; the last one to go cancels a job that has not finished."""
        with self._lock:
            job.waiters -= 1
            if job.waiters > 0 or job.future.done():
                return
            job.cancelled.set()
            self.cancelled += 1
            if self._jobs.get(job.key) is job:
                del self._jobs[job.key]  # a new request starts afresh
            if job in self._queued and job.future.cancel():
                self._queued.remove(job)

    def run(self, key: Hashable, compute: Callable[[ProgressCallback], Value],
            wait: Callable[[Job], None] | None = None, poll_s: float = 0.2) -> Value:
        """``compute(progress)`` for ``key`` (shared with identical requests), waiting here;
        ``wait(job)`` is called at once and then every ``poll_s`` seconds until it ends, and
        may raise to give up (the job is then cancelled if nobody else waits)."""
        job = self.submit(key, compute)
        try:
            while True:
                if wait is not None and not job.future.done():
                    wait(job)
                try:
                    return job.future.result(timeout=poll_s)
                except FutureTimeout:
                    continue
                except CancelledError:
                    raise JobCancelled(str(key)) from None
        finally:
            self.leave(job)

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


_limiters: dict[str, JobLimiter] = {}
_limiters_lock = threading.Lock()


def _give_memory_back() -> None:
    from explorer.corpus import release_freed_memory
    release_freed_memory()


def limiter(lane: str = BATCH) -> JobLimiter:
    """This process's limiter for ``lane`` (:data:`BATCH` or :data:`PASS`), made on first use
    with K from the environment (:func:`max_jobs`)."""
    with _limiters_lock:
        if lane not in _limiters:
            _limiters[lane] = JobLimiter(
                max_jobs(lane), job_threads(lane), name=f"explorer-{lane}",
                after_job=_give_memory_back, niceness=batch_niceness() if lane == BATCH else 0)
        return _limiters[lane]


def reset_limiters() -> None:
    """Forget the limiters (tests that change K through the environment)."""
    with _limiters_lock:
        for one in _limiters.values():
            one.shutdown()
        _limiters.clear()
