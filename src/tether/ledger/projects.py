"""Projects: a named directory whose sessions share an id prefix."""

import time
from pathlib import Path

from sqlalchemy import Connection, Row, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from tether.domain.ids import prefix_for, validate_name, validate_prefix
from tether.domain.records import Project
from tether.errors import Conflict, InvalidInput, NotFound
from tether.ledger import hosts
from tether.ledger.schema import projects


def _record(row: Row[tuple[object, ...]]) -> Project:
    m = row._mapping
    return Project(
        id=m["id"],
        name=m["name"],
        prefix=m["prefix"],
        path=m["path"],
        default_agent=m["default_agent"],
        created_at=m["created_at"],
        host=m["host"],
    )


def add(
    conn: Connection,
    path: Path,
    name: str | None = None,
    prefix: str | None = None,
    default_agent: str | None = None,
    host: str | None = None,
) -> Project:
    name = validate_name(name or path.name, "project name")
    prefix = validate_prefix(prefix) if prefix else prefix_for(name)
    for column, value in (("name", name), ("path", str(path)), ("prefix", prefix)):
        if conn.execute(select(projects.c.id).where(projects.c[column] == value)).first():
            raise Conflict(f"a project with {column} {value!r} exists already")
    try:
        conn.execute(
            insert(projects).values(
                name=name,
                prefix=prefix,
                path=str(path),
                default_agent=default_agent,
                host=host,
                created_at=time.time(),
            )
        )
    except IntegrityError as exc:
        raise Conflict(f"project {name!r} collides with an existing one: {exc.orig}") from exc
    return get(conn, name)


def add_checkout(
    conn: Connection,
    path: Path,
    here: str,
    host: str | None = None,
    name: str | None = None,
    prefix: str | None = None,
    default_agent: str | None = None,
) -> Project:
    """Add a project whose checkout is at ``path`` on ``host`` (default: ``here``, the adder).

    A path on this machine must be a directory here; one on another host must
    be absolute and that host must have joined the ledger.
    """
    where = host or here
    if where == here and not path.is_dir():
        raise InvalidInput(f"{path} is not a directory")
    if not path.is_absolute():
        raise InvalidInput(f"{path} must be an absolute path on host {where}")
    if where != here:
        hosts.require(conn, where)
    return add(conn, path, name=name, prefix=prefix, default_agent=default_agent, host=where)


def set_host(conn: Connection, name: str, host: str) -> Project:
    """Move where the project's checkout lives: its queued and later turns run on ``host``."""
    get(conn, name)
    host = hosts.require(conn, host)
    conn.execute(update(projects).where(projects.c.name == name).values(host=host))
    return get(conn, name)


def get(conn: Connection, name: str) -> Project:
    row = conn.execute(select(projects).where(projects.c.name == name)).first()
    if row is None:
        raise NotFound(f"no project named {name!r}; see `tether project ls`")
    return _record(row)


def find_by_path(conn: Connection, path: Path) -> Project | None:
    """The project whose directory contains ``path`` (the deepest one)."""
    candidates = {str(path), *(str(parent) for parent in path.parents)}
    row = conn.execute(
        select(projects)
        .where(projects.c.path.in_(candidates))
        .order_by(func.length(projects.c.path).desc())
        .limit(1)
    ).first()
    return None if row is None else _record(row)


def list_all(conn: Connection) -> list[Project]:
    return [_record(r) for r in conn.execute(select(projects).order_by(projects.c.name))]
