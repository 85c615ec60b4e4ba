"""Files cut into byte ranges: every line read once, whatever the cut."""

import json
import random
from pathlib import Path

import pytest

from tether.history import scan
from tether.history.readers import READERS
from tether.history.scan import Job, run_job, split
from tether.history.synthetic import (
    Expected,
    claude_session,
    codex_session,
    write_claude,
    write_codex,
)


@pytest.fixture
def small_ranges(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ranges of a few KiB, so small files are cut into many."""
    monkeypatch.setattr(scan, "SPLIT_BYTES", 8 * 1024)
    monkeypatch.setattr(scan, "TRANSCRIPT_SPLIT_BYTES", 4 * 1024)


def _files(tmp_path: Path) -> list[tuple[str, Path, str]]:
    rng = random.Random(7)
    expected = Expected()
    files = []
    for index in range(3):
        claude = claude_session(rng, expected, 1767225600.0 + index * 3600, 12)
        files.append(("claude", write_claude(tmp_path / "claude", claude), claude.native_id))
        codex = codex_session(rng, expected, 1767225600.0 + index * 3600, 12)
        files.append(("codex", write_codex(tmp_path / "codex", codex), codex.native_id))
    return files


@pytest.mark.usefixtures("small_ranges")
def test_ranges_read_every_line_once(tmp_path: Path) -> None:
    files = _files(tmp_path)
    for transcript in (False, True):
        jobs = [
            Job(agent, str(path), native, 0, transcript=transcript, head=not transcript)
            for agent, path, native in files
        ]
        sizes = {str(path): path.stat().st_size for _, path, _ in files}
        pieces = [piece for job in jobs for piece in split(job, sizes[job.path])]
        assert len(pieces) > 3 * len(jobs)  # the files were cut into several ranges each
        results = [run_job(piece) for piece in pieces]
        assert all(r.error is None and r.stats.bad_lines == 0 for r in results)
        whole = [run_job(job) for job in jobs]  # one range per file
        if transcript:
            got = [(i.key, i.text) for r in results for i in r.transcript]
            want = [(i.key, i.text) for r in whole for i in r.transcript]
        else:
            got = [repr(f) for r in results for f in r.facts]
            want = [repr(f) for r in whole for f in r.facts]
        assert got == want
        assert len(want) > 50


@pytest.mark.usefixtures("small_ranges")
def test_a_transcript_range_stops_at_the_jobs_end(tmp_path: Path) -> None:
    agent, path, native = _files(tmp_path)[0]
    end = path.stat().st_size // 2
    job = Job(agent, str(path), native, 0, end=end, transcript=True)
    pieces = split(job, path.stat().st_size)
    assert len(pieces) > 1
    assert pieces[-1].end == end
    assert all(piece.end is not None and piece.end <= end for piece in pieces)


@pytest.mark.parametrize("usage", [False, True])
def test_a_user_record_across_a_read_chunk_is_in_the_transcript(
    tmp_path: Path, usage: bool
) -> None:
    """A user record holds no usage, so the usage reading drops it by its head before it is
    held whole; a transcript reading keeps it wherever the read chunks cut it."""
    from tether.lines import CHUNK_BYTES

    def user(uid: str, text: str) -> str:
        message = {"role": "user", "content": text}
        record = {"type": "user", "uuid": uid, "sessionId": "s1", "message": message}
        return json.dumps(record, separators=(",", ":")) + "\n"

    first = user("u1", "a" * (CHUNK_BYTES - 300))
    crossing = user("u2", "b" * 10_000)  # begins ~200 bytes before the first chunk ends
    path = tmp_path / "s1.jsonl"
    path.write_text(first + crossing + user("u3", "c"))
    job = Job("claude", str(path), "s1", 0, usage=usage, transcript=True)
    got = [item.key for item in run_job(job).transcript]
    assert got == ["claude:u1:0", "claude:u2:0", "claude:u3:0"]


@pytest.mark.parametrize("agent", ["claude", "codex", "gemini"])
def test_a_head_is_tested_in_place_within_its_bounds(agent: str) -> None:
    """Each reader tells a skipped line from its first bytes inside the block, and only from
    them: the same bytes before the line or past its head do not count."""
    reader = READERS[agent]
    head = {
        "claude": b'{"type":"user","message":{"role":"user","content":"hi"}}',
        "codex": b'{"timestamp":"t","type":"response_item","payload":{}}',
        "gemini": b'{"$set":{"lastUpdated":"t"}}',
    }[agent]
    other = b'{"type":"other"}'
    block = head + b"\n" + other + b"\n" + head
    assert reader.skip(block, 0, len(head))
    start = len(head) + 1
    assert not reader.skip(block, start, start + len(other))  # the next record is past stop
    assert reader.skip(block, start + len(other) + 1, len(block))


def test_a_claude_snapshot_is_skipped_by_how_it_starts(tmp_path: Path) -> None:
    """Only a record that is a file-history snapshot is passed over for the transcript: an
    object of that shape inside a prompt's head does not make the prompt one."""
    snapshot = {"type": "file-history-snapshot", "messageId": "m", "snapshot": {}}
    blocks = [{"type": "file-history-snapshot"}, {"type": "text", "text": "hi"}]
    prompt = {"message": {"content": blocks, "role": "user"}, "type": "user", "uuid": "u1"}
    path = tmp_path / "s1.jsonl"
    path.write_text(
        "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in (snapshot, prompt))
    )
    block = path.read_bytes()
    assert READERS["claude"].transcript_skip(block, 0, block.index(b"\n"))
    assert not READERS["claude"].transcript_skip(block, block.index(b"\n") + 1, len(block))
    job = Job("claude", str(path), "s1", 0, transcript=True)
    assert [(i.key, i.text) for i in run_job(job).transcript] == [("claude:u1:1", "hi")]
