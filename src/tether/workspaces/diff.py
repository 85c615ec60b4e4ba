"""Computing a stored diff between two commits: per-file rows and one patch blob.

Two git calls: ``diff --raw -z`` (cheap: the list of changed files, in git's
queue order) and ``diff -p`` streamed in blocks; the i-th ``diff --git``
section of the patch is the i-th raw entry. Added and removed lines are
counted from the patch itself, so no third pass (``--numstat``) is needed. A
file whose patch exceeds ``huge_bytes`` keeps its counts but not its text
(vibe-kanban #1206: a big lockfile made every diff slow); memory stays
bounded by one read chunk whatever the size of the change.
"""

import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from tether.domain.workspace import DiffFile
from tether.errors import WorkspaceError
from tether.ledger.blobs import BlobStore
from tether.workspaces import git

READ_CHUNK = 1024 * 1024  # more than len(FILE_MARK): a mark is never cut
FILE_MARK = b"diff --git "
DIFF_OPTIONS = ("-M", "--no-color", "--no-ext-diff", "--no-textconv", "--ignore-submodules=none")


@dataclass(frozen=True)
class Change:
    status: str
    path: str
    old_path: str | None


@dataclass
class _Section:
    """Counts and placement of one file's patch while it streams past."""

    start: int | None = None  # offset in the blob; None when the patch was not stored
    size: int = 0
    added: int = 0
    removed: int = 0
    binary: bool = False
    huge: bool = False
    in_hunks: bool = False
    pending: list[bytes] = field(default_factory=list)  # held until the file's patch ends


def changes(repo: Path | str, before: str, after: str) -> list[Change]:
    raw = git.run(repo, "diff", "--raw", "-z", *DIFF_OPTIONS, before, after).stdout
    parts = raw.split(b"\0")
    found: list[Change] = []
    i = 0
    while i < len(parts) - 1:
        meta = parts[i].decode()
        status = meta.split()[-1][:1]
        if status in ("R", "C"):
            old, new = parts[i + 1], parts[i + 2]
            found.append(
                Change(status, new.decode("utf-8", "replace"), old.decode("utf-8", "replace"))
            )
            i += 3
        else:
            found.append(Change(status, parts[i + 1].decode("utf-8", "replace"), None))
            i += 2
    return found


def compute(
    repo: Path | str, before: str, after: str, blobs: BlobStore, huge_bytes: int
) -> tuple[list[DiffFile], str | None]:
    """Rows for every changed file and the sha256 of the stored patch text (None if empty)."""
    listed = changes(repo, before, after)
    if not listed:
        return [], None
    sections: list[_Section] = []
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(
            ["git", "diff", "-p", *DIFF_OPTIONS, before, after],
            cwd=repo,
            env=git.environment(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=errors,
        )
        assert proc.stdout is not None
        try:
            ref = blobs.put_chunks(_stored(proc.stdout, sections, huge_bytes))
        except BaseException:
            proc.kill()
            raise
        finally:
            proc.stdout.close()
            code = proc.wait()
        if code != 0:
            errors.seek(0)
            detail = errors.read(500).decode("utf-8", "replace")
            raise WorkspaceError(f"git diff {before[:12]} {after[:12]} failed: {detail}")
    if len(sections) != len(listed):
        raise WorkspaceError(
            f"git diff listed {len(listed)} files but its patch had {len(sections)} sections"
        )
    rows = [
        _row(i, change, section)
        for i, (change, section) in enumerate(zip(listed, sections, strict=True))
    ]
    return rows, ref.sha256 if ref.size else None


def _row(position: int, change: Change, section: _Section) -> DiffFile:
    return DiffFile(
        position=position,
        path=change.path,
        old_path=change.old_path,
        status=change.status,
        added=None if section.binary else section.added,
        removed=None if section.binary else section.removed,
        binary=section.binary,
        huge=section.huge,
        patch_offset=section.start,
        patch_size=section.size if section.start is not None else None,
    )


def _stored(stream: IO[bytes], sections: list[_Section], huge: int) -> Iterator[bytes]:
    """Yield the bytes to store; record each file's counts and byte range in ``sections``.

    The patch is read in blocks of whole lines and scanned with bytes
    methods (no Python work per line). A file's patch is held (at most
    ``huge`` bytes) until it ends, so a huge one is dropped whole and leaves
    no partial text in the blob.
    """
    written = 0
    current: _Section | None = None
    carry = b""
    mid_line = False  # the next block continues a line the previous one began
    while True:
        chunk = stream.read(READ_CHUNK)
        data = carry + chunk
        if not data:
            break
        end = data.rfind(b"\n") + 1 if chunk else len(data)
        if end == 0 and len(data) <= READ_CHUNK:
            carry = data
            continue
        end = end or len(data)  # one overlong line: taken as it is, without waiting for its end
        block, carry = data[:end], data[end:]
        for starts_file, piece in _pieces(block, mid_line):
            if starts_file:
                if current is not None and not current.huge:
                    current.start, written = written, written + current.size
                    yield b"".join(current.pending)
                current = _Section()
                sections.append(current)
            if current is not None:
                _take(current, piece, starts_file or not mid_line, huge)
        mid_line = not block.endswith(b"\n")
    if current is not None and not current.huge:
        current.start = written
        yield b"".join(current.pending)


def _pieces(block: bytes, mid_line: bool) -> Iterator[tuple[bool, bytes]]:
    """Split a block at the lines that start a file's section: (starts a file, bytes)."""
    starts = [0] if not mid_line and block.startswith(FILE_MARK) else []
    found = block.find(b"\n" + FILE_MARK)
    while found >= 0:
        starts.append(found + 1)
        found = block.find(b"\n" + FILE_MARK, found + 1)
    if not starts or starts[0] > 0:
        yield False, block[: starts[0] if starts else len(block)]
    for n, begin in enumerate(starts):
        yield True, block[begin : starts[n + 1] if n + 1 < len(starts) else len(block)]


def _take(section: _Section, piece: bytes, line_start: bool, huge: int) -> None:
    _count(section, piece, line_start)
    if section.huge:
        return
    if section.size + len(piece) > huge:
        section.huge, section.size = True, 0
        section.pending.clear()
        return
    section.size += len(piece)
    section.pending.append(piece)


def _count(section: _Section, piece: bytes, line_start: bool) -> None:
    """Added and removed lines: those starting with + or - after the first hunk header."""
    body = piece
    if not section.in_hunks:
        if line_start and piece.startswith(b"@@"):
            hunk = 0
        else:
            found = piece.find(b"\n@@")
            hunk = found + 1 if found >= 0 else -1
        header = piece if hunk < 0 else piece[:hunk]
        if (line_start and header.startswith(b"Binary files ")) or b"\nBinary files " in header:
            section.binary = True
        if hunk < 0:
            return
        section.in_hunks, body, line_start = True, piece[hunk:], True
    section.added += body.count(b"\n+") + (line_start and body.startswith(b"+"))
    section.removed += body.count(b"\n-") + (line_start and body.startswith(b"-"))
