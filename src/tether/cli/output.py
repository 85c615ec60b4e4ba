"""Printing for people (Rich tables) and for scripts (``--json``).

Rich is imported on first use (``output.console``, ``output.errors``,
``table``): a command that prints JSON or one plain line does not pay for it.
"""

import json
import sys
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console


def __getattr__(name: str) -> "Console":
    """``console`` (stdout) and ``errors`` (stderr), created when first used."""
    if name not in ("console", "errors"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from rich.console import Console

    made = Console() if name == "console" else Console(stderr=True, soft_wrap=True)
    globals()[name] = made
    return made


def emit_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False) + "\n")


def table(
    title: str | None,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    max_width: dict[str, int] | None = None,
) -> None:
    from rich.table import Table

    grid = Table(title=title, show_edge=False, header_style="bold")
    for column in columns:
        grid.add_column(column, max_width=(max_width or {}).get(column))
    for row in rows:
        grid.add_row(*("" if cell is None else str(cell) for cell in row))
    __getattr__("console").print(grid)


def when(iso: str | None) -> str:
    return "" if iso is None else iso.replace("T", " ")[:19]
