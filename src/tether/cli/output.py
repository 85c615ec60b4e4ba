"""Printing for people (Rich tables) and for scripts (``--json``).

Rich is imported on first use (``output.console``, ``output.errors``,
``table``): a command that prints JSON or one plain line does not pay for it,
nor for ``typing`` (``tether usage`` prints through this module).
"""

import sys

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (and re, which it loads)
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence
    from typing import Any

    from rich.console import Console


def __getattr__(name: str) -> "Console":
    """``console`` (stdout) and ``errors`` (stderr), created when first used."""
    if name not in ("console", "errors"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from rich.console import Console

    made = Console() if name == "console" else Console(stderr=True, soft_wrap=True)
    globals()[name] = made
    return made


def emit_json(value: "Any") -> None:
    import json

    sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False) + "\n")


def emit_records(records: "Sequence[Mapping[str, Any]]") -> None:
    """Flat records (str, int, float, bool or None values), exactly as ``emit_json`` prints
    them, without importing json: with re, which it loads, that import was a third of
    ``tether usage --json``'s whole process."""
    names: dict[str, str] = {}  # the records of a report share their keys: each quoted once
    objects = []
    for record in records:
        fields = []
        for key, value in record.items():
            name = names.get(key)
            if name is None:
                name = names[key] = _string(key)
            fields.append(f"{name}: {_value(value)}")
        objects.append("  {\n    " + ",\n    ".join(fields) + "\n  }" if fields else "  {}")
    sys.stdout.write("[\n" + ",\n".join(objects) + "\n]\n" if objects else "[]\n")


def _value(value: "Any") -> str:
    if isinstance(value, str):
        return _string(value)
    if value is None or isinstance(value, bool):
        return _LITERALS[value]
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        text = float.__repr__(value)
        return _FLOATS.get(text, text)
    raise TypeError(f"Object of type {type(value).__name__} is not a flat record's value")


def _string(text: str) -> str:
    if text.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
        return f'"{text}"'  # nothing to escape: most keys and values
    return '"' + text.translate(_ESCAPES) + '"'


# What json.dumps(ensure_ascii=False) writes for strings, NaN and the infinities, and literals.
_ESCAPES = str.maketrans(
    {chr(code): f"\\u{code:04x}" for code in range(32)}
    | {"\\": "\\\\", '"': '\\"', "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
)
_FLOATS = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}
_LITERALS = {None: "null", True: "true", False: "false"}


def table(
    title: str | None,
    columns: "Sequence[str]",
    rows: "Iterable[Sequence[Any]]",
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
