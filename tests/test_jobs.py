"""The job limiter (explorer/jobs.py): at most K at once with places in the queue, identical
requests computed once, a job nobody waits for stopped at its next batch."""

from __future__ import annotations

import os
import threading
import time

import pytest

from explorer.jobs import BATCH, PASS, JobCancelled, JobLimiter, limiter, max_jobs, reset_limiters

WAIT_S = 10.0


def _until(condition, timeout: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


class Batches:
    """A job of many batches that counts them and may be held before each one."""

    def __init__(self, batches: int = 1_000_000) -> None:
        self.batches = batches
        self.done = 0
        self.gate = threading.Event()
        self.gate.set()
        self.started = threading.Event()

    def __call__(self, progress) -> int:
        self.started.set()
        for batch in range(self.batches):
            self.gate.wait()
            progress(batch, self.batches)
            self.done += 1
            time.sleep(0.001)
        return self.done


def _in_thread(function, *args):
    box: dict[str, object] = {}

    def target():
        try:
            box["value"] = function(*args)
        except BaseException as error:
            box["error"] = error

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, box


def test_at_most_k_at_once_and_places_in_the_queue():
    jobs = JobLimiter(1)
    first, second, third = Batches(3), Batches(3), Batches(3)
    first.gate.clear()
    places: dict[str, list[int]] = {"second": [], "third": []}
    thread_1, box_1 = _in_thread(jobs.run, "a", first)
    _until(first.started.is_set)
    thread_2, box_2 = _in_thread(jobs.run, "b", second, lambda job: places["second"].append(
        jobs.ahead(job)), 0.01)
    _until(lambda: jobs.queued() == 1)
    thread_3, box_3 = _in_thread(jobs.run, "c", third, lambda job: places["third"].append(
        jobs.ahead(job)), 0.01)
    _until(lambda: jobs.queued() == 2 and len(places["third"]) > 2)
    assert jobs.running() == 1 and not second.started.is_set() and not third.started.is_set()
    assert places["second"][-1] == 0 and places["third"][-1] == 1  # "1 job ahead of yours"
    first.gate.set()
    for thread in (thread_1, thread_2, thread_3):
        thread.join(WAIT_S)
    assert box_1["value"] == box_2["value"] == box_3["value"] == 3
    assert jobs.started == 3 and jobs.running() == 0 and jobs.queued() == 0


def test_identical_requests_share_one_computation():
    jobs = JobLimiter(2)
    calls = []
    gate = threading.Event()

    def compute(progress):
        calls.append(1)
        gate.wait(WAIT_S)
        return object()

    waiting = [_in_thread(jobs.run, ("analysis", "model", "same text"), compute)
               for _ in range(6)]
    _until(lambda: calls and jobs._jobs[("analysis", "model", "same text")].waiters == 6)
    gate.set()
    for thread, _ in waiting:
        thread.join(WAIT_S)
    results = [box["value"] for _, box in waiting]
    assert len(calls) == 1 and all(result is results[0] for result in results)


class Gone(Exception):
    """What Streamlit raises in a waiting session whose tab closed or whose text changed."""


def test_a_job_nobody_waits_for_stops_at_its_next_batch():
    jobs = JobLimiter(1)
    work = Batches()
    leave = threading.Event()

    def wait(job):
        if leave.is_set():
            raise Gone

    thread, box = _in_thread(jobs.run, "long", work, wait, 0.01)
    _until(lambda: work.done > 5)
    leave.set()
    thread.join(WAIT_S)
    assert isinstance(box["error"], Gone)
    _until(lambda: jobs.running() == 0)  # the computation has returned: no batch after this
    assert work.done < 1_000_000 and jobs.cancelled == 1
    # the slot is free again: the next job runs
    assert jobs.run("next", Batches(2)) == 2


def test_a_shared_job_goes_on_while_someone_still_waits():
    jobs = JobLimiter(1)
    work = Batches(200)
    leave = threading.Event()

    def first_wait(job):
        if leave.is_set():
            raise Gone

    first, first_box = _in_thread(jobs.run, "shared", work, first_wait, 0.01)
    _until(lambda: work.done > 2)
    second, second_box = _in_thread(jobs.run, "shared", work)
    _until(lambda: jobs._jobs["shared"].waiters == 2)
    leave.set()
    first.join(WAIT_S)
    second.join(WAIT_S)
    assert isinstance(first_box["error"], Gone)
    assert second_box["value"] == 200 and jobs.cancelled == 0


def test_a_queued_job_whose_visitor_left_never_starts():
    jobs = JobLimiter(1)
    blocker, queued = Batches(3), Batches(3)
    blocker.gate.clear()
    running, _ = _in_thread(jobs.run, "blocker", blocker)
    _until(blocker.started.is_set)
    leave = threading.Event()

    def wait(job):
        if leave.is_set():
            raise Gone

    thread, box = _in_thread(jobs.run, "queued", queued, wait, 0.01)
    _until(lambda: jobs.queued() == 1)
    leave.set()
    thread.join(WAIT_S)
    assert isinstance(box["error"], Gone) and jobs.queued() == 0
    blocker.gate.set()
    running.join(WAIT_S)
    assert not queued.started.is_set() and jobs.started == 1


def test_errors_reach_every_waiter_and_free_the_slot():
    jobs = JobLimiter(1)

    def fails(progress):
        raise ValueError("bad input")

    with pytest.raises(ValueError, match="bad input"):
        jobs.run("x", fails)
    assert jobs.run("y", lambda progress: 7) == 7


def test_a_cancelled_job_raises_job_cancelled_inside_the_computation():
    jobs = JobLimiter(1)
    seen = []
    work = Batches()

    def compute(progress):
        try:
            return work(progress)
        except JobCancelled:
            seen.append("cancelled")
            raise

    thread, _ = _in_thread(jobs.run, "k", compute, lambda job: (_ for _ in ()).throw(Gone)
                           if work.done > 3 else None, 0.01)
    thread.join(WAIT_S)
    _until(lambda: seen == ["cancelled"])


def test_k_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("EXPLORER_MAX_JOBS", "3")
    reset_limiters()
    try:
        assert max_jobs() == 3 and limiter().max_jobs == 3
        monkeypatch.setenv("EXPLORER_MAX_JOBS", "zero")
        assert max_jobs() >= 1  # bad values fall back to the default
    finally:
        reset_limiters()


def _thread_niceness() -> int:
    """The calling thread's niceness as the kernel reports it (``/proc``, field 19)."""
    with open(f"/proc/self/task/{threading.get_native_id()}/stat") as file:
        stat = file.read()
    return int(stat.rsplit(")", 1)[1].split()[16])


@pytest.mark.skipif(not os.path.exists("/proc/self/task"), reason="per-thread /proc (Linux)")
def test_batch_work_runs_at_a_lower_priority_than_one_pass_work(monkeypatch):
    """A batch worker's thread is niced by $EXPLORER_BATCH_NICENESS (so a visitor's one-pass
    work gets a busy core first); one-pass workers and the server keep their priority."""
    monkeypatch.setenv("EXPLORER_BATCH_NICENESS", "3")
    reset_limiters()
    try:
        server = _thread_niceness()
        batch = limiter(BATCH).run("batch", lambda progress: _thread_niceness())
        one_pass = limiter(PASS).run("pass", lambda progress: _thread_niceness())
    finally:
        reset_limiters()
    assert batch == min(19, server + 3) and one_pass == server == _thread_niceness()


def test_a_queued_corpus_build_is_told_its_place(monkeypatch):
    """The Corpus and Head patterns pages' bars (ui.jobs.run_batch_job → waiting(jobs_ahead))
    show the place in the batch queue, whatever job is ahead (not "another session's index
    build")."""
    from ui.jobs import place_text, run_batch_job

    monkeypatch.setenv("EXPLORER_MAX_JOBS", "1")
    reset_limiters()
    try:
        lane = limiter(BATCH)
        attribution = Batches(3)
        attribution.gate.clear()
        blocker, _ = _in_thread(lane.run, "attribution of another visitor", attribution)
        _until(attribution.started.is_set)
        places: dict[str, list[int]] = {"first": [], "second": []}
        builds = {name: Batches(2) for name in places}
        threads = []
        for name in places:
            threads.append(_in_thread(run_batch_job, ("index", name), builds[name],
                                      lambda done, total: None, places[name].append))
            _until(lambda name=name: len(places[name]) > 0)
        _until(lambda: places["first"][-1] == 0 and places["second"][-1] == 1)
        attribution.gate.set()
        for thread, box in [*threads, (blocker, {})]:
            thread.join(WAIT_S)
            assert "error" not in box
        assert [box["value"] for _, box in threads] == [2, 2]
    finally:
        reset_limiters()
    assert place_text(1, "index build").startswith("Busy: 1 job ahead of yours. Your index build")
    assert place_text(0, "head statistics computation") == ("Busy: your head statistics "
                                                          "computation starts next.")
