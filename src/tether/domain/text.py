"""Text for people: a long reason or preview shortened at a word, and saying so; durations."""

ELLIPSIS = "…"


def shorten(text: str, limit: int) -> str:
    """``text`` on one line in at most ``limit`` characters, cut at a word boundary.

    A cut always ends in an ellipsis, so a reader never takes a truncated reason
    for the whole; a single word longer than the room is cut inside (with the
    ellipsis) rather than dropped.
    """
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    if limit <= len(ELLIPSIS):
        return ELLIPSIS[:limit]
    room = flat[: limit - len(ELLIPSIS) + 1]
    cut = room.rfind(" ")
    head = room[:cut] if cut > 0 else room[:-1]
    return head.rstrip(" ,;:.-") + ELLIPSIS


def duration(seconds: float | None) -> str:
    """'350ms', '42s', '3m', '5h', '2d': short enough for a table cell."""
    if seconds is None:
        return ""
    seconds = max(seconds, 0.0)  # clocks of two hosts may disagree by a little
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit}"
    return f"{seconds:.0f}s"
