"""Codex rollouts: ``<home>/{sessions,archived_sessions}/**/rollout-*.jsonl[.zst]``.

Usage comes from ``token_count`` events: their ``total_token_usage`` is
cumulative, so an entry is the advance of the total over the previous one
(repeats are skipped, a smaller total is a reset), priced with the model of
the latest ``turn_context``.

Forks and sub-agents (the first ``session_meta`` has ``forked_from_id`` or
``source.subagent.thread_spawn.parent_thread_id``) carry their ancestors'
usage in two ways, and each token is counted once, in the thread that spent
it:

- Codex 0.169 ``exec fork`` (tests/data/recorded/forks/codex) replays
  nothing, but the fork's cumulative total starts from the parent's: its
  first ``token_count`` total is the parent's total plus the fork's own
  ``last_token_usage``. The first count of a fork therefore counts only its
  ``last_token_usage``; the rest of that total is the parent's.
- Other builds and sub-agents open the rollout with copies of the ancestors'
  ``session_meta`` lines and the parent's history written in one burst,
  re-stamped to the fork instant or with their original (earlier) times
  (ccusage #1370 and #1460, t3code #5887). That replay only moves the
  baseline. It ends at the fork's own ``session_meta`` written again, or at
  the first record more than ``BURST_GAP_S`` after every record before it:
  copies are written in one synchronous burst, the child's own turn comes
  after a model response.
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
_MESSAGE = EventKind.MESSAGE.value
_EVENTS = {  # an event_msg payload's type: its kind, role and the field holding its text
    "user_message": (_MESSAGE, "user", "message"),
    "agent_message": (_MESSAGE, "assistant", "message"),
    "agent_reasoning": (EventKind.REASONING.value, "assistant", "text"),
}
BURST_GAP_S = 1.0  # the gap ccusage and t3code use to end a fork's replayed burst


class _Tokens(msgspec.Struct):
    input_tokens: int = 0
    cached_input_tokens: int = 0
    output_tokens: int = 0
    reasoning_output_tokens: int = 0
    total_tokens: int = 0


class _Info(msgspec.Struct):
    total_token_usage: _Tokens | None = None
    last_token_usage: _Tokens | None = None


class _Payload(msgspec.Struct):
    type: str | None = None
    id: object = None
    cwd: object = None
    forked_from_id: object = None
    source: object = None
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


Totals = tuple[int, int, int, int]  # input (with cached), cached, output, reasoning
ZERO: Totals = (0, 0, 0, 0)


@dataclass(slots=True)
class Meta:
    native_id: str
    timestamp: float | None
    cwd: str | None
    forked_from: str | None  # the parent of a fork or of a sub-agent


@dataclass(slots=True)
class Context:
    turn_id: str | None
    model: str | None
    timestamp: float | None = None


@dataclass(slots=True)
class TokenCount:
    offset: int
    timestamp: float | None
    total: Totals
    last: Totals | None = None


@dataclass(slots=True)
class Prompt:
    text: str


Fact = Meta | Context | TokenCount | Prompt


def skip(data: bytes, start: int, stop: int) -> bool:
    """A response item (tool output, reasoning, message): never a usage record."""
    return data.find(_RESPONSE_ITEM, start, min(stop, start + 256)) >= 0


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _spawn_parent(source: object) -> str | None:
    """``source.subagent.thread_spawn.parent_thread_id`` of a sub-agent's session_meta."""
    for key in ("subagent", "thread_spawn", "parent_thread_id"):
        if not isinstance(source, dict):
            return None
        source = source.get(key)
    return _str(source)


def _totals(usage: _Tokens) -> Totals:
    return (
        usage.input_tokens,
        usage.cached_input_tokens,
        usage.output_tokens,
        usage.reasoning_output_tokens,
    )


