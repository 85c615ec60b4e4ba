"""Claude Code (``claude -p --output-format stream-json --verbose``).

Stream (checked against @anthropic-ai/claude-code 2.1.197)::

    {"type":"system","subtype":"init","session_id":..,"model":..}  -> NATIVE_ID (+model)
    {"type":"assistant","message":{"content":[text|thinking|tool_use]},"session_id":..}
    {"type":"user","message":{"content":[tool_result]}}            -> TOOL_RESULT
    {"type":"system","subtype":"api_retry",..}                      -> ERROR (non-fatal)
    {"type":"result","subtype":..,"is_error":..,"usage":{..}}       -> USAGE (+ERROR), outcome

A full thread (recorded with 2.1.197, tests/data/recorded/claude/context/)::

    {"type":"system","subtype":"status","status":"compacting"}           -> STATUS
    {"type":"system","subtype":"status","compact_result":"failed",..}    -> ERROR (non-fatal)
    {"type":"system","subtype":"compact_boundary","compact_metadata":..} -> STATUS
    {"type":"result","subtype":"success","is_error":true,
     "result":"Prompt is too long"}                                      -> ERROR, FAILED

each carrying its ``ContextSignal``. Fill: the last assistant message's
``input_tokens + cache_creation_input_tokens + cache_read_input_tokens``;
the window is ``result.modelUsage[model].contextWindow``.

Hook lines may come before ``init``; every line that carries ``session_id``
can reveal the native id, which is reported once. ``is_error: true`` can come
with ``subtype: "success"`` (seen when the API is unreachable): the turn
FAILS whenever ``is_error`` is true or the subtype is not ``success``.

Usage: final figures come from ``result.usage`` (this run only); the usage on
streamed assistant lines is the message_start snapshot and is ignored.
Anthropic's convention is kept: ``input_tokens`` EXCLUDES cache reads
(``cached_input_tokens``) and cache writes (``cache_write_tokens``);
``output_tokens`` INCLUDES thinking, so ``reasoning_tokens`` stays 0.
``total_cost_usd`` is cumulative for the session and is passed on as
``data["session_cost_usd"]``.
"""

from __future__ import annotations

import dataclasses
import os
import uuid
from typing import Any

from tether.agents.jsonl import (
    UUID_RE,
    TurnTracker,
    as_dict,
    as_int,
    as_list,
    as_str,
    executable,
    input_preview,
    option_str,
    read_line,
    require_native_id,
    tool_data,
)
from tether.agents.provider import Launch, TurnRequest
from tether.domain.records import EventKind, Usage
from tether.domain.stream import ContextFill, ContextSignal, Outcome, StreamEvent
from tether.errors import ProviderError

__all__ = ["DEFAULT_ALLOWED_TOOLS", "USAGE_CONVENTION", "ClaudeParser", "ClaudeProvider"]

USAGE_CONVENTION = {"input_includes_cached": False, "output_includes_reasoning": True}
DEFAULT_PERMISSION_MODE = "acceptEdits"
DEFAULT_ALLOWED_TOOLS = ("Bash", "Edit", "Write", "Read")
PERMISSION_MODES = ("default", "acceptEdits", "plan", "bypassPermissions", "dontAsk", "auto")
SYNTHETIC_MODEL = "<synthetic>"  # Claude's placeholder on locally made error messages
OVERFLOW_TEXT = "prompt is too long"

Record = dict[str, Any]


