"""``tether index``, ``usage``, ``search``, ``adopt`` and ``prices update``."""

import datetime
from dataclasses import asdict
from pathlib import Path

import click
from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

from tether.cli import output
from tether.cli.context import Context, pass_ctx
from tether.domain import serialize
from tether.history.adopt import adopt as adopt_session
from tether.history.indexer import Indexer
from tether.history.reprice import update_prices
from tether.ledger import history as ledger_history

TOKEN_HEADERS = ("input", "cached", "cache write", "output", "reasoning")


@click.command("index")
@click.option("--json", "as_json", is_flag=True, help="Print the pass's report as JSON.")
@pass_ctx
def index(ctx: Context, as_json: bool) -> None:
    """Read new native-log bytes of every agent into the ledger, once, in the foreground."""
    indexer = Indexer(ctx.config, ctx.ledger)
    with Progress(
        *Progress.get_default_columns()[:-1],
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=output.errors,
        disable=as_json,
        transient=True,
    ) as bar:
        task = bar.add_task("indexing native logs", total=None)
        report = indexer.run_once(lambda done, total: bar.update(task, completed=done, total=total))
    if as_json:
        output.emit_json(asdict(report))
        return
    output.console.print(
        f"{report.files} files, {report.files_read} read ({report.bytes_read / 1e6:.1f} MB), "
        f"{report.entries} usage entries, {report.sessions_created} new external sessions, "
        f"{report.events} transcript events in {report.seconds:.2f} s"
    )
    if report.bad_lines or report.oversize_lines or report.errors:
        output.console.print(
            f"[yellow]skipped[/yellow] {report.bad_lines} undecodable and "
            f"{report.oversize_lines} oversize lines; {len(report.errors)} unreadable files"
        )
        for error in report.errors[:10]:
            output.console.print(f"  {error}", highlight=False)


@click.command("usage")
@click.argument(
    "by", type=click.Choice(ledger_history.USAGE_GROUPS), default="daily", required=False
)
@click.option("--since", help="First UTC day to include, YYYY-MM-DD.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
def usage(ctx: Context, by: str, since: str | None, as_json: bool) -> None:
    """Tokens and cost from the ledger, by day, session, model, project or agent."""
    if since is not None:
        _check_day(since)
    with ctx.ledger.db.read() as conn:
        rows = ledger_history.usage_report(conn, by, since)
    if as_json:
        output.emit_json(rows)
        return
    output.table(
        None,
        (by, *TOKEN_HEADERS, "cost USD"),
        (
            (r["key"], *(f"{r[c]:,}" for c in ledger_history.TOKEN_COLUMNS), f"{r['cost']:.4f}")
            for r in rows
        ),
    )


def _check_day(value: str) -> None:
    try:
        datetime.date.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(
            f"{value!r} is not a day like 2026-01-31", param_hint="--since"
        ) from exc


@click.command("search")
@click.argument("query")
@click.option("--limit", type=click.IntRange(1, 200), default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
def search(ctx: Context, query: str, limit: int, as_json: bool) -> None:
    """Full-text search over the prompts and messages of all sessions."""
    with ctx.ledger.db.read() as conn:
        hits = ledger_history.search(conn, query, limit)
    for hit in hits:
        hit["created_at"] = serialize.iso(hit["created_at"])
    if as_json:
        output.emit_json(hits)
        return
    output.table(
        None,
        ("session", "when", "text"),
        ((h["session_id"], output.when(h["created_at"]), h["preview"][:120]) for h in hits),
    )


@click.command("adopt")
@click.argument("session_id")
@click.option("--project", help="Move it into this project (it gets that project's next id).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
def adopt(ctx: Context, session_id: str, project: str | None, as_json: bool) -> None:
    """Make an external session a regular tether session that can be resumed."""
    session = serialize.session(adopt_session(ctx.ledger, session_id, project))
    if as_json:
        output.emit_json(session)
        return
    output.console.print(
        f"{session['id']} is now a tether session ({session['agent']} {session['native_id']})"
    )


@click.group("prices")
def prices() -> None:
    """The model price table used for cost (LiteLLM's format)."""


@prices.command("update")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@pass_ctx
def prices_update(ctx: Context, file: Path) -> None:
    """Install FILE (LiteLLM's model_prices_and_context_window.json) and re-cost all usage."""
    models, entries = update_prices(ctx.config, ctx.ledger, file)
    output.console.print(f"{models} models priced; {entries} usage entries re-costed")


def register(cli: click.Group) -> None:
    for command in (index, usage, search, adopt, prices):
        cli.add_command(command)
