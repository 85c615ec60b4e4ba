"""Talking to this home's daemon, starting it in the background when none runs."""

import subprocess
import sys
import time
from typing import Any

import httpx

from tether.cli import output
from tether.config import Config
from tether.errors import Conflict, DaemonError, InvalidInput, NotFound, TetherError
from tether.server.daemon import DaemonInfo, running

START_TIMEOUT_S = 30.0
REQUEST_TIMEOUT_S = 60.0
_ERRORS: dict[int, type[TetherError]] = {400: InvalidInput, 404: NotFound, 409: Conflict}


def ensure_daemon(config: Config) -> DaemonInfo:
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
            output.errors.print(f"started the tether daemon at {info.url} (pid {info.pid})")
            return info
        if proc.poll() is not None:
            tail = log_path.read_text(errors="replace").strip().splitlines()[-3:]
            if not any("already serving" in line for line in tail):  # else another CLI won
                raise DaemonError(f"the daemon did not start: {' / '.join(tail)} (see {log_path})")
        time.sleep(0.05)
    raise DaemonError(f"the daemon did not answer within {START_TIMEOUT_S:g}s; see {log_path}")


class Client:
    def __init__(self, config: Config) -> None:
        self.info = ensure_daemon(config)
        headers = {"authorization": f"Bearer {config.server.token}"} if config.server.token else {}
        self.http = httpx.Client(base_url=self.info.url, headers=headers, timeout=REQUEST_TIMEOUT_S)

    def post(self, path: str, body: dict[str, Any], ok: tuple[int, ...] = ()) -> Any:
        try:
            response = self.http.post(path, json=body)
        except httpx.HTTPError as exc:
            raise DaemonError(f"cannot reach the daemon at {self.info.url}: {exc}") from exc
        data = response.json()
        if response.status_code >= 400 and response.status_code not in ok:
            error = _ERRORS.get(response.status_code, TetherError)
            raise error(data.get("error", f"HTTP {response.status_code}"))
        return data
