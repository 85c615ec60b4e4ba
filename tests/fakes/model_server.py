"""A scripted loopback model server speaking the four wire protocols the agent
CLIs use, so real CLIs can run fully offline in tests.

Protocols (one server, one port, 127.0.0.1 only):

* OpenAI Responses SSE          ``POST /v1/responses``            (Codex)
* Anthropic Messages SSE        ``HEAD /``, ``POST /v1/messages``  (Claude Code)
* OpenAI chat-completions SSE   ``POST /v1/chat/completions``      (OpenCode)
* Gemini                        ``POST /v1beta/models/<m>:streamGenerateContent``
                                (plus ``:generateContent``, ``:countTokens``) (Gemini CLI)
* small GET probes              ``GET /v1/models``, ``GET /v1beta/models`` ...

Script: a queue of replies consumed by *main* requests (requests that offer
tools to the model).  Side requests (title generation, quota checks, next-speaker
checks: no tools offered) get the default echo answer and never consume the
script.  A reply is a dict (or a plain string, meaning ``{"text": s}``):

    {"text": "hello"}                          plain text answer
    {"shell": "touch x", "then": "done"}       the protocol's shell tool call,
                                               then (next main request, which
                                               carries the tool result) "done"
    {"tool": "Task", "input": {...}, "then": "done"}
                                               a call of the named tool with that
                                               input (Anthropic protocol only: how
                                               a Claude sub-agent is started)
    {"fault": "close_mid_stream"}              see FAULTS
    {"fault": "hang_after_headers"}
    {"fault": "hang_mid_stream"}
    {"fault": "http_500"}
    {"delay": 2.5, "text": "slow"}             slow first byte (any reply)
    {"usage": {"input": 7, ...}, "text": ...}  per-reply usage override
    {"overflow": true}                         the protocol's own context-length error
                                               (see OVERFLOW_ERRORS)

When the script is empty the answer is ``ECHO[users=N msgs=M] <last user text>``
where N is how many user messages (tool results and injected context excluded)
the request history contained and M the number of history items.

A server-wide ``fault`` (and ``delay``) applies to every POST, main or side, so
"the model server died" can be simulated regardless of retries.

In process::

    with ModelServer(replies=["hi"]) as srv:
        srv.url            # http://127.0.0.1:PORT
        srv.requests       # list of logged request dicts (main and side)

As a program::

    python -m tests.fakes.model_server --port 0 --script script.json [--log requests.jsonl]

prints ``URL http://127.0.0.1:PORT`` on stdout once listening.  The script file
is JSON: either a list of replies or ``{"replies": [...], "usage": {...},
"fault": ..., "delay": ...}``.  ``POST /_control/script`` (same JSON) replaces
the script at run time; ``GET /_control/requests`` returns the request log.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import logging
import re
import socket
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

__all__ = ["DEFAULT_USAGE", "FAULTS", "OVERFLOW_ERRORS", "ModelServer", "Reply", "main"]

FAULTS = ("close_mid_stream", "hang_after_headers", "hang_mid_stream", "http_500")

#: token numbers put into every response unless overridden.  ``input`` counts
#: the cached part too (as all four APIs except Anthropic do).
DEFAULT_USAGE: dict[str, int] = {"input": 100, "cached": 20, "output": 10, "reasoning": 0}

HANG_SECONDS = 3600.0

#: Each API's answer to a prompt longer than the model's window.  Sources: the
#: OpenAI error code ``context_length_exceeded`` (codex-rs maps a
#: ``response.failed`` carrying it to ContextWindowExceeded; chat completions
#: send it as a 400 with the classic "maximum context length" text that
#: OpenCode's ContextOverflowError matches); Anthropic's 400
#: ``invalid_request_error`` "prompt is too long: N tokens > M maximum"
#: (claude-code #12312); Gemini's 400 INVALID_ARGUMENT "The input token count
#: (N) exceeds the maximum number of tokens allowed (M)".
OVERFLOW_ERRORS: dict[str, dict[str, Any]] = {
    "responses": {
        "code": "context_length_exceeded",
        "message": "Your input exceeds the context window of this model. "
        "Please adjust your input and try again.",
    },
    "anthropic": {
        "type": "error",
        "error": {
            "type": "invalid_request_error",
            "message": "prompt is too long: 210000 tokens > 200000 maximum",
        },
    },
    "chat": {
        "error": {
            "message": "This model's maximum context length is 128000 tokens. However, your "
            "messages resulted in 130000 tokens. Please reduce the length of the messages.",
            "type": "invalid_request_error",
            "param": "messages",
            "code": "context_length_exceeded",
        }
    },
    "gemini": {
        "error": {
            "code": 400,
            "message": "The input token count (1100000) exceeds the maximum number of tokens "
            "allowed (1048576).",
            "status": "INVALID_ARGUMENT",
        }
    },
}
log = logging.getLogger("tests.fakes.model_server")


class _CloseConnection(Exception):
    """Raised inside a streaming body to drop the connection mid-stream."""


# --------------------------------------------------------------------------
# Replies and script state
# --------------------------------------------------------------------------


@dataclass
class Reply:
    kind: str  # "text" | "shell" | "tool" | "overflow"
    text: str = ""
    command: str = ""  # the shell command, or the name of the tool called
    tool_input: dict[str, Any] = field(default_factory=dict)
    fault: str | None = None
    delay: float = 0.0
    usage: dict[str, int] = field(default_factory=dict)

    @classmethod
    def parse(cls, raw: Any) -> list[Reply]:
        """One script entry -> one or two replies (a shell call and its follow-up)."""
        if isinstance(raw, Reply):
            return [raw]
        if isinstance(raw, str):
            return [cls("text", text=raw)]
        if not isinstance(raw, dict):
            raise TypeError(f"bad reply {raw!r}")
        fault = raw.get("fault")
        if fault is not None and fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; known: {FAULTS}")
        common = dict(
            fault=fault, delay=float(raw.get("delay", 0)), usage=dict(raw.get("usage", {}))
        )
        if raw.get("overflow"):
            return [cls("overflow", **common)]
        if "shell" in raw:
            first = cls("shell", command=raw["shell"], **common)
            then = raw.get("then", "done")
            return [first, *cls.parse(then)]
        if "tool" in raw:
            call = cls("tool", command=raw["tool"], tool_input=dict(raw.get("input", {})), **common)
            return [call, *cls.parse(raw.get("then", "done"))]
        return [cls("text", text=raw.get("text", ""), **common)]


@dataclass
class Parsed:
    """What the server understood of a request, protocol-independently."""

    protocol: str
    model: str
    user_texts: list[str]
    n_messages: int
    tool_names: list[str]
    tool_result: str | None  # text of the trailing tool result, if the request ends with one
    stream: bool = True

    @property
    def main(self) -> bool:
        return bool(self.tool_names)


_CONTEXT_PREFIXES = (
    "<environment_context",
    "<user_instructions",
    "# AGENTS.md",
    "<system-reminder",
    "<session_context",
    "<permissions",
)


def _is_injected(text: str) -> bool:
    t = text.lstrip()
    return not t or t.startswith(_CONTEXT_PREFIXES)


def _texts_of(content: Any, keys: tuple[str, ...] = ("text",)) -> list[str]:
    if isinstance(content, str):
        return [content]
    out = []
    if isinstance(content, list):
        for part in content:
            if isinstance(part, dict) and part.get("type") in (None, "text", "input_text"):
                for k in keys:
                    if isinstance(part.get(k), str):
                        out.append(part[k])
    return out


def _real_user_text(content: Any) -> str | None:
    """The user-typed text of a message, ignoring injected context blocks."""
    texts = [t for t in _texts_of(content) if not _is_injected(t)]
    return "\n".join(texts).strip() if texts else None


# --------------------------------------------------------------------------
# Protocols: parse a request body, encode a reply as SSE chunks
# --------------------------------------------------------------------------


def _sse(event: str | None, data: Any) -> bytes:
    body = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    return ((f"event: {event}\n" if event else "") + f"data: {body}\n\n").encode()


class _Ids:
    def __init__(self) -> None:
        self._n = itertools.count(1)

    def __call__(self, prefix: str) -> str:
        return f"{prefix}{next(self._n):06d}"


class Protocol:
    name = ""
    error_status = 500

    def parse(self, body: dict, path: str) -> Parsed:
        raise NotImplementedError

    def encode(self, reply: Reply, p: Parsed, usage: dict[str, int], ids: _Ids) -> list[bytes]:
        raise NotImplementedError

    def error_body(self) -> dict:
        return {
            "error": {
                "message": "model server fault: http_500",
                "type": "server_error",
                "code": 500,
            }
        }

    def json_body(self, reply: Reply, p: Parsed, usage: dict[str, int], ids: _Ids) -> dict:
        raise NotImplementedError(f"{self.name} has no non-streaming form")

    def overflow(self, ids: _Ids) -> Response:
        """The provider's context-length error, as its API sends it (OVERFLOW_ERRORS)."""
        return JSONResponse(OVERFLOW_ERRORS[self.name], status_code=400)


