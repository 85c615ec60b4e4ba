"""Who owns a turn's attempt: whoever holds the ``flock`` on its ``owner.lock``.

The daemon takes the lock before it starts a runner and the runner inherits
the open file, so the lock is held from before the runner exists until the
runner exits, whatever happens to the daemon in between. Recovery asks the
lock, never a pid written after the start (the window that let a turn run
twice): held means a runner owns the attempt; free with no exit status means
nothing runs it. Standard library only: the runner's side must start fast.
"""

import fcntl
import os

from tether.engine.rundir import RunDir


def claim(run: RunDir) -> int | None:
    """The locked descriptor of the attempt's lock file, or None if a runner owns it."""
    run.path.mkdir(parents=True, exist_ok=True)
    fd = os.open(run.owner, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def held(run: RunDir) -> bool | None:
    """Whether a runner owns the attempt; None when it has no lock file (never claimed)."""
    try:
        fd = os.open(run.owner, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing drops a lock this probe took
    return False
