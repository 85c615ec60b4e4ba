"""Safe defaults for a server on a developer's laptop.

Loopback only unless told otherwise; the Host header must name this server
(DNS rebinding); an ``Origin`` must be this server's own origin — scheme,
host and port — because any page on another localhost port is another site
that must not create sessions and run agents; off loopback, or with a token
configured, every request needs a person's token (see ``auth``) and their
role must allow what they ask, which ``serve`` insists on for any
non-loopback bind. Request bodies are capped: a declared length over the cap
is refused before a byte is read, and a body without one is counted as it
streams in and refused as soon as it passes the cap.
"""

import ipaddress
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, RedirectResponse

from tether.domain.team import Person
from tether.errors import DaemonError
from tether.server.auth import PERSON_KEY, People, needed_role, supplied_token

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
OPEN_PATHS = frozenset({"/api/health", "/signin", "/api/signin", "/api/signout"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
DEFAULT_PORTS = {"http": 80, "https": 443}


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str, people_tokens: bool = False) -> None:
    if not is_loopback(host) and not token and not people_tokens:
        raise DaemonError(
            f"refusing to serve on {host} without a token: set [server] token in config.toml "
            "(or TETHER_SERVER_TOKEN), or give people tokens with `tether user add` and "
            "`tether token create`, so that only they can reach your sessions"
        )


def _hostname(value: str) -> str:
    return (urlsplit(f"//{value}").hostname or "").lower()


class BodyTooLarge(Exception):
    """A streamed request body passed the cap; the Guard answers 413.

    Deliberately not a TetherError: it must travel through every handler up to
    the Guard, which alone knows whether a response has started.
    """


class _Exchange:
    """One request's receive and send, with the body counted against the cap."""

    def __init__(self, receive: Receive, send: Send, cap: int) -> None:
        self._receive = receive
        self._send = send
        self.cap = cap
        self.seen = 0
        self.refused = False
        self.started = False

    async def receive(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.request":
            self.seen += len(message.get("body", b""))
            if self.seen > self.cap:
                self.refused = True
                raise BodyTooLarge
        return message

    async def send(self, message: Message) -> None:
        if self.refused:
            return  # the app's error page for BodyTooLarge; the Guard answers instead
        self.started = True
        await self._send(message)


class Guard:
    """ASGI middleware enforcing Host, Origin, token, role and body-size rules."""

    def __init__(
        self,
        app: ASGIApp,
        bind_host: str,
        people: People,
        max_body_bytes: int = 2 * 1024 * 1024,
    ) -> None:
        self.app = app
        self.allowed = set(LOOPBACK_NAMES) | {bind_host.lower().strip("[]")}
        self.people = people
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        problem = self._problem(scope)
        if problem is None and scope["path"] not in OPEN_PATHS:
            person, problem = await self._person(scope)
            scope[PERSON_KEY] = person
        if problem is not None:
            if problem[0] == 401 and not scope["path"].startswith("/api/"):
                await RedirectResponse("/signin", status_code=303)(scope, receive, send)
                return
            await _refuse(scope, receive, send, *problem)
            return
        exchange = _Exchange(receive, send, self.max_body_bytes)
        try:
            await self.app(scope, exchange.receive, exchange.send)
        except BodyTooLarge:
            if not exchange.started:
                await _refuse(scope, receive, send, *self._too_large())

    def _too_large(self) -> tuple[int, str]:
        return 413, f"the request body is over the {self.max_body_bytes} bytes this server accepts"

    def _problem(self, scope: Scope) -> tuple[int, str] | None:
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        if _hostname(headers.get("host", "")) not in self.allowed:
            return 421, "Host header does not name this tether server"
        origin = headers.get("origin")
        if origin is not None and not self._own_origin(scope, origin, headers.get("host", "")):
            return 403, f"cross-origin requests are refused (Origin {origin[:100]!r})"
        if scope["method"] not in SAFE_METHODS and headers.get("sec-fetch-site") in (
            "cross-site",
            "same-site",
        ):
            return 403, "cross-site writes are refused"
        return self._declared_length(headers.get("content-length"))

    def _own_origin(self, scope: Scope, origin: str, host: str) -> bool:
        """Scheme, host and port all equal this server's: another port is another site.

        The port is the one bound, or the one the browser asked for in Host (a
        forwarded port, e.g. a container's): a page elsewhere has neither.
        """
        scheme = scope.get("scheme", "http")
        try:
            parts = urlsplit(origin)
            port = parts.port or DEFAULT_PORTS.get(parts.scheme)
            asked = urlsplit(f"//{host}").port or DEFAULT_PORTS.get(scheme)
        except ValueError:
            return False
        server = scope.get("server")
        own_ports = {asked, server[1] if server else None}
        return (
            parts.scheme == scheme
            and (parts.hostname or "") in self.allowed
            and port in own_ports
            and not parts.path.strip("/")
        )

    def _declared_length(self, value: str | None) -> tuple[int, str] | None:
        if value is None:
            return None
        if not value.strip().isdigit():
            return 400, "Content-Length must be a number of bytes"
        return self._too_large() if int(value) > self.max_body_bytes else None

    async def _person(self, scope: Scope) -> tuple[Person | None, tuple[int, str] | None]:
        """Who is asking (the owner on loopback without a token), and may they?"""
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        token = supplied_token(headers)
        if not token:
            if self.people.required:
                return None, (401, "missing token: send 'Authorization: Bearer <token>'")
            return self.people.owner, None
        person = await run_in_threadpool(self.people.identify, token)
        if person is None:
            return None, (401, "unknown or revoked token")
        needed = needed_role(scope["method"], scope["path"])
        if not person.role.allows(needed):
            return person, (403, f"{person.name} is a {person.role}; this needs {needed}")
        return person, None


async def _refuse(scope: Scope, receive: Receive, send: Send, status: int, message: str) -> None:
    """Answer at once and close: the rest of a refused body is never read."""
    response = JSONResponse({"error": message}, status_code=status, headers={"connection": "close"})
    await response(scope, receive, send)
