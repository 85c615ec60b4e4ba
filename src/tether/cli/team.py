"""``tether user``, ``tether token`` and ``tether hosts``: the people and machines of a ledger.

Each works on the ledger of this home, or through the admin API of the team
daemon ``[server] remote`` names (with this person's token), where the
ledger is out of reach.
"""

import time
from typing import TYPE_CHECKING

import click

from tether.cli import output
from tether.cli.context import Context, pass_ctx
from tether.domain.team import Role, parse_role

if TYPE_CHECKING:
    from tether.cli.client import Client

ROLES = [r.value for r in Role]


def remote_api(ctx: Context) -> "Client | None":
    """The team daemon's API when ``[server] remote`` names one; None: use the ledger here."""
    if not ctx.config.server.remote:
        return None
    from tether.cli.client import Client

    return Client(ctx.config)


@click.group("user")
def user() -> None:
    """People who may use the API off loopback (viewer, member or admin)."""


@user.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), default=Role.MEMBER.value, show_default=True)
@pass_ctx
def user_add(ctx: Context, name: str, role: str) -> None:
    """Add the person NAME; give them a token with `tether token create NAME`."""
    if (api := remote_api(ctx)) is not None:
        added = api.post("/api/users", {"name": name, "role": parse_role(role).value})
        output.console.print(f"added {added['role']} [bold]{added['name']}[/bold]")
        return
    from tether.ledger import people

    with ctx.ledger.db.write() as conn:
        person = people.add_user(conn, name, parse_role(role))
    output.console.print(f"added {person.role} [bold]{person.name}[/bold]")


@user.command("role")
@click.argument("name")
@click.argument("role", type=click.Choice(ROLES))
@pass_ctx
def user_role(ctx: Context, name: str, role: str) -> None:
    """Change the role of NAME."""
    if (api := remote_api(ctx)) is not None:
        from urllib.parse import quote

        changed = api.post(f"/api/users/{quote(name)}/role", {"role": parse_role(role).value})
        output.console.print(f"{changed['name']} is now a {changed['role']}")
        return
    from tether.ledger import people

    with ctx.ledger.db.write() as conn:
        person = people.set_role(conn, name, parse_role(role))
    output.console.print(f"{person.name} is now a {person.role}")


@user.command("ls")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
def user_ls(ctx: Context, as_json: bool) -> None:
    """List people and their roles."""
    if (api := remote_api(ctx)) is not None:
        items = api.get("/api/users")["items"]
    else:
        from tether.domain import serialize
        from tether.ledger import people

        with ctx.ledger.db.read() as conn:
            items = [serialize.person(p) for p in people.list_users(conn)]
    if as_json:
        output.emit_json(items)
        return
    output.table(None, ("name", "role"), ((p["name"], p["role"]) for p in items))


@click.group("token")
def token() -> None:
    """API tokens: each belongs to a person; only a hash is stored."""


@token.command("create")
@click.argument("name")
@click.option("--label", help="What the token is for, e.g. the laptop holding it.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
def token_create(ctx: Context, name: str, label: str | None, as_json: bool) -> None:
    """A new token for the person NAME, printed once."""
    if (api := remote_api(ctx)) is not None:
        made = api.post("/api/tokens", {"user": name, "label": label})
        token_id, secret = made["id"], made["token"]
    else:
        from tether.ledger import people

        with ctx.ledger.db.write() as conn:
            token_id, secret = people.create_token(conn, name, label)
    if as_json:
        output.emit_json({"id": token_id, "user": name, "token": secret})
        return
    click.echo(secret)
    output.errors.print(
        f"token {token_id} for {name}: shown once, only its hash is kept. Use it as "
        "TETHER_SERVER_TOKEN, an 'Authorization: Bearer' header, or on the sign-in page."
    )


@token.command("revoke")
@click.argument("token_id", type=click.IntRange(min=1))
@pass_ctx
def token_revoke(ctx: Context, token_id: int) -> None:
    """Refuse the token TOKEN_ID from now on."""
    if (api := remote_api(ctx)) is not None:
        done = api.post(f"/api/tokens/{token_id}/revoke", {}, repeatable=True)
        output.console.print(f"revoked token {done['id']} of {done['user']}")
        return
    from tether.ledger import people

    with ctx.ledger.db.write() as conn:
        revoked = people.revoke(conn, token_id)
    output.console.print(f"revoked token {revoked.id} of {revoked.user}")


@token.command("ls")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
def token_ls(ctx: Context, as_json: bool) -> None:
    """List tokens (never their secrets)."""
    if (api := remote_api(ctx)) is not None:
        items = api.get("/api/tokens")["items"]
    else:
        from tether.domain import serialize
        from tether.ledger import people

        with ctx.ledger.db.read() as conn:
            items = [serialize.token(t) for t in people.list_tokens(conn)]
    if as_json:
        output.emit_json(items)
        return
    output.table(
        None,
        ("id", "user", "label", "created", "revoked"),
        (
            (
                t["id"],
                t["user"],
                t["label"] or "",
                output.when(t["created_at"]),
                output.when(t["revoked_at"]),
            )
            for t in items
        ),
    )


@click.command("hosts")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
def hosts_cmd(ctx: Context, as_json: bool) -> None:
    """Daemons serving this ledger: last heartbeat, live turns, agents."""
    if (api := remote_api(ctx)) is not None:
        items = api.get("/api/hosts")["items"]
    else:
        from tether.domain import serialize
        from tether.ledger import hosts

        with ctx.ledger.db.read() as conn:
            found = hosts.list_all(conn)
        timeout = ctx.config.team.host_timeout_s
        items = [serialize.host(h, time.time(), timeout) for h in found]
    if as_json:
        output.emit_json(items)
        return
    output.table(
        None,
        ("host", "state", "last heartbeat", "live turns", "agents", "url"),
        (
            (
                h["name"],
                "up" if h["alive"] else "silent",
                output.when(h["heartbeat_at"]),
                h["load"],
                ", ".join(f"{a} {v}".strip() for a, v in sorted(h["agents"].items())),
                h["url"] or "",
            )
            for h in items
        ),
    )


def register(cli: click.Group) -> None:
    cli.add_command(user)
    cli.add_command(token)
    cli.add_command(hosts_cmd)
