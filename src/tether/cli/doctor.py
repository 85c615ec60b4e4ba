"""``tether doctor``: is everything tether needs reachable and sound?"""

from dataclasses import dataclass

import click

from tether.agents.registry import BUILTIN_AGENTS
from tether.agents.versions import probe
from tether.cli import output
from tether.cli.context import Context, pass_ctx
from tether.errors import TetherError
from tether.ledger import history
from tether.ledger.db import redact
from tether.ledger.migrate import current_revision, head_revision


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def _ledger(ctx: Context) -> Check:
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


def _agent(ctx: Context, agent: str) -> Check:
    found = probe(ctx.config, agent)
    if found.problem is not None:
        return Check(f"agent {agent}", False, found.problem)
    return Check(f"agent {agent}", True, f"{found.path} {found.version}")


def _history(ctx: Context) -> Check:
    try:
        with ctx.ledger.db.read() as conn:
            seen = history.problems(conn)
    except TetherError as exc:
        return Check("history", False, str(exc))
    detail = (
        f"{seen['files']} native log files; {seen['bad_lines']} bad lines, "
        f"{seen['oversize_lines']} oversize lines skipped"
    )
    errors = seen["errors"]
    if errors:
        detail += f"; {len(errors)} unreadable, e.g. {errors[0]['path']}: {errors[0]['error']}"
    return Check("history", not errors, detail)


def _prices(ctx: Context) -> Check:
    """Models with usage but no known price: their tokens are in no cost."""
    try:
        with ctx.ledger.db.read() as conn:
            unpriced = history.unpriced_models(conn)
    except TetherError as exc:
        return Check("prices", False, str(exc))
    if not unpriced:
        return Check("prices", True, "every model with usage has a price")
    names = ", ".join(f"{m['model']} ({m['tokens']:,} tokens)" for m in unpriced)
    return Check(
        "prices", False, f"{len(unpriced)} unpriced: {names}; `tether prices update` may know them"
    )


@click.command("doctor")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
def doctor(ctx: Context, as_json: bool) -> None:
    """Check the ledger, the blob store and the agent CLIs. Exit 1 if the ledger or blobs fail."""
    checks = [
        _ledger(ctx),
        _blobs(ctx),
        _history(ctx),
        _prices(ctx),
        *(_agent(ctx, a) for a in BUILTIN_AGENTS),
    ]
    if as_json:
        output.emit_json([{"check": c.name, "ok": c.ok, "detail": c.detail} for c in checks])
    else:
        output.table(
            None,
            ("check", "", "detail"),
            ((c.name, "ok" if c.ok else "FAIL", c.detail) for c in checks),
        )
    if not all(c.ok for c in checks[:2]):
        raise SystemExit(1)


def register(cli: click.Group) -> None:
    cli.add_command(doctor)
