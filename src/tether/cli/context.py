"""The object every command receives: config and ledger, opened on first use."""

from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from tether.config import Config
    from tether.ledger.store import Ledger


class Context:
    """Config and ledger are opened lazily, so ``--help`` never touches either, and their
    modules are imported then: a command that talks to the daemon never loads SQLAlchemy."""

    def __init__(self, verbose: bool) -> None:
        self.verbose = verbose
        self._config: Config | None = None
        self._ledger: Ledger | None = None

    @property
    def config(self) -> "Config":
        if self._config is None:
            from tether.config import load

            self._config = load()
        return self._config

    @property
    def ledger(self) -> "Ledger":
        if self._ledger is None:
            from tether.ledger.store import open_ledger

            self._ledger = open_ledger(self.config)
        return self._ledger

    def close(self) -> None:
        if self._ledger is not None:
            self._ledger.close()


pass_ctx = click.make_pass_decorator(Context)


def resolve(path: str) -> Path:
    return Path(path).expanduser().resolve()
