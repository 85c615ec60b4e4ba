"""Realistic Claude Code and Codex native-log trees with known exact usage.

Used by the tests and by ``bench/history.py``. The trees have what real
ones have: streamed duplicate lines of one API response, tool results of
several MB, forks, sub-agents, repeated and null token counts. ``Expected``
is the ground truth tether must report. Forks are written as the CLIs write
them:

- Claude Code ``--resume --fork-session`` (tests/data/recorded/forks/claude):
  the parent's records copied with the fork's ``sessionId`` and the same
  message ids, request ids and uuids; sub-agents (its Agent tool) in
  ``<session>/subagents/agent-*.jsonl`` with the session's ``sessionId``.
- Codex 0.169 ``exec fork`` (tests/data/recorded/forks/codex): no replayed
  history, but the fork's cumulative totals go on from the parent's.
- Other Codex builds' forks, which this machine cannot record (ccusage #1370,
  #1460; t3code #5887): the parent's rollout copied after the fork's
  session_meta in one burst re-stamped to the fork instant, the fork's own
  turn seconds later, totals going on from the parent's.
- Codex sub-agents (``source.subagent.thread_spawn.parent_thread_id``;
  PokeTokenBar #137 from Codex 0.142 and 0.145, t3code #5887): the parent's
  session_meta copied after the child's, no replayed usage, totals of its own.
"""

import json
import random
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

CLAUDE_MODELS = ("claude-sonnet-4-5-20250929", "claude-opus-4-5-20251101")
CODEX_MODELS = ("gpt-5.1", "gpt-5.1-codex", "gpt-5-codex")
CODEX_FORKS = ("exec", "replay", "subagent")  # how a Codex child thread is written
KINDS = ("input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens")


@dataclass
class Expected:
    """Exact usage per (agent, native id), per UTC day and per model."""

    sessions: dict[tuple[str, str], Counter[str]] = field(default_factory=dict)
    days: dict[str, Counter[str]] = field(default_factory=dict)
    models: dict[str, Counter[str]] = field(default_factory=dict)
    bytes: int = 0

    def add(self, agent: str, native_id: str, ts: float, model: str, usage: dict[str, int]) -> None:
        day = datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")
        for bucket in (
            self.sessions.setdefault((agent, native_id), Counter()),
            self.days.setdefault(day, Counter()),
            self.models.setdefault(model, Counter()),
        ):
            bucket.update(usage)

    def total(self) -> Counter[str]:
        out: Counter[str] = Counter()
        for counter in self.sessions.values():
            out.update(counter)
        return out


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _dump(record: dict[str, Any]) -> str:
    """One line as the CLIs write it: compact, non-ASCII as UTF-8, not escaped (a recorded
    Claude line holds a raw em dash: tests/data/recorded/claude/failed.jsonl)."""
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False) + "\n"


@cache
def _corpus() -> str:
    """Text shaped like what agents read and print: this Python's own standard library
    sources (code, prose, quotes, backslashes and newlines, which JSON escapes, and a rich
    vocabulary for the full-text index), about 2 MB of it."""
    parts: list[str] = []
    size = 0
    for path in sorted(Path(json.__file__).parent.parent.glob("*.py")):
        text = path.read_text(encoding="utf-8", errors="replace")
        parts.append(text)
        size += len(text)
        if size >= 2_000_000:
            break
    return "".join(parts)


def _filler(rng: random.Random, size: int) -> str:
    """``size`` characters of the corpus from a random place (repeated past its end)."""
    corpus = _corpus()
    start = rng.randrange(len(corpus))
    text = corpus[start : start + size]
    while len(text) < size:
        text += corpus[: size - len(text)]
    return text


