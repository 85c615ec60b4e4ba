"""Transcript items of one native record: which blocks and events become which items."""

import json

from tether.history import claude, codex
from tether.history.facts import TranscriptItem

TS = "2026-03-02T07:34:35.000Z"
EPOCH = 1772436875.0


def _line(record: dict[str, object]) -> bytes:
    return json.dumps(record).encode()


def _claude(message: dict[str, object], **record: object) -> list[TranscriptItem]:
    line = _line({"type": "assistant", "timestamp": TS, "uuid": "u1", **record, "message": message})
    return claude.transcript_item(line, "n", 42)


def test_claude_blocks_become_items_keyed_by_uuid_and_index() -> None:
    blocks = [
        {"type": "thinking", "thinking": "hmm"},
        {"type": "text", "text": ""},
        {"type": "tool_use", "name": "Bash", "input": {"command": "ls"}},
        {"type": "tool_result", "content": [{"type": "text", "text": "a.txt"}]},
        {"type": "image"},
        {"type": "text", "text": "done"},
    ]
    items = _claude({"role": "assistant", "content": blocks})
    assert [(i.key, i.kind, i.text, i.role) for i in items] == [
        ("claude:u1:0", "reasoning", "hmm", "assistant"),
        ("claude:u1:2", "tool_call", 'Bash: {"command":"ls"}', "assistant"),
        ("claude:u1:3", "tool_result", '[{"type":"text","text":"a.txt"}]', "assistant"),
        ("claude:u1:5", "message", "done", "assistant"),
    ]
    assert {(i.native_id, i.timestamp) for i in items} == {("n", EPOCH)}


def test_claude_plain_prompt_role_and_skipped_records() -> None:
    prompt = _claude({"content": "hello"}, type="user", uuid=None)
    assert prompt == [TranscriptItem("claude:42:0", "n", EPOCH, "message", "hello", "user")]
    assert _claude({"content": ""}, type="user") == []
    assert _claude({"role": "user", "content": "x"}, isMeta=True) == []
    assert _claude({"role": "user", "content": "x"}, type="summary") == []


def _codex(payload: dict[str, object]) -> list[TranscriptItem]:
    line = _line({"timestamp": TS, "type": "event_msg", "payload": payload})
    return codex.transcript_item(line, "t", 7)


def test_codex_events_and_completed_items() -> None:
    assert _codex({"type": "user_message", "message": "go"}) == [
        TranscriptItem("codex:t:7", "t", EPOCH, "message", "go", "user")
    ]
    assert _codex({"type": "agent_message", "message": "ok"})[0].role == "assistant"
    assert _codex({"type": "agent_reasoning", "text": "why", "message": "no"}) == [
        TranscriptItem("codex:t:7", "t", EPOCH, "reasoning", "why", "assistant")
    ]
    item = {"type": "AgentMessage", "id": "m1", "content": [{"text": "a"}, {"text": "b"}]}
    assert _codex({"type": "item_completed", "item": item}) == [
        TranscriptItem("codex:t:m1", "t", EPOCH, "message", "a\nb", "assistant")
    ]
    assert _codex({"type": "agent_message", "message": ""}) == []
    assert _codex({"type": "token_count", "info": None}) == []
