"""The live channel under load: many SSE subscribers while events are committed fast.

Starts the daemon's app (``create_app`` under uvicorn, as ``tether serve``
runs it) in a child process on a fresh SQLite ledger, with a writer thread in
that process committing events the way the engine commits what it ingests
(batches in write transactions, nudging the feed through the commit bus).
Each event's text holds the time just before its commit. The subscribers are
asyncio connections in this process, each a plain HTTP/1.1 ``GET
/api/stream``; every event each one receives gives a delivery latency (receipt
minus commit). First one subscriber (the baseline), then ``--subscribers``,
each for ``--seconds`` of writing; prints p50, p99 and max latency, the events
each subscriber missed, the server's RSS at the start and end of each
phase, both processes' CPU, and their full garbage collections (count,
longest and total pause, from ``gc.callbacks``) while writing.

    .venv/bin/python bench/stream.py                   # 200 subscribers, 1,000 events/s
    .venv/bin/python bench/stream.py --subscribers 50 --rate 500 --seconds 5

Target: p99 under 100 ms with 200 subscribers at 1,000 events/s, RSS flat.
The feed keeps the newest 20,000 messages in memory for resumes, so RSS
grows for the first 20 s of writing at 1,000/s and is flat after that; run
``--seconds 40`` to see both.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from array import array
from dataclasses import dataclass, field
from pathlib import Path

TARGET_P99_MS = 100.0
STAMP = re.compile(rb"t=(\d+\.\d+)")
BATCHES_PER_S = 50  # the engine commits what it ingested a few dozen times a second


# --------------------------------------------------------------------------- the server


def serve(home: Path, rate: int) -> None:
    """The child: the app on a free loopback port, and a writer started by 'go <seconds>'."""
    import socket

    import uvicorn

    from tether.config import load
    from tether.domain.records import EventKind
    from tether.engine.supervisor import Engine
    from tether.ledger import events, projects, sessions
    from tether.ledger.events import NewEvent
    from tether.ledger.store import open_ledger
    from tether.server.app import create_app

    os.environ["TETHER_HOME"] = str(home)
    config = load()
    ledger = open_ledger(config)
    work = home / "work"
    work.mkdir(exist_ok=True)
    with ledger.db.write() as conn:
        owner = projects.add(conn, work, name="bench")
        session = sessions.create(conn, owner, "codex", str(work))

    def write(seconds: float) -> None:
        per_batch = max(1, rate // BATCHES_PER_S)
        interval = per_batch / rate
        deadline = time.perf_counter() + seconds
        tick = time.perf_counter()
        while tick < deadline:
            with ledger.db.write() as conn:
                stamp = f"t={time.time():.6f}"
                rows = [
                    events.row_for(NewEvent(session.id, EventKind.MESSAGE, stamp), ledger.blobs)
                    for _ in range(per_batch)
                ]
                events.insert_rows(conn, rows)
            tick += interval
            time.sleep(max(0.0, tick - time.perf_counter()))
        print(f"written {pauses.report()}", flush=True)

    def commands() -> None:
        for line in sys.stdin:
            word, _, arg = line.partition(" ")
            if word == "go":
                pauses.reset()
                threading.Thread(target=write, args=(float(arg),), daemon=True).start()

    pauses = Pauses()
    gc.callbacks.append(pauses)

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # as the daemon
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)  # connections wait in the backlog until uvicorn serves
    print(f"port {sock.getsockname()[1]}", flush=True)
    threading.Thread(target=commands, daemon=True).start()
    app = create_app(config, ledger, Engine(config, ledger))
    uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=[sock])


class Pauses:
    """A process's garbage-collection pauses (``gc.callbacks``): how many full (generation 2)
    collections, their longest and their total, so a latency they cause is told apart."""

    def __init__(self) -> None:
        self.began = 0.0
        self.full: list[float] = []

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self.began = time.perf_counter()
        elif info["generation"] == 2:
            self.full.append(time.perf_counter() - self.began)

    def reset(self) -> None:
        self.full = []

    def report(self) -> str:
        """'count longest_ms total_ms'."""
        longest = max(self.full, default=0.0) * 1000
        return f"{len(self.full)} {longest:.1f} {sum(self.full) * 1000:.1f}"


def cpu_s(pid: int) -> float:
    """User plus system CPU seconds of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# --------------------------------------------------------------------------- the subscribers


@dataclass
class Subscriber:
    latencies: array[float] = field(default_factory=lambda: array("d"))
    connected: asyncio.Event = field(default_factory=asyncio.Event)


async def subscribe(port: int, sub: Subscriber, stop: asyncio.Event) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"GET /api/stream HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        "Accept: text/event-stream\r\n\r\n".encode()
    )
    await writer.drain()
    pending = b""
    try:
        while not stop.is_set():
            try:
                chunk = await asyncio.wait_for(reader.read(1 << 16), timeout=0.5)
            except TimeoutError:
                continue
            if not chunk:
                raise SystemExit("the server closed a live channel")
            now = time.time()
            pending += chunk
            if b"event: ping" in pending:
                sub.connected.set()
            cut = pending.rfind(b"\n\n")
            if cut < 0:
                continue
            sub.latencies.extend(now - float(t) for t in STAMP.findall(pending, 0, cut))
            pending = pending[cut + 2 :]
    finally:
        writer.close()


