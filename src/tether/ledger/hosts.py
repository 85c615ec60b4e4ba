"""Hosts: the daemons serving one ledger, each alive as long as its heartbeat is fresh."""

import json
import time

import sqlalchemy as sa
from sqlalchemy import Connection, Row, insert, select, update

from tether.domain.ids import validate_name
from tether.domain.team import Host
from tether.errors import NotFound
from tether.ledger.schema import hosts, turns
from tether.ledger.turns import LIVE_STATES


def _record(row: Row[tuple[object, ...]]) -> Host:
    m = row._mapping
    agents = json.loads(m["agents"] or "{}")
    return Host(
        name=m["name"],
        url=m["url"],
        pid=m["pid"],
        started_at=m["started_at"],
        heartbeat_at=m["heartbeat_at"],
        agents=agents if isinstance(agents, dict) else {},
        load=m["load"],
    )


def register(
    conn: Connection, name: str, url: str | None, pid: int, agents: dict[str, str]
) -> Host:
    """Announce this daemon as host ``name`` (a restarted host takes its own row back)."""
    validate_name(name, "host name")
    now = time.time()
    values = {
        "url": url,
        "pid": pid,
        "started_at": now,
        "heartbeat_at": now,
        "agents": json.dumps(agents, sort_keys=True),
    }
    if conn.execute(update(hosts).where(hosts.c.name == name).values(**values)).rowcount == 0:
        conn.execute(insert(hosts).values(name=name, **values))
    return get(conn, name)


def heartbeat(conn: Connection, name: str, load: int) -> None:
    conn.execute(
        update(hosts).where(hosts.c.name == name).values(heartbeat_at=time.time(), load=load)
    )


def set_agents(conn: Connection, name: str, agents: dict[str, str]) -> None:
    conn.execute(
        update(hosts).where(hosts.c.name == name).values(agents=json.dumps(agents, sort_keys=True))
    )


def silent_with_live_turns(conn: Connection, cutoff: float, besides: str) -> list[Host]:
    """Hosts other than ``besides``, silent since before ``cutoff``, that hold live turns."""
    live = sa.exists().where(turns.c.host == hosts.c.name, turns.c.state.in_(LIVE_STATES))
    rows = conn.execute(
        select(hosts).where(hosts.c.heartbeat_at < cutoff, hosts.c.name != besides, live)
    )
    return [_record(r) for r in rows]


def get(conn: Connection, name: str) -> Host:
    row = conn.execute(select(hosts).where(hosts.c.name == name)).first()
    if row is None:
        raise NotFound(f"no host named {name!r}; see `tether hosts`")
    return _record(row)


def list_all(conn: Connection) -> list[Host]:
    return [_record(r) for r in conn.execute(select(hosts).order_by(hosts.c.name))]


def exists(conn: Connection, name: str) -> bool:
    return conn.execute(select(hosts.c.name).where(hosts.c.name == name)).first() is not None


def require(conn: Connection, name: str) -> str:
    """``name``, a host that has joined this ledger (else NotFound saying where to look)."""
    name = validate_name(name, "host name")
    if not exists(conn, name):
        raise NotFound(f"no host named {name!r} has joined this ledger; see `tether hosts`")
    return name
