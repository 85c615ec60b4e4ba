"""Talking to this home's daemon, starting it in the background when none runs, or to the
team daemon named by ``[server] remote``.

Plain ``http.client``: a command answers at once, so the client costs no
import beyond the standard library. Every write carries an idempotency key
and is retried with that same key through a daemon restart (connection
refused or dropped, daemon gone), with a bounded backoff: a retried spawn or
send returns the turn the first attempt created, never a second one.
"""

import json
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any

from tether.errors import Conflict, DaemonError, InvalidInput, NotFound, TetherError
from tether.server.address import DaemonInfo, remote, running

if TYPE_CHECKING:
    import ssl

    from tether.config import Config

START_TIMEOUT_S = 30.0
REQUEST_TIMEOUT_S = 60.0
RETRY_FOR_S = 30.0  # a daemon restart takes a few seconds; give up after this
RETRY_FIRST_S = 0.1
RETRY_MAX_S = 2.0
_ERRORS: dict[int, type[TetherError]] = {
    400: InvalidInput,
    404: NotFound,
    409: Conflict,
    413: InvalidInput,
}


def ensure_daemon(config: "Config") -> DaemonInfo:
    if config.server.remote:
        return remote(config.server.remote)  # never started from here
    info = running(config.home)
    if info is not None:
        return info
    config.home.mkdir(parents=True, exist_ok=True)
    log_path = config.home / "daemon.log"
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tether.cli.main", "serve"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        info = running(config.home)
        if info is not None:
            print(f"started the tether daemon at {info.url} (pid {info.pid})", file=sys.stderr)
            return info
        if proc.poll() is not None:
            tail = log_path.read_text(errors="replace").strip().splitlines()[-3:]
            if not any("already serving" in line for line in tail):  # else another CLI won
                raise DaemonError(f"the daemon did not start: {' / '.join(tail)} (see {log_path})")
        time.sleep(0.05)
    raise DaemonError(f"the daemon did not answer within {START_TIMEOUT_S:g}s; see {log_path}")


class Client:
    """One command's conversation with the daemon; ``info`` None means none is running."""

    def __init__(self, config: "Config", info: DaemonInfo | None = None) -> None:
        self.config = config
        self.info = info or ensure_daemon(config)
        self.headers = {"accept": "application/json"}
        if config.server.token:
            self.headers["authorization"] = f"Bearer {config.server.token}"

    def get(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        from urllib.parse import urlencode

        query = {k: v for k, v in (params or {}).items() if v is not None}
        target = f"{path}?{urlencode(query)}" if query else path
        data = self._retrying("GET", target, None, (), repeatable=True)
        if not isinstance(data, dict):
            raise DaemonError(f"the daemon answered GET {target} with no JSON object")
        return data

    def post(
        self, path: str, body: dict[str, Any], ok: tuple[int, ...] = (), repeatable: bool = False
    ) -> Any:
        """``repeatable``: the daemon answers a repeated request as the first (a key, a cancel),
        so it is retried even when the first may have arrived; otherwise only a refused
        connection, which the daemon never saw, is retried."""
        return self._retrying("POST", path, json.dumps(body).encode(), ok, repeatable)

    def _retrying(
        self, method: str, target: str, body: bytes | None, ok: tuple[int, ...], repeatable: bool
    ) -> Any:
        import ssl
        from http.client import HTTPException

        deadline = time.monotonic() + RETRY_FOR_S
        pause = RETRY_FIRST_S
        while True:
            try:
                status, data = self._once(method, target, body)
                break
            except (OSError, HTTPException) as exc:
                unseen = isinstance(exc, ConnectionRefusedError)
                untrusted = isinstance(exc, ssl.SSLError)  # retrying will not change the answer
                if untrusted or not (repeatable or unseen) or time.monotonic() + pause > deadline:
                    raise DaemonError(
                        f"cannot reach the daemon at {self.info.url}: {exc}; {self._hint()}"
                    ) from exc
            time.sleep(pause)
            pause = min(pause * 2, RETRY_MAX_S)
            self.info = ensure_daemon(self.config)  # restarted: maybe on another port
        if status >= 400 and status not in ok:
            message = data.get("error") if isinstance(data, dict) else None
            raise _ERRORS.get(status, TetherError)(message or f"HTTP {status}")
        return data

    def _hint(self) -> str:
        if self.config.server.remote:
            return "check server.remote and server.remote_ca (TETHER_SERVER_REMOTE, _REMOTE_CA)"
        return f"tried for {RETRY_FOR_S:g}s; see {self.config.home / 'daemon.log'}"

    def _tls(self) -> "ssl.SSLContext":
        """Trust exactly this home's own certificate: the daemon is reached on its bind
        address, which the certificate (made for the team's name) need not carry. A remote
        daemon is reached by its name: the certificate must carry it (checked as browsers do),
        and be ``remote_ca`` or signed by it, else by one of the system's authorities."""
        import ssl

        server = self.config.server
        trusted = (server.remote_ca if server.remote else server.tls_cert) or None
        context = ssl.create_default_context(cafile=trusted)
        context.check_hostname = bool(server.remote)
        context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
        return context

    def _once(self, method: str, target: str, body: bytes | None) -> tuple[int, Any]:
        import http.client

        conn: http.client.HTTPConnection
        if self.info.scheme == "https":
            conn = http.client.HTTPSConnection(
                self.info.host, self.info.port, timeout=REQUEST_TIMEOUT_S, context=self._tls()
            )
        else:
            conn = http.client.HTTPConnection(
                self.info.host, self.info.port, timeout=REQUEST_TIMEOUT_S
            )
        headers = dict(self.headers)
        if body is not None:
            headers["content-type"] = "application/json"
        try:
            conn.request(method, target, body=body, headers=headers)
            response = conn.getresponse()
            raw = response.read()
        finally:
            conn.close()
        try:
            return response.status, json.loads(raw)
        except ValueError as exc:
            raise DaemonError(
                f"the daemon at {self.info.url} answered {method} {target} with "
                f"HTTP {response.status} and no JSON"
            ) from exc