class ClaudeParser:
    """Turns Claude Code stream-json lines into tether events; one per turn."""

    def __init__(self) -> None:
        self._turn = TurnTracker()

    def feed(self, line: bytes) -> list[StreamEvent]:
        record, errors = read_line(line)
        if record is None:
            return errors
        events = self._turn.native_id(record.get("session_id"))
        handler = _HANDLERS.get(as_str(record.get("type")) or "")
        if handler:
            events += handler(self, record)
        return self._turn.stamp(events)

    def _system(self, record: Record) -> list[StreamEvent]:
        subtype = as_str(record.get("subtype"))
        if subtype == "init":
            self._turn.announce_model(record.get("model"))
            return []
        if subtype == "api_retry":
            return [_retry(record)]
        if subtype == "status":
            return _status(record)
        if subtype == "compact_boundary":
            meta = as_dict(record.get("compact_metadata"))
            text = f"compacted ({as_str(meta.get('trigger')) or 'auto'})"
            data = {"pre_tokens": as_int(meta.get("pre_tokens"))}
            return [StreamEvent(EventKind.STATUS, text, data, context=ContextSignal.COMPACTED)]
        return []

    def _assistant(self, record: Record) -> list[StreamEvent]:
        message = as_dict(record.get("message"))
        blocks = [as_dict(block) for block in as_list(message.get("content"))]
        if record.get("error"):  # a message Claude made up to report an API error
            text = "\n".join(as_str(b.get("text")) or "" for b in blocks)
            return [StreamEvent(EventKind.ERROR, text=text, data={"fatal": False})]
        events = [event for block in blocks for event in _assistant_block(block)]
        if as_str(message.get("model")) == SYNTHETIC_MODEL or "usage" not in message:
            return events
        fill = _fill(as_dict(message["usage"]))
        if not events:
            return [StreamEvent(EventKind.USAGE, fill=fill)]
        return [dataclasses.replace(events[0], fill=fill), *events[1:]]

    def _user(self, record: Record) -> list[StreamEvent]:
        message = as_dict(record.get("message"))
        blocks = [as_dict(block) for block in as_list(message.get("content"))]
        return [_tool_result(b) for b in blocks if b.get("type") == "tool_result"]

    def _result(self, record: Record) -> list[StreamEvent]:
        usage = _result_usage(record)
        subtype = as_str(record.get("subtype")) or "unknown"
        if record.get("is_error") is not True and subtype == "success":
            return [self._turn.end(usage, Outcome.COMPLETED)]
        text = _result_error(record, subtype)
        context = ContextSignal.OVERFLOW if OVERFLOW_TEXT in text.lower() else None
        data = {"fatal": True, "subtype": subtype}
        error = StreamEvent(EventKind.ERROR, text=text, data=data, context=context)
        return [usage, self._turn.end(error, Outcome.FAILED)]


_HANDLERS = {
    "system": ClaudeParser._system,
    "assistant": ClaudeParser._assistant,
    "user": ClaudeParser._user,
    "result": ClaudeParser._result,
}


def claude_usage(usage: Record) -> Usage:
    return Usage(
        input_tokens=as_int(usage.get("input_tokens")),
        cached_input_tokens=as_int(usage.get("cache_read_input_tokens")),
        cache_write_tokens=as_int(usage.get("cache_creation_input_tokens")),
        output_tokens=as_int(usage.get("output_tokens")),
    )


def _fill(usage: Record) -> ContextFill:
    keys = ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
    return ContextFill(tokens=sum(as_int(usage.get(key)) for key in keys))


def _status(record: Record) -> list[StreamEvent]:
    if record.get("status") == "compacting":
        return [StreamEvent(EventKind.STATUS, "compacting", context=ContextSignal.COMPACTING)]
    if record.get("compact_result") == "failed":
        text = f"compaction failed: {as_str(record.get('compact_error')) or 'no reason given'}"
        data = {"fatal": False}
        return [StreamEvent(EventKind.ERROR, text, data, context=ContextSignal.COMPACTION_FAILED)]
    return []


def _window(record: Record) -> int | None:
    """The largest ``contextWindow`` among the models of this run (the main model's)."""
    models = as_dict(record.get("modelUsage")).values()
    windows = [as_int(as_dict(m).get("contextWindow")) for m in models]
    return max(windows, default=0) or None


def _assistant_block(block: Record) -> list[StreamEvent]:
    kind = as_str(block.get("type"))
    if kind == "text":
        return [StreamEvent(EventKind.MESSAGE, text=as_str(block.get("text")) or "")]
    if kind == "thinking":
        return [StreamEvent(EventKind.REASONING, text=as_str(block.get("thinking")) or "")]
    if kind == "tool_use":
        return [_tool_call(block)]
    return []


def _tool_call(block: Record) -> StreamEvent:
    tool_input = as_dict(block.get("input"))
    shown = tool_input.get("command", tool_input.get("file_path", tool_input))
    preview = input_preview(shown)
    data = tool_data(as_str(block.get("name")), as_str(block.get("id")), input=preview)
    return StreamEvent(EventKind.TOOL_CALL, text=input_preview(tool_input), data=data)


def _tool_result(block: Record) -> StreamEvent:
    status = "error" if block.get("is_error") is True else "ok"
    data = tool_data(None, as_str(block.get("tool_use_id")), status=status)
    return StreamEvent(EventKind.TOOL_RESULT, text=_content_text(block.get("content")), data=data)


