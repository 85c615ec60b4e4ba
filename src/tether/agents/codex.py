"""Codex (``codex exec --json``): launches and the stdout stream parser.

Stream (AGENT_CLIS.md, checked against @openai/codex 0.169.0)::

    {"type":"thread.started","thread_id":"<uuid v7>"}      -> NATIVE_ID
    {"type":"turn.started"}
    {"type":"item.started|item.updated|item.completed","item":{...}}
    {"type":"turn.completed","usage":{...}}                 -> USAGE, COMPLETED
    {"type":"turn.failed","error":{"message":...}}          -> ERROR, FAILED
    {"type":"error","message":...}                          -> ERROR, FAILED

A full thread (recorded with 0.169.0, tests/data/recorded/codex/context/):
``error`` and ``turn.failed`` say "Codex ran out of room in the model's
context window. …" (the structured ``context_length_exceeded`` code is not in
``exec --json``); a failed compaction reads "Error running remote compact
task: …". Auto-compaction itself leaves no trace in the stream (the rollout
gets a ``compacted`` record).

A failed turn prints ``error`` and then ``turn.failed`` with the same message;
the first one ends the turn and the repeat is dropped. ``Reconnecting...``
notices are retries, not failures.

Usage: ``turn.completed.usage`` is CUMULATIVE for the thread
(``usage_is_cumulative=True``); the engine takes the difference. Codex's own
convention is kept: ``input_tokens`` INCLUDES ``cached_input_tokens`` and
``output_tokens`` INCLUDES ``reasoning_tokens``. ``exec --json`` does not
name the model (the rollout's ``turn_context`` does).
"""

from __future__ import annotations

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
from tether.domain.stream import ContextSignal, Outcome, StreamEvent
from tether.errors import ProviderError

__all__ = ["USAGE_CONVENTION", "CodexParser", "CodexProvider"]

USAGE_CONVENTION = {"input_includes_cached": True, "output_includes_reasoning": True}
SANDBOXES = ("read-only", "workspace-write", "danger-full-access")
DEFAULT_SANDBOX = "workspace-write"
RETRY_PREFIX = "Reconnecting"
OVERFLOW_TEXT = "ran out of room in the model's context window"
COMPACT_FAILED_PREFIX = "Error running remote compact task"

Record = dict[str, Any]


class CodexParser:
    """Turns ``codex exec --json`` lines into tether events; one per turn."""

    def __init__(self) -> None:
        self._turn = TurnTracker()
        self._started_calls: set[str] = set()
        self._last_error: str | None = None

    def feed(self, line: bytes) -> list[StreamEvent]:
        record, errors = read_line(line)
        if record is None:
            return errors
        handler = _HANDLERS.get(as_str(record.get("type")) or "")
        return handler(self, record) if handler else []

    def _thread_started(self, record: Record) -> list[StreamEvent]:
        return self._turn.native_id(record.get("thread_id"))

    def _item_started(self, record: Record) -> list[StreamEvent]:
        item = as_dict(record.get("item"))
        if as_str(item.get("type")) not in ("command_execution", "mcp_tool_call"):
            return []
        self._started_calls.add(as_str(item.get("id")) or "")
        return [_tool_call(item)]

    def _item_completed(self, record: Record) -> list[StreamEvent]:
        item = as_dict(record.get("item"))
        kind = as_str(item.get("type"))
        if kind in ("command_execution", "mcp_tool_call"):
            return self._tool_finished(item)
        convert = _ITEMS.get(kind or "")
        return convert(item) if convert else []

    def _tool_finished(self, item: Record) -> list[StreamEvent]:
        events = []
        if (as_str(item.get("id")) or "") not in self._started_calls:
            events.append(_tool_call(item))
        events.append(_tool_result(item))
        return events

    def _turn_completed(self, record: Record) -> list[StreamEvent]:
        usage = as_dict(record.get("usage"))
        event = StreamEvent(
            EventKind.USAGE,
            usage=codex_usage(usage),
            usage_is_cumulative=True,
            data=dict(USAGE_CONVENTION),
        )
        return [self._turn.end(event, Outcome.COMPLETED)]

    def _turn_failed(self, record: Record) -> list[StreamEvent]:
        error = as_dict(record.get("error"))
        message = as_str(error.get("message")) or "Codex reported turn.failed"
        return self._fail(message)

    def _error(self, record: Record) -> list[StreamEvent]:
        message = as_str(record.get("message")) or "Codex reported an error"
        if message.startswith(RETRY_PREFIX):
            retry = {"fatal": False, "retry": True}
            return [StreamEvent(EventKind.ERROR, text=message, data=retry)]
        return self._fail(message)

    def _fail(self, message: str) -> list[StreamEvent]:
        if self._turn.outcome is not None and message == self._last_error:
            return []  # the same failure, printed once as error and once as turn.failed
        self._last_error = message
        event = StreamEvent(
            EventKind.ERROR, text=message, data={"fatal": True}, context=_context(message)
        )
        return [self._turn.end(event, Outcome.FAILED)]


def _context(message: str) -> ContextSignal | None:
    if OVERFLOW_TEXT in message:
        return ContextSignal.OVERFLOW
    if message.startswith(COMPACT_FAILED_PREFIX):
        return ContextSignal.COMPACTION_FAILED
    return None


