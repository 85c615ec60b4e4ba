"""``tether usage`` answered without click, for its plain forms.

Only ``usage [BY] [--since DAY] [--json]`` (options in any order, each at
most once, ``--since=DAY`` too) on a SQLite ledger already migrated; of the
settings only the ledger's URL is read (``home.database_url``), as the click
command reads it. Any other argument list, and any error (in a config.toml
that names the ledger included), is left to the click group, which parses,
reports and exits as for every command: what is answered here is exactly
what the group would print.
"""

from tether.errors import TetherError
from tether.ledger.usage import USAGE_GROUPS, check_args


def run(argv: list[str]) -> bool:
    """True if the report was printed; False, having printed nothing, to hand over."""
    parsed = parse(argv)
    if parsed is None:
        return False
    from tether.cli.usage import show_light
    from tether.home import database_url

    try:
        check_args(*parsed[:2])
        return show_light(database_url(), *parsed)
    except TetherError:
        return False


def parse(argv: list[str]) -> tuple[str, str | None, bool] | None:
    """(by, since, as_json) of a plain ``usage`` command line, else None."""
    if not argv or argv[0] != "usage":
        return None
    by: str | None = None
    since: str | None = None
    as_json = False
    rest = iter(argv[1:])
    for arg in rest:
        if arg == "--json" and not as_json:
            as_json = True
        elif arg.startswith("--since=") and since is None:
            since = arg.removeprefix("--since=")
        elif arg == "--since" and since is None:
            since = next(rest, None)
            if since is None:
                return None
        elif arg in USAGE_GROUPS and by is None:
            by = arg
        else:
            return None
    return by or "daily", since, as_json