def _tool_output_size(rng: random.Random, big_bytes: int, usual: int) -> int:
    """Mostly small; one in 500 a big output (a log, a dump) of up to ``big_bytes``."""
    if big_bytes and rng.random() < 0.002:
        return rng.randint(big_bytes // 8, big_bytes)
    return rng.randint(200, usual)


def session_turns(rng: random.Random) -> int:
    """Turns of a session: most are short, a few very long (median 9, mean about 15)."""
    return max(1, min(500, round(rng.lognormvariate(2.2, 1.0))))


@dataclass
class ClaudeSession:
    native_id: str
    cwd: str
    lines: list[str] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)  # what a fork copies
    end: float = 0.0  # its last record's time


def _queued(native_id: str, ts: float, prompt: str) -> list[str]:
    """The enqueue and dequeue lines Claude Code 2.1 writes before a session's prompt (none
    in a sub-agent's transcript). A fork does not copy them: its file opens with its own
    first prompt's, stamped at the fork, before the copies (tests/data/recorded/forks/claude),
    so a parent's first timestamp is earlier than its fork's."""
    return [
        _dump(
            {"type": "queue-operation", "operation": "enqueue", "timestamp": iso(ts - 0.4)}
            | {"sessionId": native_id, "content": prompt}
        ),
        _dump(
            {"type": "queue-operation", "operation": "dequeue", "timestamp": iso(ts - 0.39)}
            | {"sessionId": native_id}
        ),
    ]


def claude_session(
    rng: random.Random,
    expected: Expected,
    start: float,
    turns: int,
    cwd: str = "/work/app",
    parent: ClaudeSession | None = None,
    big_bytes: int = 0,
    native_id: str | None = None,
) -> ClaudeSession:
    """A transcript; a fork starts with copies of ``parent``'s records.

    ``native_id`` given: a subagent transcript of that session (its records
    carry the session's id).
    """
    subagent = native_id is not None
    native_id = native_id or str(uuid.UUID(int=rng.getrandbits(128), version=4))
    session = ClaudeSession(native_id, cwd)
    if parent is not None:  # copied as Claude Code 2.1 copies: only the session id changes
        session.lines.extend(_dump(dict(record, sessionId=native_id)) for record in parent.records)
    ts = start
    for turn in range(turns):
        ts += rng.uniform(5, 600)
        text = f"turn {turn}: {_filler(rng, 200)}"
        if not subagent:  # a fork's first prompt is queued before the copies
            at = 0 if parent is not None and turn == 0 else len(session.lines)
            session.lines[at:at] = _queued(native_id, ts, text)
        prompt = {
            "type": "user",
            "timestamp": iso(ts),
            "sessionId": native_id,
            "uuid": str(uuid.UUID(int=rng.getrandbits(128))),
            "cwd": cwd,
            "message": {"role": "user", "content": text},
        }
        _claude_add(session, prompt)
        model = rng.choice(CLAUDE_MODELS)
        message_id = f"msg_{rng.getrandbits(64):016x}"
        request_id = f"req_{rng.getrandbits(64):016x}"
        usage = {
            "input_tokens": rng.randint(1, 5000),
            "cache_creation_input_tokens": rng.randint(0, 20000),
            "cache_read_input_tokens": rng.randint(0, 150000),
            "output_tokens": rng.randint(50, 4000),
        }
        parts = rng.randint(1, 3)
        dated = ts + rng.uniform(0.1, 3)  # an entry is dated by its first line, as stored
        for part in range(parts):  # streamed: earlier lines carry the start snapshot
            ts = dated if part == 0 else ts + rng.uniform(0.1, 3)
            shown = dict(usage, output_tokens=1 + part) if part < parts - 1 else usage
            _claude_add(
                session,
                {
                    "type": "assistant",
                    "timestamp": iso(ts),
                    "sessionId": native_id,
                    "uuid": str(uuid.UUID(int=rng.getrandbits(128))),
                    "requestId": request_id,
                    "cwd": cwd,
                    "message": {
                        "id": message_id,
                        "model": model,
                        "role": "assistant",
                        "content": [{"type": "text", "text": _filler(rng, rng.randint(100, 3000))}],
                        "usage": shown,
                    },
                },
            )
        expected.add(
            "claude",
            native_id,
            dated,
            model,
            {
                "input_tokens": usage["input_tokens"],
                "cached_input_tokens": usage["cache_read_input_tokens"],
                "cache_write_tokens": usage["cache_creation_input_tokens"],
                "output_tokens": usage["output_tokens"],
            },
        )
        size = _tool_output_size(rng, big_bytes, 10000)
        _claude_add(
            session,
            {
                "type": "user",
                "timestamp": iso(ts + 1),
                "sessionId": native_id,
                "uuid": str(uuid.UUID(int=rng.getrandbits(128))),
                "cwd": cwd,
                "message": {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": "t", "content": _filler(rng, size)}
                    ],
                },
            },
        )
    session.end = ts + 1
    return session


