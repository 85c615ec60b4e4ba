"""Helpers shared by the provider modules.

Two halves:

* reading an agent's stdout JSONL defensively (a line that is not JSON, not
  an object, or has fields of the wrong type never raises), plus the small
  bookkeeping every parser needs (native id reported once, one outcome per
  turn, a model announced before the first event that can carry it);
* building launches: the executable (overridable through
  ``options["command"]``), option lookups, and refusing a resume whose native
  id is missing or malformed (invariant 3: resume by exact id or refuse).
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterable
from typing import Any

from tether.agents.provider import TurnRequest
from tether.domain.records import EventKind
from tether.domain.stream import Outcome, StreamEvent
from tether.errors import ProviderError

__all__ = [
    "PREVIEW_CHARS",
    "UUID_RE",
    "TurnTracker",
    "as_dict",
    "as_int",
    "as_list",
    "as_str",
    "bad_line",
    "executable",
    "input_preview",
    "option_bool",
    "option_str",
    "preview",
    "read_line",
    "require_native_id",
    "tool_data",
]

PREVIEW_CHARS = 200
UUID_RE = re.compile(r"[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")

Record = dict[str, Any]


# --- reading lines ---------------------------------------------------------


def preview(text: str, limit: int = PREVIEW_CHARS) -> str:
    return text if len(text) <= limit else text[:limit]


def bad_line(line: bytes, reason: str) -> StreamEvent:
    """A non-fatal ERROR for a line tether could not read."""
    raw = line.decode("utf-8", errors="replace")
    return StreamEvent(
        EventKind.ERROR,
        text=f"unreadable line from the agent ({reason})",
        data={"raw_preview": preview(raw), "fatal": False},
    )


def read_line(line: bytes) -> tuple[Record | None, list[StreamEvent]]:
    """Decode one stdout line: (the JSON object, []) or (None, [error event]).

    Blank lines give (None, []). Never raises.
    """
    if not line.strip():
        return None, []
    try:
        value = json.loads(line)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return None, [bad_line(line, "not JSON")]
    if not isinstance(value, dict):
        return None, [bad_line(line, "not a JSON object")]
    return value, []


def as_str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def as_int(value: object) -> int:
    """A token count: ints and finite floats count, anything else is 0."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return max(value, 0)
    if isinstance(value, float) and value == value and abs(value) != float("inf"):
        return max(int(value), 0)
    return 0


def as_dict(value: object) -> Record:
    return value if isinstance(value, dict) else {}


def as_list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def input_preview(value: object) -> str:
    """A short, readable preview of a tool's input (a string or any JSON)."""
    if isinstance(value, str):
        return preview(value)
    try:
        return preview(json.dumps(value, ensure_ascii=False, default=str))
    except (ValueError, TypeError, RecursionError):
        return ""


def tool_data(
    tool: str | None,
    call_id: str | None,
    *,
    input: str | None = None,
    exit_code: object = None,
    status: str | None = None,
) -> dict[str, object]:
    """The small dict a TOOL_CALL / TOOL_RESULT event carries; empty fields left out."""
    data: dict[str, object] = {}
    if tool:
        data["tool"] = tool
    if call_id:
        data["call_id"] = call_id
    if input:
        data["input"] = input
    if isinstance(exit_code, int) and not isinstance(exit_code, bool):
        data["exit_code"] = exit_code
    if status:
        data["status"] = status
    return data


class TurnTracker:
    """Per-turn bookkeeping every parser shares.

    * ``native_id(candidate)``: one NATIVE_ID event, the first time a
      non-empty string id is seen; later ids are ignored.
    * ``end(event)``: stamps the outcome; only the first end of a turn carries
      one, later ends come back without it (one outcome per turn).
    * ``announce_model(name)``: the model rides on the next event emitted.
    """

    def __init__(self) -> None:
        self.native: str | None = None
        self.outcome: Outcome | None = None
        self._model: str | None = None

    def native_id(self, candidate: object) -> list[StreamEvent]:
        if self.native is not None or not isinstance(candidate, str) or not candidate:
            return []
        self.native = candidate
        return [StreamEvent(EventKind.NATIVE_ID, text=candidate, native_id=candidate)]

    def end(self, event: StreamEvent, outcome: Outcome) -> StreamEvent:
        if self.outcome is not None:
            return event
        self.outcome = outcome
        return dataclasses.replace(event, outcome=outcome)

    def announce_model(self, model: object) -> None:
        if isinstance(model, str) and model:
            self._model = model

    def stamp(self, events: list[StreamEvent]) -> list[StreamEvent]:
        """Attach a pending model to the first event of a batch."""
        if self._model is None or not events:
            return events
        first = dataclasses.replace(events[0], model=self._model)
        self._model = None
        return [first, *events[1:]]


# --- building launches -----------------------------------------------------


def executable(request: TurnRequest, default: str) -> str:
    """``options["command"]`` (a path or name) or the provider's default binary."""
    command = request.options.get("command")
    if command is None:
        return default
    if not isinstance(command, str) or not command.strip():
        raise ProviderError(f"option 'command' for {default} must be a non-empty path")
    return command


def option_str(request: TurnRequest, key: str, default: str, allowed: Iterable[str] = ()) -> str:
    value = request.options.get(key, default)
    choices = tuple(allowed)
    if not isinstance(value, str) or (choices and value not in choices):
        expected = " / ".join(choices) if choices else "a string"
        raise ProviderError(f"option {key!r} must be {expected}, not {value!r}")
    return value


def option_bool(request: TurnRequest, key: str, default: bool) -> bool:
    value = request.options.get(key, default)
    if not isinstance(value, bool):
        raise ProviderError(f"option {key!r} must be true or false, not {value!r}")
    return value


def require_native_id(request: TurnRequest, agent: str, pattern: re.Pattern[str]) -> str:
    """The exact native id to resume, or a ProviderError (never a --last fallback)."""
    native = request.native_id
    if native is None:
        raise ProviderError(
            f"cannot resume {agent} session {request.session_id}: its native id was never "
            "captured; tether resumes only by exact id (start a new session instead)"
        )
    if not pattern.fullmatch(native):
        raise ProviderError(
            f"cannot resume {agent} session {request.session_id}: native id {native!r} "
            f"is not a valid {agent} id"
        )
    return native
