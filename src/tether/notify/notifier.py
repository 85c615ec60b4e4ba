"""The daemon's notifier: the change feed → notices → the webhook and the command.

One reader follows the ledger's change log (the source of the live channel)
from a cursor saved in the ledger, and writes a notice for each turn that
needs a person or finished; a notice's unique tag makes it once, even when
the reader re-reads after a restart. Each configured sink has a worker of
its own that delivers this host's pending notices in order, retrying with
backoff: a hanging or dead receiver delays only its own deliveries, never
the engine, a request or the other sink.
"""

import logging
import random
import threading
import time

from sqlalchemy import Connection

from tether.config import Config
from tether.domain.notices import Notice, notice_for
from tether.errors import DeliveryError, NotFound
from tether.ledger import changes, notices, sessions, turns
from tether.ledger.changes import Position
from tether.ledger.notices import Sink
from tether.ledger.store import Ledger
from tether.notify import sinks

log = logging.getLogger("tether.notify")
BATCH = 500  # changes read per pass
PENDING = 50  # notices a sink worker holds at once
TICK_S = 1.0  # a pass without a nudge (writes by another process)
SAVE_EVERY_S = 5.0  # a cursor with no notice to write is saved this often
MAX_BACKOFF_S = 300.0
KEEP_S = 30 * 86400  # delivered notices are kept this long (the tag guards re-reads meanwhile)
PRUNE_EVERY_S = 3600.0


def backoff(attempts: int) -> float:
    """Seconds before the next try: 1, 2, 4 … up to five minutes, with jitter."""
    return float(min(MAX_BACKOFF_S, 2.0 ** max(attempts - 1, 0)) * (0.75 + random.random() / 2))


class Notifier:
    def __init__(self, config: Config, ledger: Ledger) -> None:
        self.config = config
        self.ledger = ledger
        self.host = config.host_name
        self.nudged = threading.Event()
        self.deliveries: dict[Sink, sinks.Deliver] = {}
        notify = config.notify
        if notify.webhook:
            self.deliveries["webhook"] = sinks.webhook(notify.webhook, notify.timeout_s)
        if notify.command:
            self.deliveries["command"] = sinks.command(notify.command, notify.timeout_s)
        self.wakes = {sink: threading.Event() for sink in self.deliveries}

    def nudge(self) -> None:
        """The ledger may have new commits (called by the commit bus)."""
        self.nudged.set()

    def start(self, stop: threading.Event) -> list[threading.Thread]:
        """Read and deliver until ``stop`` is set; the threads, for a caller that joins them."""
        threads = [threading.Thread(target=self._read_forever, args=(stop,), name="tether-notify")]
        for sink in self.deliveries:
            threads.append(
                threading.Thread(
                    target=self._deliver_forever, args=(sink, stop), name=f"tether-notify-{sink}"
                )
            )
        for thread in threads:
            thread.daemon = True
            thread.start()
        return threads

    # Reading the change feed

    def _read_forever(self, stop: threading.Event) -> None:
        position: Position | None = None
        saved, saved_at, pruned_at = position, time.monotonic(), 0.0
        while not stop.is_set():
            try:
                if position is None:
                    with self.ledger.db.write() as conn:
                        position = saved = notices.start_cursor(conn, self.host)
                position, wrote = self.read_once(position)
                if wrote or (position != saved and time.monotonic() - saved_at > SAVE_EVERY_S):
                    if not wrote:
                        with self.ledger.db.write() as conn:
                            notices.save_cursor(conn, self.host, position)
                    saved, saved_at = position, time.monotonic()
                    for wake in self.wakes.values():
                        wake.set()
                if time.monotonic() - pruned_at > PRUNE_EVERY_S:
                    with self.ledger.db.write() as conn:
                        notices.prune(conn, time.time() - KEEP_S)
                    pruned_at = time.monotonic()
            except Exception:  # logged, never fatal: the next pass retries from the cursor
                log.exception("action=notify_read_failed")
            self.nudged.wait(TICK_S)
            self.nudged.clear()

    def read_once(self, position: Position) -> tuple[Position, bool]:
        """Notices for the turns written after ``position``; the new position, and whether
        anything was written (the cursor is then saved in the same transaction)."""
        wrote = False
        while True:
            with self.ledger.db.read() as conn:
                found = changes.changes_after(conn, position, BATCH)
                due = self._notices(conn, [c.subject for c in found if c.kind == "turn"])
            if not found:
                return position, wrote
            position = found[-1].at
            if due:
                with self.ledger.db.write() as conn:
                    for notice in due:
                        if notices.add(conn, notice, self.host, set(self.deliveries)):
                            log.info("action=notice tag=%s %s", notice.tag, notice.headline)
                    notices.save_cursor(conn, self.host, position)
                wrote = True
            if len(found) < BATCH:
                return position, wrote

    def _notices(self, conn: Connection, turn_ids: list[str]) -> list[Notice]:
        due = []
        for turn_id in dict.fromkeys(turn_ids):
            try:
                turn = turns.get(conn, turn_id)
                session = sessions.get(conn, turn.session_id)
            except NotFound:
                continue
            notice = notice_for(turn, session)
            if notice is not None:
                due.append(notice)
        return due

    # Delivering

    def _deliver_forever(self, sink: Sink, stop: threading.Event) -> None:
        deliver, wake = self.deliveries[sink], self.wakes[sink]
        while not stop.is_set():
            try:
                with self.ledger.db.read() as conn:
                    batch = notices.pending(conn, sink, self.host, PENDING)
                for item in batch:
                    if stop.is_set() or not self._deliver(sink, deliver, item, stop):
                        break
            except Exception:  # logged, never fatal: pending notices stay in the ledger
                log.exception("action=notify_pending_failed sink=%s", sink)
                batch = []
            if not batch:
                wake.wait(TICK_S * 5)
                wake.clear()

    def _deliver(
        self, sink: Sink, deliver: sinks.Deliver, item: notices.Pending, stop: threading.Event
    ) -> bool:
        """Deliver one notice, retrying with backoff; False when stopping."""
        attempts = item.attempts
        limit = self.config.notify.max_attempts
        while not stop.is_set():
            attempts += 1
            try:
                deliver(item.payload)
            except DeliveryError as exc:
                give_up = attempts >= limit
                with self.ledger.db.write() as conn:
                    notices.failed(conn, sink, item.pk, attempts, str(exc), give_up)
                log.warning(
                    "action=notify_failed sink=%s tag=%s attempt=%d give_up=%s error=%s",
                    sink,
                    item.payload.get("tag"),
                    attempts,
                    give_up,
                    exc,
                )
                if give_up:
                    return True
                stop.wait(backoff(attempts))
                continue
            with self.ledger.db.write() as conn:
                notices.delivered(conn, sink, item.pk, attempts)
            return True
        return False
