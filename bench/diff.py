"""Checkpoint and diff of a big session, against ``git diff --stat`` on the same tree.

Builds a repository of ``--files`` files totalling ``--mb`` megabytes, spawns
a session in its own worktree (the real spawn and prepare path), rewrites
every file there as an agent would, then prints:

* the time of the workspace worker's whole after-turn step (checkpoint via a
  temporary index, the turn's and the session's diff: per-file rows, counts
  and the patch stored) next to ``git diff --stat`` run directly on the same
  worktree, and their ratio;
* the time to serve the first screen of that diff from the API
  (``GET /api/sessions/<id>/diff``, through the ASGI app), median of
  ``--reads`` requests, next to the same ``git diff --stat``, and whether it
  is under 100 ms.

    .venv/bin/python bench/diff.py                    # 10,000 files, 100 MB
    .venv/bin/python bench/diff.py --files 2000 --mb 20
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from tether.config import load
from tether.domain.states import TurnState
from tether.engine import accept
from tether.engine.supervisor import Engine
from tether.ledger import diffs, projects, turns, workspaces
from tether.ledger.store import Ledger, open_ledger
from tether.server.app import create_app
from tether.workspaces import prepare, recorder

GIT = ["git", "-c", "user.name=bench", "-c", "user.email=bench@localhost"]


def git(cwd: Path, *args: str) -> str:
    return subprocess.run([*GIT, *args], cwd=cwd, check=True, capture_output=True).stdout.decode()


def write_tree(root: Path, files: int, size: int, salt: str) -> None:
    """``files`` text files of about ``size`` bytes in 100 directories, lines varying by salt."""
    line_count = max(1, size // 64)
    for i in range(files):
        path = root / f"dir{i % 100:03d}" / f"file{i:05d}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        lines = [
            f"{salt if n % 4 == 0 else 'same'} line {n:06d} of file {i:05d}".ljust(63)
            for n in range(line_count)
        ]
        path.write_text("\n".join(lines) + "\n")


def timed(fn: Callable[[], object]) -> float:
    began = time.perf_counter()
    fn()
    return time.perf_counter() - began


def finish_turn(ledger: Ledger, turn_id: str) -> None:
    """The agent's turn, as the engine would record it, without running an agent."""
    with ledger.db.write() as conn:
        turns.transition(conn, turn_id, TurnState.DISPATCHED, dispatched_at=time.time())
        turns.transition(conn, turn_id, TurnState.RUNNING, spawned_at=time.time())
        turns.transition(conn, turn_id, TurnState.COMPLETED, reason="bench")


async def first_screen_ms(engine: Engine, session_id: str, reads: int) -> tuple[list[float], int]:
    app = create_app(engine.config, engine.ledger, engine)
    transport = httpx.ASGITransport(app=app)
    times = []
    size = 0
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:7700") as client:
        for _ in range(reads):
            began = time.perf_counter()
            response = await client.get(f"/api/sessions/{session_id}/diff")
            times.append((time.perf_counter() - began) * 1000)
            response.raise_for_status()
            size = len(response.content)
    return times, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--mb", type=float, default=100.0)
    parser.add_argument("--reads", type=int, default=20)
    args = parser.parse_args()
    size = int(args.mb * 1024 * 1024 / args.files)
    with tempfile.TemporaryDirectory(prefix="tether-bench-diff-") as tmp:
        base = Path(tmp)
        os.environ["TETHER_HOME"] = str(base / "home")
        os.environ.pop("TETHER_DATABASE_URL", None)
        repo = base / "repo"
        repo.mkdir()
        git(repo, "init", "-q", "-b", "main")
        write_tree(repo, args.files, size, "base")
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", "base")
        config = load()
        ledger = open_ledger(config)
        with ledger.db.write() as conn:
            projects.add(conn, repo, name="bench", default_agent="codex")
        accepted = accept.spawn(
            config, ledger, "rewrite everything", project="bench", worktree=True
        )
        session_id = accepted.session.id
        with ledger.db.read() as conn:
            ws = workspaces.get(conn, session_id)
        prepare.prepare(config, ledger, ws)
        worktree = Path(accepted.session.workspace)
        write_tree(worktree, args.files, size, "edit")
        finish_turn(ledger, accepted.turn.id)
        with ledger.db.read() as conn:
            ws = workspaces.get(conn, session_id)
        git_says = git(worktree, "diff", "--stat").strip().splitlines()[-1].strip()
        baseline = timed(lambda: git(worktree, "diff", "--stat"))
        step = timed(lambda: recorder.record(config, ledger, ws, 1))
        baseline_after = timed(lambda: git(worktree, "diff", "--stat"))
        git_s = min(baseline, baseline_after)
        with ledger.db.read() as conn:
            summary = diffs.latest_session(conn, session_id)
        assert summary is not None, "no diff was recorded"
        engine = Engine(config, ledger)
        times, body = asyncio.run(first_screen_ms(engine, session_id, args.reads))
        median = statistics.median(times)
        print(
            f"session: {summary.files} files, +{summary.added} -{summary.removed}, "
            f"{args.mb:g} MB in the tree"
        )
        print(f"git diff --stat says: {git_says}")
        print(f"git diff --stat (direct, best of 2):      {git_s * 1000:9.0f} ms")
        print(
            f"checkpoint + diffs stored (worker step):  {step * 1000:9.0f} ms   "
            f"ratio {step / git_s:.2f}x git diff --stat"
        )
        print(
            f"first screen GET /diff ({body // 1024} KiB), median of {args.reads}: "
            f"{median:6.1f} ms   p max {max(times):.1f} ms   "
            f"ratio {median / (git_s * 1000):.3f}x git diff --stat   "
            f"{'under' if median < 100 else 'OVER'} 100 ms"
        )
        ledger.close()


if __name__ == "__main__":
    main()
