"""Binding native sessions to tether sessions, by exact native id only.

A native session whose (agent, native id) a tether session holds feeds that
session. Any other becomes an ``external`` session of its agent, placed in
the project registered at exactly its cwd, else in the agent's catch-all
project ``external-<agent>`` (whose path is the agent's log root). The cwd
chooses a project for a new external session; it never binds a native
session to an existing tether session. On a shared ledger the session keeps
the host whose logs hold its thread: only that machine can resume it, so
its turns run there whatever host the project is on.
"""

from pathlib import Path
from typing import Any

from sqlalchemy import Connection, select

from tether.domain.records import Project
from tether.ledger import history as ledger_history
from tether.ledger import projects, sessions
from tether.ledger.schema import projects as projects_table

TITLE_CHARS = 200


def _catch_all(conn: Connection, agent: str, root: Path, at: dict[str, str]) -> Project:
    name = f"external-{agent}"
    found = conn.execute(
        select(projects_table.c.name).where(projects_table.c.name == name)
    ).scalar_one_or_none()
    if found is not None:
        return projects.get(conn, name)
    if str(root) in at:
        return projects.get(conn, at[str(root)])
    return projects.add(conn, root, name=name)


def _title(text: str | None) -> str | None:
    if not text:
        return None
    line = " ".join(text.split())
    return line if len(line) <= TITLE_CHARS else line[: TITLE_CHARS - 1] + "…"


def attribute_all(conn: Connection, roots: dict[str, Path]) -> int:
    """Attribute every native session not yet attributed; returns how many were created.

    Set-based: one look-up of the sessions holding the native ids, one insert
    of new external sessions per project and agent, one update of the links.
    """
    rows = ledger_history.unattributed(conn)
    by_agent: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_agent.setdefault(row["agent"], []).append(row)
    at = {
        path: name
        for name, path in conn.execute(select(projects_table.c.name, projects_table.c.path))
    }
    links: list[tuple[int, str]] = []
    created = 0
    for agent, natives in by_agent.items():
        held = sessions.ids_by_native(conn, agent, [r["native_id"] for r in natives])
        homeless = [r for r in natives if r["native_id"] not in held]
        for project, group in _by_project(conn, agent, homeless, roots, at).items():
            ids = sessions.create_external(conn, project, agent, [_new(r) for r in group])
            held.update(zip((r["native_id"] for r in group), ids, strict=True))
        created += len(homeless)
        links.extend((r["pk"], held[r["native_id"]]) for r in natives)
    ledger_history.attribute_many(conn, links)
    return created


def _by_project(
    conn: Connection,
    agent: str,
    rows: list[dict[str, Any]],
    roots: dict[str, Path],
    at: dict[str, str],
) -> dict[Project, list[dict[str, Any]]]:
    """The project registered at exactly a session's cwd, else the agent's catch-all."""
    found: dict[str, Project] = {}
    groups: dict[Project, list[dict[str, Any]]] = {}
    for row in rows:
        name = at.get(row["cwd"] or "")
        key = name or f"external-{agent}"
        if key not in found:
            root = roots.get(agent, Path(f"/{agent}-history"))
            found[key] = projects.get(conn, name) if name else _catch_all(conn, agent, root, at)
        groups.setdefault(found[key], []).append(row)
    return groups


def _new(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "native_id": row["native_id"],
        "workspace": row["cwd"] or "",
        "model": row["model"],
        "title": _title(row["title"]),
        "host": row["host"],
    }