def _shell_args(tool_names: list[str], schemas: dict[str, dict], command: str) -> tuple[str, dict]:
    """Pick the shell tool the CLI offered and build its arguments."""
    for name in ("exec_command", "shell_command", "shell", "Bash", "bash", "run_shell_command"):
        if name in tool_names:
            break
    else:
        raise LookupError(f"no shell tool among offered tools {tool_names}")
    if name == "exec_command":
        args: dict[str, Any] = {"cmd": command}
    elif name == "shell":
        args = {"command": ["bash", "-lc", command]}
    else:
        args = {"command": command}
    # Fill other required string parameters (e.g. OpenCode's bash "description").
    schema = schemas.get(name) or {}
    for req in schema.get("required", []) or []:
        if (
            req not in args
            and (schema.get("properties", {}).get(req, {}) or {}).get("type") == "string"
        ):
            args[req] = "Run the scripted test command"
    if name in ("Bash", "run_shell_command") and "description" not in args:
        args["description"] = "Run the scripted test command"
    return name, args


class ResponsesProtocol(Protocol):
    """OpenAI Responses API as Codex uses it."""

    name = "responses"

    def parse(self, body: dict, path: str) -> Parsed:
        items = body.get("input") or []
        users = []
        for it in items:
            if it.get("type", "message") == "message" and it.get("role") == "user":
                t = _real_user_text(it.get("content"))
                if t is not None:
                    users.append(t)
        tool_result = None
        if items and items[-1].get("type") in ("function_call_output", "custom_tool_call_output"):
            out = items[-1].get("output")
            tool_result = out if isinstance(out, str) else json.dumps(out)
        tools = body.get("tools") or []
        self._schemas = {t.get("name"): t.get("parameters") for t in tools if isinstance(t, dict)}
        return Parsed(
            self.name,
            body.get("model", ""),
            users,
            len(items),
            [t.get("name") or t.get("type") for t in tools if isinstance(t, dict)],
            tool_result,
            bool(body.get("stream", True)),
        )

    def encode(self, reply: Reply, p: Parsed, usage: dict[str, int], ids: _Ids) -> list[bytes]:
        rid = ids("resp_")
        out = [
            _sse(
                "response.created",
                {"type": "response.created", "response": {"id": rid, "status": "in_progress"}},
            )
        ]
        if reply.kind == "shell":
            name, args = _shell_args(p.tool_names, self._schemas, reply.command)
            item = {
                "type": "function_call",
                "id": ids("fc_"),
                "call_id": ids("call_"),
                "name": name,
                "arguments": json.dumps(args),
                "status": "completed",
            }
            out.append(
                _sse(
                    "response.output_item.added",
                    {"type": "response.output_item.added", "output_index": 0, "item": item},
                )
            )
        else:
            mid = ids("msg_")
            item = {
                "type": "message",
                "role": "assistant",
                "id": mid,
                "status": "completed",
                "content": [{"type": "output_text", "text": reply.text, "annotations": []}],
            }
            added = dict(item, content=[], status="in_progress")
            out.append(
                _sse(
                    "response.output_item.added",
                    {"type": "response.output_item.added", "output_index": 0, "item": added},
                )
            )
            for piece in _split(reply.text):
                out.append(
                    _sse(
                        "response.output_text.delta",
                        {
                            "type": "response.output_text.delta",
                            "item_id": mid,
                            "output_index": 0,
                            "content_index": 0,
                            "delta": piece,
                        },
                    )
                )
        out.append(
            _sse(
                "response.output_item.done",
                {"type": "response.output_item.done", "output_index": 0, "item": item},
            )
        )
        out.append(
            _sse(
                "response.completed",
                {
                    "type": "response.completed",
                    "response": {
                        "id": rid,
                        "status": "completed",
                        "usage": {
                            "input_tokens": usage["input"],
                            "input_tokens_details": {"cached_tokens": usage["cached"]},
                            "output_tokens": usage["output"],
                            "output_tokens_details": {"reasoning_tokens": usage["reasoning"]},
                            "total_tokens": usage["input"] + usage["output"],
                        },
                    },
                },
            )
        )
        return out

    def overflow(self, ids: _Ids) -> Response:
        # The Responses API reports it inside the stream, as ``response.failed``.
        rid = ids("resp_")
        failed = {"id": rid, "status": "failed", "error": OVERFLOW_ERRORS[self.name]}
        chunks = [
            _sse(
                "response.created",
                {"type": "response.created", "response": {"id": rid, "status": "in_progress"}},
            ),
            _sse("response.failed", {"type": "response.failed", "response": failed}),
        ]
        return StreamingResponse(iter(chunks), media_type="text/event-stream")


