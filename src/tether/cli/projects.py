"""``tether project add|ls``."""

from pathlib import Path

import click

from tether.cli import output
from tether.cli.context import Context, pass_ctx, resolve
from tether.domain.ids import validate_name
from tether.errors import InvalidInput, NotFound


@click.group("project")
def project() -> None:
    """Projects: directories whose sessions tether tracks."""


@project.command("add")
@click.argument("path", type=click.Path(file_okay=False))
@click.option("--name", help="Project name (default: the directory name).")
@click.option("--prefix", help="Session id prefix (default: derived from the name).")
@click.option("--agent", help="Default agent for new sessions of this project.")
@click.option("--host", help="Host holding the checkout; its turns run there (default: this one).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
def add(
    ctx: Context,
    path: str,
    name: str | None,
    prefix: str | None,
    agent: str | None,
    host: str | None,
    as_json: bool,
) -> None:
    """Track the directory PATH (on this host, or on --host) as a project."""
    from tether.agents.registry import check_agent
    from tether.domain import serialize
    from tether.ledger import hosts, projects

    here = ctx.config.host_name
    directory = resolve(path) if host in (None, here) else Path(path)
    if host in (None, here) and not directory.is_dir():
        raise InvalidInput(f"{directory} is not a directory")
    if not directory.is_absolute():
        raise InvalidInput(f"{path} must be an absolute path on host {host}")
    if agent is not None:
        check_agent(ctx.config, agent)
    with ctx.ledger.db.write() as conn:
        if host not in (None, here) and not hosts.exists(conn, validate_name(host, "host name")):
            raise NotFound(f"no host named {host!r} has joined this ledger; see `tether hosts`")
        created = projects.add(
            conn, directory, name=name, prefix=prefix, default_agent=agent, host=host or here
        )
    if as_json:
        output.emit_json(serialize.project(created))
    else:
        output.console.print(
            f"added project [bold]{created.name}[/bold] ({created.path}); "
            f"sessions will be {created.prefix}-1, {created.prefix}-2, …"
        )


@project.command("ls")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
def ls(ctx: Context, as_json: bool) -> None:
    """List projects."""
    from tether.domain import serialize
    from tether.ledger import projects

    with ctx.ledger.db.read() as conn:
        items = [serialize.project(p) for p in projects.list_all(conn)]
    if as_json:
        output.emit_json(items)
        return
    output.table(
        None,
        ("name", "prefix", "default agent", "host", "path"),
        (
            (p["name"], p["prefix"], p["default_agent"] or "", p["host"] or "", p["path"])
            for p in items
        ),
    )


def register(cli: click.Group) -> None:
    cli.add_command(project)
