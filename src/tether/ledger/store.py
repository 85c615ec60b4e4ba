"""The ledger as one object: its database (migrated on open) and its blob store."""

from dataclasses import dataclass

from tether.config import Config
from tether.ledger.blobs import BlobStore
from tether.ledger.db import Database
from tether.ledger.migrate import migrate


@dataclass
class Ledger:
    db: Database
    blobs: BlobStore

    def close(self) -> None:
        self.db.dispose()


def history_host(config: Config, ledger: Ledger) -> str:
    """Whose machine the logs are: this host on a shared ledger, the implicit host on SQLite."""
    return "" if ledger.db.is_sqlite else config.host_name


def open_ledger(config: Config, run_migrations: bool = True) -> Ledger:
    config.home.mkdir(parents=True, exist_ok=True)
    db = Database(config.database_url)
    if run_migrations:
        migrate(db)
    return Ledger(db, BlobStore(config.blobs_dir))
