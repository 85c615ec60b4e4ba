"""This daemon as a host of the ledger: registered at start, then a heartbeat.

The heartbeat carries the host's load (its live turns). On a shared ledger
each host also watches its peers: a host silent for ``[team] host_timeout_s``
is presumed dead and its live turns end ``interrupted`` with the reason,
without touching its run directories (only the ledger). The agents and their
versions are probed once, in the background, since each ``--version`` is a
process start.
"""

import logging
import os
import threading
import time

from tether.agents.versions import available
from tether.config import Config
from tether.domain.team import Host
from tether.ledger import hosts, turns
from tether.ledger.store import Ledger

log = logging.getLogger("tether.presence")


class Presence:
    def __init__(self, config: Config, ledger: Ledger, url: str | None) -> None:
        self.config = config
        self.ledger = ledger
        self.url = url
        self.name = config.host_name
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None

    def start(self) -> Host:
        with self.ledger.db.write() as conn:
            host = hosts.register(conn, self.name, self.url, os.getpid(), {})
        self.thread = threading.Thread(target=self._run, name="tether-presence", daemon=True)
        self.thread.start()
        log.info("registered host %s", self.name, extra={"action": "register"})
        return host

    def stop(self) -> None:
        self.stopping.set()
        if self.thread is not None:
            self.thread.join(timeout=10)

    def beat(self) -> None:
        with self.ledger.db.write() as conn:
            hosts.heartbeat(conn, self.name, turns.count_live(conn, host=self.name))

    def sweep(self) -> list[str]:
        """Interrupt the live turns of peers that stopped answering; their ids."""
        timeout = self.config.team.host_timeout_s
        cutoff = time.time() - timeout
        with self.ledger.db.read() as conn:
            silent = hosts.silent_with_live_turns(conn, cutoff, self.name)
        ended: list[str] = []
        for host in silent:
            since = time.strftime("%H:%M:%S UTC", time.gmtime(host.heartbeat_at))
            reason = (
                f"host {host.name} stopped answering at {since} (no heartbeat for {timeout:g}s); "
                f"interrupted by host {self.name}"
            )
            with self.ledger.db.write() as conn:
                done = turns.interrupt_silent_host(conn, host.name, cutoff, reason)
            for turn in done:
                log.warning("%s: %s", turn.id, reason, extra={"action": "interrupt"})
            ended.extend(t.id for t in done)
        return ended

    def _run(self) -> None:
        """Never dies on an error: a host that stops beating is presumed dead by its peers."""
        try:
            agents = available(self.config)
            with self.ledger.db.write() as conn:
                hosts.set_agents(conn, self.name, agents)
        except Exception:
            log.exception("could not record this host's agents", extra={"action": "agents"})
        while not self.stopping.is_set():
            try:
                self.beat()
                if not self.ledger.db.is_sqlite:
                    self.sweep()
            except Exception:
                log.exception("heartbeat failed; retrying", extra={"action": "heartbeat"})
            self.stopping.wait(self.config.team.heartbeat_s)
