"""Shared fixtures: an isolated TETHER_HOME and a ledger on each real backend."""

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from hypothesis import HealthCheck, settings

from tether.config import Config, load
from tether.ledger.store import Ledger, open_ledger

# Property tests are judged on what they find, not on how fast a busy machine runs them.
settings.register_profile("tether", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("tether")

PG_ADMIN = os.environ.get("TETHER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    monkeypatch.setenv("TETHER_HOME", str(path))
    monkeypatch.delenv("TETHER_DATABASE_URL", raising=False)
    return path


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh schema in the local PostgreSQL, dropped afterwards."""
    schema = f"tether_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    host_part = PG_ADMIN.split("://", 1)[1]
    yield f"postgresql+psycopg://{host_part}?options=-csearch_path%3D{schema}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, home: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{home / 'tether.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def config(home: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Config:
    monkeypatch.setenv("TETHER_DATABASE_URL", database_url)
    return load()


@pytest.fixture
def ledger(config: Config) -> Iterator[Ledger]:
    opened = open_ledger(config)
    yield opened
    opened.close()
