"""Screenshots of the dashboard for the README: a demo ledger, a real daemon, headless chromium.

    .venv/bin/python scripts/screenshots.py [OUT_DIR]   (default: docs/)

Writes screenshot-overview.png, screenshot-session.png and screenshot-usage.png.
The demo data is written through the ledger's own functions into a temporary
TETHER_HOME; nothing of the machine's own ~/.tether is read.
"""

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import Connection

from tether.config import load
from tether.domain.records import EventKind, Session
from tether.domain.states import TurnState
from tether.ledger import (
    events,
    findings,
    history,
    projects,
    sessions,
    threads,
    turns,
    workspaces,
)
from tether.ledger.events import NewEvent
from tether.ledger.store import Ledger, open_ledger

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # the chromium flags the browser tests use, from the checkout
    sys.path.insert(0, str(REPO))

from tests.browser.chromium import CHROMIUM, HEADLESS_FLAGS  # noqa: E402

DAY = 86400.0
TITLES = [
    ("claude", "claude-sonnet-4-5", "fix the flaky login test"),
    ("codex", "gpt-5-codex", "add pagination to the orders API"),
    ("gemini", "gemini-2.5-pro", "migrate the build to uv"),
    ("opencode", "local-qwen", "explain the payment retry logic"),
    ("codex", "gpt-5-codex", "upgrade SQLAlchemy to 2.1"),
    ("claude", "claude-sonnet-4-5", "write the release notes"),
]


def _turn(
    ledger: Ledger, session_id: str, prompt: str, end: TurnState, why: str, ago: float
) -> str:
    """A turn that was accepted ``ago`` seconds ago and took 54 s."""
    now = time.time() - ago
    with ledger.db.write() as conn:
        turn, _ = turns.add(conn, sessions.get(conn, session_id), prompt)
        turns.transition(conn, turn.id, TurnState.DISPATCHED, dispatched_at=now + 0.2)
        turns.transition(conn, turn.id, TurnState.RUNNING, spawned_at=now + 0.9)
        turns.update_fields(
            conn,
            turn.id,
            {
                "accepted_at": now,
                "first_event_at": now + 3,
                "first_output_at": now + 11,
                "last_progress_at": now + 52,
            },
        )
        turns.transition(conn, turn.id, end, reason=why or None, finished_at=now + 54)
    return turn.id


def _usage(index: int, day: float) -> dict[str, object]:
    agent, model, _ = TITLES[index % len(TITLES)]
    return {
        "agent": agent,
        "entry_key": f"demo-{index}",
        "native_id": f"t-{index % len(TITLES)}",
        "copied": 0,
        "origin_ts": day,
        "ts": day,
        "day": time.strftime("%Y-%m-%d", time.gmtime(day)),
        "turn_key": None,
        "model": model,
        "input_tokens": 40_000 + (index * 7919) % 90_000,
        "cached_input_tokens": 20_000,
        "cache_write_tokens": 0,
        "output_tokens": 3_000 + (index * 104729) % 9_000,
        "reasoning_tokens": 1_000,
        "cost": None if model == "local-qwen" else 0.05 + (index % 7) * 0.04,
    }


def _native_sessions(conn: Connection, made: list[Session], now: float) -> None:
    """The agents' own records of the demo threads, bound to their sessions as the indexer does."""
    for agent in {s.agent for s in made}:
        facts = [
            {
                "native_id": s.native_id,
                "started_at": now - 14 * DAY,
                "ended_at": now,
                "cwd": s.workspace,
                "title": s.title,
                "model": s.model,
                "parent_native_id": None,
            }
            for s in made
            if s.agent == agent
        ]
        history.merge_sessions(conn, agent, facts)
    bound = {(s.agent, s.native_id): s.id for s in made}
    history.attribute_many(
        conn,
        [
            (row["pk"], bound[(row["agent"], row["native_id"])])
            for row in history.unattributed(conn)
        ],
    )


