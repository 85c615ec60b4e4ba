"""GeminiParser and GeminiProvider: samples written from AGENT_CLIS.md and the
stream-json formatter of gemini-cli 0.61.0, plus recorded streams."""

import json
from pathlib import Path
from typing import Any

import pytest

from tether.agents.gemini import GeminiParser, GeminiProvider
from tether.agents.provider import TurnRequest
from tether.domain.records import EventKind, Usage
from tether.domain.stream import Outcome, StreamEvent
from tether.errors import ProviderError

SID = "5d7004fb-27ff-46a5-ac59-238f5e381b92"
RECORDED = Path(__file__).parents[2] / "data" / "recorded" / "gemini"


def lines(*records: object) -> list[bytes]:
    return [json.dumps(r).encode() for r in records]


def feed_all(raw: list[bytes]) -> list[StreamEvent]:
    parser = GeminiParser()
    return [event for line in raw for event in parser.feed(line)]


STATS = {"total_tokens": 220, "input_tokens": 200, "output_tokens": 20, "cached": 40, "input": 160}
NORMAL = lines(
    {"type": "init", "session_id": SID, "model": "gemini-2.5-flash"},
    {"type": "message", "role": "user", "content": "please create tool_made.txt"},
    {
        "type": "tool_use",
        "tool_name": "run_shell_command",
        "tool_id": "t1",
        "parameters": {"command": "echo hi > f", "description": "write"},
    },
    {"type": "tool_result", "tool_id": "t1", "status": "success", "output": "done"},
    {"type": "message", "role": "assistant", "content": "I created t", "delta": True},
    {"type": "message", "role": "assistant", "content": "ool_made.txt", "delta": True},
    {"type": "result", "status": "success", "stats": STATS},
)


def test_normal_stream_maps_to_events_in_order() -> None:
    events = feed_all(NORMAL)
    assert [e.kind for e in events] == [
        EventKind.NATIVE_ID,
        EventKind.TOOL_CALL,
        EventKind.TOOL_RESULT,
        EventKind.MESSAGE,
        EventKind.MESSAGE,
        EventKind.USAGE,
    ]
    assert events[0].native_id == SID and events[0].model == "gemini-2.5-flash"
    assert events[1].data == {"tool": "run_shell_command", "call_id": "t1", "input": "echo hi > f"}
    assert events[2].text == "done" and events[2].data["status"] == "success"
    assert "".join(e.text for e in events[3:5]) == "I created tool_made.txt"
    assert events[3].data == {"delta": True}
    assert [e.outcome for e in events] == [None] * 5 + [Outcome.COMPLETED]


def test_native_id_captured_once() -> None:
    again = lines({"type": "init", "session_id": "11111111-2222-4333-8444-555555555555"})
    ids = [e for e in feed_all(NORMAL + again) if e.kind is EventKind.NATIVE_ID]
    assert len(ids) == 1 and ids[0].native_id == SID


def test_usage_from_stats_per_run() -> None:
    usage = feed_all(NORMAL)[-1]
    assert usage.usage == Usage(200, 40, 0, 20, 0)
    assert usage.usage_is_cumulative is False
    assert usage.data["input_includes_cached"] is True
    assert usage.data["output_includes_reasoning"] is False


def test_result_error_fails_with_message() -> None:
    error = {"type": "unknown", "message": "[API Error: terminated]"}
    events = feed_all(lines({"type": "result", "status": "error", "error": error, "stats": {}}))
    assert [e.kind for e in events] == [EventKind.USAGE, EventKind.ERROR]
    assert events[0].outcome is None and events[1].outcome is Outcome.FAILED
    assert events[1].text == "[API Error: terminated]"


def test_error_line_is_not_the_end() -> None:
    events = feed_all(lines({"type": "error", "severity": "warning", "message": "loop detected"}))
    assert events[0].kind is EventKind.ERROR and events[0].outcome is None
    assert events[0].data["severity"] == "warning"


