"""``tether usage`` reads a migrated SQLite ledger with the standard library alone,
and gives exactly what the SQLAlchemy ledger gives."""

import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest
from tests.support import imported, usage_entry

from tether.config import Config
from tether.ledger import history, light, migrate, usage
from tether.ledger.store import Ledger


def test_the_head_found_from_the_files_is_alembic_s() -> None:
    assert light.head_revision() == migrate.head_revision()


def test_light_reader_reports_what_the_ledger_reports(config: Config, ledger: Ledger) -> None:
    if not ledger.db.is_sqlite:
        assert light.connect(config.database_url) is None
        return
    entries = [
        usage_entry("a", "gpt-5.1", "2026-01-01", 0.5),
        usage_entry("b", "mock", "2026-01-01", None),
        usage_entry("c", "gpt-5.1", "2026-01-02", 0.25),
    ]
    with ledger.db.write() as conn:
        history.upsert_entries(conn, entries)
    reader = light.connect(config.database_url)
    assert reader is not None
    with closing(reader), ledger.db.read() as conn:
        for by in usage.USAGE_GROUPS:
            for since in (None, "2026-01-02"):
                expected = history.usage_report(conn, by, since)
                assert usage.report(light.execute(reader), by, since) == expected, (by, since)
        assert usage.unpriced_models(light.execute(reader)) == history.unpriced_models(conn)
        with pytest.raises(Exception, match="readonly"):
            reader.execute("DELETE FROM usage_entries")
    daily = usage.report(light.execute(light.connect(config.database_url)), "daily")  # type: ignore[arg-type]
    assert [(r["key"], r["cost"], r["unpriced_tokens"]) for r in daily] == [
        ("2026-01-01", 0.5, 135),
        ("2026-01-02", 0.25, 0),
    ]


def test_no_light_reader_for_a_missing_or_older_ledger(config: Config, ledger: Ledger) -> None:
    assert light.connect("sqlite:////nonexistent/tether.db") is None
    if not ledger.db.is_sqlite:
        return
    with ledger.db.write() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '0003'")
    assert light.connect(config.database_url) is None


def test_a_ledger_whose_path_holds_uri_characters(
    config: Config, ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not ledger.db.is_sqlite:
        return
    odd = tmp_path / "a?b#c%41d e"
    odd.mkdir()
    source = sqlite3.connect(config.database_url.removeprefix("sqlite:///"))
    with closing(source), closing(sqlite3.connect(odd / "tether.db")) as copy:
        source.backup(copy)
    monkeypatch.chdir(tmp_path)
    for url in (f"sqlite:///{odd / 'tether.db'}", f"sqlite:///{odd.name}/tether.db"):
        reader = light.connect(url)
        assert reader is not None, url
        reader.close()
    assert light.connect(f"sqlite:///{tmp_path / 'a'}") is None


def test_the_light_modules_import_no_sqlalchemy() -> None:
    code = (
        "import sys, tether.ledger.light, tether.ledger.usage; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('sqlalchemy', 'alembic')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stderr


def test_tether_usage_imports_neither_sqlalchemy_nor_alembic(
    config: Config, ledger: Ledger, home: Path
) -> None:
    if not ledger.db.is_sqlite:
        return
    with ledger.db.write() as conn:
        history.upsert_entries(conn, [usage_entry("a", "gpt-5.1", "2026-01-01", 0.5)])
    env = {**os.environ, "TETHER_HOME": str(home), "TETHER_DATABASE_URL": config.database_url}
    for args in (["usage", "--json"], ["usage", "model"]):
        out, loaded = imported(args, env=env)
        assert "gpt-5.1" in out or "2026-01-01" in out
        assert loaded.isdisjoint({"sqlalchemy", "alembic", "genai_prices"}), args


def test_opening_a_migrated_ledger_does_not_load_alembic(config: Config, ledger: Ledger) -> None:
    code = (
        "import sys; from tether.config import load; from tether.ledger.store import open_ledger; "
        "open_ledger(load()).close(); print('alembic' in sys.modules)"
    )
    env = {**os.environ, "TETHER_DATABASE_URL": config.database_url}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0 and done.stdout.strip() == "False", done.stderr[-2000:]
