"""Runners wake the engine when their agent starts and when it ends, instead of a poll finding it.

The engine binds a Unix datagram socket, ``runs/.wake``; a runner sends it
one empty datagram after each of those records. Nothing depends on it: if
the socket is missing (no daemon, a path too long for AF_UNIX) the engine's
poll still finds every record. Standard library only: runners import it.
"""

import os
import socket
import threading
from collections.abc import Callable
from pathlib import Path

WAKE = ".wake"
MAX_UNIX_PATH = 107


def notify(runs_dir: Path) -> None:
    """Tell the engine of ``runs_dir`` to look now; best effort."""
    path = os.fspath(runs_dir / WAKE)
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.sendto(b"", path)
    except OSError:
        pass  # no engine listening: the next one reads the records anyway


class Listener:
    """The engine's end: ``on_wake`` runs for every datagram, on a thread of its own."""

    def __init__(self, runs_dir: Path, on_wake: Callable[[], None]) -> None:
        self.path = runs_dir / WAKE
        self.on_wake = on_wake
        self.sock: socket.socket | None = None

    def start(self) -> bool:
        if len(os.fsencode(self.path)) > MAX_UNIX_PATH:
            return False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.unlink(missing_ok=True)  # left by a daemon that was killed
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            sock.bind(os.fspath(self.path))
        except OSError:
            sock.close()
            return False
        self.sock = sock
        threading.Thread(target=self._listen, args=(sock,), name="tether-wake", daemon=True).start()
        return True

    def _listen(self, sock: socket.socket) -> None:
        while True:
            try:
                sock.recv(16)
            except OSError:
                return  # closed
            self.on_wake()

    def stop(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
            self.path.unlink(missing_ok=True)
