"""Safe defaults for a server on a developer's laptop.

Loopback only unless told otherwise; the Host header must name this server
(DNS rebinding); a cross-site Origin is refused (CSRF from any web page the
developer visits); a bearer token is required whenever a token is configured,
which ``serve`` insists on for any non-loopback bind.
"""

import hmac
import ipaddress
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import urlsplit

from starlette.responses import JSONResponse

from tether.errors import DaemonError

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Any, Any], Awaitable[None]]
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
OPEN_PATHS = frozenset({"/api/health"})


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str) -> None:
    if not is_loopback(host) and not token:
        raise DaemonError(
            f"refusing to serve on {host} without a token: set [server] token in config.toml "
            "(or TETHER_SERVER_TOKEN) so that only you can reach your sessions"
        )


def _hostname(value: str) -> str:
    return (urlsplit(f"//{value}").hostname or "").lower()


class Guard:
    """ASGI middleware enforcing Host, Origin and token rules."""

    def __init__(self, app: ASGIApp, bind_host: str, token: str) -> None:
        self.app = app
        self.allowed = set(LOOPBACK_NAMES) | {bind_host.lower().strip("[]")}
        self.token = token

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        problem = self._problem(scope)
        if problem is not None:
            status, message = problem
            await JSONResponse({"error": message}, status_code=status)(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _problem(self, scope: Scope) -> tuple[int, str] | None:
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        if _hostname(headers.get("host", "")) not in self.allowed:
            return 421, "Host header does not name this tether server"
        origin = headers.get("origin")
        if origin is not None and _hostname(urlsplit(origin).netloc) not in self.allowed:
            return 403, "cross-origin requests are refused"
        if self.token and scope["path"] not in OPEN_PATHS and not self._authorized(headers):
            return 401, "missing or wrong token: send 'Authorization: Bearer <token>'"
        return None

    def _authorized(self, headers: dict[str, str]) -> bool:
        supplied = headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not supplied:
            cookies = dict(
                part.strip().split("=", 1)
                for part in headers.get("cookie", "").split(";")
                if "=" in part
            )
            supplied = cookies.get("tether_token", "")
        return bool(supplied) and hmac.compare_digest(supplied, self.token)
