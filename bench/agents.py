"""tether's overhead per turn against invoking the same agent CLI directly.

For each agent (Codex, Claude Code, OpenCode, Gemini CLI; the pinned CLIs of
``scripts/install-agents.sh``) in one isolated home wired to the loopback
model server (``tests/fakes/model_server.py``, echo replies):

* direct: one thread of ``--turns`` turns (a new turn, then resumes by id),
  each the CLI started with the harness's argv, timed from start to exit;
* tether: one session of ``--turns`` turns through an in-process Engine with
  real runner processes (``spawn``, then ``send``), each timed from accept to
  the turn's terminal state in the ledger (what a user waits for).

Turns alternate (direct k, tether k) so drift hits both; one warm-up turn of
each kind is not counted. Prints per agent the p50 wall time of both, the
ratio tether / direct, tether's overhead in ms, and where it goes: the p50
of accepted -> agent spawned (the runner's start) and of the runner's exit
record -> the turn terminal in the ledger (the engine's poll).

    .venv/bin/python bench/agents.py                      # 4 agents x 5 turns
    .venv/bin/python bench/agents.py --turns 10 --agents codex claude
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # tests.fakes / tests.realagents import from the checkout
    sys.path.insert(0, str(REPO))

from tests.fakes.model_server import ModelServer  # noqa: E402
from tests.realagents.harness import (  # noqa: E402
    AGENTS,
    AgentHome,
    agents_bin_dir,
    agents_dir,
    run_turn,
)
from tests.realagents.tether_harness import Rig, isolate_env, open_rig  # noqa: E402

from tether.domain.states import TurnState  # noqa: E402
from tether.engine.rundir import read_json  # noqa: E402


@dataclass
class Figures:
    agent: str
    direct: list[float] = field(default_factory=list)  # seconds per turn
    tether: list[float] = field(default_factory=list)
    spawn: list[float] = field(default_factory=list)  # tether: accepted -> agent spawned
    notice: list[float] = field(default_factory=list)  # tether: runner's exit record -> terminal

    @staticmethod
    def p50(values: list[float]) -> float:
        return statistics.median(values) if values else float("nan")

    def row(self) -> str:
        direct, tether = self.p50(self.direct), self.p50(self.tether)
        ratio = tether / direct if direct else float("nan")
        return (
            f"{self.agent:<9} {direct * 1000:>10.0f} {tether * 1000:>10.0f} {ratio:>7.2f}x "
            f"{(tether - direct) * 1000:>+10.0f} {self.p50(self.spawn) * 1000:>12.0f} "
            f"{self.p50(self.notice) * 1000:>12.0f}"
        )


HEADER = (
    f"{'agent':<9} {'direct p50':>10} {'tether p50':>10} {'ratio':>8} {'overhead':>10} "
    f"{'->spawned':>12} {'exit->done':>12}\n"
    f"{'':<9} {'(ms)':>10} {'(ms)':>10} {'':>8} {'(ms)':>10} {'p50 (ms)':>12} {'p50 (ms)':>12}"
)


def _setenv(key: str, value: str) -> None:
    os.environ[key] = value


def _delenv(key: str) -> None:
    os.environ.pop(key, None)


def _wait(rig: Rig, turn_id: str, timeout: float = 180) -> float:
    """Poll the ledger every 10 ms (finer than the engine's own tick) until terminal."""
    deadline = time.monotonic() + timeout
    while True:
        turn = rig.turn(turn_id)
        if turn.state.terminal:
            if turn.state is not TurnState.COMPLETED:
                raise RuntimeError(f"{rig.agent}: {turn_id} {turn.state}: {turn.reason}")
            return time.monotonic()
        if time.monotonic() > deadline:
            raise RuntimeError(f"{rig.agent}: {turn_id} still {turn.state} after {timeout:g}s")
        time.sleep(0.01)


class Direct:
    """One thread driven by invoking the CLI directly."""

    def __init__(self, home: AgentHome) -> None:
        self.home = home
        self.native_id: str | None = None

    def turn(self, prompt: str) -> float:
        res = run_turn(self.home, prompt, resume_id=self.native_id, timeout=180)
        if res.returncode != 0 or not res.native_id:
            raise RuntimeError(f"direct turn failed\n{res.dump()}")
        self.native_id = res.native_id
        return res.duration


class Through:
    """One session driven through tether's engine."""

    def __init__(self, rig: Rig) -> None:
        self.rig = rig
        self.session_id: str | None = None

    def turn(self, prompt: str) -> tuple[float, float, float]:
        """Seconds from accept to terminal, from accept to the agent spawned, and from
        the runner's exit record to the turn's terminal state in the ledger."""
        start = time.monotonic()
        wall_start = time.time()
        if self.session_id is None:
            accepted = self.rig.spawn(prompt)
            self.session_id = accepted.session.id
        else:
            accepted = self.rig.send(self.session_id, prompt)
        end = _wait(self.rig, accepted.turn.id)
        phases = self.rig.turn(accepted.turn.id).phases
        exit_record = read_json(self.rig.run_dir(accepted.turn.id).exit) or {}
        exited = exit_record.get("finished_at")
        spawn = phases.spawned - wall_start if phases.spawned else float("nan")
        notice = phases.finished - exited if phases.finished and exited else float("nan")
        return end - start, spawn, notice


def bench_agent(agent: str, turns: int, root: Path, server: ModelServer) -> Figures:
    home = AgentHome(AGENTS[agent], root / agent, server.url)
    isolate_env(home, _setenv, _delenv)
    tether_home = root / agent / "tether"
    tether_home.mkdir()
    _setenv("TETHER_HOME", str(tether_home))
    _delenv("TETHER_DATABASE_URL")
    rig = open_rig(tether_home, home)
    figures = Figures(agent)
    try:
        # Warm-up (not counted): first-run work such as OpenCode's schema migration.
        Direct(home).turn("warm up direct")
        Through(rig).turn("warm up tether")
        direct, through = Direct(home), Through(rig)
        # "turn-0", not "turn 0": a bare number word crashes OpenCode through tether
        # (see test_prompt_reaches_the_model_verbatim).
        for k in range(turns):
            figures.direct.append(direct.turn(f"direct turn-{k}"))
            wall, spawn, notice = through.turn(f"tether turn-{k}")
            figures.tether.append(wall)
            figures.spawn.append(spawn)
            figures.notice.append(notice)
            print(
                f"  {agent} turn {k}: direct {figures.direct[-1] * 1000:.0f} ms, "
                f"tether {wall * 1000:.0f} ms",
                file=sys.stderr,
                flush=True,
            )
    finally:
        rig.close()
    return figures


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--turns", type=int, default=5, help="counted turns per agent and mode")
    ap.add_argument("--agents", nargs="+", default=sorted(AGENTS), choices=sorted(AGENTS))
    ap.add_argument("--keep", action="store_true", help="keep the temporary homes")
    args = ap.parse_args(argv)

    # Resolve the installed CLIs while HOME is still the user's (each agent's
    # run replaces HOME with its isolated home).
    agents_bin_dir()
    _setenv("TETHER_AGENTS_DIR", str(agents_dir()))
    root = Path(tempfile.mkdtemp(prefix="tether-bench-agents-"))
    scratch = root / "daemon-cwd"  # the bench's own cwd: no agent works here
    scratch.mkdir()
    os.chdir(scratch)
    _setenv("PWD", str(scratch))
    results = []
    try:
        with ModelServer() as server:
            for agent in args.agents:
                print(f"{agent}: {args.turns} turns direct and through tether", file=sys.stderr)
                results.append(bench_agent(agent, args.turns, root, server))
    finally:
        if args.keep:
            print(f"homes kept in {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)

    print(f"\nper-turn wall time, {args.turns} turns per agent and mode (p50)")
    print(HEADER)
    for figures in results:
        print(figures.row())
    return 0


if __name__ == "__main__":
    sys.exit(main())
