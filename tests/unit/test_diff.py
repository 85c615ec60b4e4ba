"""Stored diffs from a real git repository: statuses, counts, binary, huge, odd names."""

import subprocess
from pathlib import Path

import pytest

from tether.ledger.blobs import BlobStore
from tether.workspaces import diff

GIT = ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com"]


def git(cwd: Path, *args: str) -> str:
    return subprocess.run([*GIT, *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def commit_all(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", message)
    return git(repo, "rev-parse", "HEAD").strip()


def test_every_kind_of_change_is_listed_counted_and_stored(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "edit.txt").write_text("one\ntwo\nthree\n")
    (repo / "gone.txt").write_text("bye\n")
    (repo / "moved.py").write_text("".join(f"line {i}\n" for i in range(40)))
    (repo / "lock.json").write_text("{}\n")
    before = commit_all(repo, "base")
    (repo / "edit.txt").write_text("one\n+two changed\nthree\nfour\n")
    (repo / "gone.txt").unlink()
    (repo / "moved.py").rename(repo / "renamed.py")
    (repo / "image.png").write_bytes(bytes(range(256)) * 4)
    (repo / "lock.json").write_text("".join(f'"{i}": "{"x" * 60}",\n' for i in range(500)))
    (repo / "dir with space").mkdir()
    (repo / "dir with space" / "naïve 名前.txt").write_text("hello\n")
    after = commit_all(repo, "change")
    blobs = BlobStore(tmp_path / "blobs")
    rows, sha = diff.compute(repo, before, after, blobs, huge_bytes=4096)
    by_path = {r.path: r for r in rows}
    assert set(by_path) == {
        "edit.txt",
        "gone.txt",
        "renamed.py",
        "image.png",
        "lock.json",
        "dir with space/naïve 名前.txt",
    }
    edit = by_path["edit.txt"]
    assert (edit.status, edit.added, edit.removed) == ("M", 2, 1)  # a '+two' line counts once
    assert (by_path["gone.txt"].status, by_path["gone.txt"].removed) == ("D", 1)
    renamed = by_path["renamed.py"]
    assert (renamed.status, renamed.old_path, renamed.added, renamed.removed) == (
        "R",
        "moved.py",
        0,
        0,
    )
    image = by_path["image.png"]
    assert image.binary and image.added is None and image.patch_offset is not None
    lock = by_path["lock.json"]
    assert lock.huge and lock.patch_offset is None and (lock.added, lock.removed) == (500, 1)
    assert by_path["dir with space/naïve 名前.txt"].added == 1
    assert sha is not None
    stored = blobs.get(sha)
    assert b'"0": "xxxx' not in stored  # the huge file's text was not kept
    for row in rows:
        if row.patch_offset is not None:
            text = blobs.read_range(sha, row.patch_offset, row.patch_size or 0)
            assert text.startswith(b"diff --git ")
    edit_patch = blobs.read_range(sha, edit.patch_offset or 0, edit.patch_size or 0)
    assert b"-two\n++two changed\n" in edit_patch and b"+four\n" in edit_patch


def test_no_change_stores_nothing(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "a.txt").write_text("a\n")
    head = commit_all(repo, "base")
    assert diff.compute(repo, head, head, BlobStore(tmp_path / "blobs"), 4096) == ([], None)


@pytest.mark.parametrize("chunk", [11, 17, 64, 4096])  # at least len(FILE_MARK)
def test_counts_match_git_numstat_whatever_the_read_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    """Reads that split lines, marks and hunk headers anywhere still count exactly."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    for i in range(12):
        (repo / f"f{i}.txt").write_text(
            "".join(f"{'+-@'[n % 3]}line {n} {'y' * i}\n" for n in range(30))
        )
    before = commit_all(repo, "base")
    for i in range(12):
        lines = [f"{'-+d'[n % 3]}iff --git {n} {'z' * (i * 7)}\n" for n in range(i * 3)]
        (repo / f"f{i}.txt").write_text("".join(lines))
    after = commit_all(repo, "change")
    monkeypatch.setattr(diff, "READ_CHUNK", chunk)
    rows, sha = diff.compute(repo, before, after, BlobStore(tmp_path / "blobs"), 1 << 20)
    numstat = {}
    for line in git(repo, "diff", "--numstat", before, after).splitlines():
        added, removed, path = line.split("\t")
        numstat[path] = (int(added), int(removed))
    assert {r.path: (r.added, r.removed) for r in rows} == numstat
    stored = BlobStore(tmp_path / "blobs").get(sha or "")
    assert stored.decode() == git(repo, "diff", "-p", *diff.DIFF_OPTIONS, before, after)
