"""Request bodies: one JSON object, parsed so that no input can crash a handler.

The size is capped by the Guard (security.py) while the body streams in; here
the bytes become a dict or an InvalidInput that says what is wrong. Deeply
nested brackets exhaust the parser's recursion: that is the client's error
(400), never a 500.
"""

import json
from typing import Any

from starlette.requests import Request

from tether.errors import InvalidInput

JSON_TYPE = "application/json"


def parse_object(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except RecursionError as exc:
        raise InvalidInput("the request body is nested too deeply") from exc
    except ValueError as exc:
        raise InvalidInput("the request body is not valid JSON") from exc
    if not isinstance(value, dict):
        raise InvalidInput("the request body must be a JSON object")
    return value


async def read_object(request: Request) -> dict[str, Any]:
    """JSON bodies only: a form post from another site cannot reach a handler."""
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != JSON_TYPE:
        raise InvalidInput(f"send a JSON body with Content-Type: {JSON_TYPE}")
    return parse_object(await request.body())


def text_field(body: dict[str, Any], name: str, required: bool = False) -> str | None:
    """A string field of a body (absent: None, unless ``required``)."""
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"field {name!r} must be a string")
    return value
