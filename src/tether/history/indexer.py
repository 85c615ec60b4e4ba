"""One indexing pass, and the loop the daemon runs in a background thread.

A pass stats every native log, reads what is new range by range, folds it
into usage entries and session facts, and writes them with the files' new
offsets. Each line is read once: where a file's transcript is in step with
its usage, its transcript items come from the same pass and are written in
the same transaction, for the native sessions that attribution (done there
too) makes external. Then the rest is attributed, and the transcripts left
behind (attached turns, files read for usage only before) are imported. Bad
data is counted per file; an unreadable file or ledger is recorded and the
pass goes on.
"""

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from operator import attrgetter
from pathlib import Path
from typing import Any

from sqlalchemy import Connection

from tether.config import Config
from tether.errors import TetherError
from tether.history import attribution, meter, opencode, transcripts
from tether.history.facts import SessionFacts, TranscriptItem, UsageEntry
from tether.history.fold import Folded, fold
from tether.history.pricing import PriceTable, load
from tether.history.readers import READERS
from tether.history.report import IndexReport
from tether.history.reprice import price_unpriced
from tether.history.roots import Roots, log_files, roots
from tether.history.scan import Job, JobResult, run_job, split
from tether.history.sources import (
    HEAD_BYTES,
    Change,
    Identity,
    Saved,
    classify,
    head_hash,
    identity,
    store_stamp,
)
from tether.history.timestamps import day_of
from tether.ledger import events as ledger_events
from tether.ledger import history as ledger_history
from tether.ledger.store import Ledger, history_host
from tether.ledger.usage import TOKEN_COLUMNS

log = logging.getLogger(__name__)
FLUSH_ENTRIES = 10_000
Progress = Callable[[int, int], None]  # bytes done, bytes to read


@dataclass(slots=True)
class _Planned:
    agent: str
    path: Path
    now: Identity
    record: ledger_history.FileRecord | None
    start: int
    state: dict[str, Any]
    head_size: int
    head_hash: str
    reset: bool
    talk: bool = False  # its transcript is read in this pass too, in step with its usage

    @property
    def prior(self) -> ledger_history.FileRecord | None:
        """What an earlier pass stored of the file, None when it is read afresh."""
        return None if self.reset else self.record


def _saved(record: ledger_history.FileRecord) -> Saved:
    return Saved(
        Identity(record.device, record.inode, record.size, record.mtime),
        record.head_size,
        record.head_hash,
        record.read_offset,
    )


def _plan(agent: str, path: Path, record: ledger_history.FileRecord | None) -> _Planned | None:
    now = identity(path)
    change = classify(path, now, _saved(record) if record else None)
    if change is Change.SAME:
        return None
    if change is Change.GREW and record is not None:
        return _Planned(
            agent, path, now, record, record.read_offset, record.state,
            record.head_size, record.head_hash, False,
        )  # fmt: skip
    size = min(now.size, HEAD_BYTES)
    return _Planned(agent, path, now, record, 0, {}, size, head_hash(path, size), True)


def _jobs(planned: _Planned, max_line: int) -> list[Job]:
    reader = READERS[planned.agent]
    known = planned.record.native_id if planned.record and not planned.reset else None
    job = Job(
        planned.agent,
        str(planned.path),
        reader.native_id_for(planned.path) or known,
        planned.start,
        head=planned.start == 0,
        title=not planned.state.get("titled", False),
        transcript=planned.talk,
        max_line=max_line,
    )
    return split(job, planned.now.size)


def _in_step(planned: _Planned) -> bool:
    """Its transcript is imported as far as its usage is read (or it is read afresh)."""
    prior = planned.prior
    return prior is None or prior.events_offset >= prior.read_offset


def _native(planned: _Planned) -> str:
    known = planned.record.native_id if planned.record and not planned.reset else None
    return READERS[planned.agent].native_id_for(planned.path) or known or ""


# Positions in a usage entry row (ledger_history.ENTRY_COLUMNS)
_AT = {column: index for index, column in enumerate(ledger_history.ENTRY_COLUMNS)}
_NATIVE, _COPIED, _ORIGIN, _AMOUNTS = (
    _AT[c] for c in ("native_id", "copied", "origin_ts", "model")
)
_TOKENS = slice(_AT[TOKEN_COLUMNS[0]], _AT[TOKEN_COLUMNS[3]] + 1)  # input … output
# A session's facts as the dict merge_sessions takes (dataclasses.asdict deep-copies: 9x slower)
_FACT_FIELDS = tuple(field.name for field in fields(SessionFacts))
_fact_values = attrgetter(*_FACT_FIELDS)