def _claude_add(session: ClaudeSession, record: dict[str, Any]) -> None:
    session.records.append(record)
    session.lines.append(_dump(record))


def write_claude(root: Path, session: ClaudeSession, subagent_of: str | None = None) -> Path:
    slug = "".join(c if c.isalnum() else "-" for c in session.cwd)
    if subagent_of is None:
        path = root / "projects" / slug / f"{session.native_id}.jsonl"
    else:
        name = f"agent-{session.records[0]['uuid'][:8]}.jsonl"
        path = root / "projects" / slug / subagent_of / "subagents" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        handle.writelines(session.lines)
    return path


@dataclass
class CodexSession:
    native_id: str
    cwd: str
    lines: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)  # its own session_meta record
    total: tuple[int, int, int, int] = (0, 0, 0, 0)
    start: float = 0.0


def _codex_meta(
    native_id: str, ts: float, cwd: str, parent: str | None, how: str
) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "id": native_id,
        "timestamp": iso(ts),
        "cwd": cwd,
        "originator": "codex_exec",
        "cli_version": "0.169.0",
        "source": "exec",
    }
    if parent and how == "subagent":
        payload["source"] = {"subagent": {"thread_spawn": {"parent_thread_id": parent}}}
    elif parent:
        payload["forked_from_id"] = parent
    return {"timestamp": iso(ts), "type": "session_meta", "payload": payload}


def codex_session(
    rng: random.Random,
    expected: Expected,
    start: float,
    turns: int,
    cwd: str = "/work/api",
    parent: CodexSession | None = None,
    big_bytes: int = 0,
    how: str = "exec",
) -> CodexSession:
    """A rollout; with ``parent``, a child thread written the ``how`` way (CODEX_FORKS)."""
    native_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    session = CodexSession(native_id, cwd, start=start)
    parent_id = parent.native_id if parent else None
    own_meta = _codex_meta(native_id, start, cwd, parent_id, how)
    session.lines.append(_dump(own_meta))
    if parent is not None and how == "subagent":
        session.lines.append(_dump(dict(parent.meta, timestamp=iso(start))))
    elif parent is not None:
        if how == "replay":  # the parent's rollout, re-stamped to the fork instant
            session.lines.extend(
                _dump(dict(json.loads(line), timestamp=iso(start))) for line in parent.lines
            )
        session.total = parent.total
    session.meta = own_meta
    ts = start
    for turn in range(turns):
        ts += rng.uniform(5, 600)
        model = rng.choice(CODEX_MODELS)
        turn_id = f"turn-{rng.getrandbits(48):012x}"
        _codex_add(session, ts, "turn_context", {"turn_id": turn_id, "cwd": cwd, "model": model})
        _codex_add(session, ts, "event_msg", {"type": "user_message", "message": f"task {turn}"})
        _codex_add(session, ts, "event_msg", {"type": "token_count", "info": None})
        for _ in range(rng.randint(1, 3)):
            ts += rng.uniform(1, 30)
            size = _tool_output_size(rng, big_bytes, 12000)
            _codex_add(
                session,
                ts,
                "response_item",
                {"type": "function_call_output", "call_id": "c", "output": _filler(rng, size)},
            )
            cached = rng.randint(0, 100000)
            delta = (
                cached + rng.randint(1, 8000),
                cached,
                rng.randint(10, 3000),
                rng.randint(0, 500),
            )
            delta = (delta[0], delta[1], delta[2] + delta[3], delta[3])  # output includes reasoning
            session.total = tuple(  # type: ignore[assignment]
                a + b for a, b in zip(session.total, delta, strict=True)
            )
            info = {
                "total_token_usage": _codex_usage(session.total),
                "last_token_usage": _codex_usage(delta),
            }
            _codex_add(session, ts, "event_msg", {"type": "token_count", "info": info})
            _codex_add(session, ts, "event_msg", {"type": "token_count", "info": info})  # repeat
            expected.add(
                "codex",
                native_id,
                ts,
                model,
                {
                    "input_tokens": delta[0] - delta[1],
                    "cached_input_tokens": delta[1],
                    "cache_write_tokens": 0,
                    "output_tokens": delta[2],
                },
            )
        _codex_add(session, ts, "event_msg", {"type": "agent_message", "message": "done"})
    return session