class AnthropicProtocol(Protocol):
    """Anthropic Messages API as Claude Code uses it."""

    name = "anthropic"

    def parse(self, body: dict, path: str) -> Parsed:
        msgs = body.get("messages") or []
        users, tool_result = [], None
        for m in msgs:
            if m.get("role") != "user":
                continue
            c = m.get("content")
            if isinstance(c, list) and any(
                isinstance(b, dict) and b.get("type") == "tool_result" for b in c
            ):
                continue
            t = _real_user_text(c)
            if t is not None:
                users.append(t)
        # Claude can append role:"system"-ish reminders after the user turn: look
        # for the last message that is a user message carrying a tool_result.
        for m in reversed(msgs):
            if m.get("role") == "assistant":
                break
            c = m.get("content")
            if m.get("role") == "user" and isinstance(c, list):
                res = [b for b in c if isinstance(b, dict) and b.get("type") == "tool_result"]
                if res:
                    tool_result = "\n".join(_texts_of(res[-1].get("content")))
                    break
        tools = [t for t in (body.get("tools") or []) if isinstance(t, dict)]
        self._schemas = {t.get("name"): t.get("input_schema") for t in tools}
        return Parsed(
            self.name,
            body.get("model", ""),
            users,
            len(msgs),
            [t.get("name") for t in tools],
            tool_result,
            bool(body.get("stream", False)),
        )

    def _usage(self, usage: dict[str, int]) -> dict:
        # Anthropic reports input excluding cache reads.
        return {
            "input_tokens": usage["input"] - usage["cached"],
            "output_tokens": usage["output"],
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": usage["cached"],
        }

    def _content(self, reply: Reply, p: Parsed, ids: _Ids) -> list[dict]:
        if reply.kind == "shell":
            name, args = _shell_args(p.tool_names, self._schemas, reply.command)
            return [{"type": "tool_use", "id": ids("toolu_"), "name": name, "input": args}]
        if reply.kind == "tool":
            if reply.command not in p.tool_names:
                raise LookupError(f"tool {reply.command} not among offered tools {p.tool_names}")
            call = {"type": "tool_use", "id": ids("toolu_"), "name": reply.command}
            return [dict(call, input=reply.tool_input)]
        return [{"type": "text", "text": reply.text}]

    def encode(self, reply: Reply, p: Parsed, usage: dict[str, int], ids: _Ids) -> list[bytes]:
        u = self._usage(usage)
        start_usage = dict(u, output_tokens=1)
        out = [
            _sse(
                "message_start",
                {
                    "type": "message_start",
                    "message": {
                        "id": ids("msg_"),
                        "type": "message",
                        "role": "assistant",
                        "model": p.model or "mock",
                        "content": [],
                        "stop_reason": None,
                        "stop_sequence": None,
                        "usage": start_usage,
                    },
                },
            )
        ]
        for i, block in enumerate(self._content(reply, p, ids)):
            if block["type"] == "text":
                out.append(
                    _sse(
                        "content_block_start",
                        {
                            "type": "content_block_start",
                            "index": i,
                            "content_block": {"type": "text", "text": ""},
                        },
                    )
                )
                for piece in _split(block["text"]):
                    out.append(
                        _sse(
                            "content_block_delta",
                            {
                                "type": "content_block_delta",
                                "index": i,
                                "delta": {"type": "text_delta", "text": piece},
                            },
                        )
                    )
            else:
                out.append(
                    _sse(
                        "content_block_start",
                        {
                            "type": "content_block_start",
                            "index": i,
                            "content_block": dict(block, input={}),
                        },
                    )
                )
                out.append(
                    _sse(
                        "content_block_delta",
                        {
                            "type": "content_block_delta",
                            "index": i,
                            "delta": {
                                "type": "input_json_delta",
                                "partial_json": json.dumps(block["input"]),
                            },
                        },
                    )
                )
            out.append(_sse("content_block_stop", {"type": "content_block_stop", "index": i}))
        stop = "tool_use" if reply.kind in ("shell", "tool") else "end_turn"
        out.append(
            _sse(
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": stop, "stop_sequence": None},
                    "usage": u,
                },
            )
        )
        out.append(_sse("message_stop", {"type": "message_stop"}))
        return out

    def json_body(self, reply: Reply, p: Parsed, usage: dict[str, int], ids: _Ids) -> dict:
        return {
            "id": ids("msg_"),
            "type": "message",
            "role": "assistant",
            "model": p.model or "mock",
            "content": self._content(reply, p, ids),
            "stop_reason": "tool_use" if reply.kind in ("shell", "tool") else "end_turn",
            "stop_sequence": None,
            "usage": self._usage(usage),
        }

    def error_body(self) -> dict:
        return {
            "type": "error",
            "error": {"type": "api_error", "message": "model server fault: http_500"},
        }


