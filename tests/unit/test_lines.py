"""Line reading: whole lines only, oversize lines skipped while they stream past."""

import io

from tether import lines
from tether.lines import LineStats, blocks, line_bounds, windows


def _read(data: bytes, start: int = 0, end: int | None = None, max_line: int = 1 << 20) -> tuple:
    stats = LineStats()
    stream = io.BytesIO(data)
    stream.seek(start)
    got = b"".join(data[:n] for _, data, n in windows(stream, start, stats, end, max_line))
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


def test_skipped_long_line_is_dropped_by_its_head(monkeypatch) -> None:
    monkeypatch.setattr(lines, "CHUNK_BYTES", 1000)
    data = b"keep\n" + b"SKIP" + b"y" * 10_000 + b"\nkeep2\n"
    stats = LineStats()
    got = [
        data_[:n]
        for _, data_, n in windows(
            io.BytesIO(data), 0, stats, skip=lambda d, s, e: d.startswith(b"SKIP", s, e)
        )
    ]
    assert b"".join(got) == b"keep\nkeep2\n"
    assert stats.end == len(data) and stats.oversize_lines == 0


def test_line_bounds() -> None:
    assert list(line_bounds(b"a\nbb\nc", 7)) == [(0, 1), (2, 4)]


def test_blocks_hand_out_whole_lines_and_stop_anywhere() -> None:
    stats = LineStats()
    for offset, block in blocks(io.BytesIO(b"a\nbb\nccc"), 0, stats):
        assert (offset, block) == (0, b"a\nbb\n")
        assert stats.end == 5
        break