def _entry_row(agent: str, entry: UsageEntry, prices: PriceTable) -> list[Any]:
    """The entry's ledger row; its session's start (``origin_ts``) is filled in at flush."""
    ts, model = entry.timestamp, entry.model
    fresh, cached = entry.input_tokens, entry.cached_input_tokens
    written, output = entry.cache_write_tokens, entry.output_tokens
    return [
        agent,
        entry.key,
        entry.native_id,
        int(entry.copied),
        ledger_history.UNKNOWN_ORIGIN_TS,
        ts,
        day_of(ts),
        entry.turn_key,
        model,
        fresh,
        cached,
        written,
        output,
        entry.reasoning_tokens,
        prices.cost(model, ts, fresh, cached, written, output),
    ]


def _rank(row: list[Any]) -> tuple[int, float, str]:
    return row[_COPIED], row[_ORIGIN], row[_NATIVE]


def _merge(old: list[Any], new: list[Any]) -> list[Any]:
    """The same rule as the ledger's upsert, applied within a batch first: the credit of the
    better occurrence, the amounts of the larger (either row may be returned as it is)."""
    credit = new if _rank(new) < _rank(old) else old
    amounts = new if sum(new[_TOKENS]) > sum(old[_TOKENS]) else old
    return credit if credit is amounts else credit[:_AMOUNTS] + amounts[_AMOUNTS:]


@dataclass(slots=True)
class _FileRead:
    """How far this pass has folded one file, range by range, so a big file never sits whole
    in memory: each range's entries may be written before the next range is folded."""

    planned: _Planned
    state: dict[str, Any]
    end: int
    native_id: str | None
    bad_lines: int
    oversize_lines: int
    events_end: int  # how far its transcript is imported
    error: str | None = None
    ranges: int = 0  # folded so far

    @classmethod
    def start(cls, planned: _Planned) -> "_FileRead":
        record, prior = planned.record, planned.prior
        return cls(
            planned,
            planned.state,
            planned.start,
            record.native_id if record else None,
            prior.bad_lines if prior else 0,
            prior.oversize_lines if prior else 0,
            prior.events_offset if prior else 0,
        )

    def advance(self, folded: Folded, result: JobResult) -> None:
        self.state = folded.state
        self.end = result.stats.end
        self.native_id = folded.native_id or self.native_id
        self.bad_lines += result.stats.bad_lines
        self.oversize_lines += result.stats.oversize_lines
        self.ranges += 1

    def row(self) -> dict[str, Any]:
        planned = self.planned
        return {
            "agent": planned.agent,
            "path": str(planned.path),
            "native_id": self.native_id,
            "device": planned.now.device,
            "inode": planned.now.inode,
            "size": planned.now.size,
            "mtime": planned.now.mtime,
            "head_size": planned.head_size,
            "head_hash": planned.head_hash,
            "read_offset": self.end,
            "events_offset": self.events_end,
            "state": json.dumps(self.state),
            "bad_lines": self.bad_lines,
            "oversize_lines": self.oversize_lines,
            "error": self.error,
            "scanned_at": time.time(),
        }


@dataclass(frozen=True, slots=True)
class _Talk:
    """What writing transcript events from the usage pass needs."""

    roots: dict[str, Path]  # for attribution's catch-all projects
    preview_bytes: int


