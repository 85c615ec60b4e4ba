"""CodexParser and CodexProvider: stream samples written from AGENT_CLIS.md and
lines captured from codex 0.169.0 against a closed loopback port."""

import json
from pathlib import Path

import pytest

from tether.agents.codex import CodexParser, CodexProvider
from tether.agents.provider import TurnRequest
from tether.domain.records import EventKind, Usage
from tether.domain.stream import Outcome, StreamEvent
from tether.errors import ProviderError

THREAD = "0199a213-81c0-7800-8aa1-bbab2a035a53"
RECORDED = Path(__file__).parents[2] / "data" / "recorded" / "codex"


def lines(*records: object) -> list[bytes]:
    return [json.dumps(r).encode() for r in records]


def feed_all(raw: list[bytes]) -> list[StreamEvent]:
    parser = CodexParser()
    return [event for line in raw for event in parser.feed(line)]


NORMAL = lines(
    {"type": "thread.started", "thread_id": THREAD},
    {"type": "turn.started"},
    {"type": "item.completed", "item": {"id": "item_0", "type": "reasoning", "text": "thinking"}},
    {
        "type": "item.started",
        "item": {
            "id": "item_1",
            "type": "command_execution",
            "command": "bash -lc ls",
            "aggregated_output": "",
            "exit_code": None,
            "status": "in_progress",
        },
    },
    {
        "type": "item.completed",
        "item": {
            "id": "item_1",
            "type": "command_execution",
            "command": "bash -lc ls",
            "aggregated_output": "a.txt\nb.txt\n",
            "exit_code": 0,
            "status": "completed",
        },
    },
    {"type": "item.updated", "item": {"id": "item_2", "type": "todo_list", "items": []}},
    {"type": "item.completed", "item": {"id": "item_3", "type": "agent_message", "text": "Done."}},
    {
        "type": "turn.completed",
        "usage": {
            "input_tokens": 1200,
            "cached_input_tokens": 1000,
            "cache_write_input_tokens": 7,
            "output_tokens": 80,
            "reasoning_output_tokens": 30,
        },
    },
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
    call, result = events[2], events[3]
    assert call.data == {"tool": "shell", "call_id": "item_1", "input": "bash -lc ls"}
    assert result.text == "a.txt\nb.txt\n"
    assert result.data["exit_code"] == 0 and result.data["status"] == "completed"
    assert events[4].text == "Done."
    assert [e.outcome for e in events] == [None] * 5 + [Outcome.COMPLETED]
    assert all(e.model is None for e in events)  # exec --json never names the model


def test_native_id_captured_once() -> None:
    again = lines({"type": "thread.started", "thread_id": "another"})
    events = feed_all(NORMAL + again)
    ids = [e for e in events if e.kind is EventKind.NATIVE_ID]
    assert len(ids) == 1 and ids[0].native_id == THREAD


def test_usage_is_cumulative_and_keeps_codex_convention() -> None:
    usage = feed_all(NORMAL)[-1]
    assert usage.usage == Usage(1200, 1000, 7, 80, 30)
    assert usage.usage_is_cumulative is True
    assert usage.data["input_includes_cached"] is True
    assert usage.data["output_includes_reasoning"] is True


def test_completed_tool_without_start_still_gets_a_call() -> None:
    item = {"id": "x", "type": "command_execution", "command": "true", "exit_code": 0}
    events = feed_all(lines({"type": "item.completed", "item": item}))
    assert [e.kind for e in events] == [EventKind.TOOL_CALL, EventKind.TOOL_RESULT]


def test_real_failure_reports_once_and_fails() -> None:
    # Captured from codex 0.169.0 with the model server unreachable.
    raw = [
        b'{"type":"thread.started","thread_id":"01a1fe74-10af-7770-969d-6f901c8c680d"}',
        b'{"type":"item.completed","item":{"id":"item_0","type":"error","message":'
        b'"Model metadata for `gpt-5` not found. Defaulting to fallback metadata"}}',
        b'{"type":"turn.started"}',
        b'{"type":"error","message":"Connection failed: error sending request"}',
        b'{"type":"turn.failed","error":{"message":"Connection failed: error sending request"}}',
    ]
    events = feed_all(raw)
    assert [e.kind for e in events] == [EventKind.NATIVE_ID, EventKind.ERROR, EventKind.ERROR]
    warning, failure = events[1], events[2]
    assert warning.outcome is None and warning.data["fatal"] is False
    assert failure.outcome is Outcome.FAILED
    assert failure.text == "Connection failed: error sending request"


def test_turn_failed_alone_fails() -> None:
    events = feed_all(lines({"type": "turn.failed", "error": {"message": "quota"}}))
    assert events == [
        StreamEvent(EventKind.ERROR, text="quota", data={"fatal": True}, outcome=Outcome.FAILED)
    ]


def test_reconnecting_is_not_a_failure() -> None:
    events = feed_all(lines({"type": "error", "message": "Reconnecting... 1/5"}))
    assert events[0].kind is EventKind.ERROR and events[0].outcome is None


@pytest.mark.parametrize(
    "record",
    [
        {"type": "something.new", "x": 1},
        {"no_type": True},
        {"type": 42},
        {"type": "item.completed", "item": "not an object"},
        {"type": "item.completed", "item": {"type": "agent_message", "text": None}},
        {"type": "turn.completed", "usage": [1, 2]},
        {"type": "turn.completed", "usage": {"input_tokens": "many", "output_tokens": True}},
        {"type": "thread.started", "thread_id": 7},
        {"type": "turn.failed", "error": None},
    ],
)
def test_odd_records_never_raise(record: dict[str, object]) -> None:
    events = CodexParser().feed(json.dumps(record).encode())
    assert all(isinstance(e, StreamEvent) for e in events)
    if record.get("type") in ("something.new", 42) or "no_type" in record:
        assert events == []


def test_one_megabyte_line() -> None:
    output = "x" * 1_000_000
    item = {"id": "i", "type": "command_execution", "command": "cat", "aggregated_output": output}
    events = CodexParser().feed(json.dumps({"type": "item.completed", "item": item}).encode())
    assert events[-1].text == output
    assert len(CodexParser().feed(b"y" * 1_000_000)[0].data["raw_preview"]) == 200  # type: ignore[arg-type]


# --- provider ---------------------------------------------------------------


def request(tmp_path: Path, **kw: object) -> TurnRequest:
    return TurnRequest(session_id="web-1", prompt="fix the bug", workspace=tmp_path, **kw)  # type: ignore[arg-type]


def test_new_turn_argv(tmp_path: Path) -> None:
    launch = CodexProvider().new_turn(request(tmp_path, model="gpt-5"))
    assert launch.argv == (
        "codex", "exec", "--json", "--skip-git-repo-check",
        "-s", "workspace-write", "-m", "gpt-5", "--", "fix the bug",
    )  # fmt: skip
    assert launch.cwd == tmp_path and launch.native_id is None


def test_resume_argv_puts_sandbox_on_exec_and_model_on_resume(tmp_path: Path) -> None:
    launch = CodexProvider().resume_turn(
        request(tmp_path, native_id=THREAD, model="m", options={"sandbox": "read-only"})
    )
    assert launch.argv == (
        "codex", "exec", "--json", "--skip-git-repo-check", "-s", "read-only",
        "resume", "-m", "m", "--", THREAD, "fix the bug",
    )  # fmt: skip
    assert launch.native_id == THREAD


def test_prompt_starting_with_dash_is_after_double_dash(tmp_path: Path) -> None:
    prompt = "--help me; rm -rf / && echo 'hi'"
    argv = CodexProvider().new_turn(TurnRequest("web-1", prompt, tmp_path)).argv
    assert argv[-2:] == ("--", prompt)


def test_prompt_of_single_dash_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ProviderError, match="stdin"):
        CodexProvider().new_turn(TurnRequest("web-1", "-", tmp_path))


def test_resume_without_native_id_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ProviderError, match="exact id"):
        CodexProvider().resume_turn(request(tmp_path))
    with pytest.raises(ProviderError):
        CodexProvider().interactive(request(tmp_path))


def test_resume_with_non_uuid_is_refused(tmp_path: Path) -> None:
    for bad in ("--last", "my thread name", ""):
        with pytest.raises(ProviderError):
            CodexProvider().resume_turn(request(tmp_path, native_id=bad))


def test_interactive_and_command_override(tmp_path: Path) -> None:
    launch = CodexProvider().interactive(
        request(tmp_path, native_id=THREAD, options={"command": "/opt/codex/bin/codex"})
    )
    assert launch.argv == ("/opt/codex/bin/codex", "resume", THREAD)


def test_bad_options_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ProviderError):
        CodexProvider().new_turn(request(tmp_path, options={"sandbox": "yolo"}))
    with pytest.raises(ProviderError):
        CodexProvider().new_turn(request(tmp_path, options={"command": ""}))


def test_provider_shape() -> None:
    provider = CodexProvider()
    assert provider.name == "codex" and provider.resumable is True
    assert isinstance(provider.parser(), CodexParser)
    assert provider.parser() is not provider.parser()