def test_failed_tool_result_keeps_the_error_text() -> None:
    record = {"type": "tool_result", "tool_id": "t", "status": "error", "error": {"message": "no"}}
    events = feed_all(lines(record))
    assert events[0].text == "no" and events[0].data["status"] == "error"


@pytest.mark.parametrize(
    "record",
    [
        {"type": "thought", "content": "x"},
        {"type": "init"},
        {"type": "message", "role": "assistant", "content": {"a": 1}},
        {"type": "tool_use", "parameters": "ls"},
        {"type": "tool_result", "error": "flat string"},
        {"type": "result", "stats": [1], "status": None},
    ],
)
def test_odd_records_never_raise(record: dict[str, object]) -> None:
    events = GeminiParser().feed(json.dumps(record).encode())
    assert all(isinstance(e, StreamEvent) for e in events)
    if record["type"] in ("thought", "init"):
        assert events == []


def test_one_megabyte_line() -> None:
    big = "g" * 1_000_000
    record = {"type": "message", "role": "assistant", "content": big}
    assert GeminiParser().feed(json.dumps(record).encode())[0].text == big


# --- provider ---------------------------------------------------------------


def request(tmp_path: Path, prompt: str = "fix it", **kw: Any) -> TurnRequest:
    return TurnRequest(session_id="web-1", prompt=prompt, workspace=tmp_path, **kw)


def test_new_turn_preassigns_a_uuid(tmp_path: Path) -> None:
    launch = GeminiProvider().new_turn(request(tmp_path, model="gemini-2.5-flash"))
    assert launch.native_id is not None
    assert launch.argv == (
        "gemini", "--prompt=fix it", "--output-format", "stream-json",
        f"--session-id={launch.native_id}", "--model=gemini-2.5-flash",
        "--approval-mode=yolo", "--skip-trust",
    )  # fmt: skip
    assert launch.cwd == tmp_path


def test_resume_argv_and_options(tmp_path: Path) -> None:
    options = {"approval": "auto_edit", "skip_trust": False, "command": "/pinned/gemini"}
    launch = GeminiProvider().resume_turn(request(tmp_path, native_id=SID, options=options))
    assert launch.argv == (
        "/pinned/gemini", "--prompt=fix it", "--output-format", "stream-json",
        f"--resume={SID}", "--approval-mode=auto_edit",
    )  # fmt: skip
    assert launch.native_id == SID
    no_yolo = request(tmp_path, native_id=SID, options={"yolo": False})
    assert "--approval-mode=auto_edit" in GeminiProvider().resume_turn(no_yolo).argv


def test_prompt_starting_with_dash_is_a_value(tmp_path: Path) -> None:
    prompt = "-y --resume latest\nsecond line"
    argv = GeminiProvider().new_turn(request(tmp_path, prompt=prompt)).argv
    assert argv[1] == f"--prompt={prompt}"
    assert "--resume" not in " ".join(argv[2:])


def test_resume_without_exact_id_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ProviderError, match="exact id"):
        GeminiProvider().resume_turn(request(tmp_path))
    for positional in ("latest", "5"):
        with pytest.raises(ProviderError):
            GeminiProvider().resume_turn(request(tmp_path, native_id=positional))
    with pytest.raises(ProviderError):
        GeminiProvider().interactive(request(tmp_path))


def test_interactive(tmp_path: Path) -> None:
    launch = GeminiProvider().interactive(request(tmp_path, native_id=SID))
    assert launch.argv == ("gemini", f"--resume={SID}")


def test_bad_options_are_refused(tmp_path: Path) -> None:
    for options in ({"approval": "always"}, {"yolo": "on"}, {"skip_trust": 1}):
        with pytest.raises(ProviderError):
            GeminiProvider().new_turn(request(tmp_path, options=options))


def test_provider_shape() -> None:
    provider = GeminiProvider()
    assert provider.name == "gemini" and provider.resumable is True
    assert provider.parser() is not provider.parser()
