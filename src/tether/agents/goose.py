"""goose (``goose run --output-format stream-json``), from documented formats.

goose has no npm or PyPI package, so nothing here was run against a real
binary. Assumed from goose's source (``goose-cli/src/session/mod.rs``) and
docs: snake_case top-level events, camelCase message content::

    {"type":"message","message":{"id","role","created","content":[...]}}
        content: text{text} -> MESSAGE (assistant only), thinking{thinking}
        -> REASONING, toolRequest{id, toolCall:{status, value:{name, arguments}}}
        -> TOOL_CALL, toolResponse{id, toolResult:{status, value:[{type:text,text}]}}
        -> TOOL_RESULT
    {"type":"notification","extension_id",...}          -> nothing
    {"type":"error","error":"<string>"}                 -> ERROR, FAILED
    {"type":"complete","total_tokens","input_tokens","output_tokens"}
                                                        -> USAGE, COMPLETED

The stream carries no session id: tether pre-assigns the session NAME
(``--name``) and reports it as ``Launch.native_id``; this parser never emits
NATIVE_ID. ``complete`` may follow an ``error``; the error already ended the
turn as failed. ``complete`` token counts come from goose's stored session
usage, so they are treated as CUMULATIVE for the session; goose reports no
cache or reasoning split (whether input includes cached reads depends on the
model provider behind goose).
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from tether.agents.jsonl import (
    TurnTracker,
    as_dict,
    as_int,
    as_list,
    as_str,
    executable,
    input_preview,
    option_bool,
    option_str,
    read_line,
    require_native_id,
    tool_data,
)
from tether.agents.provider import Launch, TurnRequest
from tether.domain.records import EventKind, Usage
from tether.domain.stream import Outcome, StreamEvent
from tether.errors import ProviderError

__all__ = ["GooseParser", "GooseProvider", "session_name"]

USAGE_CONVENTION = {"input_includes_cached": None, "output_includes_reasoning": None}
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
SESSION_ID_RE = re.compile(r"\d{8}_\d+")  # goose's own session ids, e.g. 20250310_1
GOOSE_MODES = ("auto", "approve", "smart_approve", "chat")

Record = dict[str, Any]


class GooseParser:
    """Turns goose stream-json lines into tether events; one per turn."""

    def __init__(self) -> None:
        self._turn = TurnTracker()

    def feed(self, line: bytes) -> list[StreamEvent]:
        record, errors = read_line(line)
        if record is None:
            return errors
        kind = as_str(record.get("type"))
        if kind == "message":
            return _message(as_dict(record.get("message")))
        if kind == "error":
            text = as_str(record.get("error")) or input_preview(record.get("error"))
            text = text or "goose reported an error"
            event = StreamEvent(EventKind.ERROR, text=text, data={"fatal": True})
            return [self._turn.end(event, Outcome.FAILED)]
        if kind == "complete":
            return [self._turn.end(_usage(record), Outcome.COMPLETED)]
        return []


def _usage(record: Record) -> StreamEvent:
    usage = Usage(
        input_tokens=as_int(record.get("input_tokens")),
        output_tokens=as_int(record.get("output_tokens")),
    )
    data: dict[str, object] = dict(USAGE_CONVENTION)
    data["total_tokens"] = as_int(record.get("total_tokens"))
    return StreamEvent(EventKind.USAGE, usage=usage, usage_is_cumulative=True, data=data)


def _message(message: Record) -> list[StreamEvent]:
    assistant = as_str(message.get("role")) == "assistant"
    events: list[StreamEvent] = []
    for item in as_list(message.get("content")):
        events += _content(as_dict(item), assistant)
    return events


def _content(item: Record, assistant: bool) -> list[StreamEvent]:
    kind = as_str(item.get("type"))
    if kind == "text" and assistant:  # user text is the prompt echoed back
        return [StreamEvent(EventKind.MESSAGE, text=as_str(item.get("text")) or "")]
    if kind == "thinking":
        return [StreamEvent(EventKind.REASONING, text=as_str(item.get("thinking")) or "")]
    if kind == "toolRequest":
        return [_tool_request(item)]
    if kind == "toolResponse":
        return [_tool_response(item)]
    return []


def _tool_request(item: Record) -> StreamEvent:
    call = as_dict(item.get("toolCall"))
    value = as_dict(call.get("value"))
    arguments = value.get("arguments")
    shown = input_preview(as_dict(arguments).get("command", arguments))
    data = tool_data(as_str(value.get("name")), as_str(item.get("id")), input=shown)
    return StreamEvent(EventKind.TOOL_CALL, text=input_preview(arguments), data=data)


def _tool_response(item: Record) -> StreamEvent:
    result = as_dict(item.get("toolResult"))
    status = as_str(result.get("status"))
    parts = [as_dict(part) for part in as_list(result.get("value"))]
    text = "\n".join(as_str(p.get("text")) or "" for p in parts if p.get("type") == "text")
    if not text and status == "error":
        text = as_str(result.get("error")) or input_preview(result.get("error"))
    data = tool_data(None, as_str(item.get("id")), status=status)
    return StreamEvent(EventKind.TOOL_RESULT, text=text, data=data)


def session_name(session_id: str) -> str:
    """A goose session name tether chooses, unique per tether session."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "-", session_id)[:64]
    return f"tether-{safe}-{uuid.uuid4().hex[:12]}"