def fact(line: bytes, native_id: str, offset: int) -> Fact | None:
    """Decode one candidate line; ``msgspec.DecodeError`` means a bad line. The thread's id
    is its session_meta's (``native_id``, from the file name, is only a fallback in fold)."""
    del native_id
    record = _decoder.decode(line)
    payload = record.payload
    if payload is None:
        return None
    if record.type == "session_meta":
        thread = _str(payload.id)
        if thread is None:
            return None
        stamp = _str(payload.timestamp) or record.timestamp
        parent = _str(payload.forked_from_id) or _spawn_parent(payload.source)
        return Meta(thread, parse_iso(stamp), _str(payload.cwd), parent)
    if record.type == "turn_context":
        return Context(_str(payload.turn_id), _str(payload.model), parse_iso(record.timestamp))
    if record.type != "event_msg":
        return None
    if payload.type == "token_count":
        info = payload.info
        if info is None or info.total_token_usage is None:
            return None
        last = _totals(info.last_token_usage) if info.last_token_usage else None
        return TokenCount(
            offset, parse_iso(record.timestamp), _totals(info.total_token_usage), last
        )
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
    fork: bool = False  # the rollout of a fork or a sub-agent
    replay: bool = False  # inside the copied history at the head of a fork
    counted: bool = False  # a token count of this thread's own was seen
    last_ts: float | None = None  # the latest record time so far
    model: str | None = None
    turn_id: str | None = None
    total: Totals = ZERO
    titled: bool = False

    def dump(self) -> dict[str, object]:
        return {
            "native_id": self.native_id,
            "fork": self.fork,
            "replay": self.replay,
            "counted": self.counted,
            "last_ts": self.last_ts,
            "model": self.model,
            "turn_id": self.turn_id,
            "total": list(self.total),
            "titled": self.titled,
        }

    @classmethod
    def load(cls, raw: dict[str, object]) -> "FoldState":
        stored = raw.get("total")
        total = stored if isinstance(stored, list) else [0, 0, 0, 0]
        last_ts = raw.get("last_ts")
        return cls(
            native_id=_str(raw.get("native_id")),
            fork=bool(raw.get("fork")),
            replay=bool(raw.get("replay")),
            counted=bool(raw.get("counted")),
            last_ts=float(last_ts) if isinstance(last_ts, int | float) else None,
            model=_str(raw.get("model")),
            turn_id=_str(raw.get("turn_id")),
            total=tuple(int(v) for v in total),  # type: ignore[arg-type]
            titled=bool(raw.get("titled")),
        )

    def see(self, timestamp: float | None) -> None:
        """A record's time: a gap after the burst ends a fork's replay."""
        if timestamp is None:
            return
        if self.replay and self.last_ts is not None and timestamp > self.last_ts + BURST_GAP_S:
            self.replay = False
        if self.last_ts is None or timestamp > self.last_ts:
            self.last_ts = timestamp


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
            session = _meta(item, state) or session
        elif isinstance(item, Context):
            state.see(item.timestamp)
            state.turn_id = item.turn_id or state.turn_id
            state.model = item.model or state.model
        elif isinstance(item, Prompt):
            if not state.titled and not state.replay and state.native_id:
                state.titled = True
                session = session or SessionFacts(state.native_id)
                session.title = item.text
        else:
            state.see(item.timestamp)
            entry = _advance(item, state, fallback_id)
            if entry is not None:
                entries.append(entry)
    if entries:
        session = session or SessionFacts(entries[0].native_id)
        session.ended_at = max(e.timestamp for e in entries)
        session.model = entries[-1].model
    return entries, session


def _meta(item: Meta, state: FoldState) -> SessionFacts | None:
    """The first session_meta is the thread's own; later ones open or close a replay."""
    if state.native_id is None:
        state.native_id = item.native_id
        state.fork = item.forked_from is not None
        state.see(item.timestamp)
        return SessionFacts(
            item.native_id,
            started_at=item.timestamp,
            cwd=item.cwd,
            parent_native_id=item.forked_from,
        )
    if item.native_id == state.native_id:
        state.replay = False  # the fork's own meta written again after the replay
    elif state.fork and not state.counted:
        state.replay = True  # an ancestor's meta copied ahead of its history
    return None


def _advance(item: TokenCount, state: FoldState, fallback_id: str | None) -> UsageEntry | None:
    previous = state.total
    if item.total == previous:
        return None
    state.total = item.total
    if state.replay:
        return None  # the parent's history copied into a fork: baseline only
    if state.fork and not state.counted and _within(item.last, item.total):
        delta: Totals = item.last  # type: ignore[assignment]  # the rest is inherited
    else:
        delta = _since(item.total, previous)
    state.counted = True
    native_id = state.native_id or fallback_id
    if native_id is None or item.timestamp is None:
        return None
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


def _since(total: Totals, previous: Totals) -> Totals:
    """What a cumulative total added to the previous one: all of it after a reset (a total
    smaller in any kind). Unrolled: it runs once per token count."""
    fresh, cached, output, reasoning = total
    was_fresh, was_cached, was_output, was_reasoning = previous
    if fresh < was_fresh or cached < was_cached or output < was_output or reasoning < was_reasoning:
        return total
    return fresh - was_fresh, cached - was_cached, output - was_output, reasoning - was_reasoning


def _within(last: Totals | None, total: Totals) -> bool:
    return last is not None and all(
        0 <= part <= whole for part, whole in zip(last, total, strict=True)
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
        return [TranscriptItem(key, native_id, timestamp, _MESSAGE, item_text, role)]
    event = _EVENTS.get(payload.type or "")
    if event is None:
        return []
    kind, role, field = event
    text = getattr(payload, field)
    if not isinstance(text, str) or not text:
        return []
    return [TranscriptItem(f"codex:{native_id}:{offset}", native_id, timestamp, kind, text, role)]
