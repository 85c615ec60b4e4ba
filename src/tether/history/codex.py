"""Codex rollouts: ``<home>/{sessions,archived_sessions}/**/rollout-*.jsonl[.zst]``.

Usage comes from ``token_count`` events: their ``total_token_usage`` is
cumulative, so an entry is the advance of the total over the previous one
(repeats are skipped, a smaller total is a reset), priced with the model of
the latest ``turn_context``. A fork (``forked_from_id``) embeds the
parent's session_meta and replays its history: token counts inside a
foreign session_meta segment only move the baseline and are never counted.
"""

from dataclasses import dataclass
from pathlib import Path

import msgspec

from tether.domain.records import EventKind
from tether.history.facts import SessionFacts, TranscriptItem, UsageEntry
from tether.history.timestamps import parse_iso

AGENT = "codex"
NEEDLES = (b'"token_count"', b'"turn_context"', b'"session_meta"')
TITLE_NEEDLES = (b'"user_message"', b'"UserMessage"')
TRANSCRIPT_NEEDLES = (
    b'"user_message"',
    b'"agent_message"',
    b'"agent_reasoning"',
    b'"UserMessage"',
    b'"AgentMessage"',
)
# Newer builds (0.169) write prompts and replies as item_completed items.
_ITEM_ROLES = {"UserMessage": "user", "AgentMessage": "assistant"}
_RESPONSE_ITEM = b'"type":"response_item"'  # top-level type of the big records


class _Tokens(msgspec.Struct):
    input_tokens: int = 0
    cached_input_tokens: int = 0
    output_tokens: int = 0
    reasoning_output_tokens: int = 0
    total_tokens: int = 0


class _Info(msgspec.Struct):
    total_token_usage: _Tokens | None = None


class _Payload(msgspec.Struct):
    type: str | None = None
    id: object = None
    cwd: object = None
    forked_from_id: object = None
    timestamp: object = None
    turn_id: object = None
    model: object = None
    message: object = None
    text: object = None
    item: object = None
    info: _Info | None = None


class _Line(msgspec.Struct):
    type: str = ""
    timestamp: str | None = None
    payload: _Payload | None = None


_decoder = msgspec.json.Decoder(_Line)


@dataclass(slots=True)
class Meta:
    native_id: str
    timestamp: float | None
    cwd: str | None
    forked_from: str | None


@dataclass(slots=True)
class Context:
    turn_id: str | None
    model: str | None


@dataclass(slots=True)
class TokenCount:
    offset: int
    timestamp: float | None
    total: tuple[int, int, int, int]  # input (with cached), cached, output, reasoning


@dataclass(slots=True)
class Prompt:
    text: str


Fact = Meta | Context | TokenCount | Prompt


def skip(head: bytes) -> bool:
    """A response item (tool output, reasoning, message): never a usage record."""
    return _RESPONSE_ITEM in head[:256]


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def fact(line: bytes, offset: int) -> Fact | None:
    """Decode one candidate line; ``msgspec.DecodeError`` means a bad line."""
    record = _decoder.decode(line)
    payload = record.payload
    if payload is None:
        return None
    if record.type == "session_meta":
        native_id = _str(payload.id)
        if native_id is None:
            return None
        stamp = _str(payload.timestamp) or record.timestamp
        return Meta(native_id, parse_iso(stamp), _str(payload.cwd), _str(payload.forked_from_id))
    if record.type == "turn_context":
        return Context(_str(payload.turn_id), _str(payload.model))
    if record.type != "event_msg":
        return None
    if payload.type == "token_count":
        usage = payload.info.total_token_usage if payload.info else None
        if usage is None:
            return None
        total = (
            usage.input_tokens,
            usage.cached_input_tokens,
            usage.output_tokens,
            usage.reasoning_output_tokens,
        )
        return TokenCount(offset, parse_iso(record.timestamp), total)
    if payload.type == "user_message":
        text = _str(payload.message)
        return Prompt(text) if text else None
    role, _, text = _item(payload.item)
    return Prompt(text) if role == "user" and text else None


def _item(item: object) -> tuple[str | None, str, str | None]:
    """(role, id, text) of an item_completed message item."""
    if not isinstance(item, dict) or item.get("type") not in _ITEM_ROLES:
        return None, "", None
    parts = item.get("content")
    texts = [p["text"] for p in parts or () if isinstance(p, dict) and _str(p.get("text"))]
    return _ITEM_ROLES[item["type"]], str(item.get("id") or ""), "\n".join(texts) or None


