"""Line reading: whole lines only, oversize lines skipped while they stream past."""

import io

from tether.history import lines
from tether.history.lines import LineStats, blocks, candidate_lines


def _read(data: bytes, start: int = 0, end: int | None = None, max_line: int = 1 << 20) -> tuple:
    stats = LineStats()
    stream = io.BytesIO(data)
    stream.seek(start)
    got = b"".join(block for _, block in blocks(stream, start, stats, end, max_line))
    return got, stats


def test_partial_last_line_is_left_for_later() -> None:
    got, stats = _read(b"a\nbb\nccc")
    assert got == b"a\nbb\n"
    assert stats.end == 5


def test_oversize_line_is_counted_and_skipped(monkeypatch) -> None:
    monkeypatch.setattr(lines, "CHUNK_BYTES", 8)
    data = b"ok\n" + b"x" * 100 + b"\nfine\n"
    got, stats = _read(data, max_line=16)
    assert got == b"ok\nfine\n"
    assert stats.oversize_lines == 1
    assert stats.end == len(data)


def test_oversize_last_line_without_newline_is_not_consumed(monkeypatch) -> None:
    monkeypatch.setattr(lines, "CHUNK_BYTES", 8)
    got, stats = _read(b"ok\n" + b"x" * 100, max_line=16)
    assert got == b"ok\n"
    assert stats.end == 3


def test_range_reads_lines_starting_before_its_end(monkeypatch) -> None:
    monkeypatch.setattr(lines, "CHUNK_BYTES", 4)
    data = b"aaaa\nbbbb\ncccc\n"
    got, stats = _read(data, end=6)
    assert got == b"aaaa\nbbbb\n"
    assert stats.end == 10


def test_candidate_lines_widen_hits_to_whole_lines() -> None:
    block = b'{"a":1}\n{"usage":2,"x":"usage"}\n{"b":3}\n{"turn_context":4}\n'
    found = candidate_lines(block, (b'"usage"', b"turn_context"))
    assert [line for _, line in found] == [b'{"usage":2,"x":"usage"}', b'{"turn_context":4}']
    assert [offset for offset, _ in found] == [8, 40]
