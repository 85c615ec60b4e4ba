"""Identical reads in flight share one ledger read; a write in between starts a fresh one."""

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import event

from tether.ledger import projects, sessions
from tether.ledger.store import Ledger

pytestmark = pytest.mark.anyio


@pytest.fixture
def reads(ledger: Ledger) -> Iterator[list[object]]:
    """Every transaction begun on the ledger while the test runs."""
    begun: list[object] = []

    def count(conn: object) -> None:
        begun.append(conn)

    event.listen(ledger.db.engine, "begin", count)
    yield begun
    event.remove(ledger.db.engine, "begin", count)


def _add_session(ledger: Ledger, path: Path) -> str:
    path.mkdir(parents=True, exist_ok=True)
    with ledger.db.write() as conn:
        owner = projects.find_by_path(conn, path) or projects.add(conn, path, name="web")
        return sessions.create(conn, owner, "codex", str(path)).id


async def test_identical_reads_in_flight_share_one_read(
    client: httpx.AsyncClient, ledger: Ledger, tmp_path: Path, reads: list[object]
) -> None:
    first = _add_session(ledger, tmp_path / "web")
    reads.clear()
    answers = await asyncio.gather(*(client.get("/api/sessions") for _ in range(20)))
    assert [a.status_code for a in answers] == [200] * 20
    assert {a.text for a in answers} == {answers[0].text}
    assert [s["id"] for s in answers[0].json()["items"]] == [first]
    assert len(reads) == 1, "twenty identical reads in flight cost one ledger read"
    reads.clear()
    pages = await asyncio.gather(client.get("/"), client.get("/"), client.get("/?agent=codex"))
    assert [p.status_code for p in pages] == [200] * 3
    assert len(reads) == 2, "a different query is a different read"


async def test_a_read_after_a_write_does_not_join_one_begun_before(
    client: httpx.AsyncClient, ledger: Ledger, tmp_path: Path, reads: list[object]
) -> None:
    _add_session(ledger, tmp_path / "web")
    reads.clear()
    written: list[str] = []

    async def write_then_read() -> httpx.Response:
        written.append(_add_session(ledger, tmp_path / "web"))  # commits, then asks
        return await client.get("/api/sessions")

    before, after = await asyncio.gather(client.get("/api/sessions"), write_then_read())
    writes = 1
    assert len(reads) == 2 + writes, "the read after the write ran on its own"
    assert written[0] in [s["id"] for s in after.json()["items"]]
    assert before.status_code == 200
