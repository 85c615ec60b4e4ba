"""A runner parent started once per daemon: it forks a ready runner for each attempt.

Starting a runner as a new Python process costs ~70 ms of CPU (interpreter
and imports); on a busy machine with many turns starting at once, that is
most of the wait between a message accepted and its agent started. The
zygote imports the runner once and forks it per attempt (about a
millisecond). The daemon sends, over a ``SOCK_SEQPACKET`` pair, the run dir
with the attempt's locked ``owner.lock`` descriptor attached (SCM_RIGHTS);
the child starts a session of its own, keeps the descriptor for its whole
life and runs the runner; the zygote answers with the child's pid. When the
daemon dies the zygote reads end-of-file and exits; its runners go on.
Standard library only, and single-threaded, so forking it is safe.

Usage: python -m tether.engine.zygote FD
"""

import os
import signal
import socket
import sys
from pathlib import Path

from tether.engine import runner

MAX_MESSAGE = 8192


def _child(conn: socket.socket, run_dir: Path) -> None:
    """In the forked child: become a detached runner; never return."""
    code = 1
    try:
        conn.close()
        os.setsid()
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # the runner waits for its agent
        log = os.open(run_dir / "runner.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(log)
        code = runner.run(run_dir)
    finally:
        os._exit(code)


def serve(conn: socket.socket) -> None:
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps the runners
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while True:
        message, fds, _, _ = socket.recv_fds(conn, MAX_MESSAGE, 1)
        if not message:
            return  # the daemon is gone
        pid = os.fork()
        if pid == 0:
            _child(conn, Path(os.fsdecode(message)))
        for fd in fds:
            os.close(fd)
        conn.sendall(str(pid).encode())


if __name__ == "__main__":
    serve(socket.socket(fileno=int(sys.argv[1])))
