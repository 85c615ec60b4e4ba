import hashlib
from pathlib import Path

import pytest

from tether.domain.bounded import bound
from tether.errors import BlobError, InvalidId
from tether.ledger.blobs import BlobStore


def test_put_get_content_addressed(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "blobs")
    ref = store.put(b"hello")
    assert ref.sha256 == hashlib.sha256(b"hello").hexdigest()
    assert ref.size == 5
    assert store.get(ref.sha256) == b"hello"
    assert store.put(b"hello") == ref
    assert not [p for p in (tmp_path / "blobs").iterdir() if p.name.startswith(".tmp")]


def test_streamed_put(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    chunks = [b"x" * 1_000_000 for _ in range(5)]
    ref = store.put_chunks(chunks)
    assert ref.size == 5_000_000
    assert store.path(ref.sha256).stat().st_size == 5_000_000


def test_corrupt_and_missing_blobs_are_reported(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    ref = store.put(b"payload")
    store.path(ref.sha256).write_bytes(b"tampered")
    with pytest.raises(BlobError, match="corrupt"):
        store.get(ref.sha256)
    with pytest.raises(BlobError, match="missing"):
        store.get("0" * 64)


@pytest.mark.parametrize("value", ["../../etc/passwd", "", "A" * 64, "0" * 63])
def test_hostile_hashes(tmp_path: Path, value: str) -> None:
    with pytest.raises(InvalidId):
        BlobStore(tmp_path).path(value)


def test_unwritable_store_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(BlobError, match="cannot write"):
        BlobStore(tmp_path / "file" / "blobs").put(b"x")


def test_bound_keeps_head_and_tail() -> None:
    text = "HEAD" + "m" * 100_000 + "TAIL"
    bounded = bound(text, 1024)
    assert bounded.truncated
    assert bounded.size == len(text)
    assert bounded.preview.startswith("HEAD") and bounded.preview.endswith("TAIL")
    assert len(bounded.preview.encode()) <= 1024
    assert "bytes omitted" in bounded.preview
    assert not bound("short", 1024).truncated


def test_bound_strips_inline_images() -> None:
    image = "data:image/png;base64," + "A" * 10_000
    bounded = bound(f"look: {image} done", 1 << 20)
    assert "AAAA" * 100 not in bounded.preview
    assert "[image:" in bounded.preview and bounded.truncated


def test_bound_strips_bare_base64_images() -> None:
    text = '{"type": "image", "data": "iVBORw0KGgo' + "Qm9vbXM" * 2000 + '"}'
    bounded = bound(text, 1 << 20)
    assert "Qm9vbXM" not in bounded.preview
    assert bounded.preview.startswith('{"type": "image", "data": "[image:')


@pytest.mark.parametrize(
    "image",
    [
        "data:image/jpeg;base64," + "QUJD" * 80,
        "iVBORw0KGgo" + "A" * 300,
        "/9j/" + "4AAQ" * 80,
        "R0lGOD" + "lh" * 150,
        "UklGR" + "iQ" * 150,
    ],
)
def test_each_image_marker_is_found(image: str) -> None:
    bounded = bound(f'see "{image}".', 1 << 20)
    assert bounded.preview == f'see "[image: {len(image)} bytes base64]".'


def test_bound_measures_utf8_bytes() -> None:
    short = bound("é" * 300, 1024)
    assert (short.preview, short.size, short.truncated) == ("é" * 300, 600, False)
    long = bound("é" * 10_000 + "\ud800", 1024)
    assert long.size == 20_001 and long.truncated
    assert long.preview == "é" * 224 + "\n… [19105 bytes omitted] …\n" + "é" * 223 + "?"
