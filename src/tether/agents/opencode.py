"""OpenCode (``opencode run --format json``).

Stream (opencode-ai 1.18.33): one ``{type, timestamp, sessionID, ...}`` object
per line. There is no init event, but every line carries ``sessionID``; the
first one is the native id. Types::

    step_start                                  -> nothing
    text        {part:{text}}                   -> MESSAGE
    reasoning   {part:{text}}  (with --thinking) -> REASONING
    tool_use    {part:{tool, callID, state}}    -> TOOL_CALL + TOOL_RESULT
                (printed once the tool is completed or errored)
    step_finish {part:{tokens, cost}}           -> USAGE (per step)
    error       {error:{name, data:{message}}}  -> ERROR, FAILED

A full thread (recorded with 1.18.33, tests/data/recorded/opencode/context/):
the API's overflow arrives as ``error`` named ``ContextOverflowError``, after
which OpenCode compacts and retries the message by itself, then exits 1: the
error is recorded with ContextSignal.OVERFLOW but does not end the turn (the
exit status does). A compaction shows as a summary step followed by a
synthetic ``text`` with ``metadata.compaction_continue`` -> STATUS COMPACTED.
"Session too large to compact…" (OpenCode's session/compaction code) ends the
turn with COMPACTION_FAILED. Fill: each ``step_finish``'s
``input + cache.read + cache.write``.

No line marks success: without an ``error`` the engine decides from the exit
status (opencode exits 1 after an error).

Usage: ``step_finish`` tokens are PER STEP (summed by the engine, not
cumulative). OpenCode's own convention is kept: ``input`` EXCLUDES cache
reads and writes (reported as ``cached_input_tokens`` / ``cache_write_tokens``)
and ``output`` EXCLUDES ``reasoning``. ``part.cost`` (USD, per step) is passed
on as ``data["cost_usd"]``.
"""

from __future__ import annotations

import re
from typing import Any

from tether.agents.jsonl import (
    TurnTracker,
    as_dict,
    as_int,
    as_str,
    executable,
    input_preview,
    option_bool,
    read_line,
    require_native_id,
    tool_data,
)
from tether.agents.provider import Launch, TurnRequest
from tether.domain.records import EventKind, Usage
from tether.domain.stream import ContextFill, ContextSignal, Outcome, StreamEvent

__all__ = [
    "USAGE_CONVENTION",
    "OpenCodeParser",
    "OpenCodeProvider",
    "message_args",
    "prompt_words",
]

USAGE_CONVENTION = {"input_includes_cached": False, "output_includes_reasoning": False}
SESSION_ID_RE = re.compile(r"ses_[0-9A-Za-z]+")
OVERFLOW_NAME = "ContextOverflowError"
COMPACT_FAILED_TEXT = "too large to compact"
COMPACTED = ContextSignal.COMPACTED

Record = dict[str, Any]


class OpenCodeParser:
    """Turns ``opencode run --format json`` lines into tether events; one per turn."""

    def __init__(self) -> None:
        self._turn = TurnTracker()

    def feed(self, line: bytes) -> list[StreamEvent]:
        record, errors = read_line(line)
        if record is None:
            return errors
        events = self._turn.native_id(record.get("sessionID"))
        kind = as_str(record.get("type")) or ""
        part = as_dict(record.get("part"))
        if kind == "error":
            error = _error(record)
            recovers = error.context is ContextSignal.OVERFLOW
            events.append(error if recovers else self._turn.end(error, Outcome.FAILED))
        elif kind == "text" and as_dict(part.get("metadata")).get("compaction_continue"):
            events.append(StreamEvent(EventKind.STATUS, "compacted", context=COMPACTED))
        elif kind in _PARTS:
            events += _PARTS[kind](part)
        return events


def opencode_usage(tokens: Record) -> Usage:
    cache = as_dict(tokens.get("cache"))
    return Usage(
        input_tokens=as_int(tokens.get("input")),
        cached_input_tokens=as_int(cache.get("read")),
        cache_write_tokens=as_int(cache.get("write")),
        output_tokens=as_int(tokens.get("output")),
        reasoning_tokens=as_int(tokens.get("reasoning")),
    )


def _text(part: Record) -> list[StreamEvent]:
    return [StreamEvent(EventKind.MESSAGE, text=as_str(part.get("text")) or "")]


def _reasoning(part: Record) -> list[StreamEvent]:
    return [StreamEvent(EventKind.REASONING, text=as_str(part.get("text")) or "")]