class GooseProvider:
    """``goose run``; tether pre-assigns the session name as the native id.

    Assumed flags (not verified against a binary): ``--quiet`` keeps goose's
    banner off stdout (option ``quiet``, default true); ``--text=<prompt>``
    (the ``=`` form keeps a prompt starting with ``-`` a value);
    ``--resume --name <name>`` resumes that exact session, and a goose session
    id (``YYYYMMDD_N``) resumes with ``--session-id``. Permissions: goose's
    ``GOOSE_MODE`` env, default ``auto`` (headless goose cannot ask; option
    ``goose_mode``). Options also: ``command``.
    """

    name = "goose"
    resumable = True

    def new_turn(self, request: TurnRequest) -> Launch:
        native = request.native_id or session_name(request.session_id)
        if not NAME_RE.fullmatch(native):
            raise ProviderError(f"goose session name {native!r} has unsafe characters")
        argv = [*self._run(request), f"--name={native}", f"--text={request.prompt}"]
        return self._launch(request, argv, native)

    def resume_turn(self, request: TurnRequest) -> Launch:
        native = _native(request)
        argv = [*self._run(request), "--resume", _identify(native), f"--text={request.prompt}"]
        return self._launch(request, argv, native)

    def interactive(self, request: TurnRequest) -> Launch:
        native = _native(request)
        argv = [executable(request, "goose"), "session", "--resume", _identify(native)]
        return self._launch(request, argv, native)

    def parser(self) -> GooseParser:
        return GooseParser()

    def _run(self, request: TurnRequest) -> list[str]:
        argv = [executable(request, "goose"), "run"]
        if option_bool(request, "quiet", True):
            argv.append("--quiet")
        argv += ["--output-format", "stream-json"]
        if request.model:
            argv.append(f"--model={request.model}")
        return argv

    def _launch(self, request: TurnRequest, argv: list[str], native: str) -> Launch:
        mode = option_str(request, "goose_mode", "auto", GOOSE_MODES)
        env = {"GOOSE_MODE": mode}
        return Launch(argv=tuple(argv), cwd=request.workspace, env=env, native_id=native)


def _native(request: TurnRequest) -> str:
    return require_native_id(request, "goose", NAME_RE)


def _identify(native: str) -> str:
    if SESSION_ID_RE.fullmatch(native):
        return f"--session-id={native}"
    return f"--name={native}"
