import pytest

from tether.domain.ids import (
    parse_session_id,
    parse_session_or_turn_id,
    parse_turn_id,
    prefix_for,
    validate_name,
)
from tether.errors import InvalidId

HOSTILE = [
    "",
    "../etc",
    "web-12/../x",
    "web-0",
    "web-012",
    "WEB-1",
    "-1",
    "web-",
    "web--1",
    "web-1 ",
    "web-1\n",
    "web-1;drop",
    "x" * 65,
    "web-" + "9" * 60,
    "%2e%2e",
    "web-1.0",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_session_ids_are_rejected(value: str) -> None:
    with pytest.raises(InvalidId):
        parse_session_id(value)


@pytest.mark.parametrize("value", [*HOSTILE, "web-1", "web-1.", "web-1.x", "web-1.2.3"])
def test_hostile_turn_ids_are_rejected(value: str) -> None:
    with pytest.raises(InvalidId):
        parse_turn_id(value)


def test_valid_ids_round_trip() -> None:
    assert str(parse_session_id("web-12")) == "web-12"
    assert str(parse_session_id("my-app-3")) == "my-app-3"
    assert parse_session_id("my-app-3").prefix == "my-app"
    turn = parse_turn_id("my-app-3.14")
    assert (turn.session.number, turn.number) == (3, 14)
    assert str(parse_session_or_turn_id("web-1.2")) == "web-1.2"
    assert str(parse_session_or_turn_id("web-1")) == "web-1"


def test_error_messages_say_what_is_expected() -> None:
    with pytest.raises(InvalidId, match="expected <project>-<n>"):
        parse_session_id("../etc")
    with pytest.raises(InvalidId, match="limit is 64"):
        parse_session_id("a" * 200)
    with pytest.raises(InvalidId, match="empty"):
        parse_turn_id("")


@pytest.mark.parametrize(
    ("name", "prefix"),
    [("web", "web"), ("My_Web.app", "my-web-app"), ("2fast", "fast"), ("!!!", "p")],
)
def test_prefix_for(name: str, prefix: str) -> None:
    assert prefix_for(name) == prefix


@pytest.mark.parametrize("name", ["", "../x", "a/b", ".hidden", "x" * 65])
def test_names_are_validated(name: str) -> None:
    with pytest.raises(InvalidId):
        validate_name(name)
