"""``tether diff|merge|pr|archive|gc``: a session's worktree, its diffs and landing its work."""

import sys
from typing import Any

import click

from tether.cli import output
from tether.cli.client import Client
from tether.cli.context import Context, pass_ctx
from tether.cli.reads import Reader
from tether.domain.ids import parse_session_id


@click.command("diff")
@click.argument("session_id")
@click.option("--turn", type=click.IntRange(1), help="Only this turn's change.")
@click.option("--stat", is_flag=True, help="Files and line counts, no patch text.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (one page of files).")
@click.option("--offset", type=click.IntRange(0), default=0, help="First file of the page.")
@pass_ctx
def diff(
    ctx: Context, session_id: str, turn: int | None, stat: bool, as_json: bool, offset: int
) -> None:
    """What the session changed (since its base), or one turn's change, as recorded."""
    session_id = str(parse_session_id(session_id))
    reader = Reader(ctx)
    page = reader.diff(session_id, turn, offset, patches=not stat)
    if as_json:
        output.emit_json(page)
        return
    if page["summary"] is None:
        output.errors.print(f"{page['session_id']}: no diff recorded yet (no turn has ended)")
        return
    while True:
        _print_files(page["files"], stat)
        if page["next_offset"] is None:
            break
        page = reader.diff(session_id, turn, page["next_offset"], patches=not stat)
    s = page["summary"]
    extra = "".join(
        f", {n} {what}"
        for n, what in ((s["binary_files"], "binary"), (s["huge_files"], "huge"))
        if n
    )
    if stat:
        click.echo(f"{s['files']} files changed, +{s['added']} -{s['removed']}{extra}")


def _print_files(files: list[dict[str, Any]], stat: bool) -> None:
    for f in files:
        if stat or f["patch"] is None:
            counts = "binary" if f["binary"] else f"+{f['added']} -{f['removed']}"
            note = " (huge: patch not stored)" if f["huge"] else ""
            moved = f"{f['old_path']} => " if f["old_path"] else ""
            click.echo(f"{f['status']} {moved}{f['path']} | {counts}{note}")
        else:
            sys.stdout.write(f["patch"])
    sys.stdout.flush()


@click.command("merge")
@click.argument("session_id")
@click.option("--squash", is_flag=True, help="One commit on the target instead of a merge.")
@click.option("--into", help="Branch to merge into (default: the session's base branch).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
def merge(ctx: Context, session_id: str, squash: bool, into: str | None, as_json: bool) -> None:
    """Merge the session's branch in the main checkout (only a clean one; never half-merged)."""
    session_id = str(parse_session_id(session_id))
    landed = Client(ctx.config).post(
        f"/api/sessions/{session_id}/merge", {"squash": squash, "into": into}
    )
    if as_json:
        output.emit_json(landed)
        return
    click.echo(f"merged {landed['branch']} into {landed['target']} ({landed['commit'][:12]})")


@click.command("pr")
@click.argument("session_id")
@click.option("--draft", is_flag=True, help="Open the pull request as a draft.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
def pr(ctx: Context, session_id: str, draft: bool, as_json: bool) -> None:
    """Push the session's branch and open a pull request with `gh pr create`."""
    session_id = str(parse_session_id(session_id))
    landed = Client(ctx.config).post(f"/api/sessions/{session_id}/pr", {"draft": draft})
    if as_json:
        output.emit_json(landed)
        return
    click.echo(landed["target"])


@click.command("archive")
@click.argument("session_id")
@click.option("--force", is_flag=True, help="Remove the worktree even with uncommitted changes.")
@click.option("--delete-branch", is_flag=True, help="Delete the session's branch too.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
def archive(ctx: Context, session_id: str, force: bool, delete_branch: bool, as_json: bool) -> None:
    """Archive a session and remove its worktree (its branch stays unless --delete-branch)."""
    session_id = str(parse_session_id(session_id))
    done = Client(ctx.config).post(
        f"/api/sessions/{session_id}/archive", {"force": force, "delete_branch": delete_branch}
    )
    if as_json:
        output.emit_json(done)
        return
    removed = f"; removed {done['worktree_removed']}" if done["worktree_removed"] else ""
    branch = f"; deleted branch {done['branch_deleted']}" if done["branch_deleted"] else ""
    click.echo(f"archived {session_id}{removed}{branch}")


@click.command("gc")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
def gc(ctx: Context, as_json: bool) -> None:
    """Remove worktrees of archived sessions and orphaned ones; say what was freed."""
    done = Client(ctx.config).post("/api/workspaces/gc", {})
    if as_json:
        output.emit_json(done)
        return
    for item in done["removed"]:
        click.echo(f"removed {item['path']} ({item['bytes']} bytes)")
    for item in done["kept"]:
        click.echo(f"kept {item['path']}: {item['reason']}")
    click.echo(
        f"freed {done['bytes_freed']} bytes in {len(done['removed'])} worktrees; "
        f"{done['refs_deleted']} checkpoint refs deleted"
    )


def register(cli: click.Group) -> None:
    for command in (diff, merge, pr, archive, gc):
        cli.add_command(command)