def _content_text(content: object) -> str:
    if isinstance(content, str):
        return content
    parts = [as_dict(part) for part in as_list(content)]
    return "\n".join(as_str(p.get("text")) or "" for p in parts if p.get("type") == "text")


def _retry(record: Record) -> StreamEvent:
    attempt, limit = record.get("attempt"), record.get("max_retries")
    error = as_str(record.get("error")) or input_preview(record.get("error_status"))
    text = f"Claude API retry {attempt}/{limit}: {error}".rstrip(": ")
    return StreamEvent(EventKind.ERROR, text=text, data={"fatal": False, "retry": True})


def _result_error(record: Record, subtype: str) -> str:
    text = as_str(record.get("result"))
    if text:
        return text
    errors = [as_str(e) or input_preview(e) for e in as_list(record.get("errors"))]
    return "; ".join(errors) if errors else f"Claude ended the turn with {subtype}"


def _result_usage(record: Record) -> StreamEvent:
    data: dict[str, object] = dict(USAGE_CONVENTION)
    cost = record.get("total_cost_usd")
    if isinstance(cost, int | float) and not isinstance(cost, bool):
        data["session_cost_usd"] = cost
    usage = claude_usage(as_dict(record.get("usage")))
    window = _window(record)
    fill = ContextFill(window=window) if window else None
    return StreamEvent(EventKind.USAGE, usage=usage, data=data, fill=fill)


class ClaudeProvider:
    """``claude -p``; tether pre-assigns the session id (a uuid4) on new turns.

    Permissions: headless Claude cannot ask, so the default is
    ``--permission-mode acceptEdits --allowedTools=Bash,Edit,Write,Read``,
    which works as root and as non-root (``--dangerously-skip-permissions`` /
    ``bypassPermissions`` is refused as root unless ``IS_SANDBOX=1``).
    Options: ``permission_mode``, ``allowed_tools`` (list or comma string;
    empty to pass none), ``command``.
    """

    name = "claude"
    resumable = True

    def new_turn(self, request: TurnRequest) -> Launch:
        native = request.native_id or str(uuid.uuid4())
        if not UUID_RE.fullmatch(native):
            raise ProviderError(f"claude needs a UUID session id, not {native!r}")
        argv = [*self._print(request, f"--session-id={native}"), "--", request.prompt]
        return Launch(argv=tuple(argv), cwd=request.workspace, native_id=native)

    def resume_turn(self, request: TurnRequest) -> Launch:
        native = require_native_id(request, self.name, UUID_RE)
        argv = [*self._print(request, f"--resume={native}"), "--", request.prompt]
        return Launch(argv=tuple(argv), cwd=request.workspace, native_id=native)

    def interactive(self, request: TurnRequest) -> Launch:
        native = require_native_id(request, self.name, UUID_RE)
        argv = (executable(request, "claude"), f"--resume={native}")
        return Launch(argv=argv, cwd=request.workspace, native_id=native)

    def parser(self) -> ClaudeParser:
        return ClaudeParser()

    def _print(self, request: TurnRequest, session_flag: str) -> list[str]:
        exe = executable(request, "claude")
        argv = [exe, "-p", session_flag, "--output-format", "stream-json", "--verbose"]
        argv += _permissions(request)
        if request.model:
            argv.append(f"--model={request.model}")
        return argv


def _permissions(request: TurnRequest) -> list[str]:
    mode = option_str(request, "permission_mode", DEFAULT_PERMISSION_MODE, PERMISSION_MODES)
    if mode == "bypassPermissions" and _root_without_sandbox():
        raise ProviderError(
            "claude refuses bypassPermissions as root unless IS_SANDBOX=1 is set; "
            "use permission_mode acceptEdits with allowed_tools instead"
        )
    argv = [f"--permission-mode={mode}"]
    tools = _allowed_tools(request)
    # `--allowedTools` takes a variadic list: the `=` form keeps it from eating the prompt.
    return [*argv, f"--allowedTools={','.join(tools)}"] if tools else argv


def _allowed_tools(request: TurnRequest) -> list[str]:
    value = request.options.get("allowed_tools", DEFAULT_ALLOWED_TOOLS)
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list | tuple) or not all(isinstance(t, str) for t in value):
        raise ProviderError(f"option 'allowed_tools' must be a list of tool names, not {value!r}")
    return [tool.strip() for tool in value if tool.strip()]


def _root_without_sandbox() -> bool:
    return os.geteuid() == 0 and os.environ.get("IS_SANDBOX") != "1"
