"""``tether serve``: run the daemon in the foreground."""

import click

from tether.cli import output
from tether.cli.context import Context, pass_ctx
from tether.server import daemon


@click.command("serve")
@click.option("--host", help="Address to bind (default from config: 127.0.0.1).")
@click.option("--port", type=click.IntRange(0, 65535), help="Port (default from config: 7700).")
@pass_ctx
def serve(ctx: Context, host: str | None, port: int | None) -> None:
    """Run the daemon: API and dashboard on HOST:PORT."""
    config = ctx.config
    shown_host = host or config.server.host
    shown_port = config.server.port if port is None else port
    output.errors.print(f"tether serving {config.home} on http://{shown_host}:{shown_port}")
    daemon.serve(config, host=host, port=port)


def register(cli: click.Group) -> None:
    cli.add_command(serve)
