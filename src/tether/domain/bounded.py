"""Size limits for what the ledger keeps inline (invariant 5)."""

import re
from dataclasses import dataclass

DEFAULT_PREVIEW_BYTES = 16 * 1024
_DATA_URL = re.compile(r"data:image/[a-z0-9.+-]+;base64,[A-Za-z0-9+/=\s]{64,}")
# Bare base64 images, recognised by the encoded magic bytes of PNG, JPEG, GIF and WebP.
_BARE_IMAGE = re.compile(r"(?:iVBORw0KGgo|/9j/|R0lGOD|UklGR)[A-Za-z0-9+/]{256,}={0,2}")


@dataclass(frozen=True, slots=True)
class Bounded:
    preview: str
    size: int  # bytes of the full payload, UTF-8
    truncated: bool


def strip_images(text: str) -> str:
    """Replace inline base64 images by a short marker; the full text may go to a blob.

    A substring test first: most texts hold no image, and it is ten times
    cheaper than the two patterns.
    """
    if (  # the data URL's marker and the four magic prefixes of _BARE_IMAGE
        "base64," not in text
        and "iVBORw0KGgo" not in text
        and "/9j/" not in text
        and "R0lGOD" not in text
        and "UklGR" not in text
    ):
        return text
    text = _DATA_URL.sub(lambda m: f"[image: {len(m.group(0))} bytes base64]", text)
    return _BARE_IMAGE.sub(lambda m: f"[image: {len(m.group(0))} bytes base64]", text)


def bound(text: str, limit: int = DEFAULT_PREVIEW_BYTES) -> Bounded:
    """Keep head and tail of ``text`` within ``limit`` bytes, images removed."""
    raw = text.encode("utf-8", "replace")
    size = len(raw)
    cleaned = strip_images(text) if size > 256 else text
    data = raw if cleaned is text else cleaned.encode("utf-8", "replace")
    if len(data) <= limit:
        return Bounded(cleaned, size, cleaned != text)
    half = max(limit // 2 - 64, 0)
    head = data[:half].decode("utf-8", "ignore")
    tail = data[len(data) - half :].decode("utf-8", "ignore")
    omitted = len(data) - 2 * half
    return Bounded(f"{head}\n… [{omitted} bytes omitted] …\n{tail}", size, True)
