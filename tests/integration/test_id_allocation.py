"""Many processes spawning sessions at once never share a number."""

import multiprocessing
from pathlib import Path

from tether.domain.records import Project
from tether.ledger import projects, sessions
from tether.ledger.db import Database
from tether.ledger.store import Ledger

PROCESSES = 8
PER_PROCESS = 25


def _spawn_many(url: str, project: Project, worker: int) -> list[str]:
    db = Database(url)
    ids = []
    for _ in range(PER_PROCESS):
        with db.write() as conn:
            ids.append(sessions.create(conn, project, "codex", f"/w/{worker}").id)
    db.dispose()
    return ids


def test_concurrent_allocation_has_no_duplicates(ledger: Ledger, tmp_path: Path) -> None:
    with ledger.db.write() as conn:
        project = projects.add(conn, tmp_path, name="race")
    context = multiprocessing.get_context("spawn")
    with context.Pool(PROCESSES) as pool:
        results = pool.starmap(
            _spawn_many, [(ledger.db.url, project, worker) for worker in range(PROCESSES)]
        )
    allocated = [sid for ids in results for sid in ids]
    expected = {f"race-{n}" for n in range(1, PROCESSES * PER_PROCESS + 1)}
    assert len(allocated) == len(set(allocated)) == PROCESSES * PER_PROCESS
    assert set(allocated) == expected
    with ledger.db.read() as conn:
        stored = sessions.list_page(conn, limit=500).items
    assert {s.id for s in stored} == expected
