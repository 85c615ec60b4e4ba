"""``tether audit``: every anomaly an operator must act on; exit 1 when there is one."""

import sys

import click

from tether.cli import output
from tether.cli.context import Context, pass_ctx
from tether.domain.text import duration


@click.command("audit")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
def audit(ctx: Context, as_json: bool) -> None:
    """Check the ledger for stuck, lost, wedged and unbound work; exit 1 if any."""
    from tether.engine.audit import run

    with ctx.ledger.db.read() as conn:
        report = run(conn, ctx.config)
    if as_json:
        output.emit_json(report.as_dict())
    elif not report.findings:
        output.console.print("nothing needs a person")
    else:
        output.table(
            None,
            ("code", "age", "ids", "what", "to do"),
            (
                (
                    f.code,
                    duration(f.age_s),
                    " ".join(f"{k}={v}" for k, v in f.ids.items()),
                    f.message,
                    f.hint,
                )
                for f in report.findings
            ),
        )
    if report.needs_a_person:
        sys.exit(1)


def register(cli: click.Group) -> None:
    cli.add_command(audit)
