"""Reading complete lines from a byte offset, never holding an oversize line.

Blocks of whole lines are handed to the readers, which look for their
candidate records by substring before decoding anything. A line longer than
the cap is counted and skipped while it streams past; a last line without
its newline is left unread, so an agent still writing it is read in full
next time.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

CHUNK_BYTES = 4 * 1024 * 1024
DEFAULT_MAX_LINE_BYTES = 32 * 1024 * 1024


@dataclass
class LineStats:
    """What one pass over a byte range saw; merged into the file's counters."""

    bytes_read: int = 0
    oversize_lines: int = 0
    bad_lines: int = 0
    end: int = 0  # offset just past the last complete line consumed


def _discard_line(stream: BinaryIO, stats: LineStats) -> tuple[int, bytes] | None:
    """Discard bytes through the next newline: ``(bytes discarded, bytes after it)``.

    None when the file ends first (the oversize line is still being written).
    """
    discarded = 0
    while True:
        chunk = stream.read(CHUNK_BYTES)
        if not chunk:
            return None
        stats.bytes_read += len(chunk)
        index = chunk.find(b"\n")
        if index >= 0:
            return discarded + index + 1, chunk[index + 1 :]
        discarded += len(chunk)


def blocks(
    stream: BinaryIO,
    start: int,
    stats: LineStats,
    end: int | None = None,
    max_line: int = DEFAULT_MAX_LINE_BYTES,
) -> Iterator[tuple[int, bytes]]:
    """Yield ``(offset, block)`` where ``block`` holds whole lines, newlines included.

    ``stream`` is positioned at ``start``, a line start. Lines that begin
    before ``end`` are yielded (the last one may run past it); ``stats.end``
    is left just after the last complete line yielded or skipped.
    """
    position = start
    stats.end = start
    pending = b""
    while end is None or position < end:
        chunk = stream.read(CHUNK_BYTES)
        if not chunk:
            return
        stats.bytes_read += len(chunk)
        data = pending + chunk if pending else chunk
        cut = data.rfind(b"\n")
        if cut >= 0:
            block = data[: cut + 1]
            if end is not None and position + len(block) > end:
                block = _lines_starting_before(block, end - position)
            yield position, block
            position += len(block)
            stats.end = position
            data = data[len(block) :]
        if len(data) > max_line:
            skipped = _discard_line(stream, stats)
            stats.oversize_lines += 1
            if skipped is None:
                return
            position += len(data) + skipped[0]
            stats.end = position
            data = skipped[1]
        pending = data


def _lines_starting_before(block: bytes, limit: int) -> bytes:
    """Trim ``block`` to the lines that start before ``limit``."""
    index = block.find(b"\n", max(limit - 1, 0))
    return block[: index + 1]


def split_lines(block: bytes) -> list[bytes]:
    return block.split(b"\n")[:-1]


def candidate_lines(block: bytes, needles: tuple[bytes, ...]) -> list[tuple[int, bytes]]:
    """The lines of ``block`` containing any needle, as ``(offset in block, line)``.

    Searching the block for each needle and widening each hit to its line
    avoids touching the bytes of the many lines that cannot matter.
    """
    starts: dict[int, int] = {}
    for needle in needles:
        index = block.find(needle)
        while index >= 0:
            line_start = block.rfind(b"\n", 0, index) + 1
            line_end = block.find(b"\n", index)
            starts[line_start] = line_end
            index = block.find(needle, line_end)
    return [(s, block[s : starts[s]]) for s in sorted(starts)]
