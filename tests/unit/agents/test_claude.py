"""ClaudeParser and ClaudeProvider: samples written from AGENT_CLIS.md plus lines
captured from claude-code 2.1.197 against a closed loopback port."""

import json
from pathlib import Path

import pytest

from tether.agents import claude
from tether.agents.claude import ClaudeParser, ClaudeProvider
from tether.agents.provider import TurnRequest
from tether.domain.records import EventKind, Usage
from tether.domain.stream import Outcome, StreamEvent
from tether.errors import ProviderError

SID = "250bf523-bdd7-4a09-8f01-1af3dcd95327"
RECORDED = Path(__file__).parents[2] / "data" / "recorded" / "claude"


def lines(*records: object) -> list[bytes]:
    return [json.dumps(r).encode() for r in records]


def feed_all(raw: list[bytes]) -> list[StreamEvent]:
    parser = ClaudeParser()
    return [event for line in raw for event in parser.feed(line)]


def assistant(*content: object) -> dict[str, object]:
    snapshot = {"input_tokens": 3, "output_tokens": 1}  # message_start snapshot: ignored
    message = {"id": "msg_1", "model": "claude-sonnet-4-5", "content": list(content)}
    return {"type": "assistant", "message": {**message, "usage": snapshot}, "session_id": SID}


RESULT_OK = {
    "type": "result",
    "subtype": "success",
    "is_error": False,
    "num_turns": 2,
    "result": "Fixed.",
    "session_id": SID,
    "total_cost_usd": 0.0123,
    "usage": {
        "input_tokens": 12,
        "cache_creation_input_tokens": 500,
        "cache_read_input_tokens": 4000,
        "output_tokens": 90,
    },
}

NORMAL = lines(
    {"type": "system", "subtype": "hook_started", "session_id": SID},
    {"type": "system", "subtype": "init", "session_id": SID, "model": "claude-sonnet-4-5"},
    assistant({"type": "thinking", "thinking": "look first"}),
    assistant({"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"command": "ls"}}),
    {
        "type": "user",
        "message": {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "a.txt"}],
        },
        "session_id": SID,
    },
    {"type": "rate_limit_event", "session_id": SID},
    assistant({"type": "text", "text": "Fixed."}),
    RESULT_OK,
)


def test_normal_stream_maps_to_events_in_order() -> None:
    events = feed_all(NORMAL)
    assert [e.kind for e in events] == [
        EventKind.NATIVE_ID,
        EventKind.REASONING,
        EventKind.TOOL_CALL,
        EventKind.TOOL_RESULT,
        EventKind.MESSAGE,
        EventKind.USAGE,
    ]
    assert events[2].data == {"tool": "Bash", "call_id": "toolu_1", "input": "ls"}
    assert events[3].text == "a.txt" and events[3].data == {"call_id": "toolu_1", "status": "ok"}
    assert events[4].text == "Fixed."
    assert [e.outcome for e in events] == [None] * 5 + [Outcome.COMPLETED]


def test_native_id_captured_once_even_from_hook_lines() -> None:
    events = feed_all(NORMAL)
    ids = [e for e in events if e.kind is EventKind.NATIVE_ID]
    assert len(ids) == 1 and ids[0].native_id == SID


def test_model_from_init_rides_on_the_next_event() -> None:
    events = feed_all(NORMAL)
    assert [e.model for e in events] == [None, "claude-sonnet-4-5", None, None, None, None]


def test_usage_from_result_not_from_snapshots() -> None:
    usage = feed_all(NORMAL)[-1]
    assert usage.usage == Usage(12, 4000, 500, 90, 0)
    assert usage.usage_is_cumulative is False
    assert usage.data["input_includes_cached"] is False
    assert usage.data["session_cost_usd"] == 0.0123
    assert sum(1 for e in feed_all(NORMAL) if e.kind is EventKind.USAGE) == 1


