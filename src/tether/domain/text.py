"""Text for people: a long reason or preview shortened at a word, and saying so."""

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