@dataclass(frozen=True)
class Phase:
    subscribers: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    missed: int
    rss_start_mb: float
    rss_max_mb: float
    rss_end_mb: float
    server_cpu: float  # CPU seconds per second of writing, of the server process
    client_cpu: float  # the same, of this process (the subscribers)
    server_gc: str  # full collections while writing: count, longest ms, total ms
    client_gc: str  # the same, of this process


async def phase(
    server: subprocess.Popen[str], port: int, count: int, rate: int, seconds: float
) -> Phase:
    stop = asyncio.Event()
    subs = [Subscriber() for _ in range(count)]
    tasks = [asyncio.create_task(subscribe(port, s, stop)) for s in subs]
    await asyncio.wait_for(asyncio.gather(*(s.connected.wait() for s in subs)), 120)
    rss_start = rss_mb(server.pid)
    cpu_start, wall_start = cpu_s(server.pid), time.monotonic()
    own_start = time.process_time()
    own_pauses = Pauses()
    gc.callbacks.append(own_pauses)
    assert server.stdin is not None and server.stdout is not None
    server.stdin.write(f"go {seconds}\n")
    server.stdin.flush()
    written = asyncio.create_task(asyncio.to_thread(server.stdout.readline))
    rss_max = rss_start
    while not written.done():  # the RSS while writing, each tenth of a second
        rss_max = max(rss_max, rss_mb(server.pid))
        await asyncio.sleep(0.1)
    expected = sum(max(1, rate // BATCHES_PER_S) for _ in range(_batches(rate, seconds)))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and min(len(s.latencies) for s in subs) < expected:
        await asyncio.sleep(0.05)
    gc.callbacks.remove(own_pauses)
    rss_end = rss_mb(server.pid)
    elapsed = time.monotonic() - wall_start
    server_cpu = (cpu_s(server.pid) - cpu_start) / elapsed
    client_cpu = (time.process_time() - own_start) / elapsed
    stop.set()
    await asyncio.gather(*tasks)
    every = sorted(x for s in subs for x in s.latencies)
    n = len(every)
    return Phase(
        count,
        every[n // 2] * 1000,
        every[min(n - 1, int(n * 0.99))] * 1000,
        every[-1] * 1000,
        sum(max(0, expected - len(s.latencies)) for s in subs),
        rss_start,
        max(rss_max, rss_end),
        rss_end,
        server_cpu,
        client_cpu,
        written.result().split(maxsplit=1)[1].strip(),
        own_pauses.report(),
    )


def _batches(rate: int, seconds: float) -> int:
    per_batch = max(1, rate // BATCHES_PER_S)
    interval = per_batch / rate
    return int(seconds / interval - 1e-9) + 1


# --------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=200)
    parser.add_argument("--rate", type=int, default=1000, help="events committed per second")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.rate)
        return
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"{args.subscribers} subscribers, {args.rate} events/s for {args.seconds:.0f} s "
        f"(baseline: 1 subscriber); {os.cpu_count()} CPUs, load average {load}"
    )
    with tempfile.TemporaryDirectory(prefix="tether-bench-stream-") as tmp:
        server = subprocess.Popen(
            [sys.executable, __file__, "--serve", tmp, "--rate", str(args.rate)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "TETHER_HISTORY_INDEX_IN_DAEMON": "0"},
        )
        try:
            assert server.stdout is not None
            port = int(server.stdout.readline().split()[1])
            results = [
                asyncio.run(phase(server, port, n, args.rate, args.seconds))
                for n in (1, args.subscribers)
            ]
        finally:
            server.terminate()
            server.wait(timeout=60)
    base = results[0]
    print(
        f"{'subscribers':>11} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'p99/base':>9} "
        f"{'missed':>7} {'RSS start MB':>13} {'RSS max MB':>11} {'RSS end MB':>11} "
        f"{'server CPU':>10} {'client CPU':>10} {'server GC n/max/total ms':>24} "
        f"{'client GC':>16}"
    )
    for r in results:
        print(
            f"{r.subscribers:11d} {r.p50_ms:8.1f} {r.p99_ms:8.1f} {r.max_ms:8.1f} "
            f"{r.p99_ms / base.p99_ms:9.2f} {r.missed:7d} {r.rss_start_mb:13.1f} "
            f"{r.rss_max_mb:11.1f} {r.rss_end_mb:11.1f} {r.server_cpu:10.0%} {r.client_cpu:10.0%} "
            f"{r.server_gc:>24} {r.client_gc:>16}"
        )
    last = results[-1]
    verdict = "met" if last.p99_ms < TARGET_P99_MS and last.missed == 0 else "MISSED"
    print(f"target p99 < {TARGET_P99_MS:.0f} ms with nothing missed: {verdict}")


if __name__ == "__main__":
    main()