class _Batch:
    """File outcomes waiting to be written in one transaction."""

    def __init__(self, prices: PriceTable, talk: _Talk | None = None) -> None:
        self.prices = prices
        self.talk = talk
        self.created = 0  # external sessions created by the flushes so far
        self.events = 0  # transcript events inserted by the flushes so far
        self.clear()

    def clear(self) -> None:
        self.entries: dict[tuple[str, str], list[Any]] = {}  # by (agent, key), merged
        # rows whose key another session's row holds: which is credited depends on when each
        # session started, known once the batch's sessions are written
        self.contested: list[list[Any]] = []
        self.sessions: dict[str, list[dict[str, Any]]] = {}
        self.files: dict[str, dict[str, Any]] = {}  # by path: a file's latest progress
        self.resets: list[tuple[str, str]] = []
        # by path: the file, where its items start, the items
        self.items: dict[str, tuple[_FileRead, int, list[TranscriptItem]]] = {}
        self.items_count = 0
        self.items_bytes = 0

    def add(self, reading: _FileRead, folded: Folded, items: list[TranscriptItem]) -> None:
        """One folded range of a file and its transcript items (the caller records the file's
        row)."""
        planned = reading.planned
        agent = planned.agent
        for entry in folded.entries:
            row = _entry_row(agent, entry, self.prices)
            key = (agent, entry.key)
            held = self.entries.get(key)
            if held is None:
                self.entries[key] = row
            elif held[_NATIVE] == row[_NATIVE]:
                self.entries[key] = _merge(held, row)
            else:
                self.contested.append(row)
        self.sessions.setdefault(agent, []).extend(
            dict(zip(_FACT_FIELDS, _fact_values(s), strict=True)) for s in folded.sessions
        )
        first = reading.ranges == 0
        if first and planned.reset and planned.record is not None and planned.record.native_id:
            self.resets.append((agent, planned.record.native_id))
        if planned.talk:
            self.items.setdefault(str(planned.path), (reading, reading.end, []))[2].extend(items)
            self.items_count += len(items)
            self.items_bytes += transcripts.size(items)

    def full(self) -> bool:
        return len(self.entries) >= FLUSH_ENTRIES or transcripts.batch_full(
            self.items_count, self.items_bytes
        )

    def flush(self, ledger: Ledger, host: str) -> None:
        if not self.files:
            return
        with ledger.db.write() as conn:
            for agent, native_id in self.resets:
                if ledger_history.files_of(conn, agent, native_id) <= 1:
                    ledger_history.delete_entries_of(conn, agent, native_id)
            for agent, facts in self.sessions.items():
                ledger_history.merge_sessions(conn, agent, _merged_facts(facts), host or None)
            ledger_history.upsert_entries(conn, self._entry_rows(conn))
            if self.talk is not None and self.items:
                self._write_events(conn, ledger, self.talk)
            ledger_history.save_files(conn, host, list(self.files.values()))
        self.clear()

    def _entry_rows(self, conn: Connection) -> list[list[Any]]:
        """The batch's entry rows credited by their sessions' starts (written by now), the
        contested keys settled with them."""
        rows = [*self.entries.values(), *self.contested]
        for agent in {row[0] for row in rows}:
            mine = [row for row in rows if row[0] == agent]
            starts = ledger_history.started_at(conn, agent, (row[_NATIVE] for row in mine))
            for row in mine:
                row[_ORIGIN] = starts.get(row[_NATIVE], row[_ORIGIN])
        for row in self.contested:
            key = (row[0], row[1])
            self.entries[key] = _merge(self.entries[key], row)
        return list(self.entries.values())

    def _write_events(self, conn: Connection, ledger: Ledger, talk: _Talk) -> None:
        """The batch's transcript items, for the native sessions that are external once
        attributed; a file's events offset then moves with its read offset. A tether
        session's items are left: its attached turns' records are imported afterwards."""
        self.created += attribution.attribute_all(conn, talk.roots)
        readings = [reading for reading, _, _ in self.items.values()]
        external = ledger_history.external_sessions(
            conn, {(r.planned.agent, r.native_id) for r in readings if r.native_id}
        )
        rows: list[dict[str, object]] = []
        for path, (reading, start, items) in self.items.items():
            session_id = external.get((reading.planned.agent, reading.native_id or ""))
            if session_id is None or reading.events_end != start:
                continue
            rows.extend(
                transcripts.event_rows(items, session_id, None, ledger.blobs, talk.preview_bytes)
            )
            reading.events_end = reading.end
            self.files[path]["events_offset"] = reading.end
        self.events += ledger_events.insert_rows(conn, rows)


