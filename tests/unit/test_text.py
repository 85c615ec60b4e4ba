import pytest
from hypothesis import given
from hypothesis import strategies as st

from tether.domain.text import ELLIPSIS, shorten


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("short reason", 40, "short reason"),
        ("agent exited with status 3", 20, "agent exited with…"),
        ("agent exited with status 3", 19, "agent exited with…"),
        ("agent exited with status 3", 17, "agent exited…"),
        ("a\nmulti   line\treason", 40, "a multi line reason"),
        ("x" * 50, 10, "x" * 9 + ELLIPSIS),
        ("first, second", 9, "first…"),
    ],
)
def test_shorten(text: str, limit: int, expected: str) -> None:
    assert shorten(text, limit) == expected


@given(st.text(), st.integers(min_value=2, max_value=300))
def test_shorten_never_cuts_a_word_silently(text: str, limit: int) -> None:
    short = shorten(text, limit)
    flat = " ".join(text.split())
    assert len(short) <= limit
    if short == flat:
        return
    assert short.endswith(ELLIPSIS)
    head = short.removesuffix(ELLIPSIS)
    assert flat.startswith(head)
    # the cut is at a word boundary unless a single word fills the room
    assert flat[len(head) : len(head) + 1] in ("", " ", ",", ";", ":", ".", "-") or " " not in head