class ChatProtocol(Protocol):
    """OpenAI chat completions as OpenCode (@ai-sdk/openai-compatible) uses it."""

    name = "chat"

    def parse(self, body: dict, path: str) -> Parsed:
        msgs = body.get("messages") or []
        users = [
            t
            for m in msgs
            if m.get("role") == "user"
            for t in [_real_user_text(m.get("content"))]
            if t is not None
        ]
        tool_result = None
        if msgs and msgs[-1].get("role") == "tool":
            tool_result = "\n".join(_texts_of(msgs[-1].get("content")))
        tools = [t.get("function", t) for t in (body.get("tools") or []) if isinstance(t, dict)]
        self._schemas = {t.get("name"): t.get("parameters") for t in tools}
        return Parsed(
            self.name,
            body.get("model", ""),
            users,
            len(msgs),
            [t.get("name") for t in tools],
            tool_result,
            bool(body.get("stream", False)),
        )

    def _usage(self, usage: dict[str, int]) -> dict:
        return {
            "prompt_tokens": usage["input"],
            "completion_tokens": usage["output"],
            "total_tokens": usage["input"] + usage["output"],
            "prompt_tokens_details": {"cached_tokens": usage["cached"]},
            "completion_tokens_details": {"reasoning_tokens": usage["reasoning"]},
        }

    def encode(self, reply: Reply, p: Parsed, usage: dict[str, int], ids: _Ids) -> list[bytes]:
        cid, created = ids("chatcmpl-"), int(time.time())

        def chunk(delta: dict, finish: str | None = None, **extra: Any) -> bytes:
            return _sse(
                None,
                {
                    "id": cid,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": p.model or "mock",
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                    **extra,
                },
            )

        out = [chunk({"role": "assistant", "content": ""})]
        if reply.kind == "shell":
            name, args = _shell_args(p.tool_names, self._schemas, reply.command)
            out.append(
                chunk(
                    {
                        "tool_calls": [
                            {
                                "index": 0,
                                "id": ids("call_"),
                                "type": "function",
                                "function": {"name": name, "arguments": json.dumps(args)},
                            }
                        ]
                    }
                )
            )
            finish = "tool_calls"
        else:
            out += [chunk({"content": piece}) for piece in _split(reply.text)]
            finish = "stop"
        out.append(chunk({}, finish))
        out.append(
            _sse(
                None,
                {
                    "id": cid,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": p.model or "mock",
                    "choices": [],
                    "usage": self._usage(usage),
                },
            )
        )
        out.append(_sse(None, "[DONE]"))
        return out

    def json_body(self, reply: Reply, p: Parsed, usage: dict[str, int], ids: _Ids) -> dict:
        msg: dict[str, Any] = {"role": "assistant", "content": reply.text}
        if reply.kind == "shell":
            name, args = _shell_args(p.tool_names, self._schemas, reply.command)
            msg = {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": ids("call_"),
                        "type": "function",
                        "function": {"name": name, "arguments": json.dumps(args)},
                    }
                ],
            }
        return {
            "id": ids("chatcmpl-"),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": p.model or "mock",
            "choices": [
                {
                    "index": 0,
                    "message": msg,
                    "finish_reason": "tool_calls" if reply.kind == "shell" else "stop",
                }
            ],
            "usage": self._usage(usage),
        }


