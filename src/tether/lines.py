"""Reading complete lines from a byte offset, never holding an oversize line.

Blocks of whole lines are handed to the readers, which skip lines whose
first bytes say they cannot matter (a user record, a tool output) and look
for their candidate records by substring before decoding anything. A line
longer than the cap, or one the reader skips by its head, streams past
without being held; oversize lines are counted. A last line without its
newline is left unread, so an agent still writing it is read in full next
time.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

CHUNK_BYTES = 1024 * 1024  # larger reads allocate fresh pages each time: 3x slower
DEFAULT_MAX_LINE_BYTES = 32 * 1024 * 1024
HEAD_WINDOW = 2048

# Decides from a line's first bytes, data[start:stop] (at most HEAD_WINDOW of them), that it
# cannot matter; tested in place, without slicing them out of the block.
Skip = Callable[[bytes, int, int], bool]


@dataclass
class LineStats:
    """What one pass over a byte range saw; merged into the file's counters."""

    bytes_read: int = 0
    oversize_lines: int = 0
    bad_lines: int = 0
    end: int = 0  # offset just past the last complete line consumed


def never(data: bytes, start: int, stop: int) -> bool:
    del data, start, stop
    return False


def _limit_before(data: bytes, limit: int) -> int:
    """Length of the lines of ``data`` that start before ``limit``."""
    return data.find(b"\n", max(limit - 1, 0)) + 1


class _Partial:
    """The line being read across chunks: held in pieces, or only measured when dropped."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.size = 0
        self.dropping = False
        self.oversize = False
        self.checked = False  # the head has been shown to ``skip``

    def __bool__(self) -> bool:
        return self.size > 0

    def add(self, piece: bytes, max_line: int, skip: Skip) -> None:
        self.size += len(piece)
        if self.dropping:
            return
        self.parts.append(piece)
        if self.size > max_line:
            self.dropping, self.oversize, self.parts = True, True, []
        elif not self.checked and self.size >= HEAD_WINDOW:
            self.checked = True
            if skip(b"".join(self.parts), 0, HEAD_WINDOW):
                self.dropping, self.parts = True, []

    def take(self) -> bytes | None:
        """The finished line (None when dropped), and reset."""
        line = None if self.dropping else b"".join(self.parts)
        self.__init__()  # type: ignore[misc]
        return line


def windows(
    stream: BinaryIO,
    start: int,
    stats: LineStats,
    end: int | None = None,
    max_line: int = DEFAULT_MAX_LINE_BYTES,
    skip: Skip = never,
) -> Iterator[tuple[int, bytes, int]]:
    """Yield ``(offset, data, length)``: ``data[:length]`` holds whole lines.

    ``stream`` is positioned at ``start``, a line start. Lines that begin
    before ``end`` are yielded (the last one may run past it); ``stats.end``
    is just after the last complete line yielded or dropped, so a consumer
    may stop after any window.
    """
    position = start
    stats.end = start
    partial = _Partial()
    while end is None or position < end:
        chunk = stream.read(CHUNK_BYTES)
        if not chunk:
            return
        stats.bytes_read += len(chunk)
        if partial:
            newline = chunk.find(b"\n")
            if newline < 0:
                partial.add(chunk, max_line, skip)
                continue
            partial.add(chunk[: newline + 1], max_line, skip)
            stats.oversize_lines += partial.oversize
            length = partial.size
            line = partial.take()
            stats.end = position + length
            if line is not None:
                yield position, line, length
            position += length
            chunk = chunk[newline + 1 :]
        cut = chunk.rfind(b"\n") + 1
        if cut and (end is None or position < end):
            if end is not None and position + cut > end:
                cut = _limit_before(chunk, end - position)
            stats.end = position + cut
            yield position, chunk, cut
            position += cut
        if cut < len(chunk):
            partial.add(chunk[cut:], max_line, skip)


def line_bounds(data: bytes, length: int) -> Iterator[tuple[int, int]]:
    """``(start, end)`` of each line in ``data[:length]``, newline excluded."""
    start = 0
    while start < length:
        end = data.find(b"\n", start, length)
        if end < 0:
            return
        yield start, end
        start = end + 1


def blocks(
    stream: BinaryIO,
    start: int,
    stats: LineStats,
    end: int | None = None,
    max_line: int = DEFAULT_MAX_LINE_BYTES,
) -> Iterator[tuple[int, bytes]]:
    """``(offset, block)`` of whole lines, newlines included (for the engine's stream ingest)."""
    for offset, data, length in windows(stream, start, stats, end, max_line):
        yield offset, data if length == len(data) else data[:length]


def split_lines(block: bytes) -> list[bytes]:
    return block.split(b"\n")[:-1]
