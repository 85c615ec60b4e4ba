"""Crash soak: N sessions x M turns while the daemon is SIGKILLed every few seconds.

A real ``tether serve`` runs the fake codex-speaking agent (each run appends
"<thread> <prompt>" to a log); ``--kill-every`` seconds (jittered) after it
starts serving, the daemon is SIGKILLed and started again at once. All turns are accepted into
the ledger up front, M queued per session, so every lane is busy through the
kills. When the kills stop the daemon gets ``--settle`` seconds to finish,
then the soak reports, each of which must be 0:

* lost: a turn that ended without its agent ever answering (not completed);
* run twice: a turn whose agent was started more than once;
* stuck: a turn still not terminal after the settle time;
* wrong thread: a run on a thread other than its session's native id.

    .venv/bin/python bench/soak.py                          # 50 sessions x 20 turns
    .venv/bin/python bench/soak.py --sessions 4 --turns 3 --json
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tether.config import load
from tether.engine import accept
from tether.ledger import projects, sessions, turns
from tether.ledger.store import Ledger, open_ledger

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # the test suite's fake agent and daemon helpers, from the checkout
    sys.path.insert(0, str(REPO))

from tests.engine.conftest import write_config  # noqa: E402
from tests.support import TETHER, daemon_env  # noqa: E402


@dataclass
class Report:
    turns: int
    kills: int
    wall_s: float
    lost: list[str] = field(default_factory=list)
    run_twice: list[str] = field(default_factory=list)
    stuck: list[str] = field(default_factory=list)
    wrong_thread: list[str] = field(default_factory=list)
    reasons: dict[str, str] = field(default_factory=dict)  # turn -> how a lost one ended

    @property
    def clean(self) -> bool:
        return not (self.lost or self.run_twice or self.stuck or self.wrong_thread)


def serve(env: dict[str, str], home: Path) -> subprocess.Popen[bytes]:
    """A daemon, once it serves (its engine has recovered): kills then land mid-work."""
    proc = subprocess.Popen(
        [*TETHER, "serve"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while not _serving(home, proc.pid):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"tether serve did not start (exit status {proc.poll()})")
        time.sleep(0.05)
    return proc


def _serving(home: Path, pid: int) -> bool:
    try:
        return bool(json.loads((home / "daemon.json").read_text())["pid"] == pid)
    except (FileNotFoundError, ValueError, KeyError):
        return False


def accept_all(ledger: Ledger, n: int, m: int, sleep_s: float) -> list[str]:
    """Every turn queued before the soak starts: session k's turns are s{k}t0..t{m-1}."""
    config = load()
    ids = []
    for s in range(n):
        first = accept.spawn(config, ledger, f"s{s}t0 @sleep={sleep_s}", project="soak")
        ids.append(first.turn.id)
        for t in range(1, m):
            ids.append(
                accept.send(config, ledger, first.session.id, f"s{s}t{t} @sleep={sleep_s}").turn.id
            )
    return ids


def unfinished(ledger: Ledger, ids: list[str]) -> list[str]:
    with ledger.db.read() as conn:
        return [i for i in ids if not turns.get(conn, i).state.terminal]


def judge(ledger: Ledger, ids: list[str], agent_log: Path, report: Report) -> None:
    runs = [line.split(" ", 2) for line in agent_log.read_text().splitlines() if line.strip()]
    started = Counter(prompt for _, prompt, *_ in runs)
    thread_of = {prompt: thread for thread, prompt, *_ in runs}
    with ledger.db.read() as conn:
        for turn_id in ids:
            turn = turns.get(conn, turn_id)
            session = sessions.get(conn, turn.session_id)
            tag = turn.prompt.split()[0]
            if not turn.state.terminal:
                report.stuck.append(turn_id)
            elif turn.state.value != "completed" or tag not in started:
                report.lost.append(turn_id)
                report.reasons[turn_id] = f"{turn.state.value}: {turn.reason}"
            if started[tag] > 1:
                report.run_twice.append(turn_id)
            if tag in thread_of and thread_of[tag] != session.native_id:
                report.wrong_thread.append(turn_id)


def soak(n: int, m: int, kill_every: float, settle: float, sleep_s: float, seed: int) -> Report:
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory(prefix="tether-soak-") as tmp:
        home, work, agent_log = Path(tmp) / "home", Path(tmp) / "work", Path(tmp) / "agent.log"
        home.mkdir()
        work.mkdir()
        agent_log.touch()
        # The engine's own patience, but room for every session at once.
        write_config(
            home, max_parallel=n, start_timeout_s=120, idle_timeout_s=600, abort_after_s=300
        )
        env = daemon_env(home, FAKE_AGENT_HOME=str(work), FAKE_AGENT_LOG=str(agent_log))
        os.environ.update(TETHER_HOME=str(home))
        os.environ.pop("TETHER_DATABASE_URL", None)
        ledger = open_ledger(load())
        try:
            with ledger.db.write() as conn:
                projects.add(conn, work, name="soak", default_agent="fake")
            ids = accept_all(ledger, n, m, sleep_s)
            began = time.monotonic()
            daemon, kills = serve(env, home), 0
            try:
                while unfinished(ledger, ids):
                    time.sleep(kill_every * rng.uniform(0.5, 1.5))
                    if not unfinished(ledger, ids):
                        break
                    daemon.send_signal(signal.SIGKILL)
                    daemon.wait()
                    kills += 1
                    daemon = serve(env, home)
                deadline = time.monotonic() + settle
                while unfinished(ledger, ids) and time.monotonic() < deadline:
                    time.sleep(0.2)
                report = Report(len(ids), kills, round(time.monotonic() - began, 1))
            finally:
                daemon.send_signal(signal.SIGTERM)
                daemon.wait(timeout=60)
            judge(ledger, ids, agent_log, report)
        finally:
            ledger.close()
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--turns", type=int, default=20, help="turns per session")
    parser.add_argument("--kill-every", type=float, default=3.0, help="seconds, jittered")
    parser.add_argument("--settle", type=float, default=120.0, help="seconds after the kills")
    parser.add_argument("--agent-sleep", type=float, default=0.5, help="each agent run, seconds")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args()
    report = soak(
        args.sessions, args.turns, args.kill_every, args.settle, args.agent_sleep, args.seed
    )
    if args.json:
        print(json.dumps({**asdict(report), "clean": report.clean}))
    else:
        print(
            f"{report.turns} turns over {args.sessions} sessions, daemon SIGKILLed "
            f"{report.kills} times, wall {report.wall_s}s"
        )
        for label in ("lost", "run_twice", "stuck", "wrong_thread"):
            found = getattr(report, label)
            print(f"{label.replace('_', ' '):>14}: {len(found)} {' '.join(found[:10])}")
        for turn_id, how in list(report.reasons.items())[:10]:
            print(f"  {turn_id}: {how}")
    sys.exit(0 if report.clean else 1)


if __name__ == "__main__":
    main()