def _codex_usage(values: tuple[int, int, int, int]) -> dict[str, int]:
    return {
        "input_tokens": values[0],
        "cached_input_tokens": values[1],
        "output_tokens": values[2],
        "reasoning_output_tokens": values[3],
        "total_tokens": values[0] + values[2],
    }


def _codex_add(session: CodexSession, ts: float, kind: str, payload: dict[str, Any]) -> None:
    session.lines.append(_dump({"timestamp": iso(ts), "type": kind, "payload": payload}))


def write_codex(root: Path, session: CodexSession, archived: bool = False) -> Path:
    moment = datetime.fromtimestamp(session.start, UTC)
    base = root / ("archived_sessions" if archived else "sessions") / moment.strftime("%Y/%m/%d")
    base.mkdir(parents=True, exist_ok=True)
    path = base / f"rollout-{moment.strftime('%Y-%m-%dT%H-%M-%S')}-{session.native_id}.jsonl"
    with path.open("a", encoding="utf-8") as handle:
        handle.writelines(session.lines)
    return path


def write_tree(
    claude_root: Path,
    codex_root: Path,
    target_bytes: int,
    seed: int = 7,
    big_bytes: int = 0,
    start: float = 1767225600.0,  # 2026-01-01T00:00:00Z
) -> Expected:
    """Sessions over ~60 days until the tree holds ``target_bytes``; 1 in 10 is a fork.

    Sized like a heavy user's history: about 2,500 sessions and 60,000 usage
    entries per GB, most sessions small, a few long, rare lines of several MB.
    """
    rng = random.Random(seed)
    expected = Expected()
    written = 0
    claude_parents: list[ClaudeSession] = []
    codex_parents: list[CodexSession] = []
    while written < target_bytes:
        at = start + rng.uniform(0, 60 * 86400)
        turns = session_turns(rng)
        if rng.random() < 0.5:
            parent = rng.choice(claude_parents) if claude_parents and rng.random() < 0.1 else None
            if parent is not None:  # forked from what the parent had written
                at = max(at, parent.end + 60)
            session = claude_session(rng, expected, at, turns, parent=parent, big_bytes=big_bytes)
            path = write_claude(claude_root, session)
            claude_parents.append(session)
            if rng.random() < 0.1:
                sub = claude_session(rng, expected, at, 3, native_id=session.native_id)
                sub_path = write_claude(claude_root, sub, subagent_of=session.native_id)
                written += sub_path.stat().st_size
            claude_parents = claude_parents[-20:]
        else:
            parent_c = rng.choice(codex_parents) if codex_parents and rng.random() < 0.1 else None
            if parent_c is not None:
                at = max(at, parent_c.start + 86400)
            c_session = codex_session(
                rng,
                expected,
                at,
                turns,
                parent=parent_c,
                big_bytes=big_bytes,
                how=rng.choice(CODEX_FORKS),
            )
            path = write_codex(codex_root, c_session)
            codex_parents.append(c_session)
            codex_parents = codex_parents[-20:]
        written += path.stat().st_size
    expected.bytes = written
    return expected