class GeminiProtocol(Protocol):
    """Gemini generateContent / streamGenerateContent as Gemini CLI uses it."""

    name = "gemini"

    def parse(self, body: dict, path: str) -> Parsed:
        contents = body.get("contents") or []
        users = []
        for c in contents:
            if c.get("role", "user") != "user":
                continue
            parts = c.get("parts") or []
            if any("functionResponse" in pt for pt in parts if isinstance(pt, dict)):
                continue
            t = _real_user_text(
                [
                    {"text": pt.get("text")}
                    for pt in parts
                    if isinstance(pt, dict) and isinstance(pt.get("text"), str)
                ]
            )
            if t is not None:
                users.append(t)
        tool_result = None
        if contents:
            frs = [
                pt["functionResponse"]
                for pt in contents[-1].get("parts") or []
                if isinstance(pt, dict) and "functionResponse" in pt
            ]
            if frs:
                tool_result = json.dumps(frs[-1].get("response"))
        decls = [
            d
            for t in (body.get("tools") or [])
            if isinstance(t, dict)
            for d in (t.get("functionDeclarations") or [])
        ]
        self._schemas = {
            d.get("name"): d.get("parameters") or d.get("parametersJsonSchema") for d in decls
        }
        model = re.sub(r"^.*/models/([^:]+):.*$", r"\1", path)
        return Parsed(
            self.name,
            model,
            users,
            len(contents),
            [d.get("name") for d in decls],
            tool_result,
            "streamGenerateContent" in path,
        )

    def _usage(self, usage: dict[str, int]) -> dict:
        return {
            "promptTokenCount": usage["input"],
            "candidatesTokenCount": usage["output"],
            "cachedContentTokenCount": usage["cached"],
            "thoughtsTokenCount": usage["reasoning"],
            "totalTokenCount": usage["input"] + usage["output"] + usage["reasoning"],
        }

    def _parts(self, reply: Reply, p: Parsed) -> list[dict]:
        if reply.kind == "shell":
            name, args = _shell_args(p.tool_names, self._schemas, reply.command)
            return [{"functionCall": {"name": name, "args": args}}]
        return [{"text": reply.text}]

    def encode(self, reply: Reply, p: Parsed, usage: dict[str, int], ids: _Ids) -> list[bytes]:
        rid = ids("gem_")
        base = {"modelVersion": p.model or "mock", "responseId": rid}
        out = []
        if reply.kind == "text":
            pieces = _split(reply.text)
            for piece in pieces[:-1]:
                out.append(
                    _sse(
                        None,
                        {
                            "candidates": [
                                {
                                    "content": {"role": "model", "parts": [{"text": piece}]},
                                    "index": 0,
                                }
                            ],
                            **base,
                        },
                    )
                )
            parts = [{"text": pieces[-1]}]
        else:
            parts = self._parts(reply, p)
        out.append(
            _sse(
                None,
                {
                    "candidates": [
                        {
                            "content": {"role": "model", "parts": parts},
                            "finishReason": "STOP",
                            "index": 0,
                        }
                    ],
                    "usageMetadata": self._usage(usage),
                    **base,
                },
            )
        )
        return out

    def json_body(self, reply: Reply, p: Parsed, usage: dict[str, int], ids: _Ids) -> dict:
        return {
            "candidates": [
                {
                    "content": {"role": "model", "parts": self._parts(reply, p)},
                    "finishReason": "STOP",
                    "index": 0,
                }
            ],
            "usageMetadata": self._usage(usage),
            "modelVersion": p.model or "mock",
            "responseId": ids("gem_"),
        }

    def error_body(self) -> dict:
        return {
            "error": {"code": 500, "message": "model server fault: http_500", "status": "INTERNAL"}
        }


