"""Readable ids and their validation.

Sessions are ``<prefix>-<n>`` (``web-12``), turns ``<session>.<n>``
(``web-12.3``). Every id that enters from outside passes through
``parse_session_id`` / ``parse_turn_id`` so that ``../etc`` or a 10 kB string
is rejected with a clear message before it reaches a query or a path.
"""

import re
from dataclasses import dataclass

from tether.errors import InvalidId

MAX_ID_LENGTH = 64
MAX_PREFIX_LENGTH = 24
_PREFIX = r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*"
_PREFIX_RE = re.compile(_PREFIX)
_SESSION_RE = re.compile(rf"({_PREFIX})-([1-9][0-9]{{0,8}})")
_TURN_RE = re.compile(rf"({_PREFIX})-([1-9][0-9]{{0,8}})\.([1-9][0-9]{{0,8}})")
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


@dataclass(frozen=True, slots=True)
class SessionId:
    prefix: str
    number: int

    def __str__(self) -> str:
        return f"{self.prefix}-{self.number}"


@dataclass(frozen=True, slots=True)
class TurnId:
    session: SessionId
    number: int

    def __str__(self) -> str:
        return f"{self.session}.{self.number}"


def _check_length(value: str, what: str) -> None:
    if not value:
        raise InvalidId(f"empty {what} id")
    if len(value) > MAX_ID_LENGTH:
        raise InvalidId(f"{what} id is {len(value)} characters long; the limit is {MAX_ID_LENGTH}")


def parse_session_id(value: str) -> SessionId:
    _check_length(value, "session")
    match = _SESSION_RE.fullmatch(value)
    if match is None:
        raise InvalidId(f"{value!r} is not a session id; expected <project>-<n>, e.g. web-12")
    return SessionId(match.group(1), int(match.group(2)))


def parse_turn_id(value: str) -> TurnId:
    _check_length(value, "turn")
    match = _TURN_RE.fullmatch(value)
    if match is None:
        raise InvalidId(f"{value!r} is not a turn id; expected <project>-<n>.<n>, e.g. web-12.3")
    return TurnId(SessionId(match.group(1), int(match.group(2))), int(match.group(3)))


def parse_session_or_turn_id(value: str) -> SessionId | TurnId:
    """Accept either shape; ``wait`` and friends take both."""
    _check_length(value, "session or turn")
    if _TURN_RE.fullmatch(value):
        return parse_turn_id(value)
    if _SESSION_RE.fullmatch(value):
        return parse_session_id(value)
    raise InvalidId(f"{value!r} is neither a session id (web-12) nor a turn id (web-12.3)")


def validate_prefix(value: str) -> str:
    if not value or len(value) > MAX_PREFIX_LENGTH or not _PREFIX_RE.fullmatch(value):
        raise InvalidId(
            f"{value!r} is not a valid project prefix: use 1-{MAX_PREFIX_LENGTH} lowercase "
            "letters, digits and single dashes, starting with a letter"
        )
    return value


def validate_name(value: str, what: str = "name") -> str:
    """Project names, agent names and provider names share one safe shape."""
    if not _NAME_RE.fullmatch(value):
        raise InvalidId(
            f"{value!r} is not a valid {what}: use up to 64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return value


def prefix_for(name: str) -> str:
    """Derive a session-id prefix from a project name (``My_Web.app`` → ``my-web-app``)."""
    cleaned = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    cleaned = re.sub(r"^[0-9-]+", "", cleaned)[:MAX_PREFIX_LENGTH].strip("-")
    return validate_prefix(cleaned or "p")
