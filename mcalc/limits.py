"""Budgets of processor time for work whose cost SymPy decides (verification,
and so every claim `mcalc check` looks at).

A budget counts the processor time of the thread that does the work, not the
wall clock: the same claim gets the same verdict on a busy machine as on a quiet
one (run beside other work, or beside the other workers of `check`, a claim near
its budget passed one run and ran out of time the next).

Budgets nest: an inner one (the symbolic comparison's share) never outlives
the outer one (the claim's), and a Timeout says whose budget ran out, so
each level catches only its own.  On the main thread of a POSIX process the
budget interrupts whatever runs (a SIGPROF timer, which counts the process's
processor time: it wakes at or before the thread's deadline, and sleeps again
if early); elsewhere (threads, Windows) it is kept at the checkpoints the work
passes through.
"""
from __future__ import annotations

import signal
import threading
import time
from contextlib import contextmanager

CLAIM_SECONDS = 3.0  # everything `--verify` or `check` does for one claim
SYMBOLIC_SHARE = 2 / 3  # of what is left, before verification turns to numbers
REPEAT = 0.05  # seconds: a Timeout that did not reach its budget is raised again


class Timeout(Exception):
    def __init__(self, limit: Limit):
        super().__init__(f"over {limit.seconds:g} s")
        self.limit = limit


_clock = time.thread_time  # this thread's processor time


class Limit:
    """A budget of ``seconds`` of processor time from now, for the thread that makes it."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.deadline = _clock() + seconds

    def left(self) -> float:
        return self.deadline - _clock()


class _Active(threading.local):
    def __init__(self):
        self.limits: list[Limit] = []
        self.alarm = False  # this thread's limits are kept by the SIGPROF timer


_ACTIVE = _Active()


def _alarm_usable() -> bool:
    return (hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
            and (_ACTIVE.alarm or not signal.getitimer(signal.ITIMER_PROF)[0]))  # not someone else's timer


def _expired() -> Limit | None:
    """The outermost budget that has run out (its owner must hear of it first)."""
    now = _clock()
    return next((limit for limit in _ACTIVE.limits if limit.deadline <= now), None)


def _on_alarm(signum, frame):
    limit = _expired()
    if limit is not None:
        # again in 50 ms unless the Timeout reaches its budget (which stops the timer): code
        # that swallows exceptions (a collector's callback, a library's bare except) would
        # otherwise leave the work running with no budget at all
        signal.setitimer(signal.ITIMER_PROF, REPEAT)
        raise Timeout(limit)
    _arm()  # woke a little early: sleep again until the nearest deadline


def _arm() -> None:
    if _ACTIVE.limits:
        left = min(limit.deadline for limit in _ACTIVE.limits) - _clock()
        # a budget already spent: its Timeout is on its way to its owner, or comes at the
        # next checkpoint; the alarm leaves it REPEAT to get there (1 ms could land it in
        # the owner's own handler)
        signal.setitimer(signal.ITIMER_PROF, max(left, 1e-4) if left > 0 else REPEAT)
    else:
        signal.setitimer(signal.ITIMER_PROF, 0)


@contextmanager
def time_limit(budget: Limit | float):
    """A budget (a Limit, or seconds from now) for the block; Timeout(limit) when it
    runs out.  The caller makes the Limit first, so that it knows its own budget
    from a Timeout however early that comes (at the block's start, when an outer
    budget has already run out):

        limit = Limit(3)
        try:
            with time_limit(limit):
                work()
        except Timeout as e:
            if e.limit is not limit:
                raise  # an outer budget ran out
    """
    limit = budget if isinstance(budget, Limit) else Limit(budget)
    alarm = _alarm_usable()
    previous = None
    if alarm and not _ACTIVE.alarm:
        previous = signal.signal(signal.SIGPROF, _on_alarm)
        _ACTIVE.alarm = True
    _ACTIVE.limits.append(limit)
    try:
        if alarm:
            _arm()
        checkpoint()
        yield limit
    finally:
        if alarm:
            signal.setitimer(signal.ITIMER_PROF, 0)
        _ACTIVE.limits.remove(limit)
        if alarm:
            if previous is not None:
                _ACTIVE.alarm = False
                signal.signal(signal.SIGPROF, previous)
            else:
                _arm()


def checkpoint() -> None:
    """Raise Timeout if a budget of this thread has run out (for threads without the timer)."""
    limit = _expired()
    if limit is not None:
        raise Timeout(limit)


def remaining() -> float | None:
    """Seconds left in the innermost budget of this thread, if there is one."""
    if not _ACTIVE.limits:
        return None
    return min(limit.deadline for limit in _ACTIVE.limits) - _clock()
