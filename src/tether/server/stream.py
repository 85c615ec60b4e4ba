"""``GET /api/stream``: the live channel, Server-Sent Events resumed from ``Last-Event-ID``.

Every message carries an ``id:`` (the change-feed position after it); a
browser that reconnects with that id gets every message it missed, once. A
``ping`` every few seconds, carrying the same id, lets the client tell a live
connection from a dead one. Reads only the ledger (invariant 4).
"""

import asyncio
from collections.abc import AsyncIterator

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from tether.errors import InvalidInput
from tether.ledger.changes import Cursor
from tether.server.feed import Batch, Feed, Message, Subscriber

HEARTBEAT_S = 10.0
RETRY_MS = 1000
HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}


def _position(request: Request) -> Cursor | None:
    raw = request.headers.get("last-event-id") or request.query_params.get("last_event_id")
    return Cursor.parse(raw) if raw else None


def _ping(cursor: Cursor) -> bytes:
    return f"id: {cursor}\nevent: ping\ndata: {{}}\n\n".encode()


class Stream:
    def __init__(self, feed: Feed) -> None:
        self.feed = feed

    async def serve(self, request: Request) -> Response:
        try:
            after = _position(request)
        except InvalidInput as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        subscriber, missed, position = self.feed.subscribe(after)
        if missed is None and after is not None:
            missed = await run_in_threadpool(self.feed.replay, after, position)
        body = self._events(subscriber, missed or [], after or position)
        return StreamingResponse(body, media_type="text/event-stream", headers=HEADERS)

    def status(self, request: Request) -> Response:
        """How many live channels this daemon holds (one per browser, whatever its tabs)."""
        return JSONResponse(
            {"subscribers": len(self.feed.subscribers), "position": str(self.feed.cursor)}
        )

    async def _events(
        self, subscriber: Subscriber, missed: list[Message], start: Cursor
    ) -> AsyncIterator[bytes]:
        cursor = start
        try:
            yield f"retry: {RETRY_MS}\n".encode() + _ping(cursor)
            for replayed in missed:
                cursor = replayed.cursor
                yield replayed.encode()
            while True:
                try:
                    async with asyncio.timeout(HEARTBEAT_S):
                        batch = await subscriber.queue.get()
                except TimeoutError:
                    if subscriber.dropped:
                        return
                    yield _ping(cursor)
                    continue
                if batch is None:
                    return
                chunk, cursor, ended = _drain(subscriber, batch, cursor)
                if chunk:
                    yield chunk
                if ended:
                    return
        finally:
            self.feed.unsubscribe(subscriber)


def _drain(subscriber: Subscriber, batch: Batch, cursor: Cursor) -> tuple[bytes, Cursor, bool]:
    """This batch and every one queued behind it as one write (a subscriber that fell
    behind catches up in one send, not one per message); True when the feed ended."""
    parts: list[bytes] = []
    queue = subscriber.queue
    taken: Batch | None = batch
    while taken is not None:
        messages = subscriber.take(taken)
        if messages[0].cursor.later_than(cursor):  # the usual case: all of it is new
            cursor = messages[-1].cursor
            parts.append(taken.wire)
        else:  # the batch overlaps what the replay sent
            for message in messages:
                if message.cursor.later_than(cursor):
                    cursor = message.cursor
                    parts.append(message.wire)
        if queue.empty():
            return b"".join(parts), cursor, False
        taken = queue.get_nowait()
    return b"".join(parts), cursor, True
