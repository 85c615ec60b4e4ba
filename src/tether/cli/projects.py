"""``tether project add|ls``."""

from pathlib import Path

import click

from tether.cli import output
from tether.cli.context import Context, pass_ctx, resolve
from tether.errors import InvalidInput


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
    """Track the directory PATH (on this host, or on --host) as a project.

    With ``[server] remote``, the team daemon adds it (admins only); PATH is
    then on this machine, which must be one of the team's hosts, or on --host.
    """
    from tether.cli.team import remote_api
    from tether.domain import serialize

    here = ctx.config.host_name
    directory = resolve(path) if host in (None, here) else Path(path)
    fields = {"name": name, "prefix": prefix, "agent": agent, "host": host or here}
    if (api := remote_api(ctx)) is not None:
        if host in (None, here) and not directory.is_dir():
            raise InvalidInput(f"{directory} is not a directory")
        created = api.post("/api/projects", {"path": str(directory), **fields})
    else:
        from tether.agents.registry import check_agent
        from tether.ledger import projects

        if agent is not None:
            check_agent(ctx.config, agent)
        with ctx.ledger.db.write() as conn:
            added = projects.add_checkout(conn, directory, here, host, name, prefix, agent)
        created = serialize.project(added)
    if as_json:
        output.emit_json(created)
    else:
        output.console.print(
            f"added project [bold]{created['name']}[/bold] ({created['path']}); "
            f"sessions will be {created['prefix']}-1, {created['prefix']}-2, …"
        )


@project.command("host")
@click.argument("name")
@click.argument("host")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
def host(ctx: Context, name: str, host: str, as_json: bool) -> None:
    """Move project NAME to HOST, where its checkout now lives: turns not yet started run there."""
    from tether.cli.team import remote_api

    if (api := remote_api(ctx)) is not None:
        from urllib.parse import quote

        moved = api.post(f"/api/projects/{quote(name)}/host", {"host": host}, repeatable=True)
    else:
        from tether.domain import serialize
        from tether.ledger import projects

        with ctx.ledger.db.write() as conn:
            moved = serialize.project(projects.set_host(conn, name, host))
    if as_json:
        output.emit_json(moved)
    else:
        output.console.print(f"project [bold]{moved['name']}[/bold] now runs on {moved['host']}")


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
