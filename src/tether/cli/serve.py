"""``tether serve`` and ``tether daemon status|stop``."""

import os
import signal
import sys
import time
from dataclasses import asdict

import click

from tether.cli import output
from tether.cli.context import Context, pass_ctx
from tether.errors import DaemonError
from tether.server import address

STOP_TIMEOUT_S = 30.0


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
    from tether.server import daemon  # uvicorn, the engine: only the daemon needs them

    daemon.serve(config, host=host, port=port)


@click.group("daemon")
def daemon_group() -> None:
    """The background daemon of this TETHER_HOME."""


@daemon_group.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
def status(ctx: Context, as_json: bool) -> None:
    """Is a daemon serving this home? Exit 0 if so, 1 if not."""
    info = address.running(ctx.config.home)
    if as_json:
        output.emit_json(None if info is None else {**asdict(info), "url": info.url})
    elif info is None:
        output.console.print(f"no daemon is serving {ctx.config.home}")
    else:
        output.console.print(f"daemon serving {ctx.config.home} at {info.url} (pid {info.pid})")
    sys.exit(0 if info else 1)


@daemon_group.command("stop")
@pass_ctx
def stop(ctx: Context) -> None:
    """Stop the daemon; running turns go on in their runners and are picked up at next start."""
    info = address.running(ctx.config.home)
    if info is None:
        output.console.print("no daemon is running")
        return
    os.kill(info.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while address.running(ctx.config.home) is not None:
        if time.monotonic() > deadline:
            raise DaemonError(f"daemon pid {info.pid} did not stop within {STOP_TIMEOUT_S:g}s")
        time.sleep(0.05)
    output.console.print(f"stopped the daemon (pid {info.pid})")


def register(cli: click.Group) -> None:
    cli.add_command(serve)
    cli.add_command(daemon_group)
