"""Where tether keeps its state, and the ledger's URL when no setting changes it.

Kept apart from ``tether.config`` (whose settings classes cost ~20 ms to
import) so that ``tether usage`` on a default setup finds its ledger with
the standard library alone.
"""

import os
from collections.abc import Mapping
from pathlib import Path

CONFIG_FILE = "config.toml"
_OWN = ("TETHER_HOME", "TETHER_DATABASE_URL")


def home_dir(environ: Mapping[str, str] = os.environ) -> Path:
    return Path(environ.get("TETHER_HOME") or Path.home() / ".tether").expanduser().absolute()


def default_database_url(home: Path) -> str:
    return f"sqlite:///{home / 'tether.db'}"


def unconfigured_database_url(environ: Mapping[str, str] = os.environ) -> str | None:
    """The ledger's URL when there is no config file and no TETHER_<SECTION>_<KEY> setting:
    then ``config.load`` gives every default and cannot fail. None otherwise."""
    if any(name.startswith("TETHER_") and name not in _OWN for name in environ):
        return None
    home = home_dir(environ)
    try:
        (home / CONFIG_FILE).stat()
    except FileNotFoundError:
        return environ.get("TETHER_DATABASE_URL") or default_database_url(home)
    except OSError:
        pass  # unreadable: config.load says why
    return None
