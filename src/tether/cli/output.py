"""Printing for people (tables, Rich for styled lines) and for scripts (``--json``).

Rich is imported on first use (``output.console``, ``output.errors``): a
command that prints a table, JSON or a plain line does not pay for it (about
100 ms, more than the rest of ``tether usage``), nor for ``typing``.
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
    """Columns padded to their widest cell, as ps and kubectl print them. A cell's control
    characters (a hostile title's terminal escapes, its newlines) are shown as spaces,
    and a cell longer than its column's ``max_width`` is cut with an ellipsis."""
    limits = [(max_width or {}).get(column) for column in columns]
    grid = [list(columns)]
    for row in rows:
        cells = [_cell(value, limit) for value, limit in zip(row, limits, strict=True)]
        grid.append(cells)
    widths = [max(_width(row[i]) for row in grid) for i in range(len(columns))]
    lines = [] if title is None else [title.translate(_CONTROLS)]
    for row in grid:
        padded = [
            cell + " " * (width - _width(cell)) for cell, width in zip(row, widths, strict=True)
        ]
        lines.append("  ".join(padded).rstrip())
    sys.stdout.write("\n".join(lines) + "\n")


def line(text: str) -> None:
    """One plain line (no Rich markup), its control characters shown as spaces."""
    sys.stdout.write(text.translate(_CONTROLS) + "\n")


def _cell(value: "Any", limit: int | None) -> str:
    text = "" if value is None else str(value).translate(_CONTROLS)
    if limit is not None and _width(text) > limit:
        text = text[:limit]  # each character takes a column or two: at most limit steps below
        while _width(text) > limit - 1:
            text = text[:-1]
        text += "…"
    return text


def _width(text: str) -> int:
    """Terminal columns: two for a wide (East Asian) character."""
    if text.isascii():
        return len(text)
    from unicodedata import east_asian_width

    return sum(2 if east_asian_width(c) in "WF" else 1 for c in text)


# C0 and C1 control characters and DEL, each shown as a space.
_CONTROLS = dict.fromkeys([*range(32), *range(127, 160)], " ")


def when(iso: str | None) -> str:
    return "" if iso is None else iso.replace("T", " ")[:19]
