"""The click group: global options and the one place where errors become exit codes."""

import importlib
import sys
from typing import Any

import click

from tether import __version__
from tether.cli import output
from tether.cli.context import Context
from tether.errors import TetherError

# Which module of tether.cli registers each command: a command imports only its own module
# (and that module imports what the command needs when it runs), so `tether --version` and
# `tether ls` load none of the others. tests/unit/test_cli_commands.py keeps this complete.
COMMANDS = {
    "project": "projects",
    **dict.fromkeys(("ls", "show", "rotate"), "sessions"),
    **dict.fromkeys(("spawn", "send", "cancel", "wait", "log", "attach"), "turns"),
    **dict.fromkeys(("diff", "merge", "pr", "archive", "gc"), "workspaces"),
    "doctor": "doctor",
    "audit": "audit",
    "serve": "serve",
    "daemon": "serve",
    **dict.fromkeys(("index", "usage", "search", "adopt", "prices"), "history"),
    **dict.fromkeys(("user", "token", "hosts"), "team"),
}


class TetherGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMANDS, *self.commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module = COMMANDS.get(cmd_name)
        if module is not None and cmd_name not in self.commands:
            importlib.import_module(f"tether.cli.{module}").register(self)
        return self.commands.get(cmd_name)

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