@dataclass
class FoldState:
    """What folding needs to carry from one read of a file to the next."""

    native_id: str | None = None
    active: str | None = None  # id of the session_meta segment being read
    model: str | None = None
    turn_id: str | None = None
    total: tuple[int, int, int, int] = (0, 0, 0, 0)
    titled: bool = False

    def dump(self) -> dict[str, object]:
        return {
            "native_id": self.native_id,
            "active": self.active,
            "model": self.model,
            "turn_id": self.turn_id,
            "total": list(self.total),
            "titled": self.titled,
        }

    @classmethod
    def load(cls, raw: dict[str, object]) -> "FoldState":
        stored = raw.get("total")
        total = stored if isinstance(stored, list) else [0, 0, 0, 0]
        return cls(
            native_id=_str(raw.get("native_id")),
            active=_str(raw.get("active")),
            model=_str(raw.get("model")),
            turn_id=_str(raw.get("turn_id")),
            total=tuple(int(v) for v in total),  # type: ignore[arg-type]
            titled=bool(raw.get("titled")),
        )


def native_id_for(path: Path) -> str | None:
    """The thread id at the end of ``rollout-<ts>-<uuid>.jsonl``; session_meta confirms it."""
    stem = path.name.removesuffix(".zst").removesuffix(".jsonl")
    return stem[-36:] if len(stem) > 36 else None


def fold(
    facts: list[Fact], state: FoldState, fallback_id: str | None
) -> tuple[list[UsageEntry], SessionFacts | None]:
    """Turn ordered facts into usage entries, advancing ``state``."""
    entries: list[UsageEntry] = []
    session: SessionFacts | None = None
    for item in facts:
        if isinstance(item, Meta):
            if state.native_id is None:
                state.native_id = item.native_id
                session = SessionFacts(
                    item.native_id,
                    started_at=item.timestamp,
                    cwd=item.cwd,
                    parent_native_id=item.forked_from,
                )
            state.active = item.native_id
        elif isinstance(item, Context):
            state.turn_id = item.turn_id or state.turn_id
            state.model = item.model or state.model
        elif isinstance(item, Prompt):
            if not state.titled and state.active == state.native_id and state.native_id:
                state.titled = True
                session = session or SessionFacts(state.native_id)
                session.title = item.text
        else:
            entry = _advance(item, state, fallback_id)
            if entry is not None:
                entries.append(entry)
    if entries:
        session = session or SessionFacts(entries[0].native_id)
        session.ended_at = max(e.timestamp for e in entries)
        session.model = entries[-1].model
    return entries, session


def _advance(item: TokenCount, state: FoldState, fallback_id: str | None) -> UsageEntry | None:
    previous = state.total
    if item.total == previous:
        return None
    reset = any(now < before for now, before in zip(item.total, previous, strict=True))
    delta = item.total if reset else tuple(n - b for n, b in zip(item.total, previous, strict=True))
    state.total = item.total
    native_id = state.native_id or fallback_id
    if native_id is None or item.timestamp is None:
        return None
    if state.active is not None and state.active != native_id:
        return None  # replayed history of the fork's parent: baseline only
    input_all, cached, output, reasoning = delta
    return UsageEntry(
        key=f"{native_id}:{item.offset}",
        native_id=native_id,
        timestamp=item.timestamp,
        model=state.model or "unknown",
        input_tokens=max(input_all - cached, 0),
        cached_input_tokens=cached,
        cache_write_tokens=0,
        output_tokens=output,
        reasoning_tokens=reasoning,
        turn_key=state.turn_id,
    )


def head(block: bytes, native_id: str | None) -> SessionFacts | None:
    """Codex's first line is session_meta; fold() reads it, so the head adds nothing."""
    del block
    return None


def transcript_item(line: bytes, native_id: str, offset: int) -> list[TranscriptItem]:
    """User prompts, agent messages and reasoning summaries, keyed by line offset."""
    record = _decoder.decode(line)
    payload = record.payload
    if record.type != "event_msg" or payload is None:
        return []
    timestamp = parse_iso(record.timestamp) or 0.0
    role, item_id, item_text = _item(payload.item)
    if role is not None and item_text:
        key = f"codex:{native_id}:{item_id or offset}"
        return [TranscriptItem(key, native_id, timestamp, EventKind.MESSAGE.value, item_text, role)]
    kinds = {
        "user_message": (EventKind.MESSAGE, "user", payload.message),
        "agent_message": (EventKind.MESSAGE, "assistant", payload.message),
        "agent_reasoning": (EventKind.REASONING, "assistant", payload.text),
    }
    if payload.type not in kinds:
        return []
    kind, role, text = kinds[payload.type]
    if not isinstance(text, str) or not text:
        return []
    key = f"codex:{native_id}:{offset}"
    return [TranscriptItem(key, native_id, timestamp, kind.value, text, role)]
