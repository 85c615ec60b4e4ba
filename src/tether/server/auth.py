"""Who is asking, and may they? People, tokens and roles at the API's door.

On loopback without a configured token, every request is the implicit admin
(the person running the daemon), so a single user never meets any of this.
Off loopback, or once ``[server] token`` is set, every request needs a token:
the configured one (the owner, an admin) or a person's own from
``tether token create`` (looked up by its hash, so revoking works at once).
Viewers read, members also send and cancel, admins also manage.
"""

import getpass
import hmac
from collections.abc import MutableMapping
from typing import Any

from tether.domain.team import Person, Role
from tether.errors import DaemonError
from tether.ledger import people
from tether.ledger.store import Ledger

PERSON_KEY = "tether.person"  # where the guard leaves the caller in the ASGI scope
COOKIE = "tether_token"
ADMIN_PREFIXES = ("/api/projects", "/api/users", "/api/tokens", "/api/hosts")
ADMIN_READS = ("/api/users", "/api/tokens")  # who holds access is itself guarded
_READS = frozenset({"GET", "HEAD", "OPTIONS"})


def owner() -> Person:
    """The implicit admin: whoever runs this daemon."""
    try:
        name = getpass.getuser()
    except (KeyError, OSError):
        name = "owner"
    return Person(name, Role.ADMIN)


def needed_role(method: str, path: str) -> Role:
    if path.startswith(ADMIN_READS):
        return Role.ADMIN
    if method.upper() in _READS:
        return Role.VIEWER
    if path.startswith(ADMIN_PREFIXES):
        return Role.ADMIN
    return Role.MEMBER


class People:
    """Resolves the token of a request to a person."""

    def __init__(self, ledger: Ledger, config_token: str, required: bool) -> None:
        self.ledger = ledger
        self.config_token = config_token
        self.required = required
        self.owner = owner()

    def identify(self, token: str) -> Person | None:
        if self.config_token and hmac.compare_digest(
            token.encode("utf-8", "replace"), self.config_token.encode()
        ):
            return self.owner
        with self.ledger.db.read() as conn:
            return people.person_for(conn, token)


def supplied_token(headers: dict[str, str]) -> str:
    """A bearer token, or else the dashboard's sign-in cookie."""
    auth = headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    for part in headers.get("cookie", "").split(";"):
        name, sep, value = part.strip().partition("=")
        if sep and name == COOKIE:
            return value.strip()
    return ""


def person_of(scope: MutableMapping[str, Any]) -> Person:
    person = scope.get(PERSON_KEY)
    if not isinstance(person, Person):
        raise DaemonError("this request did not pass the guard: no person to act for")
    return person
