"""The dashboard, rendered by a real daemon and a real (headless) browser."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tether.domain.records import Session
from tether.ledger import projects, sessions

if TYPE_CHECKING:  # fixtures come from tests/browser/conftest.py, which is not a package
    from conftest import Chromium, Served

pytestmark = pytest.mark.browser

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
BYTES_PER_PIXEL = {0: 1, 2: 3, 4: 2, 6: 4}  # PNG colour type -> bytes per 8-bit pixel


def add_session(served: Served, agent: str = "claude") -> Session:
    workdir = served.home.parent / "work" / "webapp"
    workdir.mkdir(parents=True)
    with served.ledger.db.write() as conn:
        project = projects.add(conn, workdir, name="webapp")
        return sessions.create(
            conn, project, agent=agent, workspace=str(workdir), title="fix the login form"
        )


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    assert data[:8] == PNG_SIGNATURE, f"not a PNG: starts with {data[:8]!r}"
    chunks: list[tuple[bytes, bytes]] = []
    offset = 8
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        chunks.append((kind, data[offset + 8 : offset + 8 + length]))
        offset += 12 + length
    return chunks


def distinct_scanlines(data: bytes) -> tuple[int, int, int]:
    """Width, height and how many different pixel rows the image has (stdlib only)."""
    chunks = png_chunks(data)
    kind, header = chunks[0]
    assert kind == b"IHDR", f"first PNG chunk is {kind!r}, not IHDR"
    width, height, depth, colour = struct.unpack(">IIBB", header[:10])
    assert depth == 8 and colour in BYTES_PER_PIXEL, f"unexpected PNG format {depth=} {colour=}"
    pixels = zlib.decompress(b"".join(body for k, body in chunks if k == b"IDAT"))
    stride = 1 + width * BYTES_PER_PIXEL[colour]  # each row starts with its filter byte
    assert len(pixels) == stride * height, "PNG pixel data does not match its header"
    rows = {pixels[i * stride : (i + 1) * stride] for i in range(height)}
    return width, height, len(rows)


def test_index_lists_a_session_with_its_agent(served: Served, chromium: Chromium) -> None:
    session = add_session(served, agent="claude")

    dom = chromium.dump_dom(served.url + "/")

    assert 'id="sessions"' in dom, f"no sessions table in the page:\n{dom[:2000]}"
    assert f"<code>{session.id}</code>" in dom
    row = dom[dom.index(f"<code>{session.id}</code>") :]
    row = row[: row.index("</tr>")]
    assert "<td>claude</td>" in row, f"agent missing from the session's row:\n{row}"
    assert "<td>webapp</td>" in row


def test_index_screenshot_is_a_real_image(
    served: Served, chromium: Chromium, tmp_path: Path
) -> None:
    add_session(served, agent="codex")

    shot = chromium.screenshot(served.url + "/", tmp_path / "index.png", width=1280, height=800)

    data = shot.read_bytes()
    width, height, distinct = distinct_scanlines(data)
    assert (width, height) == (1280, 800)
    # A blank or error page has a handful of different rows; a table of text has many.
    assert distinct >= 40, f"screenshot looks blank: only {distinct} distinct pixel rows"