def _merged_facts(facts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by_id: dict[str, dict[str, Any]] = {}
    for item in facts:
        old = by_id.get(item["native_id"])
        if old is None:
            by_id[item["native_id"]] = dict(item)
            continue
        for key, choose in (("started_at", min), ("ended_at", max)):
            values = [v for v in (old[key], item[key]) if v is not None]
            old[key] = choose(values) if values else None
        for key in ("cwd", "title", "parent_native_id"):
            old[key] = old[key] or item[key]
        old["model"] = item["model"] or old["model"]
    return list(by_id.values())


def _found_files(
    found: Roots, known: dict[str, ledger_history.FileRecord], walk: bool
) -> list[Any]:
    if walk:
        return list(log_files(found))
    return [(r.agent, Path(r.path)) for r in known.values() if r.agent in READERS]


class Indexer:
    """Index the native logs of one machine into one ledger, as that machine's host.

    A host reads, rescans and measures only the files it recorded itself:
    another host's paths name files on another machine.
    """

    def __init__(self, config: Config, ledger: Ledger) -> None:
        self.config = config
        self.ledger = ledger
        self.host = history_host(config, ledger)
        self.roots = roots(config.history)
        self.prices = load(config.home)

    def agent_roots(self) -> dict[str, Path]:
        return {
            "codex": self.roots.codex,
            "claude": self.roots.claude[0],
            "gemini": self.roots.gemini,
            "opencode": self.roots.opencode_db.parent,
        }

    def run_once(self, progress: Progress | None = None, walk: bool = True) -> IndexReport:
        started = time.perf_counter()
        report = IndexReport()
        talk = bool(self.config.history.import_transcripts)
        with self.ledger.db.read() as conn:
            known = ledger_history.load_files(conn, self.host)
            held = ledger_history.tether_held(conn) if talk else None
        plans = self._plans(_found_files(self.roots, known, walk), known, report)
        if held is not None:
            for planned in plans:
                planned.talk = _in_step(planned) and (planned.agent, _native(planned)) not in held
        self._read(plans, report, progress)
        self._read_opencode(known.get(str(self.roots.opencode_db)), report)
        if report.entries:  # the prices are loaded by now: price what an older table could not
            price_unpriced(self.ledger, self.prices)
        with self.ledger.db.write() as conn:
            report.sessions_created += attribution.attribute_all(conn, self.agent_roots())
        report.threads_measured = meter.measure(
            self.ledger, self.host, self.config.history.max_line_bytes
        )
        if talk:
            report.events += self.import_transcripts()
        report.seconds = time.perf_counter() - started
        return report

    def _plans(
        self, files: list[Any], known: dict[str, Any], report: IndexReport
    ) -> list[_Planned]:
        plans = []
        for agent, path in files:
            report.files += 1
            try:
                planned = _plan(agent, path, known.get(str(path)))
            except OSError as exc:
                report.errors.append(f"{path}: {exc.strerror or exc}")
                continue
            if planned is not None:
                plans.append(planned)
        return plans

    def _read(self, plans: list[_Planned], report: IndexReport, progress: Progress | None) -> None:
        """Fold each range as it comes back, in file order; a file stops at an unreadable range
        (its row keeps how far it got, and the next pass reads on from there)."""
        max_line = self.config.history.max_line_bytes
        pieces = [(planned, job) for planned in plans for job in _jobs(planned, max_line)]
        results = map(run_job, (job for _, job in pieces))
        total = sum(p.now.size - p.start for p in plans)
        talk = _Talk(self.agent_roots(), self.config.engine.preview_bytes)
        batch = _Batch(self.prices, talk)
        reading: _FileRead | None = None
        done = 0
        for (planned, job), result in zip(pieces, results, strict=True):
            if reading is None or reading.planned is not planned:
                reading = _FileRead.start(planned)
                report.files_read += 1
            done += (job.end if job.end is not None else planned.now.size) - job.start
            if reading.error is None:
                self._fold(reading, result, batch, report)
            if progress is not None:
                progress(done, total)
            if batch.full():
                batch.flush(self.ledger, self.host)
        batch.flush(self.ledger, self.host)
        report.sessions_created += batch.created
        report.events += batch.events

    def _fold(
        self, reading: _FileRead, result: JobResult, batch: _Batch, report: IndexReport
    ) -> None:
        planned = reading.planned
        report.bytes_read += result.disk_bytes
        report.bad_lines += result.stats.bad_lines
        report.oversize_lines += result.stats.oversize_lines
        if result.error:
            report.errors.append(f"{planned.path}: {result.error}")
            reading.error = result.error
            batch.files[str(planned.path)] = reading.row()
            return
        folded = fold(planned.agent, planned.path, reading.state, [result])
        report.entries += len(folded.entries)
        batch.add(reading, folded, result.transcript)
        reading.advance(folded, result)
        batch.files[str(planned.path)] = reading.row()

    def _read_opencode(self, record: ledger_history.FileRecord | None, report: IndexReport) -> None:
        """OpenCode keeps a database, not logs: read it from its watermark when it changed."""
        path = self.roots.opencode_db
        state = record.state if record is not None else {}
        try:
            if state.get("stamp") == store_stamp(path):
                return
            read = opencode.read(path, int(state.get("watermark", 0)))
            # stamped after reading: opening the store read-only may create its -wal file
            stamp, now = store_stamp(path), identity(path)
        except OSError:
            return
        report.files += 1
        if read.error:
            report.errors.append(read.error)
        report.files_read += 1
        report.entries += len(read.entries)
        report.bad_lines += read.bad_rows
        batch = _Batch(self.prices)
        planned = _Planned("opencode", path, now, record, 0, state, 0, "", False)
        folded = Folded(None, read.entries, read.sessions, {"watermark": read.watermark})
        if not read.error:
            folded.state["stamp"] = stamp
        reading = _FileRead.start(planned)
        batch.add(reading, folded, [])
        reading.state, reading.error = folded.state, read.error
        reading.bad_lines += read.bad_rows
        batch.files[str(path)] = reading.row()
        batch.flush(self.ledger, self.host)

    def import_transcripts(self) -> int:
        """Import what was said outside tether's own streams, from each file's events offset on,
        where the usage pass did not (see ``history/transcripts.py``).

        Files are read in ranges; events are written in batches, each with
        its files' new offsets in the same transaction.
        """
        with self.ledger.db.read() as conn:
            files = ledger_history.load_files(conn, self.host)
            external = ledger_history.external_sessions(conn)
            attached = ledger_history.attached_windows(conn)
        todo: list[tuple[ledger_history.FileRecord, str, list[Any] | None]] = []
        for record in files.values():
            key = (record.agent, record.native_id or "")
            if record.events_offset >= record.read_offset:
                continue
            if key in external:
                todo.append((record, external[key], None))
            elif key in attached:
                todo.append((record, *attached[key]))
        jobs = [
            (index, job)
            for index, (record, _, _) in enumerate(todo)
            for job in split(self._transcript_job(record), record.read_offset)
        ]
        results = map(run_job, (job for _, job in jobs))
        imported = 0
        batch = _EventBatch(self.host)
        failed: set[int] = set()  # a file stops at its first unreadable range
        for (index, _), result in zip(jobs, results, strict=True):
            if result.error or index in failed:
                failed.add(index)
                continue
            record, session_id, windows = todo[index]
            rows = transcripts.event_rows(
                result.transcript,
                session_id,
                windows,
                self.ledger.blobs,
                self.config.engine.preview_bytes,
            )
            batch.add(rows)
            batch.offsets.append((record.path, min(result.stats.end, record.read_offset)))
            if batch.full():
                imported += batch.write(self.ledger)
        return imported + batch.write(self.ledger)

    def _transcript_job(self, record: ledger_history.FileRecord) -> Job:
        return Job(
            record.agent,
            record.path,
            record.native_id,
            record.events_offset,
            end=record.read_offset,
            usage=False,
            transcript=True,
            max_line=self.config.history.max_line_bytes,
        )


class _EventBatch:
    """Transcript events of several files and those files' new events offsets."""

    def __init__(self, host: str) -> None:
        self.host = host
        self.rows: list[dict[str, object]] = []
        self.bytes = 0
        self.offsets: list[tuple[str, int]] = []

    def add(self, rows: list[dict[str, object]]) -> None:
        self.rows.extend(rows)
        self.bytes += sum(len(str(row["preview"])) for row in rows)

    def full(self) -> bool:
        return transcripts.batch_full(len(self.rows), self.bytes)

    def write(self, ledger: Ledger) -> int:
        """One transaction; returns the events inserted (those not stored before)."""
        if not self.offsets:
            return 0
        with ledger.db.write() as conn:
            inserted = ledger_events.insert_rows(conn, self.rows)
            ledger_history.set_events_offsets(conn, self.host, self.offsets)
        self.__init__(self.host)  # type: ignore[misc]
        return inserted


def run_indexer(config: Config, ledger: Ledger, stop: threading.Event) -> None:
    """The daemon's background loop: stat known logs often, walk the roots now and then.

    Errors are logged and the loop goes on; ``stop`` ends it within one interval.
    """
    indexer = Indexer(config, ledger)
    settings = config.history
    last_walk = 0.0
    while not stop.is_set():
        walk = time.monotonic() - last_walk >= settings.rescan_interval_s
        try:
            report = indexer.run_once(walk=walk)
            if report.files_read:
                log.info(
                    "action=history_index files=%d entries=%d", report.files_read, report.entries
                )
        except TetherError as exc:
            log.warning("action=history_index_failed error=%s", exc)
        except Exception:  # a dead indexer thread would stop all history silently: log, go on
            log.exception("action=history_index_failed")
        if walk:
            last_walk = time.monotonic()
        stop.wait(settings.watch_interval_s)
