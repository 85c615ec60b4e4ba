"""``tether ls`` and ``tether show``: read straight from the ledger."""

from typing import Any

import click

from tether.cli import output
from tether.cli.context import Context, pass_ctx
from tether.domain import serialize
from tether.domain.ids import parse_session_id
from tether.domain.states import SessionState
from tether.ledger import diffs, sessions, turns, workspaces

STATES = [s.value for s in SessionState]


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
    with ctx.ledger.db.read() as conn:
        page = sessions.list_page(
            conn,
            project=project,
            state=SessionState(state) if state else None,
            agent=agent,
            before=before,
            limit=limit,
        )
    items = [serialize.session(s) for s in page.items]
    if as_json:
        output.emit_json({"items": items, "next_cursor": page.next_cursor})
        return
    output.table(
        None,
        ("id", "agent", "state", "origin", "updated", "title"),
        (
            (s["id"], s["agent"], s["state"], s["origin"], output.when(s["updated_at"]), s["title"])
            for s in items
        ),
    )
    if page.next_cursor:
        output.console.print(f"more: tether ls --before {page.next_cursor}")


@click.command("show")
@click.argument("session_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
def show(ctx: Context, session_id: str, as_json: bool) -> None:
    """Show a session with its turns, their states, reasons and phases."""
    session_id = str(parse_session_id(session_id))
    with ctx.ledger.db.read() as conn:
        session = serialize.session(sessions.get(conn, session_id))
        session["turns"] = [serialize.turn(t) for t in turns.for_session(conn, session_id)]
        ws = workspaces.find(conn, session_id)
        whole = diffs.latest_session(conn, session_id) if ws else None
        session["worktree"] = serialize.workspace(ws) if ws else None
        session["diff"] = serialize.diff_summary(whole) if whole else None
    if as_json:
        output.emit_json(session)
        return
    output.console.print(
        f"[bold]{session['id']}[/bold]  {session['agent']}  {session['state']}  "
        f"native id: {session['native_id'] or '(not captured yet)'}\n"
        f"workspace: {session['workspace']}",
        highlight=False,
    )
    if ws is not None:
        output.console.print(_worktree_line(session["worktree"], session["diff"]), highlight=False)
    output.table(
        None,
        ("turn", "by", "state", "reason", "attempts", "accepted", "finished", "waiting for"),
        (
            (
                t["id"],
                t["accepted_by"] or "",
                t["state"],
                _reason(t),
                t["attempts"],
                output.when(t["phases"]["accepted"]),
                output.when(t["phases"]["finished"]),
                f"STALLED since {output.when(t['stalled_since'])}"
                if t["stalled_since"]
                else t["waiting_for"],
            )
            for t in session["turns"]
        ),
    )


def _reason(turn: dict[str, Any]) -> str:
    reason = turn["reason"] or ""
    if turn["cancelled_by"]:
        return f"{reason} (cancel asked by {turn['cancelled_by']})".strip()
    return reason


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
