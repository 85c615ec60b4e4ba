"""Gemini CLI (``gemini --prompt=... -o stream-json``).

Stream (@google/gemini-cli 0.61.0, read from its bundled StreamJsonFormatter)::

    init        {session_id, model}                  -> NATIVE_ID (+model)
    message     {role: user|assistant, content, delta} -> MESSAGE (assistant only;
                                                        streamed as deltas)
    tool_use    {tool_name, tool_id, parameters}     -> TOOL_CALL
    tool_result {tool_id, status, output, error}     -> TOOL_RESULT
    error       {severity: warning|error, message}   -> ERROR (non-fatal)
    result      {status: success|error, error?, stats} -> USAGE (+ERROR), outcome

A full thread (recorded with 0.61.0, tests/data/recorded/gemini/context/): the
API's 400 arrives as ``result`` status ``error`` whose message says "The input
token count (N) exceeds the maximum number of tokens allowed (M)" -> OVERFLOW.
A request Gemini CLI itself judges too big is skipped and the run still ends
``result`` status ``success`` with no assistant message after the last tool
result (recorded: the tool result of a reply reporting a nearly full window
was never sent back to the model): that silent drop fails the turn with
OVERFLOW too.

Usage: ``result.stats`` covers THIS RUN only (not cumulative): a recorded
``--resume`` turn reports the same figures as the first turn; the metrics
rebuilt from the chat file on resume belong to the interactive UI. Gemini's
convention: ``input_tokens`` (prompt tokens) INCLUDES ``cached``;
``output_tokens`` (candidates) EXCLUDES thoughts, and the stream does not
report thought tokens at all (``reasoning_tokens`` stays 0; the chat file has
them).
"""

from __future__ import annotations

import uuid
from typing import Any