def seed(ledger: Ledger, work: Path) -> str:
    """Demo sessions in every state; returns the id of the one worth a screenshot."""
    with ledger.db.write() as conn:
        web = projects.add(conn, work / "web", name="web")
        made = [
            sessions.create(
                conn, web, agent, str(work / "web"), model=model, title=title, native_id=f"t-{i}"
            )
            for i, (agent, model, title) in enumerate(TITLES)
        ]
    ends = [
        (TurnState.FAILED, "agent exited with status 1: rate limited"),
        (TurnState.COMPLETED, ""),
        (TurnState.COMPLETED, ""),
        (TurnState.INTERRUPTED, "its runner vanished without an exit status"),
        (TurnState.TIMED_OUT, "no progress for 900 s"),
        (TurnState.COMPLETED, ""),
    ]
    agos = [300 + 1700 * n for n in range(len(made))]
    for session, (end, why), ago in zip(made, ends, agos, strict=True):
        _turn(ledger, session.id, session.title or "", end, why, ago=ago)
    shown = made[2].id
    first_event = time.time() - agos[2] + 3  # within its turn, as _turn dates it
    lines = [
        (EventKind.MESSAGE, "I'll look at the build configuration first."),
        (EventKind.TOOL_CALL, "cat pyproject.toml Makefile"),
        (EventKind.TOOL_RESULT, "[build-system]\nrequires = ['setuptools>=68']\n" * 40),
        (EventKind.MESSAGE, "The build uses pip and setuptools; switching the venv step to uv."),
        (EventKind.TOOL_CALL, "apply_patch Makefile"),
        (EventKind.MESSAGE, "Done: `make test` now creates the venv with uv and passes."),
    ]
    turn_id = f"{shown}.1"
    rows = [
        events.row_for(
            NewEvent(shown, kind, text, turn_id, None, f"demo-{i}", first_event + 9 * i),
            ledger.blobs,
            2000,
        )
        for i, (kind, text) in enumerate(lines)
    ]
    now = time.time()
    entries = [_usage(i, now - (i % 14) * DAY) for i in range(60)]
    with ledger.db.write() as conn:
        events.insert_rows(conn, rows)
        history.upsert_entries(conn, entries)
        _native_sessions(conn, made, now)
        workspaces.add(
            conn, shown, str(work / "web"), str(work / "wt"), f"tether/{shown}", "main", "0" * 40
        )
        threads.measure(
            conn,
            sessions.get(conn, shown),
            tokens=118_400,
            window=272_000,
            compactions=1,
            log_bytes=3_400_000,
        )
        stuck = made[3]
        findings.sync(
            conn,
            "demo",
            [
                findings.Seen(
                    "wedged_thread",
                    f"session {stuck.id}: 2 turns in a row ended context full: Prompt is too long",
                    {"session": stuck.id},
                    now - 1500,
                )
            ],
            now,
        )
    return shown


def shoot(url: str, path: Path, profile: Path) -> None:
    subprocess.run(
        [
            CHROMIUM,
            *HEADLESS_FLAGS,
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            f"--screenshot={path}",
            "--window-size=1280,860",
            "--virtual-time-budget=4000",
            url,
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    print(f"wrote {path}")


def main(out: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="tether-shots-") as tmp:
        home, work = Path(tmp) / "home", Path(tmp) / "work"
        (work / "web").mkdir(parents=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("TETHER_")}
        env.update(TETHER_HOME=str(home), TETHER_HISTORY_INDEX_IN_DAEMON="0")
        ledger = open_ledger(load(env))
        shown = seed(ledger, work)
        ledger.close()
        daemon = subprocess.Popen(
            [sys.executable, "-m", "tether.cli.main", "serve", "--port", "0"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 60
            while not (home / "daemon.json").exists():
                if time.monotonic() > deadline or daemon.poll() is not None:
                    raise SystemExit("tether serve did not start")
                time.sleep(0.1)
            url = "http://127.0.0.1:{port}".format(**json.loads((home / "daemon.json").read_text()))
            out.mkdir(parents=True, exist_ok=True)
            for name, path in (
                ("overview", "/"),
                ("session", f"/sessions/{shown}"),
                ("usage", "/usage?days=30"),
            ):
                shoot(url + path, out / f"screenshot-{name}.png", Path(tmp) / f"profile-{name}")
        finally:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(timeout=60)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent.parent / "docs")
