"""``tether ls`` and ``tether show`` (through the daemon's API when one runs, see reads.py);
``tether rotate``."""

from typing import Any

import click

from tether.cli import output
from tether.cli.client import Client
from tether.cli.context import Context, pass_ctx
from tether.cli.reads import Reader
from tether.domain.ids import parse_session_id
from tether.domain.states import SessionState
from tether.domain.text import shorten

STATES = [s.value for s in SessionState]
REASON_CHARS = 160  # at 80 columns a reason takes a few lines; --json has it whole
HIGH_FILL = 0.7  # `tether ls` shows a thread's fill from here on


@click.command("ls")
@click.option("--project", help="Only this project's sessions.")
@click.option("--state", type=click.Choice(STATES), help="Only sessions in this state.")
@click.option("--agent", help="Only this agent's sessions.")
@click.option("--limit", type=click.IntRange(1, 500), default=50, show_default=True)
@click.option("--before", help="Cursor from a previous page (next_cursor).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
def ls(
    ctx: Context,
    project: str | None,
    state: str | None,
    agent: str | None,
    limit: int,
    before: str | None,
    as_json: bool,
) -> None:
    """List sessions, newest first."""
    page = Reader(ctx).sessions(
        project=project, state=state, agent=agent, before=before, limit=limit
    )
    items = page["items"]
    if as_json:
        output.emit_json(page)
        return
    output.table(
        None,
        ("id", "agent", "state", "origin", "updated", "title", "context"),
        (
            (
                s["id"],
                s["agent"],
                s["state"],
                s["origin"],
                output.when(s["updated_at"]),
                s["title"],
                _context(s.get("thread")),
            )
            for s in items
        ),
    )
    if page["next_cursor"]:
        output.console.print(f"more: tether ls --before {page['next_cursor']}")


@click.command("show")
@click.argument("session_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
def show(ctx: Context, session_id: str, as_json: bool) -> None:
    """Show a session with its turns, their states, reasons and phases."""
    session_id = str(parse_session_id(session_id))
    session = Reader(ctx).session(session_id)
    if as_json:
        output.emit_json(session)
        return
    lines = [
        f"{session['id']}  {session['agent']}  {session['state']}  "
        f"native id: {session['native_id'] or '(not captured yet)'}",
        f"workspace: {session['workspace']}",
    ]
    if session["worktree"] is not None:
        lines.append(_worktree_line(session["worktree"], session["diff"]))
    lines.extend(_thread_lines(thread) for thread in session["threads"])
    for turn in session["turns"]:
        lines.extend(_turn_lines(turn))
    output.console.print("\n".join(lines), markup=False, highlight=False)


def _turn_lines(turn: dict[str, Any]) -> list[str]:
    """One short block per turn: it reads at 80 columns, where a table squeezes the reason
    into a column a few characters wide."""
    phases = turn["phases"]
    by = f"  by {turn['accepted_by']}" if turn["accepted_by"] else ""
    head = f"{turn['id']}  {turn['state']}  attempts {turn['attempts']}{by}"
    times = f"  accepted {output.when(phases['accepted'])}"
    if phases["finished"]:
        times += f"  finished {output.when(phases['finished'])}"
    elif turn.get("reconnecting"):
        times += f"  {turn['reconnecting']}"
    elif turn["wait"]:
        times += f"  {_wait(turn['wait'])}"
    reason = _reason(turn)
    return [head, times, *([f"  {reason}"] if reason else [])]


def _wait(wait: dict[str, Any]) -> str:
    """``waiting for the agent's first event 12s``, ``STALLED … 3m05s``: a live turn's wait."""
    seconds = wait["seconds"]
    if seconds is None:
        return str(wait["label"])
    minutes, secs = divmod(int(seconds), 60)
    return f"{wait['label']} {minutes}m{secs:02d}s" if minutes else f"{wait['label']} {secs}s"


def _context(thread: dict[str, Any] | None) -> str:
    """A thread's fill when high (``91% of 200,000 tokens``), or why it rotates next."""
    if thread is None:
        return ""
    if thread["rotate_reason"]:
        return shorten(f"ROTATE NEXT: {thread['rotate_reason']}", REASON_CHARS)
    fill = thread["fill"]
    if fill is None or fill < HIGH_FILL:
        return ""
    return f"{fill:.0%} of {thread['context_window']:,} tokens"


def _thread_lines(thread: dict[str, Any]) -> str:
    tokens, window = thread["context_tokens"], thread["context_window"]
    size = f"context {tokens:,}" if tokens is not None else "context not measured yet"
    if tokens is not None and window:
        size += f" of {window:,} ({thread['fill']:.0%})"
    line = (
        f"thread {thread['ordinal']}: {thread['native_id'] or '(starting)'}  {size}, "
        f"{thread['compactions']} compaction(s)"
    )
    if thread["log_bytes"] is not None:
        line += f", native log {thread['log_bytes']:,} bytes"
    if thread["ended_at"]:
        line += f"\n  rotated {output.when(thread['ended_at'])}: {thread['end_reason']}"
    elif thread["rotate_reason"]:
        line += f"\n  rotates before the next turn: {thread['rotate_reason']}"
    return line


def _reason(turn: dict[str, Any]) -> str:
    reason = turn["reason"] or ""
    if turn["cancelled_by"]:
        reason = f"{reason} (cancel asked by {turn['cancelled_by']})".strip()
    return shorten(reason, REASON_CHARS)


def _worktree_line(ws: dict[str, Any], diff: dict[str, Any] | None) -> str:
    parts = [f"branch {ws['branch']} from {ws['base_ref']} ({ws['state']})"]
    if diff:
        parts.append(f"{diff['files']} files +{diff['added']} -{diff['removed']}")
    if ws["merged_into"]:
        parts.append(f"merged into {ws['merged_into']}")
    if ws["pr_url"]:
        parts.append(f"pull request {ws['pr_url']}")
    if ws["error"]:
        parts.append(f"error: {ws['error']}")
    return "worktree: " + "; ".join(parts)


@click.command("rotate")
@click.argument("session_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
def rotate(ctx: Context, session_id: str, as_json: bool) -> None:
    """Open a new native thread for SESSION_ID's next turn, with a hand-off."""
    session_id = str(parse_session_id(session_id))
    thread = Client(ctx.config).post(f"/api/sessions/{session_id}/rotate", {})
    if as_json:
        output.emit_json(thread)
        return
    output.console.print(
        f"{session_id}: thread {thread['ordinal']} ({thread['native_id']}) will be rotated "
        "before the next turn; its message goes to the new thread with a hand-off",
        highlight=False,
    )


def register(cli: click.Group) -> None:
    cli.add_command(ls)
    cli.add_command(show)
    cli.add_command(rotate)