def _tool_use(part: Record) -> list[StreamEvent]:
    state = as_dict(part.get("state"))
    tool, call_id = as_str(part.get("tool")), as_str(part.get("callID"))
    tool_input = state.get("input")
    shown = input_preview(as_dict(tool_input).get("command", tool_input))
    call_data = tool_data(tool, call_id, input=shown)
    call = StreamEvent(EventKind.TOOL_CALL, text=input_preview(tool_input), data=call_data)
    status = as_str(state.get("status"))
    exit_code = as_dict(state.get("metadata")).get("exit")
    data = tool_data(tool, call_id, input=shown, exit_code=exit_code, status=status)
    output = as_str(state.get("output")) or as_str(state.get("error")) or ""
    return [call, StreamEvent(EventKind.TOOL_RESULT, text=output, data=data)]


def _step_finish(part: Record) -> list[StreamEvent]:
    data: dict[str, object] = dict(USAGE_CONVENTION)
    cost = part.get("cost")
    if isinstance(cost, int | float) and not isinstance(cost, bool):
        data["cost_usd"] = cost
    usage = opencode_usage(as_dict(part.get("tokens")))
    context = usage.input_tokens + usage.cached_input_tokens + usage.cache_write_tokens
    fill = ContextFill(tokens=context) if context else None
    return [StreamEvent(EventKind.USAGE, usage=usage, data=data, fill=fill)]


def _error(record: Record) -> StreamEvent:
    error = record.get("error")
    detail = as_dict(error)
    message = as_str(as_dict(detail.get("data")).get("message")) or as_str(detail.get("name"))
    text = message or as_str(error) or "OpenCode reported an error"
    context = None
    if COMPACT_FAILED_TEXT in text:
        context = ContextSignal.COMPACTION_FAILED
    elif as_str(detail.get("name")) == OVERFLOW_NAME:
        context = ContextSignal.OVERFLOW
    fatal = context is not ContextSignal.OVERFLOW  # OpenCode compacts and retries on its own
    return StreamEvent(EventKind.ERROR, text=text, data={"fatal": fatal}, context=context)


_PARTS = {
    "text": _text,
    "reasoning": _reasoning,
    "tool_use": _tool_use,
    "step_finish": _step_finish,
}


def prompt_words(prompt: str) -> list[str]:
    """The prompt as argv words that OpenCode joins back exactly.

    ``opencode run`` joins its message words with single spaces but wraps any
    word that contains a space in literal quotes; splitting on single spaces
    (keeping empty words for runs of spaces) gives words without spaces, so the
    model receives the prompt unchanged, newlines and all.
    """
    return prompt.split(" ")


def message_args(prompt: str) -> list[str]:
    """Each prompt word as ``--message=WORD``.

    After a bare ``--`` OpenCode 1.18 turns number words ("fix issue 42") into
    numbers and crashes before its first event; as option values they stay
    strings, and a word starting with '-' cannot be taken for a flag.
    """
    return [f"--message={word}" for word in prompt_words(prompt)]


class OpenCodeProvider:
    """``opencode run --format json``; the session id comes from the stream.

    Permissions: OpenCode's own config decides; a tool that would ask is
    auto-rejected in ``run`` mode. Options: ``auto`` (true adds ``--auto``,
    auto-approving what the config does not deny), ``thinking`` (default true:
    ``--thinking`` so reasoning parts are printed), ``command``.
    """

    name = "opencode"
    resumable = True

    def new_turn(self, request: TurnRequest) -> Launch:
        argv = [*self._run(request), *message_args(request.prompt)]
        return Launch(argv=tuple(argv), cwd=request.workspace)

    def resume_turn(self, request: TurnRequest) -> Launch:
        native = require_native_id(request, self.name, SESSION_ID_RE)
        argv = [*self._run(request), f"--session={native}", *message_args(request.prompt)]
        return Launch(argv=tuple(argv), cwd=request.workspace, native_id=native)

    def interactive(self, request: TurnRequest) -> Launch:
        native = require_native_id(request, self.name, SESSION_ID_RE)
        argv = (executable(request, "opencode"), f"--session={native}")
        return Launch(argv=argv, cwd=request.workspace, native_id=native)

    def parser(self) -> OpenCodeParser:
        return OpenCodeParser()

    def _run(self, request: TurnRequest) -> list[str]:
        argv = [executable(request, "opencode"), "run", "--format", "json"]
        if option_bool(request, "thinking", True):
            argv.append("--thinking")
        if option_bool(request, "auto", False):
            argv.append("--auto")
        if request.model:
            argv.append(f"--model={request.model}")
        return argv
