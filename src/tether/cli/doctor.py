"""``tether doctor``: is everything tether needs reachable and sound?"""

from dataclasses import dataclass

import click

from tether.cli import output
from tether.cli.context import Context, pass_ctx
from tether.errors import TetherError


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    required: bool = True  # False: a warning; doctor still exits 0

    @property
    def status(self) -> str:
        return "ok" if self.ok else "FAIL" if self.required else "warn"


def _ledger(ctx: Context) -> Check:
    from tether.ledger.db import redact
    from tether.ledger.migrate import current_revision, head_revision

    url = redact(ctx.config.database_url)
    try:
        ledger = ctx.ledger
        revision = current_revision(ledger.db)
    except TetherError as exc:
        return Check("ledger", False, str(exc))
    head = head_revision()
    if revision != head:
        return Check("ledger", False, f"{url} at revision {revision}, expected {head}")
    return Check("ledger", True, f"{url} (migrated to {revision})")


def _blobs(ctx: Context) -> Check:
    try:
        ctx.ledger.blobs.check_writable()
    except TetherError as exc:
        return Check("blob store", False, str(exc))
    return Check("blob store", True, f"{ctx.ledger.blobs.root} writable")


def _agent(ctx: Context, agent: str, used: set[str]) -> Check:
    """An agent the user chose (default, a project's, configured, declared) must run."""
    from tether.agents.versions import probe

    found = probe(ctx.config, agent)
    if found.problem is not None:
        why = "used by your config or projects" if agent in used else "not used"
        return Check(f"agent {agent}", False, f"{found.problem} ({why})", agent in used)
    return Check(f"agent {agent}", True, f"{found.path} {found.version}")


def _agents_in_use(ctx: Context) -> set[str]:
    from tether.ledger import projects

    config = ctx.config
    used = {config.defaults.agent, *config.providers, *config.agent_options}
    for options in config.project_options.values():
        used.update(options)
    try:
        with ctx.ledger.db.read() as conn:
            used.update(p.default_agent for p in projects.list_all(conn) if p.default_agent)
    except TetherError:
        pass  # the ledger check reports it
    return used


def _history(ctx: Context) -> Check:
    """This machine's native logs; another host's paths name files on its own machine."""
    from tether.ledger import history
    from tether.ledger.store import history_host

    try:
        with ctx.ledger.db.read() as conn:
            seen = history.problems(conn, history_host(ctx.config, ctx.ledger))
    except TetherError as exc:
        return Check("history", False, str(exc))
    detail = (
        f"{seen['files']} native log files; {seen['bad_lines']} bad lines, "
        f"{seen['oversize_lines']} oversize lines skipped"
    )
    errors = seen["errors"]
    if errors:
        detail += f"; {len(errors)} unreadable, e.g. {errors[0]['path']}: {errors[0]['error']}"
    elsewhere = seen["elsewhere"]
    if elsewhere["unreadable"]:
        hosts = elsewhere["hosts"]
        detail += (
            f"; {elsewhere['unreadable']} unreadable on {hosts} other "
            f"host{'s' if hosts > 1 else ''} (`tether doctor` there names them)"
        )
    return Check("history", not errors, detail, required=False)


def _prices(ctx: Context) -> Check:
    """Models with usage but no known price: their tokens are in no cost."""
    from tether.ledger import history

    try:
        with ctx.ledger.db.read() as conn:
            unpriced = history.unpriced_models(conn)
    except TetherError as exc:
        return Check("prices", False, str(exc))
    if not unpriced:
        return Check("prices", True, "every model with usage has a price")
    names = ", ".join(f"{m['model']} ({m['tokens']:,} tokens)" for m in unpriced)
    return Check(
        "prices",
        False,
        f"{len(unpriced)} unpriced: {names}; `tether prices update` may know them",
        required=False,
    )


@click.command("doctor")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
def doctor(ctx: Context, as_json: bool) -> None:
    """Check the ledger, the blob store and the agent CLIs.

    Exit 1 when something you configured cannot work: the ledger, the blob
    store, or an agent in use (the default, a project's, one configured or
    declared). Unreadable native logs, unpriced models and agents nobody uses
    are warnings.
    """
    from tether.agents.registry import known_agents

    used = _agents_in_use(ctx)
    checks = [
        _ledger(ctx),
        _blobs(ctx),
        _history(ctx),
        _prices(ctx),
        *(_agent(ctx, a, used) for a in sorted({*known_agents(ctx.config), *used})),
    ]
    if as_json:
        output.emit_json(
            [
                {"check": c.name, "ok": c.ok, "required": c.required, "detail": c.detail}
                for c in checks
            ]
        )
    else:
        output.table(None, ("check", "", "detail"), ((c.name, c.status, c.detail) for c in checks))
    if any(c.required and not c.ok for c in checks):
        raise SystemExit(1)


def register(cli: click.Group) -> None:
    cli.add_command(doctor)
