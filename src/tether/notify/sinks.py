"""Where a notice goes besides the browser: a webhook (JSON POST) and a command (argv).

Neither ever involves a shell: the webhook is one HTTP request with a
timeout; the command is an argv whose words have ``{field}`` placeholders
replaced by the notice's fields, which it also gets as ``TETHER_NOTICE_*``
environment variables and as JSON on stdin.
"""

import http.client
import json
import os
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from tether import __version__
from tether.errors import DeliveryError

FIELDS = (
    "tag",
    "kind",
    "what",
    "headline",
    "body",
    "reason",
    "session_id",
    "turn_id",
    "project",
    "agent",
    "title",
    "url",
    "at",
)
Deliver = Callable[[dict[str, Any]], None]


def webhook(url: str, timeout_s: float) -> Deliver:
    def deliver(notice: dict[str, Any]) -> None:
        request = urllib.request.Request(
            url,
            data=json.dumps(notice).encode(),
            method="POST",
            headers={"Content-Type": "application/json", "User-Agent": f"tether/{__version__}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as response:
                response.read(65536)
        except urllib.error.HTTPError as exc:
            raise DeliveryError(f"webhook answered HTTP {exc.code}") from exc
        except (urllib.error.URLError, OSError) as exc:
            raise DeliveryError(f"webhook unreachable: {getattr(exc, 'reason', exc)}") from exc
        except http.client.HTTPException as exc:  # a receiver that does not speak HTTP
            raise DeliveryError(f"webhook answered no HTTP: {exc!r}"[:300]) from exc

    return deliver


def fill(argv: tuple[str, ...], notice: dict[str, Any]) -> list[str]:
    """The argv with each ``{field}`` replaced inside its word (never re-split, never a shell)."""
    words = []
    for word in argv:
        for name in FIELDS:
            word = word.replace("{" + name + "}", str(notice.get(name) or ""))
        words.append(word)
    return words


def command(argv: tuple[str, ...], timeout_s: float) -> Deliver:
    def deliver(notice: dict[str, Any]) -> None:
        env = dict(os.environ)
        for name in FIELDS:
            env[f"TETHER_NOTICE_{name.upper()}"] = str(notice.get(name) or "")
        words = fill(argv, notice)
        try:
            done = subprocess.run(
                words,
                input=json.dumps(notice).encode(),
                env=env,
                capture_output=True,
                timeout=timeout_s,
                check=False,
                start_new_session=True,
            )
        except FileNotFoundError as exc:
            raise DeliveryError(f"notify command {words[0]!r} not found") from exc
        except subprocess.TimeoutExpired as exc:
            raise DeliveryError(f"notify command ran longer than {timeout_s:g}s") from exc
        except OSError as exc:
            raise DeliveryError(f"notify command {words[0]!r} cannot run: {exc}") from exc
        if done.returncode != 0:
            tail = done.stderr.decode("utf-8", "replace").strip()[-200:]
            raise DeliveryError(f"notify command exited with status {done.returncode}: {tail}")

    return deliver
