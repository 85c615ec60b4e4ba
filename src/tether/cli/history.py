"""``tether index``, ``usage``, ``search``, ``adopt`` and ``prices update``."""

from dataclasses import asdict
from pathlib import Path
from typing import Any

import click

from tether.cli import output
from tether.cli.context import Context, pass_ctx
from tether.domain.text import shorten
from tether.ledger.usage import USAGE_GROUPS


@click.command("index")
@click.option("--json", "as_json", is_flag=True, help="Print the pass's report as JSON.")
@pass_ctx
def index(ctx: Context, as_json: bool) -> None:
    """Read new native-log bytes of every agent into the ledger, once, in the foreground."""
    from tether.history import unchanged

    report = unchanged.check(ctx.config)
    if report is None:
        from tether.history.indexer import Indexer

        indexer = Indexer(ctx.config, ctx.ledger)
        bar = _Bar()
        try:
            report = indexer.run_once(None if as_json else bar.update)
        finally:
            bar.close()
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
@click.argument("by", type=click.Choice(USAGE_GROUPS), default="daily", required=False)
@click.option("--since", help="First UTC day to include, YYYY-MM-DD.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
def usage(ctx: Context, by: str, since: str | None, as_json: bool) -> None:
    """Tokens and cost from the ledger, by day, session, model, project or agent.

    Tokens of models without a known price are counted as unpriced: their
    cost is shown as unpriced (JSON: "cost": null) and never as 0.
    """
    from tether.cli.usage import show, show_light
    from tether.home import database_url

    # A migrated SQLite ledger is read knowing only its URL; opening the full ledger (which
    # may migrate it) loads and checks every setting, as every other command does.
    if not show_light(database_url(), by, since, as_json):
        from tether.ledger.history import executor

        with ctx.ledger.db.read() as conn:
            show(executor(conn), by, since, as_json)


class _Bar:
    """Rich's progress bar, loaded and shown only once there is something to read."""

    def __init__(self) -> None:
        self.progress: Any = None
        self.task: Any = None

    def update(self, done: int, total: int) -> None:
        if self.progress is None:
            from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

            self.progress = Progress(
                *Progress.get_default_columns()[:-1],
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                console=output.errors,
                transient=True,
            )
            self.progress.start()
            self.task = self.progress.add_task("indexing native logs", total=None)
        self.progress.update(self.task, completed=done, total=total)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()


@click.command("search")
@click.argument("query")
@click.option("--limit", type=click.IntRange(1, 200), default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
def search(ctx: Context, query: str, limit: int, as_json: bool) -> None:
    """Full-text search over the prompts and messages of all sessions."""
    from tether.domain import serialize
    from tether.ledger import history as ledger_history

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
        ((h["session_id"], output.when(h["created_at"]), shorten(h["preview"], 120)) for h in hits),
    )


@click.command("adopt")
@click.argument("session_id")
@click.option("--project", help="Move it into this project (it gets that project's next id).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
def adopt(ctx: Context, session_id: str, project: str | None, as_json: bool) -> None:
    """Make an external session a regular tether session that can be resumed."""
    from tether.domain import serialize
    from tether.history.adopt import adopt as adopt_session

    session = serialize.session(adopt_session(ctx.ledger, session_id, project))
    if as_json:
        output.emit_json(session)
        return
    output.console.print(
        f"{session['id']} is now a tether session ({session['agent']} {session['native_id']})"
    )


@click.group("prices")
def prices() -> None:
    """The model prices used for cost (genai-prices' data)."""


@prices.command("update")
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--url", help="Fetch the data file from this URL instead of genai-prices' own.")
@pass_ctx
def prices_update(ctx: Context, file: Path | None, url: str | None) -> None:
    """Fetch genai-prices' newest data (or install FILE) and re-cost all usage."""
    from tether.history import reprice

    if file is not None and url is not None:
        raise click.UsageError("give FILE or --url, not both")
    if file is not None:
        source, data = str(file), reprice.read_file(file)
    else:
        source = url or reprice.default_url()
        data = reprice.fetch(source)
    models, entries, unpriced = reprice.update_prices(ctx.config, ctx.ledger, data, source)
    output.console.print(
        f"{models} models priced; {entries} usage entries re-costed", highlight=False
    )
    if unpriced:
        output.console.print(f"still unpriced: {', '.join(unpriced)}", highlight=False)


def register(cli: click.Group) -> None:
    for command in (index, usage, search, adopt, prices):
        cli.add_command(command)
