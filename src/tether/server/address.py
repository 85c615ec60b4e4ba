"""Where this home's daemon listens: ``daemon.json``, trusted only while ``daemon.lock`` is held.

The daemon holds an exclusive ``flock`` on ``daemon.lock`` for its lifetime:
the kernel drops it when the process dies however it dies, so a stale
``daemon.json`` is recognised by the lock being free, never by guessing from
a pid. Kept apart from daemon.py (uvicorn, the engine) so that a CLI command
finds the daemon without importing the server.
"""

import fcntl
import json
from dataclasses import dataclass
from pathlib import Path

from tether.errors import ConfigError

INFO_FILE = "daemon.json"
LOCK_FILE = "daemon.lock"


@dataclass(frozen=True)
class DaemonInfo:
    host: str
    port: int
    pid: int
    started_at: float
    scheme: str = "http"

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"


def remote(url: str) -> DaemonInfo:
    """A team daemon elsewhere (``[server] remote``), reached at ``http(s)://host[:port]``."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"[server] remote {url[:100]!r} is not a URL: {exc}") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
        raise ConfigError(f"[server] remote must be http(s)://host[:port], not {url[:100]!r}")
    default = 443 if parts.scheme == "https" else 80
    return DaemonInfo(parts.hostname, port or default, 0, 0.0, parts.scheme)


def _lock_is_held(home: Path) -> bool:
    try:
        with (home / LOCK_FILE).open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.flock(handle, fcntl.LOCK_UN)
            return False
    except BlockingIOError:
        return True
    except FileNotFoundError:
        return False


def running(home: Path) -> DaemonInfo | None:
    """The live daemon of this home, or None."""
    try:
        info = DaemonInfo(**json.loads((home / INFO_FILE).read_text()))
    except (FileNotFoundError, ValueError, TypeError):
        return None
    return info if _lock_is_held(home) else None
