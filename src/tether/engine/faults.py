"""Crash points: ``TETHER_CRASH_AT=<point>`` SIGKILLs the daemon exactly there.

Only tests and bench/soak.py set it, to reproduce a daemon killed inside a
window deterministically instead of by luck.
"""

import os
import signal

RUNNER_STARTED = "runner-started"  # the runner exists; the ledger does not know its pid yet


def crash_point(name: str) -> None:
    if os.environ.get("TETHER_CRASH_AT") == name:
        os.kill(os.getpid(), signal.SIGKILL)