def test_is_error_with_subtype_success_fails() -> None:
    # Captured from claude-code 2.1.197 with the API unreachable.
    raw = [
        b'{"type":"system","subtype":"init","cwd":"/tmp/cl/ws","session_id":"' + SID.encode()
        + b'","tools":["Task","Bash"],"model":"claude-opus-4-8[1m]","permissionMode":"plan"}',
        b'{"type":"assistant","message":{"id":"f61a","model":"<synthetic>","role":"assistant",'
        b'"usage":{"input_tokens":0,"output_tokens":0},"content":[{"type":"text","text":'
        b'"API Error: Unable to connect to API (ConnectionRefused)"}]},"parent_tool_use_id":null,'
        b'"session_id":"' + SID.encode() + b'","error":"server_error"}',
        b'{"type":"result","subtype":"success","is_error":true,"num_turns":1,"result":'
        b'"API Error: Unable to connect to API (ConnectionRefused)","session_id":"'
        + SID.encode() + b'","total_cost_usd":0,"usage":{"input_tokens":0,'
        b'"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":0},'
        b'"modelUsage":{},"terminal_reason":"completed"}',
    ]  # fmt: skip
    events = feed_all(raw)
    assert [e.kind for e in events] == [
        EventKind.NATIVE_ID,
        EventKind.ERROR,
        EventKind.USAGE,
        EventKind.ERROR,
    ]
    assert events[0].model == "claude-opus-4-8[1m]"  # init: native id and model together
    assert events[1].outcome is None
    assert events[2].outcome is None
    assert events[3].outcome is Outcome.FAILED
    assert events[3].text == "API Error: Unable to connect to API (ConnectionRefused)"


def test_error_subtype_fails_with_a_readable_reason() -> None:
    result = {"type": "result", "subtype": "error_during_execution", "is_error": False}
    events = feed_all(lines(result))
    assert events[-1].outcome is Outcome.FAILED
    assert "error_during_execution" in events[-1].text
    with_errors = {**result, "errors": ["No conversation found with session ID x"]}
    assert feed_all(lines(with_errors))[-1].text == "No conversation found with session ID x"


def test_api_retry_is_a_nonfatal_error() -> None:
    retry = {"type": "system", "subtype": "api_retry", "attempt": 1, "max_retries": 3}
    events = feed_all(lines({**retry, "error": "overloaded"}))
    assert events[0].kind is EventKind.ERROR and events[0].outcome is None
    assert "1/3" in events[0].text and events[0].data["retry"] is True


def test_tool_result_content_list_and_error_status() -> None:
    block = {
        "type": "tool_result",
        "tool_use_id": "t",
        "is_error": True,
        "content": [{"type": "text", "text": "boom"}, {"type": "image"}],
    }
    events = feed_all(lines({"type": "user", "message": {"content": [block]}}))
    assert events[0].text == "boom" and events[0].data["status"] == "error"


@pytest.mark.parametrize(
    "record",
    [
        {"type": "stream_event", "event": {}},
        {"type": None},
        {"type": "assistant", "message": None},
        {"type": "assistant", "message": {"content": "a string"}},
        {"type": "assistant", "message": {"content": [1, None, {"type": "tool_use"}]}},
        {"type": "user", "message": {"content": "plain prompt"}},
        {"type": "result", "usage": None, "total_cost_usd": "lots"},
        {"type": "system", "subtype": "init", "session_id": ["x"], "model": 3},
    ],
)
def test_odd_records_never_raise(record: dict[str, object]) -> None:
    events = ClaudeParser().feed(json.dumps(record).encode())
    assert all(isinstance(e, StreamEvent) for e in events)
    if record["type"] in ("stream_event", None):
        assert events == []


def test_one_megabyte_line() -> None:
    text = "z" * 1_000_000
    events = ClaudeParser().feed(json.dumps(assistant({"type": "text", "text": text})).encode())
    assert events[-1].text == text


# --- provider ---------------------------------------------------------------


