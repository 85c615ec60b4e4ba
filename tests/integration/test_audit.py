"""``tether audit`` on a ledger built to contain each anomaly, and on a healthy one
(SQLite and PostgreSQL); the CLI's exit status and the API's report."""

import asyncio
import os
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy import insert, update

from tether.cli.group import cli
from tether.config import Config
from tether.domain.states import TurnState
from tether.engine.audit import Auditor, run
from tether.engine.procs import start_ticks
from tether.engine.supervisor import Engine
from tether.ledger import projects, sessions, threads, turns
from tether.ledger.schema import history_files, usage_entries
from tether.ledger.schema import turns as turns_table
from tether.ledger.store import Ledger
from tether.server.app import create_app

LONG_AGO = 3600.0
ALL_CODES = {
    "stale_queued",
    "stalled",
    "stale_running",
    "lost",
    "wedged_thread",
    "native_missing",
    "unbound_native",
    "orphan_usage",
    "index_errors",
}


class Builder:
    def __init__(self, ledger: Ledger, path: Path) -> None:
        self.ledger = ledger
        self.path = path
        with ledger.db.write() as conn:
            self.project = projects.add(conn, path, name="work")

    def session(self, agent: str = "codex", native: str | None = None) -> str:
        with self.ledger.db.write() as conn:
            session = sessions.create(conn, self.project, agent, str(self.path))
            if native:
                sessions.bind_native_id(conn, session, native)
            return session.id

    def turn(
        self, session_id: str, *states: TurnState, reason: str | None = None, **values: object
    ) -> str:
        with self.ledger.db.write() as conn:
            turn, _ = turns.add(conn, sessions.get(conn, session_id), "do it")
            for state in states:
                turns.transition(conn, turn.id, state, reason=reason if state.terminal else None)
            if values:
                conn.execute(
                    update(turns_table).where(turns_table.c.id == turn.id).values(**values)
                )
            return turn.id


def healthy(build: Builder) -> None:
    """A session with a completed turn, bound and measured; another running fine."""
    done = build.session(native="019a0000-0000-7000-8000-000000000001")
    build.turn(
        done, TurnState.DISPATCHED, TurnState.RUNNING, TurnState.COMPLETED, reason="agent finished"
    )
    running = build.session(native="019a0000-0000-7000-8000-000000000002")
    now = time.time()
    build.turn(
        running,
        TurnState.DISPATCHED,
        TurnState.RUNNING,
        runner_pid=os.getpid(),
        runner_ticks=start_ticks(os.getpid()),
        last_progress_at=now,
        first_event_at=now,
    )


def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def anomalies(build: Builder, config: Config) -> dict[str, str]:
    """One of each; returns code -> the id the finding must name."""
    old = time.time() - LONG_AGO
    me, ticks = os.getpid(), start_ticks(os.getpid())
    found: dict[str, str] = {}

    queued = build.session(native="019a0000-0000-7000-8000-0000000000a1")
    found["stale_queued"] = build.turn(queued, accepted_at=old)

    # Both have a live runner and no progress for long; only one was marked stalled.
    no_progress = {"stalled": {"stalled_at": old}, "stale_running": {}}
    for n, (code, marks) in enumerate(no_progress.items(), start=2):
        running = build.session(native=f"019a0000-0000-7000-8000-0000000000a{n}")
        found[code] = build.turn(
            running,
            TurnState.DISPATCHED,
            TurnState.RUNNING,
            runner_pid=me,
            runner_ticks=ticks,
            first_event_at=old,
            last_progress_at=old,
            **marks,
        )
    lost = build.session(native="019a0000-0000-7000-8000-0000000000a4")
    found["lost"] = build.turn(lost, TurnState.DISPATCHED, TurnState.RUNNING, runner_pid=dead_pid())

    wedged = build.session(native="019a0000-0000-7000-8000-0000000000a5")
    for _ in range(2):
        build.turn(wedged, TurnState.DISPATCHED, TurnState.FAILED, reason="context full: too long")
    found["wedged_thread"] = wedged

    missing = build.session(native="019a0000-0000-7000-8000-0000000000a6")
    with build.ledger.db.write() as conn:
        thread = threads.ensure_current(conn, sessions.get(conn, missing))
        threads.measured_log(
            conn,
            thread,
            path=str(build.path / "gone.jsonl"),
            offset=10,
            size=10,
            tokens=5,
            window=100,
            compactions=0,
        )
    found["native_missing"] = missing

    unbound = build.session()
    build.turn(unbound, TurnState.DISPATCHED, TurnState.RUNNING, TurnState.COMPLETED, reason="done")
    found["unbound_native"] = unbound

    with build.ledger.db.write() as conn:
        conn.execute(
            insert(usage_entries).values(
                agent="codex",
                entry_key="k1",
                native_id="nobodys-thread",
                copied=0,
                origin_ts=old,
                ts=old,
                day="2026-11-30",
                model="m",
                input_tokens=1,
                cached_input_tokens=0,
                cache_write_tokens=0,
                output_tokens=1,
                reasoning_tokens=0,
                cost=0.0,
            )
        )
        conn.execute(
            insert(history_files).values(
                agent="claude",
                path="/logs/bad.jsonl",
                native_id="n",
                device=1,
                inode=1,
                size=10,
                mtime=old,
                head_size=0,
                head_hash="",
                read_offset=10,
                bad_lines=3,
                scanned_at=old,
            )
        )
    found["orphan_usage"] = "nobodys-thread"
    found["index_errors"] = "/logs/bad.jsonl"
    return found


def test_a_healthy_ledger_has_nothing_to_report(
    config: Config, ledger: Ledger, tmp_path: Path
) -> None:
    healthy(Builder(ledger, tmp_path))
    with ledger.db.read() as conn:
        report = run(conn, config)
    assert report.findings == [] and not report.needs_a_person


def test_each_anomaly_is_found_with_its_ids_and_a_hint(
    config: Config, ledger: Ledger, tmp_path: Path
) -> None:
    build = Builder(ledger, tmp_path)
    healthy(build)
    expected = anomalies(build, config)
    with ledger.db.read() as conn:
        report = run(conn, config)
    by_code: dict[str, list[dict[str, str]]] = {}
    for finding in report.findings:
        by_code.setdefault(finding.code, []).append(finding.ids)
        assert finding.hint and finding.message
    assert set(by_code) == ALL_CODES
    for code, wanted in expected.items():
        assert len(by_code[code]) == 1, (code, by_code[code])
        assert wanted in by_code[code][0].values(), (code, by_code[code])
    ages = {f.code: f.age_s for f in report.findings}
    assert ages["stale_queued"] is not None and ages["stale_queued"] >= LONG_AGO - 60


@pytest.mark.parametrize("sick", [False, True])
def test_cli_exit_status_and_api(
    config: Config, ledger: Ledger, tmp_path: Path, sick: bool
) -> None:
    build = Builder(ledger, tmp_path)
    healthy(build)
    if sick:
        anomalies(build, config)
    result = CliRunner().invoke(cli, ["audit", "--json"])
    assert result.exit_code == (1 if sick else 0), result.output

    Auditor(config, ledger).check()  # the daemon's periodic check; the API reads what it stored
    app = create_app(config, ledger, Engine(config, ledger))
    transport = httpx.ASGITransport(app=app)

    async def fetch() -> httpx.Response:
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            return await client.get("/api/audit")

    answer = asyncio.run(fetch())
    assert answer.status_code == 200
    body = answer.json()
    assert body["ok"] is (not sick)
    assert {f["code"] for f in body["findings"]} == (ALL_CODES if sick else set())
