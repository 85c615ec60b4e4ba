"""Jinja environment of the dashboard: autoescaped templates and the filters they use."""

import time
from datetime import UTC, datetime
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from tether.domain.records import Turn
from tether.domain.text import duration
from tether.domain.waits import named_wait
from tether.server.assets import Assets

TEMPLATES = Path(__file__).parent.parent / "web" / "templates"
AUDIT_SHOWN = 20  # findings listed on the overview; `tether audit` lists them all


def age(ts: float | None, now: float | None = None) -> str:
    """'42s', '3m', '5h', '2d': how long ago, short enough for a table cell."""
    if ts is None:
        return ""
    return duration((now or time.time()) - ts)  # duration shows a negative span as 0


def stamp(ts: float | None) -> str:
    if ts is None:
        return ""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def count(n: int | None) -> str:
    """Token counts as 1.2k / 3.4M."""
    if not n:
        return "0"
    for unit, size in (("M", 1_000_000), ("k", 1_000)):
        if n >= size:
            return f"{n / size:.1f}{unit}"
    return str(n)


def size(n: int | None) -> str:
    """Bytes as 812 B / 4.2 MB / 1.1 GB."""
    if n is None:
        return ""
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("kB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


def money(cost: float | None) -> str:
    """Unpriced is never shown as $0 (a price missing is not a price of zero)."""
    if cost is None:
        return "unpriced"
    return f"${cost:,.2f}" if cost >= 0.01 or cost == 0 else f"${cost:.4f}"


def phases(turn: Turn) -> list[dict[str, object]]:
    """Each reached phase with the time spent until the next one (invariant 7: every wait named)."""
    reached = [(name, ts) for name, ts in turn.phases.as_dict().items() if ts is not None]
    now = time.time()
    steps: list[dict[str, object]] = []
    for index, (name, ts) in enumerate(reached):
        following = reached[index + 1][1] if index + 1 < len(reached) else None
        live = following is None and not turn.state.terminal
        spent = following - ts if following is not None else (now - ts if live else None)
        steps.append({"name": name.replace("_", " "), "at": ts, "spent": spent, "live": live})
    return steps


def status(turn: Turn) -> str:
    """Beside a turn's state, what it is waiting for or how it ended, in words."""
    if turn.state.terminal:
        ended = f"{age(turn.phases.finished)} ago"
        quiet = turn.state.value == "completed" or not turn.reason
        return ended if quiet else f"{ended}: {turn.reason}"
    if turn.stalled_at is not None:
        return f"stalled {age(turn.stalled_at)}: {turn.reason or 'no progress from the agent'}"
    reached = [ts for ts in turn.phases.as_dict().values() if ts is not None]
    waiting = (turn.phases.waiting_for() or "finished").replace("_", " ")
    return f"waiting for {waiting}, {age(max(reached))}" if reached else f"waiting for {waiting}"


def wait(turn: Turn) -> str:
    """A live turn's current phase and for how long: 'waiting for the agent's first event 12s'."""
    found = named_wait(turn)
    if found is None:
        return ""
    return f"{found.label} {age(found.since)}" if found.since is not None else found.label


def environment(assets: Assets) -> Environment:
    env = Environment(
        auto_reload=False,  # packaged templates: no stat of each file on every render
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        age=age,
        span=duration,
        stamp=stamp,
        count=count,
        money=money,
        phases=phases,
        status=status,
        wait=wait,
        size=size,
    )
    env.globals["asset"] = assets.url
    env.globals["AUDIT_SHOWN"] = AUDIT_SHOWN
    return env