def request(tmp_path: Path, **kw: object) -> TurnRequest:
    return TurnRequest(session_id="web-1", prompt="fix it", workspace=tmp_path, **kw)  # type: ignore[arg-type]


def test_new_turn_preassigns_a_uuid(tmp_path: Path) -> None:
    launch = ClaudeProvider().new_turn(request(tmp_path))
    assert launch.native_id is not None
    assert launch.argv == (
        "claude", "-p", f"--session-id={launch.native_id}",
        "--output-format", "stream-json", "--verbose",
        "--permission-mode=acceptEdits", "--allowedTools=Bash,Edit,Write,Read",
        "--", "fix it",
    )  # fmt: skip
    assert launch.cwd == tmp_path
    assert ClaudeProvider().new_turn(request(tmp_path)).native_id != launch.native_id


def test_new_turn_uses_an_engine_preassigned_id(tmp_path: Path) -> None:
    launch = ClaudeProvider().new_turn(request(tmp_path, native_id=SID, model="opus"))
    assert launch.native_id == SID
    assert f"--session-id={SID}" in launch.argv and "--model=opus" in launch.argv


def test_resume_argv(tmp_path: Path) -> None:
    options = {"permission_mode": "plan", "allowed_tools": []}
    launch = ClaudeProvider().resume_turn(request(tmp_path, native_id=SID, options=options))
    assert launch.argv == (
        "claude", "-p", f"--resume={SID}", "--output-format", "stream-json", "--verbose",
        "--permission-mode=plan", "--", "fix it",
    )  # fmt: skip


def test_prompt_starting_with_dash_follows_double_dash(tmp_path: Path) -> None:
    prompt = "--dangerously-skip-permissions please"
    argv = ClaudeProvider().new_turn(TurnRequest("web-1", prompt, tmp_path)).argv
    assert argv[-2:] == ("--", prompt)
    assert "--dangerously-skip-permissions" not in argv[:-1]


def test_resume_without_native_id_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ProviderError, match="exact id"):
        ClaudeProvider().resume_turn(request(tmp_path))
    with pytest.raises(ProviderError):
        ClaudeProvider().resume_turn(request(tmp_path, native_id="search words"))
    with pytest.raises(ProviderError):
        ClaudeProvider().interactive(request(tmp_path))


def test_interactive(tmp_path: Path) -> None:
    launch = ClaudeProvider().interactive(request(tmp_path, native_id=SID))
    assert launch.argv == ("claude", f"--resume={SID}")


def test_bypass_as_root_without_sandbox_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    options = {"permission_mode": "bypassPermissions", "command": "/pinned/claude"}
    monkeypatch.setattr(claude.os, "geteuid", lambda: 0)
    monkeypatch.delenv("IS_SANDBOX", raising=False)
    with pytest.raises(ProviderError, match="IS_SANDBOX"):
        ClaudeProvider().new_turn(request(tmp_path, options=options))
    monkeypatch.setenv("IS_SANDBOX", "1")
    argv = ClaudeProvider().new_turn(request(tmp_path, options=options)).argv
    assert argv[0] == "/pinned/claude" and "--permission-mode=bypassPermissions" in argv


def test_bad_options_are_refused(tmp_path: Path) -> None:
    for options in ({"permission_mode": "yolo"}, {"allowed_tools": 5}):
        with pytest.raises(ProviderError):
            ClaudeProvider().new_turn(request(tmp_path, options=options))
    with pytest.raises(ProviderError):
        ClaudeProvider().new_turn(request(tmp_path, native_id="not-a-uuid"))


def test_allowed_tools_as_comma_string(tmp_path: Path) -> None:
    options = {"allowed_tools": "Bash(git *), Edit"}
    argv = ClaudeProvider().new_turn(request(tmp_path, options=options)).argv
    assert "--allowedTools=Bash(git *),Edit" in argv


def test_provider_shape() -> None:
    provider = ClaudeProvider()
    assert provider.name == "claude" and provider.resumable is True
    assert provider.parser() is not provider.parser()
