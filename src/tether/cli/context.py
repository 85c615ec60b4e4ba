"""The object every command receives: config and ledger, opened on first use."""

from pathlib import Path

import click

from tether.config import Config, load
from tether.ledger.store import Ledger, open_ledger


class Context:
    """Config and ledger are opened lazily, so ``--help`` never touches either."""

    def __init__(self, verbose: bool) -> None:
        self.verbose = verbose
        self._config: Config | None = None
        self._ledger: Ledger | None = None

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = load()
        return self._config

    @property
    def ledger(self) -> Ledger:
        if self._ledger is None:
            self._ledger = open_ledger(self.config)
        return self._ledger

    def close(self) -> None:
        if self._ledger is not None:
            self._ledger.close()


pass_ctx = click.make_pass_decorator(Context)


def resolve(path: str) -> Path:
    return Path(path).expanduser().resolve()
