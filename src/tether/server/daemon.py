"""The daemon process: one per ``$TETHER_HOME``, found through ``daemon.json``.

It holds an exclusive ``flock`` on ``daemon.lock`` for its lifetime (see
address.py for how clients use it).
"""

import fcntl
import json
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import IO

import uvicorn

from tether.config import Config
from tether.engine.audit import Auditor
from tether.engine.presence import Presence
from tether.engine.supervisor import Engine
from tether.errors import DaemonError
from tether.history.indexer import run_indexer
from tether.ledger import people
from tether.ledger.store import open_ledger
from tether.notify.notifier import Notifier
from tether.server.address import INFO_FILE, LOCK_FILE, DaemonInfo, running
from tether.server.app import create_app
from tether.server.bus import CommitBus
from tether.server.security import check_bind


@contextmanager
def _exclusive(home: Path) -> Iterator[IO[str]]:
    home.mkdir(parents=True, exist_ok=True)
    handle = (home / LOCK_FILE).open("a")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as exc:
        handle.close()
        live = running(home)
        where = f" at {live.url} (pid {live.pid})" if live else ""
        raise DaemonError(
            f"tether is already serving {home}{where}; stop it with `tether daemon stop`"
        ) from exc
    try:
        yield handle
    finally:
        (home / INFO_FILE).unlink(missing_ok=True)
        handle.close()


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named, so asyncio sets TCP_NODELAY on each connection (it checks the
    # protocol): else a keep-alive response's body waits ~40 ms for the ACK of its head.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise DaemonError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    sock.listen(128)
    return sock


def serve(config: Config, host: str | None = None, port: int | None = None) -> None:
    host = host or config.server.host
    port = config.server.port if port is None else port
    with _exclusive(config.home):
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s"
        )
        ledger = open_ledger(config)
        try:
            with ledger.db.read() as conn:
                check_bind(host, config.server.token, people.has_live_tokens(conn))
        except DaemonError:
            ledger.close()
            raise
        sock = _bind(host, port)
        scheme = "https" if config.server.tls_cert else "http"
        info = DaemonInfo(host, sock.getsockname()[1], os.getpid(), time.time(), scheme)
        tmp = config.home / f".{INFO_FILE}.tmp"
        tmp.write_text(json.dumps(asdict(info)))
        os.replace(tmp, config.home / INFO_FILE)
        presence = Presence(config, ledger, info.url)
        presence.start()
        engine = Engine(config, ledger)
        engine.start()
        stop_indexing = threading.Event()
        auditor = Auditor(config, ledger)
        threading.Thread(
            target=auditor.run_forever, args=(stop_indexing,), name="tether-audit", daemon=True
        ).start()
        notifier = Notifier(config, ledger)
        commits = CommitBus(ledger.db.engine)
        commits.start(notifier.nudge)
        notifier.start(stop_indexing)
        if config.history.index_in_daemon:
            threading.Thread(
                target=run_indexer,
                args=(config, ledger, stop_indexing),
                name="tether-history",
                daemon=True,
            ).start()
        app = create_app(config, ledger, engine, bind_host=host)
        server = uvicorn.Server(
            uvicorn.Config(
                app,
                log_level="warning",
                access_log=False,
                ssl_certfile=config.server.tls_cert or None,
                ssl_keyfile=config.server.tls_key or None,
            )
        )
        try:
            with _exit_on_signals():
                server.run(sockets=[sock])
        except (SystemExit, KeyboardInterrupt):
            pass
        finally:
            stop_indexing.set()
            commits.stop()
            engine.stop()
            presence.stop()
            ledger.close()


@contextmanager
def _exit_on_signals() -> Iterator[None]:
    """Uvicorn re-raises SIGTERM/SIGINT after its graceful shutdown; turn that into a
    clean exit so our cleanup (address file, lock) runs, and restore the old handlers."""

    def _exit(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    previous = {sig: signal.signal(sig, _exit) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
