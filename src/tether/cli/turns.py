"""``tether spawn|send|cancel|wait|log``: the life of turns."""

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import click

from tether.cli import output
from tether.cli.client import Client
from tether.cli.context import Context, pass_ctx
from tether.cli.reads import Reader
from tether.domain.ids import SessionId, parse_session_id, parse_session_or_turn_id
from tether.domain.states import TurnState
from tether.domain.text import shorten
from tether.errors import InvalidInput

WAIT_POLL_S = 0.2
LOG_PREVIEW_CHARS = 160
KEY_HELP = (
    "Idempotency key: the same key returns the same turn (default: a fresh one, reused "
    "when the CLI retries through a daemon restart)."
)
EXIT_TIMEOUT = 124


def _accepted(data: dict[str, object], as_json: bool, verb: str) -> None:
    if as_json:
        output.emit_json(data)
        return
    turn = data["turn"]
    assert isinstance(turn, dict)
    again = "" if data.get("created", True) else " (same key: the earlier turn)"
    output.console.print(f"{verb} [bold]{turn['id']}[/bold] {turn['state']}{again}")


@click.command("spawn")
@click.argument("prompt", nargs=-1, required=True)
@click.option("--project", help="Project of the new session (default: the one containing cwd).")
@click.option("--agent", help="Agent of the new session (default: the project's).")
@click.option("--model", help="Model to ask the agent for.")
@click.option("--key", help=KEY_HELP)
@click.option(
    "--worktree/--no-worktree",
    default=None,
    help="Run in a git worktree of its own, on branch tether/<id> (default: the project's "
    "worktree setting).",
)
@click.option("--base", help="Commit, tag or branch the worktree starts from (default: HEAD).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
def spawn(
    ctx: Context,
    prompt: tuple[str, ...],
    project: str | None,
    agent: str | None,
    model: str | None,
    key: str | None,
    worktree: bool | None,
    base: str | None,
    as_json: bool,
) -> None:
    """Start a new session with PROMPT as its first message."""
    body: dict[str, object] = {
        "prompt": " ".join(prompt),
        "project": project,
        "agent": agent,
        "model": model,
        "worktree": worktree,
        "base": base,
    }
    body.update(cwd=str(Path.cwd()), key=key or uuid.uuid4().hex, path=os.environ.get("PATH", ""))
    _accepted(Client(ctx.config).post("/api/sessions", body, repeatable=True), as_json, "queued")


@click.command("send")
@click.argument("session_id")
@click.argument("message", nargs=-1, required=True)
@click.option("--key", help=KEY_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
def send(
    ctx: Context, session_id: str, message: tuple[str, ...], key: str | None, as_json: bool
) -> None:
    """Queue MESSAGE as the next turn of SESSION_ID."""
    session_id = str(parse_session_id(session_id))
    body = {"message": " ".join(message), "key": key or uuid.uuid4().hex}
    body["path"] = os.environ.get("PATH", "")  # the daemon finds and runs the agent on it
    _accepted(
        Client(ctx.config).post(f"/api/sessions/{session_id}/messages", body, repeatable=True),
        as_json,
        "queued",
    )


CANCEL_EXIT = {"cancelled": 0, "already_finished": 0, "not_found": 2, "could_not_stop": 1}


@click.command("cancel")
@click.argument("turn_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
def cancel(ctx: Context, turn_id: str, as_json: bool) -> None:
    """Stop a turn: cancelled, already_finished, not_found or could_not_stop."""
    turn_id = str(parse_session_or_turn_id(turn_id))
    result = Client(ctx.config).post(f"/api/turns/{turn_id}/cancel", {}, ok=(404,), repeatable=True)
    if as_json:
        output.emit_json(result)
    else:
        detail = f" ({result['state']})" if result.get("state") else ""
        reason = f": {result['reason']}" if result.get("reason") else ""
        output.console.print(f"{turn_id}: {result['outcome']}{detail}{reason}")
    sys.exit(CANCEL_EXIT[result["outcome"]])


def _target(reader: Reader, ident: str) -> dict[str, Any] | None:
    if isinstance(parse_session_or_turn_id(ident), SessionId):
        session_turns = reader.session(ident)["turns"]
        return session_turns[-1] if session_turns else None
    return reader.turn(ident)


@click.command("wait")
@click.argument("ident", metavar="TURN|SESSION")
@click.option("--timeout", type=float, help="Give up after this many seconds (exit 124).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
def wait(ctx: Context, ident: str, timeout: float | None, as_json: bool) -> None:
    """Block until the turn (or the session's latest turn) ends: exit 0 if completed, else 1."""
    deadline = None if timeout is None else time.monotonic() + timeout
    reader = Reader(ctx)
    while True:
        turn = _target(reader, ident)
        if turn is None or TurnState(turn["state"]).terminal:
            break
        if deadline is not None and time.monotonic() >= deadline:
            if as_json:
                output.emit_json({**turn, "timed_out_waiting": True})
            else:
                output.errors.print(f"{turn['id']} is still {turn['state']} after {timeout:g}s")
            sys.exit(EXIT_TIMEOUT)
        time.sleep(WAIT_POLL_S)
    if turn is None:
        output.errors.print(f"session {ident} has no turns")
        sys.exit(1)
    if as_json:
        output.emit_json(turn)
    else:
        output.console.print(f"{turn['id']} {turn['state']}: {turn['reason'] or ''}")
    sys.exit(0 if turn["state"] == TurnState.COMPLETED else 1)


@click.command("log")
@click.argument("session_id")
@click.option("--before", help="Cursor from a previous page (next_cursor).")
@click.option("--limit", type=click.IntRange(1, 500), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
def log(ctx: Context, session_id: str, before: str | None, limit: int, as_json: bool) -> None:
    """A session's events, newest first, in pages."""
    session_id = str(parse_session_id(session_id))
    page = Reader(ctx).events(session_id, before, limit)
    if as_json:
        output.emit_json(page)
        return
    for item in reversed(page["items"]):
        output.console.print(
            f"{output.when(item['created_at'])} {item['turn_id'] or '':<12} "
            f"{item['kind']:<11} {shorten(item['preview'], LOG_PREVIEW_CHARS)}",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
    if page["next_cursor"]:
        output.console.print(f"older: tether log {session_id} --before {page['next_cursor']}")


@click.command("attach")
@click.argument("session_id")
@pass_ctx
def attach(ctx: Context, session_id: str) -> None:
    """Open the agent's own UI on SESSION_ID's exact thread, holding its lane until you quit."""
    from tether.engine.procs import start_ticks

    session_id = str(parse_session_id(session_id))
    if ctx.config.server.remote:
        raise InvalidInput(
            "tether attach runs the agent here and holds the session's lane by this process, "
            f"which the team daemon at {ctx.config.server.remote} cannot watch: run it on the "
            "session's host"
        )
    client = Client(ctx.config)
    me = os.getpid()
    answer = client.post(
        f"/api/sessions/{session_id}/attach", {"pid": me, "ticks": start_ticks(me)}
    )
    turn_id, launch = answer["turn"]["id"], answer["launch"]
    output.errors.print(f"attached as {turn_id}: {' '.join(launch['argv'])}")
    code = 1
    try:
        code = subprocess.run(
            launch["argv"], cwd=launch["cwd"], env={**os.environ, **launch["env"]}
        ).returncode
    except OSError as exc:
        output.errors.print(f"cannot start {launch['argv'][0]}: {exc.strerror}")
    except KeyboardInterrupt:
        code = 130
    finally:
        client.post(f"/api/turns/{turn_id}/finish", {"exit_code": code})
    sys.exit(0 if code == 0 else 1)


def register(cli: click.Group) -> None:
    for command in (spawn, send, cancel, wait, log, attach):
        cli.add_command(command)
