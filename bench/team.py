"""Turn claims on one PostgreSQL ledger: three hosts against one, in the same run.

Queues 1,000 turns (100 sessions of 10, on no particular host so every host
may claim them), then hosts -- separate processes with their own
connections, like separate machines -- claim with ``ledger.turns.claim``
(``FOR UPDATE SKIP LOCKED``) and finish each turn at once (a fake agent that
takes no time, so the figure is tether's own cost). Prints the claim
latency (p50/p99 of one claim transaction) and the throughput in turns/s,
single host first, then three; the ratio three/one is comparable across
machines. It also checks each turn ran exactly once and lanes never overlapped.

By default the queue is claimed as soon as it is written, before PostgreSQL has
statistics of it (autovacuum analyzes within a minute), as on a new ledger hit
by a burst; ``--analyze`` measures with the statistics up to date. The two
should be close: the dispatch query finds a session's oldest queued turn by its
index whatever the planner knows.

    .venv/bin/python bench/team.py                 # 1,000 turns, 1 host then 3
    .venv/bin/python bench/team.py --analyze       # the same with fresh statistics
    .venv/bin/python bench/team.py --turns 300 --hosts 4
"""

from __future__ import annotations

import argparse
import itertools
import multiprocessing
import os
import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import psycopg

from tether.domain.states import TurnState
from tether.ledger import projects, sessions, turns
from tether.ledger.db import Database
from tether.ledger.migrate import migrate

PG_ADMIN = os.environ.get("TETHER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
Report = tuple[list[float], list[tuple[str, float, float]]]  # claim latencies, runs
PER_SESSION = 10
BATCH = 8  # [engine] max_parallel


@dataclass(frozen=True)
class Run:
    hosts: int
    seconds: float
    latencies_ms: list[float]
    turns: int

    @property
    def throughput(self) -> float:
        return self.turns / self.seconds

    def pct(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def fresh_schema() -> tuple[str, str]:
    schema = f"tether_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    host_part = PG_ADMIN.split("://", 1)[1]
    return schema, f"postgresql+psycopg://{host_part}?options=-csearch_path%3D{schema}"


def drop_schema(schema: str) -> None:
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def queue(url: str, total: int, root: Path, analyze: bool) -> None:
    db = Database(url)
    migrate(db)
    with db.write() as conn:
        project = projects.add(conn, root, name="bench")
        for _ in range(total // PER_SESSION):
            session = sessions.create(conn, project, "codex", str(root))
            for n in range(PER_SESSION):
                turns.add(conn, session, f"turn {n}")
    if analyze:
        with db.write() as conn:
            conn.exec_driver_sql("ANALYZE")
    db.dispose()


def host(url: str, name: str, total: int, out: multiprocessing.Queue[object]) -> None:
    """Claim and finish turns until none is left; report (turn, start, end) and latencies."""
    db = Database(url)
    latencies: list[float] = []
    runs: list[tuple[str, float, float]] = []
    while True:
        started = time.perf_counter()
        with db.write() as conn:
            claimed = turns.claim(conn, name, BATCH, only_own=True)
        latencies.append((time.perf_counter() - started) * 1000)
        if not claimed:
            with db.read() as conn:
                if turns.count_live(conn) == 0 and not turns.next_dispatchable(conn, 1):
                    break
            continue
        for turn in claimed:
            began = time.time()
            with db.write() as conn:
                turns.transition(conn, turn.id, TurnState.RUNNING)
                turns.transition(conn, turn.id, TurnState.COMPLETED, reason="fake agent")
                runs.append((turn.id, began, time.time()))
    db.dispose()
    out.put((latencies, runs))


def measure(total: int, hosts: int, analyze: bool) -> Run:
    schema, url = fresh_schema()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            queue(url, total, Path(tmp), analyze)
        results: multiprocessing.Queue[object] = multiprocessing.Queue()
        procs = [
            multiprocessing.Process(target=host, args=(url, f"host-{i}", total, results))
            for i in range(hosts)
        ]
        started = time.perf_counter()
        for proc in procs:
            proc.start()
        collected = [cast(Report, results.get(timeout=1800)) for _ in procs]
        seconds = time.perf_counter() - started
        for proc in procs:
            proc.join()
    finally:
        drop_schema(schema)
    latencies = [ms for lat, _ in collected for ms in lat]
    runs = [r for _, rs in collected for r in rs]
    check(runs, total)
    return Run(hosts, seconds, latencies, len(runs))


def check(runs: list[tuple[str, float, float]], total: int) -> None:
    ids = [r[0] for r in runs]
    if len(ids) != total or len(set(ids)) != total:
        raise SystemExit(f"FAIL: {len(ids)} runs of {len(set(ids))} turns, expected {total} once")
    lanes: dict[str, list[tuple[int, float, float]]] = {}
    for turn_id, began, ended in runs:
        session, number = turn_id.rsplit(".", 1)
        lanes.setdefault(session, []).append((int(number), began, ended))
    for session, lane in lanes.items():
        lane.sort()
        if any(a[2] > b[1] for a, b in itertools.pairwise(lane)):
            raise SystemExit(f"FAIL: lane {session} overlapped")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=1000)
    parser.add_argument("--hosts", type=int, default=3)
    parser.add_argument("--analyze", action="store_true", help="ANALYZE the queue first")
    opts = parser.parse_args()
    single = measure(opts.turns, 1, opts.analyze)
    team = measure(opts.turns, opts.hosts, opts.analyze)
    for run in (single, team):
        print(
            f"{run.hosts} host{'s' if run.hosts > 1 else ' '}: {run.turns} turns in "
            f"{run.seconds:6.2f}s = {run.throughput:7.1f} turns/s; claim p50 "
            f"{run.pct(0.5):6.2f} ms, p99 {run.pct(0.99):6.2f} ms "
            f"(mean {statistics.fmean(run.latencies_ms):.2f} ms over {len(run.latencies_ms)})"
        )
    speed = team.throughput / single.throughput
    p50, p99 = team.pct(0.5) / single.pct(0.5), team.pct(0.99) / single.pct(0.99)
    print(
        f"ratio {opts.hosts} hosts / 1 host: throughput x{speed:.2f}, "
        f"claim p50 x{p50:.2f}, p99 x{p99:.2f}"
    )
    print("each turn ran exactly once; no lane overlapped")


if __name__ == "__main__":
    main()
