"""Native timestamps (ISO 8601 strings or epoch numbers) as epoch seconds."""

from datetime import UTC, datetime
from functools import lru_cache


def parse_iso(value: str | None) -> float | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def from_epoch(value: object) -> float | None:
    """Epoch seconds or milliseconds (anything past year 2286 in seconds is ms)."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    return value / 1000.0 if value > 1e10 else float(value)


def day_of(timestamp: float) -> str:
    """The UTC calendar day tether groups usage by."""
    return _day(int(timestamp // 86400))


@lru_cache(maxsize=4096)
def _day(days: int) -> str:
    """Days since the epoch as a date: a history spans few days and many entries."""
    return datetime.fromtimestamp(days * 86400, UTC).strftime("%Y-%m-%d")
