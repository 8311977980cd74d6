"""Expensive work on a page: through the process's job limiter (:mod:`explorer.jobs`), with the
visitor's place in the queue shown, the result kept in the one budgeted cache.

:func:`computed` is the one door: the result under ``key`` from the cache, else the job for
``key`` (shared with every session asking for the same key, at most K at once), while a bar
says "2 jobs ahead of yours", then how far it is. The waiting loop is this session's script
thread: Streamlit raises ``StopException``/``RerunException`` in it at the bar's next update
when the tab closes or the visitor types new text, and :func:`session_gone` checks the
runtime's session list too; either way this session stops waiting, and a job nobody else waits
for stops at its next batch and frees its memory.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from explorer.cost import Cost
from explorer.jobs import BATCH, Job, JobCancelled, ProgressCallback, limiter
from ui.cache import cached_in_budget, held_in_budget
from ui.keys import CacheKey

Value = TypeVar("Value")
SHOW_AFTER_S = 0.5
"""A job that starts and ends within this long shows no bar (most single analyses)."""


class JobRefused(Exception):
    """The job costs more than this server runs (:meth:`explorer.cost.Cost.problem`)."""


def session_gone() -> bool:
    """Whether this script run's browser session has left the runtime (tab closed)."""
    ctx = get_script_run_ctx(suppress_warning=True)
    if ctx is None:
        return False
    try:
        from streamlit.runtime import Runtime
        return Runtime.exists() and not Runtime.instance().is_active_session(ctx.session_id)
    except Exception:  # no runtime (AppTest): the script's own stop requests still apply
        return False


def place_text(ahead: int, what: str) -> str:
    if ahead > 0:
        return (f"Busy: {ahead} job{'s' if ahead != 1 else ''} ahead of yours. Your {what} "
                "starts when one ends (this page can stay open; closing it cancels).")
    return f"Busy: your {what} starts next."


def computed(key: CacheKey, cost: Cost,
             compute: Callable[[ProgressCallback], Value], what: str,
             progress_text: str = "{done} of {total}") -> Value:
    """The value under ``key`` in the one budgeted cache, else ``compute(progress)`` run by the
    job limiter of ``cost``'s lane (``progress(done, total)`` is called by the job between
    batches; ``what`` names the job to the visitor: "comparison", "attribution" …). Raises
    :class:`JobRefused` when ``cost`` exceeds this server's limit, and what ``compute``
    raises."""
    held = held_in_budget(key)
    if held is not None:
        return held  # type: ignore[return-value]
    problem = cost.problem()
    if problem:
        raise JobRefused(problem)
    lane = limiter(cost.lane)
    slots: list = []  # made on the first update, so quick jobs add no element
    waited = [0.0]

    def wait(job: Job) -> None:
        if session_gone():
            st.stop()
        waited[0] += 0.2
        if waited[0] <= SHOW_AFTER_S:
            return
        if not slots:
            slots.append(st.empty())
        slot = slots[0]
        ahead = lane.ahead(job)
        if ahead >= 0:
            slot.progress(0.0, text=place_text(ahead, what))
        else:
            if not job.total:  # started, no batch reported yet
                slot.progress(0.0, text=f"Computing the {what} …")
                return
            slot.progress(min(1.0, job.done / job.total), text=f"Computing the {what}: "
                          + progress_text.format(done=f"{job.done:,}", total=f"{job.total:,}"))

    try:
        value = lane.run(key, compute, wait)
    except JobCancelled:
        st.stop()  # nobody waits (this session is leaving); nothing is kept
        raise
    finally:
        if slots:
            slots[0].empty()
    return cached_in_budget(key, lambda: value)


def run_batch_job(key: CacheKey, compute: Callable[[ProgressCallback], Value],
                  progress: Callable[[int, int], None], waiting: Callable[[int], None]) -> Value:
    """``compute(report)`` through the batch lane's limiter, for pages that draw their own bar:
    ``waiting(jobs_ahead)`` while jobs ahead of it run, ``progress(done, total)`` while it
    runs (both may raise to give up: Streamlit does when the tab closes). The result is not
    cached here."""
    lane = limiter(BATCH)

    def wait(job: Job) -> None:
        if session_gone():
            st.stop()
        ahead = lane.ahead(job)
        if ahead >= 0:
            waiting(ahead)
        else:
            progress(job.done, job.total)

    try:
        return lane.run(key, compute, wait)
    except JobCancelled:
        st.stop()
        raise
