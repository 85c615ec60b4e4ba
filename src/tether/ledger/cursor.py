"""Opaque, stable page cursors: the key of the last row shown."""

from dataclasses import dataclass
from typing import Generic, TypeVar

from tether.errors import InvalidInput

T = TypeVar("T")
MAX_PAGE = 500


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None  # pass back as ``before`` for the next (older) page


def parse_cursor(value: str | None) -> int | None:
    if value is None or value == "":
        return None
    if not value.isdigit() or len(value) > 19:
        raise InvalidInput(f"{value[:40]!r} is not a cursor; pass back a next_cursor value as is")
    return int(value)


def check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be between 1 and {MAX_PAGE}, not {limit}")
    return limit
