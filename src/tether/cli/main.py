"""Entry point: global options and the one place where errors become exit codes."""

import sys
from typing import Any

import click

from tether import __version__
from tether.cli import (
    doctor,
    history,
    output,
    projects,
    serve,
    sessions,
    team,
    turns,
    workspaces,
)
from tether.cli.context import Context
from tether.errors import TetherError


class TetherGroup(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except TetherError as exc:
            if ctx.obj is not None and ctx.obj.verbose:
                raise
            output.errors.print(f"[red]error:[/red] {exc}", markup=True, highlight=False)
            sys.exit(exc.exit_code)
        finally:
            if ctx.obj is not None:
                ctx.obj.close()


@click.group(cls=TetherGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Show tracebacks for errors.")
@click.version_option(__version__, prog_name="tether")
@click.pass_context
def cli(ctx: click.Context, verbose: bool) -> None:
    """Run, track, resume and account for AI coding-agent sessions.

    \b
    Environment: TETHER_HOME (default ~/.tether), TETHER_DATABASE_URL
    (default sqlite under TETHER_HOME), TETHER_<SECTION>_<KEY> overrides
    any config.toml setting, e.g. TETHER_SERVER_PORT=7800.
    """
    ctx.obj = Context(verbose)


for _module in (projects, sessions, turns, workspaces, doctor, serve, history, team):
    _module.register(cli)


def main() -> None:
    cli(prog_name="tether")


if __name__ == "__main__":
    main()