from tether.agents.jsonl import (
    UUID_RE,
    TurnTracker,
    as_dict,
    as_int,
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
from tether.domain.stream import ContextSignal, Outcome, StreamEvent
from tether.errors import ProviderError

__all__ = ["USAGE_CONVENTION", "GeminiParser", "GeminiProvider"]

USAGE_CONVENTION = {"input_includes_cached": True, "output_includes_reasoning": False}
APPROVAL_MODES = ("default", "auto_edit", "yolo", "plan")
DEFAULT_APPROVAL = "yolo"
OVERFLOW_TEXTS = ("exceeds the maximum number of tokens", "context window")
SILENT_DROP = (
    "Gemini CLI reported success without any reply: it skips a request that would "
    "overflow the model's context window"
)

Record = dict[str, Any]


class GeminiParser:
    """Turns Gemini stream-json lines into tether events; one per turn."""

    def __init__(self) -> None:
        self._turn = TurnTracker()
        self._replied = False

    def feed(self, line: bytes) -> list[StreamEvent]:
        record, errors = read_line(line)
        if record is None:
            return errors
        kind = as_str(record.get("type")) or ""
        if kind == "message" and as_str(record.get("role")) == "assistant":
            self._replied = True
        elif kind == "tool_result":
            self._replied = False  # the model has yet to see this result
        if kind == "init":
            self._turn.announce_model(record.get("model"))
            return self._turn.stamp(self._turn.native_id(record.get("session_id")))
        if kind == "result":
            return self._turn.stamp(self._result(record))
        convert = _CONVERTERS.get(kind)
        return self._turn.stamp(convert(record)) if convert else []

    def _result(self, record: Record) -> list[StreamEvent]:
        stats = as_dict(record.get("stats"))
        usage = StreamEvent(
            EventKind.USAGE,
            usage=gemini_usage(stats),
            data=dict(USAGE_CONVENTION),
        )
        status = as_str(record.get("status")) or "unknown"
        if status == "success" and self._replied:
            return [self._turn.end(usage, Outcome.COMPLETED)]
        error = as_dict(record.get("error"))
        if status == "success":
            text, error_type = SILENT_DROP, "silent_drop"
        else:
            text = as_str(error.get("message")) or f"Gemini ended the turn with status {status}"
            error_type = as_str(error.get("type")) or status
        overflow = text == SILENT_DROP or any(t in text for t in OVERFLOW_TEXTS)
        event = StreamEvent(
            EventKind.ERROR,
            text=text,
            data={"fatal": True, "error_type": error_type},
            context=ContextSignal.OVERFLOW if overflow else None,
        )
        return [usage, self._turn.end(event, Outcome.FAILED)]


def gemini_usage(stats: Record) -> Usage:
    return Usage(
        input_tokens=as_int(stats.get("input_tokens")),
        cached_input_tokens=as_int(stats.get("cached")),
        output_tokens=as_int(stats.get("output_tokens")),
    )


def _message(record: Record) -> list[StreamEvent]:
    if as_str(record.get("role")) != "assistant":
        return []  # Gemini echoes the user's prompt as a message
    data = {"delta": True} if record.get("delta") is True else {}
    return [StreamEvent(EventKind.MESSAGE, text=as_str(record.get("content")) or "", data=data)]


def _tool_use(record: Record) -> list[StreamEvent]:
    params = record.get("parameters")
    shown = input_preview(as_dict(params).get("command", params))
    data = tool_data(as_str(record.get("tool_name")), as_str(record.get("tool_id")), input=shown)
    return [StreamEvent(EventKind.TOOL_CALL, text=input_preview(params), data=data)]


def _tool_result(record: Record) -> list[StreamEvent]:
    status = as_str(record.get("status"))
    data = tool_data(None, as_str(record.get("tool_id")), status=status)
    error = as_str(as_dict(record.get("error")).get("message"))
    text = as_str(record.get("output")) or error or ""
    return [StreamEvent(EventKind.TOOL_RESULT, text=text, data=data)]


def _error(record: Record) -> list[StreamEvent]:
    # Fatal errors end with a `result` of status "error"; this line alone is not the end.
    severity = as_str(record.get("severity")) or "error"
    text = as_str(record.get("message")) or "Gemini reported an error"
    return [StreamEvent(EventKind.ERROR, text=text, data={"fatal": False, "severity": severity})]


_CONVERTERS = {
    "message": _message,
    "tool_use": _tool_use,
    "tool_result": _tool_result,
    "error": _error,
}


class GeminiProvider:
    """``gemini --prompt=...``; tether pre-assigns the session id (a uuid4).

    The prompt is passed as ``--prompt=<text>`` so a prompt that starts with
    ``-`` is a value, never a flag. Permissions: headless Gemini cannot ask,
    so the default is ``--approval-mode=yolo`` (like Claude's default allowing
    Bash and edits) plus ``--skip-trust``, without which Gemini refuses to run
    in a folder it has not been told to trust (tether's session workspaces).
    Options: ``approval`` (default / auto_edit / yolo / plan), ``yolo``
    (bool; false means ``auto_edit``), ``skip_trust`` (default true), ``command``.
    """

    name = "gemini"
    resumable = True

    def new_turn(self, request: TurnRequest) -> Launch:
        native = request.native_id or str(uuid.uuid4())
        if not UUID_RE.fullmatch(native):
            raise ProviderError(f"gemini needs a UUID session id, not {native!r}")
        argv = self._headless(request, f"--session-id={native}")
        return Launch(argv=tuple(argv), cwd=request.workspace, native_id=native)

    def resume_turn(self, request: TurnRequest) -> Launch:
        # A UUID only: `--resume latest` or an index number would pick a session by position.
        native = require_native_id(request, self.name, UUID_RE)
        argv = self._headless(request, f"--resume={native}")
        return Launch(argv=tuple(argv), cwd=request.workspace, native_id=native)

    def interactive(self, request: TurnRequest) -> Launch:
        native = require_native_id(request, self.name, UUID_RE)
        argv = (executable(request, "gemini"), f"--resume={native}")
        return Launch(argv=argv, cwd=request.workspace, native_id=native)

    def parser(self) -> GeminiParser:
        return GeminiParser()

    def _headless(self, request: TurnRequest, session_flag: str) -> list[str]:
        argv = [executable(request, "gemini"), f"--prompt={request.prompt}"]
        argv += ["--output-format", "stream-json", session_flag]
        if request.model:
            argv.append(f"--model={request.model}")
        argv.append(f"--approval-mode={_approval(request)}")
        if option_bool(request, "skip_trust", True):
            argv.append("--skip-trust")
        return argv


def _approval(request: TurnRequest) -> str:
    if "approval" in request.options:
        return option_str(request, "approval", DEFAULT_APPROVAL, APPROVAL_MODES)
    if "yolo" in request.options:
        return "yolo" if option_bool(request, "yolo", True) else "auto_edit"
    return DEFAULT_APPROVAL
