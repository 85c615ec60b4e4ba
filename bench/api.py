"""The daemon's reads under 64 concurrent HTTP/1.1 clients, each against /api/health.

Fills a SQLite ledger with bench/ledger.py's filler (10,000 sessions and
1,000,000 events by default), starts the real daemon (``tether serve``, its
history indexer off) on it, then drives each endpoint in turn with
``--clients`` asyncio clients, each on its own keep-alive HTTP/1.1
connection, for ``--seconds``: the session list, one session, an event page,
the overview page ``/``, a session page, and ``/api/health`` (the floor: the
same server, the same clients, no ledger read). Prints p50, p99, requests/s,
each read's p99 as a multiple of the floor's, measured in the same run, and
the daemon's CPU time per request (user + system), which the machine's other
load sways far less than latency.

    .venv/bin/python bench/api.py                          # 10k sessions, 1M events
    .venv/bin/python bench/api.py --sessions 2000 --events 200000 --seconds 5

Target: every read's p99 within 2x the floor's. The clients share the
machine with the daemon, so the figures are for comparison within a run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # bench.ledger's filler, from the checkout
    sys.path.insert(0, str(REPO))

from bench.ledger import Options, fill  # noqa: E402
from bench.stream import cpu_s  # noqa: E402

from tether.ledger.db import Database, sqlite_url  # noqa: E402
from tether.ledger.migrate import migrate  # noqa: E402

FLOOR = "/api/health"


def targets(session_ids: list[str], rng: random.Random) -> dict[str, list[str]]:
    """Each endpoint with a pool of URLs, so the clients do not all ask for one row."""
    picks = [rng.choice(session_ids) for _ in range(200)]
    return {
        FLOOR: [FLOOR],
        "/api/sessions": ["/api/sessions?limit=50"],
        "/api/sessions/<id>": [f"/api/sessions/{s}" for s in picks],
        "/api/sessions/<id>/events": [f"/api/sessions/{s}/events?limit=100" for s in picks],
        "/": ["/"],
        "/sessions/<id>": [f"/sessions/{s}" for s in picks],
    }


async def client(
    http: httpx.AsyncClient, urls: list[str], until: float, seed: int, out: list[float]
) -> list[str]:
    rng = random.Random(seed)
    errors: list[str] = []
    while time.perf_counter() < until:
        started = time.perf_counter()
        try:
            response = await http.get(rng.choice(urls))
        except httpx.HTTPError as exc:
            errors.append(type(exc).__name__)
            continue
        out.append(time.perf_counter() - started)
        if response.status_code != 200:
            errors.append(str(response.status_code))
    return errors


async def drive(base: str, urls: list[str], clients: int, seconds: float) -> dict[str, float]:
    """Connect every client first (one keep-alive connection each), then start the clock."""
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    pool = [
        httpx.AsyncClient(base_url=base, limits=limits, timeout=60, verify=False)  # loopback http
        for _ in range(clients)
    ]
    try:
        await asyncio.gather(*(http.get(FLOOR) for http in pool))
        latencies: list[float] = []
        until = time.perf_counter() + seconds
        errors = await asyncio.gather(
            *(client(http, urls, until, i, latencies) for i, http in enumerate(pool))
        )
    finally:
        await asyncio.gather(*(http.aclose() for http in pool))
    latencies.sort()
    n = len(latencies)
    return {
        "n": n,
        "rps": n / seconds,
        "p50": latencies[n // 2] * 1000 if n else float("nan"),
        "p99": latencies[min(n - 1, int(n * 0.99))] * 1000 if n else float("nan"),
        "errors": sum(len(e) for e in errors),
    }


def start_daemon(home: Path) -> tuple[subprocess.Popen[bytes], str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TETHER_")}
    env.update(TETHER_HOME=str(home), TETHER_HISTORY_INDEX_IN_DAEMON="0")
    proc = subprocess.Popen(
        [sys.executable, "-m", "tether.cli.main", "serve", "--port", "0"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        info = home / "daemon.json"
        if info.exists():
            base = "http://127.0.0.1:{port}".format(**json.loads(info.read_text()))
            try:
                if httpx.get(base + FLOOR, timeout=5).status_code == 200:
                    return proc, base
            except httpx.HTTPError:
                pass
        if proc.poll() is not None:
            raise SystemExit("tether serve exited before serving")
        time.sleep(0.2)
    proc.kill()
    raise SystemExit("tether serve did not answer within 120 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tether-bench-api-") as tmp:
        home = Path(tmp)
        db = Database(sqlite_url(home / "tether.db"))
        migrate(db)
        started = time.perf_counter()
        options = Options(args.sessions, args.events, 20, 0, 0, ("sqlite",), args.seed)
        fixture = fill(db, "sqlite", options)
        db.dispose()
        print(
            f"filled {args.sessions} sessions and {args.events} events "
            f"in {time.perf_counter() - started:.0f} s; {args.clients} clients, "
            f"{args.seconds:.0f} s per endpoint"
        )
        proc, base = start_daemon(home)
        try:
            results = {}
            for name, urls in targets(fixture.session_ids, random.Random(args.seed)).items():
                cpu = cpu_s(proc.pid)
                results[name] = asyncio.run(drive(base, urls, args.clients, args.seconds))
                spent = cpu_s(proc.pid) - cpu
                results[name]["cpu_ms"] = spent * 1000 / max(results[name]["n"], 1)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
    floor = results[FLOOR]["p99"]
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"{'endpoint':28} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'p99/floor':>10} "
        f"{'CPU ms/req':>11} {'errors':>7}"
    )
    for name, r in results.items():
        print(
            f"{name:28} {r['rps']:8.0f} {r['p50']:8.1f} {r['p99']:8.1f} "
            f"{r['p99'] / floor:10.2f} {r['cpu_ms']:11.2f} {r['errors']:7.0f}"
        )
    print(f"{os.cpu_count()} CPUs, load average at the end {load}")


if __name__ == "__main__":
    main()
