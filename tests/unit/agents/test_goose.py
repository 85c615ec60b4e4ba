"""GooseParser and GooseProvider: samples written from goose's documented
stream-json format (no goose binary is available to record from)."""

import json
from pathlib import Path
from typing import Any

import pytest

from tether.agents.goose import GooseParser, GooseProvider, session_name
from tether.agents.provider import TurnRequest
from tether.domain.records import EventKind, Usage
from tether.domain.stream import Outcome, StreamEvent
from tether.errors import ProviderError

NAME = "tether-web-1-0123456789ab"


def lines(*records: object) -> list[bytes]:
    return [json.dumps(r).encode() for r in records]


def feed_all(raw: list[bytes]) -> list[StreamEvent]:
    parser = GooseParser()
    return [event for line in raw for event in parser.feed(line)]


def message(role: str, *content: object) -> dict[str, object]:
    body = {"id": "m1", "role": role, "created": 1763700000, "content": list(content)}
    return {"type": "message", "message": body}


REQUEST = {
    "type": "toolRequest",
    "id": "call_1",
    "toolCall": {
        "status": "success",
        "value": {"name": "developer__shell", "arguments": {"command": "ls"}},
    },
}
RESPONSE = {
    "type": "toolResponse",
    "id": "call_1",
    "toolResult": {"status": "success", "value": [{"type": "text", "text": "a.txt"}]},
}
NORMAL = lines(
    message("user", {"type": "text", "text": "list files"}),
    message("assistant", {"type": "thinking", "thinking": "ls", "signature": "s"}, REQUEST),
    {"type": "notification", "extension_id": "developer", "log": {"message": "running"}},
    message("user", RESPONSE),
    message("assistant", {"type": "text", "text": "One file."}),
    {"type": "complete", "total_tokens": 130, "input_tokens": 100, "output_tokens": 30},
)


def test_normal_stream_maps_to_events_in_order() -> None:
    events = feed_all(NORMAL)
    assert [e.kind for e in events] == [
        EventKind.REASONING,
        EventKind.TOOL_CALL,
        EventKind.TOOL_RESULT,
        EventKind.MESSAGE,
        EventKind.USAGE,
    ]
    assert events[1].data == {"tool": "developer__shell", "call_id": "call_1", "input": "ls"}
    assert events[2].text == "a.txt" and events[2].data == {
        "call_id": "call_1",
        "status": "success",
    }
    assert events[3].text == "One file."
    assert [e.outcome for e in events] == [None] * 4 + [Outcome.COMPLETED]


def test_no_native_id_in_the_stream() -> None:
    # goose prints no session id; the provider pre-assigns the name instead.
    assert not [e for e in feed_all(NORMAL) if e.kind is EventKind.NATIVE_ID]


def test_usage_is_cumulative_without_cache_split() -> None:
    usage = feed_all(NORMAL)[-1]
    assert usage.usage == Usage(input_tokens=100, output_tokens=30)
    assert usage.usage_is_cumulative is True
    assert usage.data["total_tokens"] == 130


def test_error_then_complete_is_a_failure() -> None:
    raw = lines(
        {"type": "error", "error": "provider returned 401"},
        {"type": "complete", "total_tokens": None},
    )
    events = feed_all(raw)
    assert [e.kind for e in events] == [EventKind.ERROR, EventKind.USAGE]
    assert events[0].outcome is Outcome.FAILED and events[0].text == "provider returned 401"
    assert events[1].outcome is None


def test_failed_tool_response() -> None:
    response = {"type": "toolResponse", "id": "c", "toolResult": {"status": "error", "error": "x"}}
    events = feed_all(lines(message("user", response)))
    assert events[0].text == "x" and events[0].data["status"] == "error"


@pytest.mark.parametrize(
    "record",
    [
        {"type": "heartbeat"},
        {"type": "message", "message": None},
        {"type": "message", "message": {"role": "assistant", "content": [None, 3, {"type": 1}]}},
        message("assistant", {"type": "toolRequest", "toolCall": {"status": "error"}}),
        message("assistant", {"type": "actionRequired", "data": {"actionType": "elicitation"}}),
        {"type": "error", "error": {"nested": True}},
        {"type": "complete", "input_tokens": "x"},
    ],
)
def test_odd_records_never_raise(record: dict[str, object]) -> None:
    events = GooseParser().feed(json.dumps(record).encode())
    assert all(isinstance(e, StreamEvent) for e in events)
    if record["type"] == "heartbeat":
        assert events == []


def test_one_megabyte_line() -> None:
    big = "q" * 1_000_000
    record = message("assistant", {"type": "text", "text": big})
    assert GooseParser().feed(json.dumps(record).encode())[0].text == big


# --- provider ---------------------------------------------------------------


def request(tmp_path: Path, prompt: str = "fix it", **kw: Any) -> TurnRequest:
    return TurnRequest(session_id="web-1", prompt=prompt, workspace=tmp_path, **kw)


def test_new_turn_preassigns_the_name(tmp_path: Path) -> None:
    launch = GooseProvider().new_turn(request(tmp_path, model="gpt-4o"))
    assert launch.native_id is not None and launch.native_id.startswith("tether-web-1-")
    assert launch.argv == (
        "goose", "run", "--quiet", "--output-format", "stream-json", "--model=gpt-4o",
        f"--name={launch.native_id}", "--text=fix it",
    )  # fmt: skip
    assert launch.env == {"GOOSE_MODE": "auto"} and launch.cwd == tmp_path


def test_resume_by_name_or_goose_session_id(tmp_path: Path) -> None:
    options = {"quiet": False, "goose_mode": "smart_approve", "command": "/pinned/goose"}
    launch = GooseProvider().resume_turn(request(tmp_path, native_id=NAME, options=options))
    assert launch.argv == (
        "/pinned/goose", "run", "--output-format", "stream-json",
        "--resume", f"--name={NAME}", "--text=fix it",
    )  # fmt: skip
    assert launch.env == {"GOOSE_MODE": "smart_approve"} and launch.native_id == NAME
    by_id = GooseProvider().resume_turn(request(tmp_path, native_id="20250310_1"))
    assert "--session-id=20250310_1" in by_id.argv


def test_prompt_starting_with_dash_is_a_value(tmp_path: Path) -> None:
    argv = GooseProvider().new_turn(request(tmp_path, prompt="-r --no-session")).argv
    assert argv[-1] == "--text=-r --no-session"


def test_resume_without_native_id_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ProviderError, match="exact id"):
        GooseProvider().resume_turn(request(tmp_path))
    with pytest.raises(ProviderError):
        GooseProvider().resume_turn(request(tmp_path, native_id="--last"))
    with pytest.raises(ProviderError):
        GooseProvider().interactive(request(tmp_path))


def test_interactive(tmp_path: Path) -> None:
    launch = GooseProvider().interactive(request(tmp_path, native_id=NAME))
    assert launch.argv == ("goose", "session", "--resume", f"--name={NAME}")


def test_session_name_is_safe_and_unique() -> None:
    a, b = session_name("web 1/x"), session_name("web 1/x")
    assert a != b and a.startswith("tether-web-1-x-")


def test_bad_options_are_refused(tmp_path: Path) -> None:
    for options in ({"goose_mode": "yolo"}, {"quiet": "no"}):
        with pytest.raises(ProviderError):
            GooseProvider().new_turn(request(tmp_path, options=options))


def test_provider_shape() -> None:
    provider = GooseProvider()
    assert provider.name == "goose" and provider.resumable is True
    assert provider.parser() is not provider.parser()
