"""Claude Code transcripts: ``<config>/projects/<slug>/<session>.jsonl``.

Usage comes from assistant records (``message.usage``). One API response is
written as several lines with the same ``message.id`` + ``requestId`` (the
earlier ones streaming partials): that pair is the entry's key, and the
ledger keeps the largest usage per key. A fork copies the parent's records
into a new file with the same message ids, request ids and record uuids:
Claude Code 2.1 (tests/data/recorded/forks/claude) rewrites their
``sessionId`` to the fork's, older builds keep the parent's or add
``forkedFrom``. Copies that say so are marked ``copied``; either way the
shared key credits the entry to the earliest-started session holding it,
the parent.
Subagent transcripts (``<session>/subagents/*.jsonl``) belong to their
session.
"""

from pathlib import Path

import msgspec

from tether.domain.records import EventKind
from tether.history.facts import SessionFacts, TranscriptItem, UsageEntry
from tether.history.timestamps import parse_iso

AGENT = "claude"
NEEDLES = (b'"usage"',)
TRANSCRIPT_NEEDLES = (
    b'"type":"user"',
    b'"type":"assistant"',
    b'"type": "user"',
    b'"type": "assistant"',
)
HEAD_LINES = 200
# Structural prefixes of records that never carry usage: a user record's
# message starts with its role; quotes inside JSON strings are escaped, so
# these cannot occur inside a value.
_SNAPSHOT_HEAD = b'{"type":"file-history-snapshot"'
_USER_HEAD = b'"message":{"role":"user"'
_SKIPPED_MODELS = frozenset({"<synthetic>"})


class _Usage(msgspec.Struct):
    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0


class _Message(msgspec.Struct):
    id: str | None = None
    model: str | None = None
    usage: _Usage | None = None


class _UsageRecord(msgspec.Struct):
    type: str | None = None
    timestamp: str | None = None
    sessionId: str | None = None
    requestId: str | None = None
    uuid: str | None = None
    message: _Message | None = None
    forkedFrom: object = None


class _Block(msgspec.Struct):
    type: str | None = None
    text: str | None = None
    thinking: str | None = None
    name: str | None = None
    input: object = None
    content: object = None


class _Content(msgspec.Struct):
    role: str | None = None
    content: str | list[_Block] | None = None


class _HeadRecord(msgspec.Struct):
    type: str | None = None
    timestamp: str | None = None
    uuid: str | None = None
    cwd: str | None = None
    summary: str | None = None
    isSidechain: bool = False
    isMeta: bool = False
    message: _Content | None = None


_usage_decoder = msgspec.json.Decoder(_UsageRecord)
_head_decoder = msgspec.json.Decoder(_HeadRecord)
# Kinds as the plain strings items carry (an enum member's .value is a descriptor call).
_MESSAGE = EventKind.MESSAGE.value
_REASONING = EventKind.REASONING.value
_TOOL_CALL = EventKind.TOOL_CALL.value
_TOOL_RESULT = EventKind.TOOL_RESULT.value


def skip(data: bytes, start: int, stop: int) -> bool:
    """A user record or a file-history snapshot, told by its first bytes."""
    return data.find(_USER_HEAD, start, stop) >= 0 or data.find(_SNAPSHOT_HEAD, start, stop) >= 0


def transcript_skip(data: bytes, start: int, stop: int) -> bool:
    """A file-history snapshot (no prompt, reply or tool traffic in it), told by how the
    record starts: tested on every line before the transcript search, which it must not
    cost more than (a find through the head did), and an object nested in a record's
    head is not the record."""
    return data.startswith(_SNAPSHOT_HEAD, start, stop)


def native_id_for(path: Path) -> str:
    """The session a transcript belongs to: its name, or for a subagent its session dir."""
    if path.parent.name == "subagents":
        return path.parent.parent.name
    return path.name.removesuffix(".zst").removesuffix(".jsonl")


def usage_entry(line: bytes, native_id: str, offset: int) -> UsageEntry | None:
    """Decode one candidate line; ``msgspec.DecodeError`` means a bad line."""
    record = _usage_decoder.decode(line)
    message = record.message
    if record.type != "assistant" or message is None or message.usage is None:
        return None
    model = message.model or "unknown"
    timestamp = parse_iso(record.timestamp)
    if model in _SKIPPED_MODELS or timestamp is None:
        return None
    usage = message.usage
    if message.id and record.requestId:
        key = f"{message.id}:{record.requestId}"
    elif record.uuid:
        key = f"uuid:{record.uuid}"  # a fork's copy keeps the record's uuid
    else:
        key = f"{native_id}:{offset}"
    copied = record.forkedFrom is not None or (
        record.sessionId is not None and record.sessionId != native_id
    )
    return UsageEntry(
        key=key,
        native_id=native_id,
        timestamp=timestamp,
        model=model,
        input_tokens=usage.input_tokens,
        cached_input_tokens=usage.cache_read_input_tokens,
        cache_write_tokens=usage.cache_creation_input_tokens,
        output_tokens=usage.output_tokens,
        reasoning_tokens=0,
        turn_key=None,
        copied=copied,
    )


def _prompt_text(content: _Content | None) -> str | None:
    if content is None or content.role != "user":
        return None
    if isinstance(content.content, str):
        return content.content
    for block in content.content or ():
        if block.type == "text" and block.text:
            return block.text
    return None


def head(block: bytes, native_id: str) -> SessionFacts:
    """cwd, start time and first prompt from the first lines of a transcript."""
    facts = SessionFacts(native_id)
    for line in block.split(b"\n", HEAD_LINES)[:HEAD_LINES]:
        try:
            record = _head_decoder.decode(line)
        except msgspec.DecodeError:
            continue
        if facts.started_at is None:
            facts.started_at = parse_iso(record.timestamp)
        facts.cwd = facts.cwd or record.cwd
        if record.type == "summary" and record.summary:
            facts.title = record.summary
        if facts.title is None and record.type == "user" and not record.isMeta:
            prompt = _prompt_text(record.message)
            if prompt and not prompt.startswith("<"):
                facts.title = prompt
        if facts.cwd and facts.title and facts.started_at:
            break
    return facts


def transcript_item(line: bytes, native_id: str, offset: int) -> list[TranscriptItem]:
    """Prompts, replies and tool traffic of one record, keyed by the record's uuid."""
    record = _head_decoder.decode(line)
    message = record.message
    if record.type not in ("user", "assistant") or message is None or record.isMeta:
        return []
    key = f"claude:{record.uuid or offset}:"
    timestamp = parse_iso(record.timestamp) or 0.0
    role = message.role or record.type
    content = message.content
    if isinstance(content, str):  # a prompt typed as plain text: one text block
        return (
            [TranscriptItem(key + "0", native_id, timestamp, _MESSAGE, content, role)]
            if content
            else []
        )
    items = []
    for index, block in enumerate(content or ()):
        kind, text = _block_event(block)
        if kind is not None:
            items.append(TranscriptItem(f"{key}{index}", native_id, timestamp, kind, text, role))
    return items


def _block_event(block: _Block) -> tuple[str | None, str]:
    if block.type == "text" and block.text:
        return _MESSAGE, block.text
    if block.type == "thinking" and block.thinking:
        return _REASONING, block.thinking
    if block.type == "tool_use":
        return _TOOL_CALL, f"{block.name}: {msgspec.json.encode(block.input).decode()}"
    if block.type == "tool_result":
        content = block.content
        text = content if isinstance(content, str) else msgspec.json.encode(content).decode()
        return _TOOL_RESULT, text
    return None, ""
