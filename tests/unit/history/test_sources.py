"""File identity: unchanged, grown, truncated and replaced files."""

from pathlib import Path

from tether.history.sources import Change, Saved, classify, head_hash, identity


def _saved(path: Path) -> Saved:
    now = identity(path)
    return Saved(now, now.size, head_hash(path, now.size), now.size)


def test_identity_changes(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    path.write_bytes(b"one\n")
    assert classify(path, identity(path), None) is Change.NEW
    saved = _saved(path)
    assert classify(path, identity(path), saved) is Change.SAME
    with path.open("ab") as handle:
        handle.write(b"two\n")
    assert classify(path, identity(path), saved) is Change.GREW
    path.write_bytes(b"ONE\ntwo\nthree\n")  # rewritten in place, longer
    assert classify(path, identity(path), saved) is Change.RESET
    saved = _saved(path)
    path.write_bytes(b"x\n")
    assert classify(path, identity(path), saved) is Change.RESET
    replacement = tmp_path / "new.jsonl"
    replacement.write_bytes(b"ONE\ntwo\nthree\nfour\n")
    replacement.replace(path)
    assert classify(path, identity(path), saved) is Change.RESET
