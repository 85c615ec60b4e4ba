import hashlib
import random
from pathlib import Path

import pytest

from tether.domain import bounded as bounded_module
from tether.domain.bounded import bound, strip_images
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


@pytest.mark.parametrize("offset", range(9))
def test_the_shortest_bare_image_is_found_wherever_it_starts(offset: int) -> None:
    image = "/9j/" + "A" * 256  # the fewest base64 characters the pattern takes
    bounded = bound("-" * offset + image + "é-" * 200, 1 << 20)
    assert bounded.preview == "-" * offset + "[image: 260 bytes base64]" + "é-" * 200
    assert bound("-" * offset + image[:-1] + "-" * 300, 1 << 20).preview.count("A") == 255


def test_stripping_matches_the_patterns_alone() -> None:
    """The cheap test never keeps the patterns from a text they change."""
    rng = random.Random(5)
    pieces = ["iVBORw0KGgo", "/9j/", "R0lGOD", "UklGR", "data:image/png;base64,", " ", "é", "\n"]
    b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    changed = 0
    for _ in range(400):
        parts = []
        for _ in range(rng.randint(1, 6)):
            parts.append(rng.choice(pieces))
            parts.append("".join(rng.choices(b64, k=rng.choice([10, 60, 250, 255, 256, 270]))))
        text = "".join(parts)
        marker = bounded_module._marker
        alone = bounded_module._BARE_IMAGE.sub(marker, bounded_module._DATA_URL.sub(marker, text))
        changed += alone != text
        assert strip_images(text) == alone
    assert 100 < changed < 350  # both kinds of text were tried
