"""Binding native sessions to tether sessions, by exact native id only.

A native session whose (agent, native id) a tether session holds feeds that
session. Any other becomes an ``external`` session of its agent, placed in
the project registered at exactly its cwd, else in the agent's catch-all
project ``external-<agent>`` (whose path is the agent's log root). The cwd
chooses a project for a new external session; it never binds a native
session to an existing tether session.
"""

from pathlib import Path
from typing import Any

from sqlalchemy import Connection, select

from tether.domain.records import Origin, Project
from tether.ledger import history as ledger_history
from tether.ledger import projects, sessions
from tether.ledger.schema import projects as projects_table

TITLE_CHARS = 200


def _project_at(conn: Connection, path: str) -> Project | None:
    name = conn.execute(
        select(projects_table.c.name).where(projects_table.c.path == path)
    ).scalar_one_or_none()
    return None if name is None else projects.get(conn, name)


def _catch_all(conn: Connection, agent: str, root: Path) -> Project:
    name = f"external-{agent}"
    found = conn.execute(
        select(projects_table.c.name).where(projects_table.c.name == name)
    ).scalar_one_or_none()
    if found is not None:
        return projects.get(conn, name)
    return _project_at(conn, str(root)) or projects.add(conn, root, name=name)


def _title(text: str | None) -> str | None:
    if not text:
        return None
    line = " ".join(text.split())
    return line if len(line) <= TITLE_CHARS else line[: TITLE_CHARS - 1] + "…"


def attribute_all(conn: Connection, roots: dict[str, Path]) -> int:
    """Attribute every native session not yet attributed; returns how many were created."""
    created = 0
    for row in ledger_history.unattributed(conn):
        session = sessions.find_by_native_id(conn, row["agent"], row["native_id"])
        if session is None:
            session = _external(conn, row, roots)
            created += 1
        ledger_history.attribute(conn, row["pk"], session.id)
    return created


def _external(conn: Connection, row: dict[str, Any], roots: dict[str, Path]) -> Any:
    agent = row["agent"]
    cwd = row["cwd"]
    project = (_project_at(conn, cwd) if cwd else None) or _catch_all(
        conn, agent, roots.get(agent, Path(f"/{agent}-history"))
    )
    return sessions.create(
        conn,
        project,
        agent,
        workspace=cwd or "",
        origin=Origin.EXTERNAL,
        native_id=row["native_id"],
        model=row["model"],
        title=_title(row["title"]),
    )
