"""A native log file's identity, and opening it at a byte offset.

Identity is (device, inode, size, hash of the first bytes): a rescan skips a
file whose identity is unchanged, reads only the appended bytes of one that
grew, and reads again from the start one that shrank or whose head changed
(truncated or replaced). ``.zst`` files are read through a streaming
decompressor; their offsets count decompressed bytes.
"""

import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import BinaryIO

HEAD_BYTES = 4096


class Change(StrEnum):
    NEW = "new"  # never read
    SAME = "same"  # nothing to read
    GREW = "grew"  # read from the saved offset
    RESET = "reset"  # truncated or replaced: read from the start


@dataclass(frozen=True, slots=True)
class Identity:
    device: int
    inode: int
    size: int
    mtime: float


@dataclass(frozen=True, slots=True)
class Saved:
    """What the ledger remembers of a file after the last read."""

    identity: Identity
    head_size: int
    head_hash: str
    offset: int


def identity(path: Path) -> Identity:
    st = os.stat(path)
    return Identity(st.st_dev, st.st_ino, st.st_size, st.st_mtime)


def head_hash(path: Path, size: int) -> str:
    with path.open("rb") as handle:
        return hashlib.blake2b(handle.read(size), digest_size=16).hexdigest()


def classify(path: Path, now: Identity, saved: Saved | None) -> Change:
    """Decide what to read; hashes the head only when the size says it may have grown."""
    if saved is None:
        return Change.NEW
    before = saved.identity
    if (now.device, now.inode) != (before.device, before.inode) or now.size < before.size:
        return Change.RESET
    if now.size == before.size and now.mtime == before.mtime:
        return Change.SAME
    if head_hash(path, saved.head_size) != saved.head_hash:
        return Change.RESET
    return Change.GREW if now.size > before.size else Change.SAME


def store_stamp(path: Path) -> list[float]:
    """Sizes and mtimes of a SQLite store and its WAL: any write changes one of them."""
    now = identity(path)
    wal = path.with_name(path.name + "-wal")
    after = identity(wal) if wal.exists() else None
    return [now.size, now.mtime, after.size if after else 0, after.mtime if after else 0]


def is_compressed(path: Path) -> bool:
    return path.name.endswith(".zst")


class _Counting:
    """Counts the bytes read from disk, so tests can prove a rescan read only new ones."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.count += len(data)
        return data


@contextmanager
def open_at(path: Path, offset: int) -> Iterator[tuple[BinaryIO, _Counting]]:
    """Open for reading at ``offset`` (decompressed offset for ``.zst``)."""
    with path.open("rb") as raw:
        counting = _Counting(raw)
        if not is_compressed(path):
            raw.seek(offset)
            yield counting, counting  # type: ignore[misc]
            return
        import zstandard  # only compressed logs need it (CLI start-up)

        reader = zstandard.ZstdDecompressor().stream_reader(
            counting,  # type: ignore[arg-type]
            read_across_frames=True,
        )
        remaining = offset
        while remaining:
            skipped = len(reader.read(min(remaining, 1 << 22)))
            if not skipped:
                break
            remaining -= skipped
        yield reader, counting