_HANDLERS = {
    "thread.started": CodexParser._thread_started,
    "item.started": CodexParser._item_started,
    "item.completed": CodexParser._item_completed,
    "turn.completed": CodexParser._turn_completed,
    "turn.failed": CodexParser._turn_failed,
    "error": CodexParser._error,
}


def codex_usage(usage: Record) -> Usage:
    return Usage(
        input_tokens=as_int(usage.get("input_tokens")),
        cached_input_tokens=as_int(usage.get("cached_input_tokens")),
        cache_write_tokens=as_int(usage.get("cache_write_input_tokens")),
        output_tokens=as_int(usage.get("output_tokens")),
        reasoning_tokens=as_int(usage.get("reasoning_output_tokens")),
    )


def _tool_name(item: Record) -> str:
    if as_str(item.get("type")) == "mcp_tool_call":
        server, tool = as_str(item.get("server")) or "", as_str(item.get("tool")) or ""
        return f"{server}.{tool}" if server else tool or "mcp"
    return "shell"


def _tool_input(item: Record) -> str:
    if "command" in item:
        return input_preview(item.get("command"))
    return input_preview(item.get("arguments"))


def _tool_call(item: Record) -> StreamEvent:
    data = tool_data(_tool_name(item), as_str(item.get("id")), input=_tool_input(item))
    return StreamEvent(EventKind.TOOL_CALL, text=_tool_input(item), data=data)


def _tool_result(item: Record) -> StreamEvent:
    data = tool_data(
        _tool_name(item),
        as_str(item.get("id")),
        input=_tool_input(item),
        exit_code=item.get("exit_code"),
        status=as_str(item.get("status")),
    )
    return StreamEvent(EventKind.TOOL_RESULT, text=_tool_output(item), data=data)


def _tool_output(item: Record) -> str:
    if "aggregated_output" in item:
        return as_str(item.get("aggregated_output")) or ""
    error = as_str(as_dict(item.get("error")).get("message"))
    return error or input_preview(item.get("result"))


def _message(item: Record) -> list[StreamEvent]:
    return [StreamEvent(EventKind.MESSAGE, text=as_str(item.get("text")) or "")]


def _reasoning(item: Record) -> list[StreamEvent]:
    return [StreamEvent(EventKind.REASONING, text=as_str(item.get("text")) or "")]


def _file_change(item: Record) -> list[StreamEvent]:
    changes = [as_dict(change) for change in as_list(item.get("changes"))]
    lines = [f"{as_str(c.get('kind')) or '?'} {as_str(c.get('path')) or '?'}" for c in changes]
    data = tool_data("file_change", as_str(item.get("id")), status=as_str(item.get("status")))
    return [StreamEvent(EventKind.TOOL_RESULT, text="\n".join(lines), data=data)]


def _web_search(item: Record) -> list[StreamEvent]:
    query = as_str(item.get("query")) or ""
    data = tool_data("web_search", as_str(item.get("id")), input=input_preview(query))
    return [StreamEvent(EventKind.TOOL_CALL, text=query, data=data)]


def _item_error(item: Record) -> list[StreamEvent]:
    # An error *item* is a warning (e.g. missing model metadata), not the end of the turn.
    message = as_str(item.get("message")) or "Codex reported an error item"
    return [StreamEvent(EventKind.ERROR, text=message, data={"fatal": False})]


_ITEMS = {
    "agent_message": _message,
    "reasoning": _reasoning,
    "file_change": _file_change,
    "web_search": _web_search,
    "error": _item_error,
}


class CodexProvider:
    """``codex exec --json``; new turns get their thread id from the stream.

    Options: ``command`` (path to the binary), ``sandbox`` (read-only /
    workspace-write / danger-full-access; default workspace-write: ``exec``
    never asks for approval, so the sandbox is the permission boundary).
    """

    name = "codex"
    resumable = True

    def new_turn(self, request: TurnRequest) -> Launch:
        argv = [*self._exec(request), *_model(request), "--", _prompt(request)]
        return Launch(argv=tuple(argv), cwd=request.workspace)

    def resume_turn(self, request: TurnRequest) -> Launch:
        native = require_native_id(request, self.name, UUID_RE)
        # -s belongs to `exec`; `exec resume` rejects it but takes its own -m.
        argv = [*self._exec(request), "resume", *_model(request), "--", native, _prompt(request)]
        return Launch(argv=tuple(argv), cwd=request.workspace, native_id=native)

    def interactive(self, request: TurnRequest) -> Launch:
        native = require_native_id(request, self.name, UUID_RE)
        argv = (executable(request, "codex"), "resume", native)
        return Launch(argv=argv, cwd=request.workspace, native_id=native)

    def parser(self) -> CodexParser:
        return CodexParser()

    def _exec(self, request: TurnRequest) -> list[str]:
        sandbox = option_str(request, "sandbox", DEFAULT_SANDBOX, SANDBOXES)
        exe = executable(request, "codex")
        return [exe, "exec", "--json", "--skip-git-repo-check", "-s", sandbox]


def _model(request: TurnRequest) -> list[str]:
    return ["-m", request.model] if request.model else []


def _prompt(request: TurnRequest) -> str:
    if request.prompt == "-":
        # Codex reads the prompt from stdin for "-", and tether's stdin is /dev/null.
        raise ProviderError("codex takes a prompt of '-' as 'read stdin'; rephrase the prompt")
    return request.prompt
