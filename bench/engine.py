"""Engine overhead with many concurrent sessions, against starting the agent directly.

Spawns ``--sessions`` sessions at once (each one turn of the fake codex-speaking
agent streaming ``--events`` messages) through an in-process Engine with real
runner processes, then prints:

* accepted → spawned (the agent process started), p50/p99, next to the floor:
  the time for this machine to start the same agent directly and see its
  first line of output;
* the ingest rate of stream events into the ledger (events/s), measured from
  the turns' first events to the last turn's end.

    .venv/bin/python bench/engine.py                  # 50 sessions x 200 events
    .venv/bin/python bench/engine.py --sessions 20 --events 2000
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tether.config import load
from tether.domain.states import TurnState
from tether.engine import accept
from tether.engine.supervisor import Engine
from tether.ledger import projects, turns
from tether.ledger.store import open_ledger

FAKE_AGENT = Path(__file__).resolve().parent.parent / "tests" / "fakes" / "fake_agent.py"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def direct_start_ms(count: int, work: Path) -> list[float]:
    """The floor: start the same number of agents directly, all at once, and time
    each one's first line of output (the same concurrency tether faces)."""
    began = time.perf_counter()
    procs = [
        subprocess.Popen(
            [sys.executable, str(FAKE_AGENT), "hello"],
            cwd=work,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
        )
        for _ in range(count)
    ]
    times = []
    for proc in procs:
        assert proc.stdout is not None
        proc.stdout.readline()
        times.append((time.perf_counter() - began) * 1000)
    for proc in procs:
        proc.communicate()
    return times


def configure(home: Path, sessions: int) -> None:
    python, agent = sys.executable, str(FAKE_AGENT)
    (home / "config.toml").write_text(
        f"""
[engine]
max_parallel = {sessions}

[providers.fake]
new = ["{python}", "{agent}", "{{prompt}}"]
resume = ["{python}", "{agent}", "resume", "{{native_id}}", "{{prompt}}"]
stream = "codex"
"""
    )


def run(sessions: int, events: int) -> None:
    with tempfile.TemporaryDirectory(prefix="tether-bench-") as tmp:
        home, work = Path(tmp) / "home", Path(tmp) / "work"
        home.mkdir()
        work.mkdir()
        os.environ.update(TETHER_HOME=str(home), FAKE_AGENT_HOME=str(work))
        os.environ.pop("TETHER_DATABASE_URL", None)
        configure(home, sessions)
        config = load()
        ledger = open_ledger(config)
        with ledger.db.write() as conn:
            projects.add(conn, work, name="bench", default_agent="fake")
        floor = direct_start_ms(sessions, work)
        engine = Engine(config, ledger)
        engine.start()
        began = time.time()
        ids = [
            accept.spawn(config, ledger, f"@events={events} go {i}", project="bench").turn.id
            for i in range(sessions)
        ]
        engine.poke()
        done = []
        while len(done) < len(ids):
            time.sleep(0.1)
            with ledger.db.read() as conn:
                done = [t for t in (turns.get(conn, i) for i in ids) if t.state.terminal]
        engine.stop()
        ledger.close()
    failed = [t for t in done if t.state is not TurnState.COMPLETED]
    assert not failed, [(t.id, t.state, t.reason) for t in failed]
    spawned = [(t.phases.spawned - t.phases.accepted) * 1000 for t in done]  # type: ignore[operator]
    first = min(t.phases.first_event for t in done)  # type: ignore[type-var]
    last = max(t.phases.finished for t in done)  # type: ignore[type-var]
    stored = sessions * (events + 2)  # messages plus the echo and the native id
    rate = stored / (last - first)  # type: ignore[operator]
    wall = time.time() - began
    print(f"{sessions} concurrent sessions, {events} streamed messages each, wall {wall:.1f}s")
    print(f"{'':36}{'p50 ms':>10}{'p99 ms':>10}")
    for label, values in (
        ("direct start -> first line (floor)", floor),
        ("tether accepted -> spawned", spawned),
    ):
        print(f"{label:36}{percentile(values, 0.5):>10.1f}{percentile(values, 0.99):>10.1f}")
    ratio = statistics.median(spawned) / statistics.median(floor)
    print(f"ratio accepted->spawned / direct start (p50): {ratio:.2f}x")
    print(f"ingest: {stored} events in {last - first:.2f}s = {rate:,.0f} events/s")  # type: ignore[operator]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--events", type=int, default=200)
    args = parser.parse_args()
    run(args.sessions, args.events)


if __name__ == "__main__":
    main()
