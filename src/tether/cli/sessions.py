"""``tether ls`` and ``tether show``: through the daemon's API when one runs (see reads.py)."""

from typing import Any

import click

from tether.cli import output
from tether.cli.context import Context, pass_ctx
from tether.cli.reads import Reader
from tether.domain.ids import parse_session_id
from tether.domain.states import SessionState
from tether.domain.text import shorten

STATES = [s.value for s in SessionState]
REASON_CHARS = 160  # at 80 columns a reason takes a few lines; --json has it whole


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
        ("id", "agent", "state", "origin", "updated", "title"),
        (
            (s["id"], s["agent"], s["state"], s["origin"], output.when(s["updated_at"]), s["title"])
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
    elif turn["stalled_since"]:
        times += f"  STALLED since {output.when(turn['stalled_since'])}"
    elif turn["waiting_for"]:
        times += f"  waiting for {turn['waiting_for']}"
    reason = _reason(turn)
    return [head, times, *([f"  {reason}"] if reason else [])]


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


def register(cli: click.Group) -> None:
    cli.add_command(ls)
    cli.add_command(show)
