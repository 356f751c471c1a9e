"""Time limits for work whose cost SymPy decides (symbolic verification); on
expiry the caller falls back to a cheaper, still correct route."""
from __future__ import annotations

import signal
import threading
from contextlib import contextmanager

VERIFY_SYMBOLIC_SECONDS = 3.0  # before verification turns to numbers


class Timeout(Exception):
    pass


@contextmanager
def time_limit(seconds: float):
    """Raise Timeout in the block after ``seconds`` (main thread on POSIX; elsewhere no limit)."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer") \
            or signal.getitimer(signal.ITIMER_REAL)[0]:
        yield
        return

    def expire(signum, frame):
        raise Timeout()

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
