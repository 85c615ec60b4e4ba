"""The daemon's indexing loop outlives any one failed pass."""

import logging
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest

from tether.config import load
from tether.history import indexer
from tether.ledger.store import open_ledger


def test_an_unexpected_error_in_a_pass_is_logged_and_the_next_pass_runs(
    home: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("TETHER_HISTORY_WATCH_INTERVAL_S", "0.01")
    config = load()
    ledger = open_ledger(config)
    stop = threading.Event()
    passes: list[bool] = []

    def run_once(self: indexer.Indexer, walk: bool) -> SimpleNamespace:
        passes.append(walk)
        if len(passes) == 1:
            raise RuntimeError("a bug in one pass")
        stop.set()
        return SimpleNamespace(files_read=0, entries=0)

    monkeypatch.setattr(indexer.Indexer, "run_once", run_once)
    try:
        with caplog.at_level(logging.ERROR, logger=indexer.log.name):
            indexer.run_indexer(config, ledger, stop)
    finally:
        ledger.close()
    assert len(passes) == 2
    assert "a bug in one pass" in caplog.text
