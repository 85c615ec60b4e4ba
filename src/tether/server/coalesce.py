"""Identical reads in flight share one answer.

Sixty-four tabs on the overview, or a burst of retries after a reconnect, each
cost a full ledger read and render, and on a busy daemon they queue behind one
another (agent-orchestrator #1855). While one GET is being answered, an
identical one (same person, path and query) waits for that answer instead of
starting its own. A write this daemon commits after that answer began starts a
fresh one, so a page fetched after a post always shows the post; a write of
another process is seen as soon as the answer in flight is done, as if the
request had come a moment earlier.

Only reads named in ``PATHS`` are shared: never a stream, a blob, or the
session page (it carries a fresh idempotency key for its composer and marks
the session seen).
"""

import asyncio
import itertools
import re
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from tether.server.auth import PERSON_KEY

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
_ID = r"[^/]+"
PATHS = re.compile(
    "|".join(
        (
            r"/",
            r"/partials/rows",
            rf"/sessions/{_ID}/transcript",
            rf"/turns/{_ID}/card",
            r"/usage",
            r"/search",
            r"/api/sessions",
            rf"/api/sessions/{_ID}",
            rf"/api/sessions/{_ID}/events",
            rf"/api/turns/{_ID}",
            r"/api/usage",
            r"/api/projects",
        )
    )
)


@dataclass
class _Answer:
    """The messages of one response, recorded as the app sends them."""

    messages: list[Message] = field(default_factory=list)


class Coalesce:
    """ASGI middleware: identical GETs of ``PATHS`` in flight are answered once."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._ticks = itertools.count(1)
        self.generation = 0
        self.inflight: dict[tuple[object, ...], asyncio.Task[_Answer]] = {}

    def written(self) -> None:
        """A write committed (any thread): answers begun before it are not shared after it."""
        self.generation = next(self._ticks)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "GET"
            or not PATHS.fullmatch(scope["path"])
        ):
            await self.app(scope, receive, send)
            return
        person = scope.get(PERSON_KEY)
        key = (getattr(person, "name", None), scope["path"], scope["query_string"], self.generation)
        task = self.inflight.get(key)
        if task is None:
            task = asyncio.ensure_future(self._answer(dict(scope)))
            self.inflight[key] = task
            task.add_done_callback(lambda _: self.inflight.pop(key, None))
        answer = await asyncio.shield(task)
        for message in answer.messages:
            await send(message)

    async def _answer(self, scope: Scope) -> _Answer:
        """Run the app once, detached from any one client (its leaving cancels nothing)."""
        answer = _Answer()
        requested = False

        async def receive() -> Message:
            nonlocal requested
            if not requested:
                requested = True
                return {"type": "http.request", "body": b"", "more_body": False}
            return {"type": "http.disconnect"}

        async def record(message: Message) -> None:
            answer.messages.append(message)

        await self.app(scope, receive, record)
        return answer