def _split(text: str) -> list[str]:
    """Split a text into two streamed pieces (one if short) so deltas get exercised."""
    if len(text) < 8:
        return [text]
    mid = len(text) // 2
    return [text[:mid], text[mid:]]


# --------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------


class ModelServer:
    """Scripted model server on 127.0.0.1; ``start()``/``stop()`` or a context manager."""

    def __init__(
        self,
        replies: list[Any] | None = None,
        *,
        usage: dict[str, int] | None = None,
        fault: str | None = None,
        delay: float = 0.0,
        port: int = 0,
        request_log: str | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self._queue: list[Reply] = []
        self.usage = dict(DEFAULT_USAGE, **(usage or {}))
        self.fault = fault
        self.delay = delay
        self.requests: list[dict] = []
        self._request_log = request_log
        self._ids = _Ids()
        self._port = port
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port: int | None = None
        if fault is not None and fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}")
        self.set_script(replies or [])
        self.app = self._build_app()

    # -- script control (thread-safe) --------------------------------------

    def set_script(self, replies: list[Any]) -> None:
        parsed = [r for raw in replies for r in Reply.parse(raw)]
        with self._lock:
            self._queue = parsed

    def push(self, *replies: Any) -> None:
        parsed = [r for raw in replies for r in Reply.parse(raw)]
        with self._lock:
            self._queue.extend(parsed)

    def configure(
        self,
        *,
        fault: str | object | None = ...,
        delay: float | None = None,
        usage: dict[str, int] | None = None,
    ) -> None:
        with self._lock:
            if fault is not ...:
                if fault is not None and fault not in FAULTS:
                    raise ValueError(f"unknown fault {fault!r}")
                self.fault = fault  # type: ignore[assignment]
            if delay is not None:
                self.delay = delay
            if usage is not None:
                self.usage = dict(DEFAULT_USAGE, **usage)

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._queue)

    def main_requests(self, protocol: str | None = None) -> list[dict]:
        with self._lock:
            return [
                r
                for r in self.requests
                if r.get("main") and (protocol is None or r["protocol"] == protocol)
            ]

    def clear_requests(self) -> None:
        with self._lock:
            self.requests.clear()

    def load_script_json(self, data: Any) -> None:
        if isinstance(data, list):
            data = {"replies": data}
        self.configure(
            fault=data.get("fault"), delay=float(data.get("delay", 0)), usage=data.get("usage")
        )
        self.set_script(data.get("replies", []))

    # -- lifecycle ------------------------------------------------------------

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("ModelServer is not started: call start() first")
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ModelServer:
        if self._thread is not None:
            raise RuntimeError("ModelServer already started")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self._port))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            log_level="critical",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=1,
            timeout_keep_alive=30,
        )
        self._server = uvicorn.Server(config)
        self._server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [sock]},
            name=f"model-server:{self.port}",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("model server failed to start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is None or self._thread is None:
            return
        self._server.should_exit = True
        self._server.force_exit = True
        self._thread.join(timeout=10)
        self._server = self._thread = None

    def __enter__(self) -> ModelServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- request handling -----------------------------------------------------

    def _build_app(self) -> Starlette:
        P = {
            "responses": ResponsesProtocol,
            "anthropic": AnthropicProtocol,
            "chat": ChatProtocol,
            "gemini": GeminiProtocol,
        }

        def model_route(proto: str) -> Callable:
            async def handler(request: Request) -> Response:
                return await self._handle(request, P[proto]())

            return handler

        async def gemini(request: Request) -> Response:
            path = request.url.path
            if path.endswith(":countTokens"):
                self._log_simple(request, "gemini")
                return JSONResponse({"totalTokens": self.usage["input"]})
            if path.endswith(":embedContent") or path.endswith(":batchEmbedContents"):
                self._log_simple(request, "gemini")
                return JSONResponse({"embedding": {"values": [0.0] * 8}})
            return await self._handle(request, GeminiProtocol())

        async def head_root(request: Request) -> Response:
            self._log_simple(request, None)
            return Response(b"", 200)

        async def models(request: Request) -> Response:
            self._log_simple(request, None)
            ids = ["mock-model"]
            return JSONResponse(
                {
                    "object": "list",
                    "data": [
                        {
                            "id": i,
                            "object": "model",
                            "owned_by": "mock",
                            "type": "model",
                            "display_name": i,
                            "created_at": "2026-01-01T00:00:00Z",
                        }
                        for i in ids
                    ],
                    "models": [],
                    "has_more": False,
                    "first_id": ids[0],
                    "last_id": ids[-1],
                }
            )

        async def gemini_models(request: Request) -> Response:
            self._log_simple(request, None)
            return JSONResponse(
                {
                    "models": [
                        {
                            "name": "models/mock-model",
                            "displayName": "mock-model",
                            "supportedGenerationMethods": ["generateContent"],
                        }
                    ]
                }
            )

        async def control_script(request: Request) -> Response:
            self.load_script_json(await request.json())
            return JSONResponse({"pending": self.pending})

        async def control_requests(request: Request) -> Response:
            with self._lock:
                return JSONResponse(list(self.requests))

        async def fallback(request: Request) -> Response:
            self._log_simple(request, None, unknown=True)
            return JSONResponse(
                {"error": {"message": f"mock: no route for {request.method} {request.url.path}"}},
                status_code=404,
            )

        routes = [
            Route("/", head_root, methods=["HEAD", "GET"]),
            Route("/v1/responses", model_route("responses"), methods=["POST"]),
            Route("/responses", model_route("responses"), methods=["POST"]),
            Route("/v1/messages", model_route("anthropic"), methods=["POST"]),
            Route("/v1/chat/completions", model_route("chat"), methods=["POST"]),
            Route("/chat/completions", model_route("chat"), methods=["POST"]),
            Route("/v1/models", models, methods=["GET"]),
            Route("/models", models, methods=["GET"]),
            Route("/v1beta/models", gemini_models, methods=["GET"]),
            Route("/v1beta/models/{rest:path}", gemini, methods=["POST"]),
            Route("/_control/script", control_script, methods=["POST"]),
            Route("/_control/requests", control_requests, methods=["GET"]),
            Route("/{rest:path}", fallback, methods=["GET", "POST", "HEAD", "PUT", "DELETE"]),
        ]
        return Starlette(routes=routes)

    def _record(self, entry: dict) -> None:
        entry["time"] = time.time()
        with self._lock:
            entry["index"] = len(self.requests)
            self.requests.append(entry)
        if self._request_log:
            with open(self._request_log, "a", encoding="utf-8") as f:
                f.write(json.dumps(entry) + "\n")

    def _log_simple(self, request: Request, protocol: str | None, unknown: bool = False) -> None:
        self._record(
            {
                "method": request.method,
                "path": request.url.path,
                "query": request.url.query,
                "protocol": protocol,
                "main": False,
                "unknown": unknown,
            }
        )

    def _next_reply(self, p: Parsed) -> tuple[Reply, bool]:
        """(reply, scripted) for a request; side requests never consume the script."""
        with self._lock:
            if p.main and self._queue:
                return self._queue.pop(0), True
        last = p.user_texts[-1] if p.user_texts else ""
        return Reply(
            "text", text=f"ECHO[users={len(p.user_texts)} msgs={p.n_messages}] {last}"
        ), False

    async def _handle(self, request: Request, proto: Protocol) -> Response:
        raw = await request.body()
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            return JSONResponse({"error": {"message": "mock: body is not JSON"}}, status_code=400)
        p = proto.parse(body, request.url.path)
        reply, scripted = self._next_reply(p)
        with self._lock:
            fault = reply.fault or self.fault
            delay = reply.delay or self.delay
            usage = dict(self.usage, **reply.usage)
        self._record(
            {
                "method": request.method,
                "path": request.url.path,
                "query": request.url.query,
                "protocol": proto.name,
                "model": p.model,
                "main": p.main,
                "stream": p.stream,
                "last_user": p.user_texts[-1] if p.user_texts else None,
                "n_user": len(p.user_texts),
                "user_texts": p.user_texts,
                "n_messages": p.n_messages,
                "tool_result": p.tool_result,
                "tools": p.tool_names,
                "reply": reply.kind,
                "reply_text": reply.text or reply.command,
                "scripted": scripted,
                "fault": fault,
                "body_bytes": len(raw),
            }
        )
        if delay:
            await asyncio.sleep(delay)
        if fault == "http_500":
            return JSONResponse(proto.error_body(), status_code=500)
        if reply.kind == "overflow":
            return proto.overflow(self._ids)
        try:
            if p.stream:
                chunks = proto.encode(reply, p, usage, self._ids)
            else:
                # Non-streaming (e.g. Claude's fallback after a broken stream):
                # one JSON body, cut in two so faults can still apply.
                body_bytes = json.dumps(proto.json_body(reply, p, usage, self._ids)).encode()
                if fault is None:
                    return Response(body_bytes, media_type="application/json")
                half = len(body_bytes) // 2
                chunks = [body_bytes[:half], body_bytes[half:]]
        except LookupError as exc:
            return JSONResponse({"error": {"message": f"mock: {exc}"}}, status_code=400)
        media = "text/event-stream" if p.stream else "application/json"
        rid = self._ids("req_")
        return StreamingResponse(
            self._body(chunks, fault),
            media_type=media,
            # Anthropic's API names each response in a request-id header, which
            # Claude Code records as the transcript's requestId.
            headers={"cache-control": "no-cache", "x-request-id": rid, "request-id": rid},
        )

    @staticmethod
    async def _body(chunks: list[bytes], fault: str | None) -> AsyncIterator[bytes]:
        if fault == "hang_after_headers":
            # Starlette sends the headers before the first body chunk; an empty
            # chunk makes uvicorn flush them now.
            yield b""
            await asyncio.sleep(HANG_SECONDS)
        cut = (
            max(1, len(chunks) // 2)
            if fault in ("close_mid_stream", "hang_mid_stream")
            else len(chunks)
        )
        for c in chunks[:cut]:
            yield c
            await asyncio.sleep(0)
        if fault == "hang_mid_stream":
            await asyncio.sleep(HANG_SECONDS)
        if fault == "close_mid_stream":
            await asyncio.sleep(0.05)
            raise _CloseConnection("scripted close mid-stream")


# --------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m tests.fakes.model_server", description=__doc__.split("\n")[0]
    )
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--script", help="JSON file: list of replies or {replies, usage, fault, delay}")
    ap.add_argument("--log", help="append one JSON line per request to this file")
    args = ap.parse_args(argv)
    srv = ModelServer(port=args.port, request_log=args.log)
    if args.script:
        with open(args.script, encoding="utf-8") as f:
            srv.load_script_json(json.load(f))
    srv.start()
    print(f"URL {srv.url}", flush=True)
    stop = threading.Event()
    import signal

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    srv.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
