"""OpenCodeParser and OpenCodeProvider: samples written from AGENT_CLIS.md plus a
line captured from opencode-ai 1.18.33 against a closed loopback port."""

import json
from pathlib import Path

import pytest

from tether.agents.opencode import OpenCodeParser, OpenCodeProvider, prompt_words
from tether.agents.provider import TurnRequest
from tether.domain.records import EventKind, Usage
from tether.domain.stream import Outcome, StreamEvent
from tether.errors import ProviderError

SES = "ses_e01890728ffeMeWvtTvLw2kVS5"
RECORDED = Path(__file__).parents[2] / "data" / "recorded" / "opencode"


def line(kind: str, **fields: object) -> bytes:
    return json.dumps(
        {"type": kind, "timestamp": 1795270635465, "sessionID": SES, **fields}
    ).encode()


def feed_all(raw: list[bytes]) -> list[StreamEvent]:
    parser = OpenCodeParser()
    return [event for ln in raw for event in parser.feed(ln)]


def step_finish(inp: int, out: int, reasoning: int, read: int, write: int) -> bytes:
    tokens = {
        "input": inp,
        "output": out,
        "reasoning": reasoning,
        "cache": {"read": read, "write": write},
    }
    return line("step_finish", part={"type": "step-finish", "tokens": tokens, "cost": 0.001})


TOOL = {
    "type": "tool",
    "tool": "bash",
    "callID": "call_1",
    "state": {
        "status": "completed",
        "input": {"command": "ls", "description": "list"},
        "output": "a.txt\n",
        "metadata": {"exit": 0},
    },
}

NORMAL = [
    line("step_start", part={"type": "step-start"}),
    line("reasoning", part={"type": "reasoning", "text": "plan"}),
    line("tool_use", part=TOOL),
    step_finish(100, 20, 5, 1000, 10),
    line("step_start", part={"type": "step-start"}),
    line("text", part={"type": "text", "text": "All done."}),
    step_finish(50, 10, 0, 1100, 0),
]


def test_normal_stream_maps_to_events_in_order() -> None:
    events = feed_all(NORMAL)
    assert [e.kind for e in events] == [
        EventKind.NATIVE_ID,
        EventKind.REASONING,
        EventKind.TOOL_CALL,
        EventKind.TOOL_RESULT,
        EventKind.USAGE,
        EventKind.MESSAGE,
        EventKind.USAGE,
    ]
    assert events[2].data == {"tool": "bash", "call_id": "call_1", "input": "ls"}
    assert events[3].text == "a.txt\n"
    assert events[3].data["exit_code"] == 0 and events[3].data["status"] == "completed"
    assert events[5].text == "All done."
    assert all(e.outcome is None for e in events)  # success is the engine's call (exit status)


def test_native_id_from_the_first_line_only_once() -> None:
    ids = [e for e in feed_all(NORMAL) if e.kind is EventKind.NATIVE_ID]
    assert len(ids) == 1 and ids[0].native_id == SES


def test_usage_per_step_not_cumulative() -> None:
    usages = [e for e in feed_all(NORMAL) if e.kind is EventKind.USAGE]
    assert [u.usage for u in usages] == [Usage(100, 1000, 10, 20, 5), Usage(50, 1100, 0, 10, 0)]
    assert not any(u.usage_is_cumulative for u in usages)
    assert usages[0].data["input_includes_cached"] is False
    assert usages[0].data["output_includes_reasoning"] is False
    assert usages[0].data["cost_usd"] == 0.001


def test_real_error_line_fails_the_turn() -> None:
    raw = (
        b'{"type":"error","timestamp":1795270635465,"sessionID":"' + SES.encode() + b'",'
        b'"error":{"name":"APIError","data":{"message":"Cannot connect to API: Unable to connect.'
        b' Is the computer able to access the url?","isRetryable":true,'
        b'"metadata":{"url":"http://127.0.0.1:9/v1/chat/completions"}}}}'
    )
    events = OpenCodeParser().feed(raw)
    assert [e.kind for e in events] == [EventKind.NATIVE_ID, EventKind.ERROR]
    assert events[1].outcome is Outcome.FAILED
    assert events[1].text.startswith("Cannot connect to API")


def test_error_with_only_a_name() -> None:
    events = feed_all([line("error", error={"name": "ProviderAuthError"})])
    assert events[-1].text == "ProviderAuthError" and events[-1].outcome is Outcome.FAILED


def test_errored_tool() -> None:
    part = {"tool": "edit", "callID": "c", "state": {"status": "error", "error": "no such file"}}
    events = feed_all([line("tool_use", part=part)])
    assert events[-1].text == "no such file" and events[-1].data["status"] == "error"


@pytest.mark.parametrize(
    "record",
    [
        {"type": "session.idle", "sessionID": "ses_1"},
        {"type": "text"},
        {"type": "text", "part": "nope"},
        {"type": "tool_use", "part": {"state": [1]}},
        {"type": "step_finish", "part": {"tokens": {"cache": 3, "input": -4}, "cost": "free"}},
        {"type": "error", "error": None},
        {"sessionID": 12},
    ],
)
def test_odd_records_never_raise(record: dict[str, object]) -> None:
    events = OpenCodeParser().feed(json.dumps(record).encode())
    assert all(isinstance(e, StreamEvent) for e in events)
    if record.get("type") == "session.idle":
        assert [e.kind for e in events] == [EventKind.NATIVE_ID]


def test_one_megabyte_line() -> None:
    big = "o" * 1_000_000
    part = {"tool": "read", "callID": "c", "state": {"status": "completed", "output": big}}
    assert feed_all([line("tool_use", part=part)])[-1].text == big


# --- provider ---------------------------------------------------------------


def request(tmp_path: Path, prompt: str = "fix the bug", **kw: object) -> TurnRequest:
    return TurnRequest(session_id="web-1", prompt=prompt, workspace=tmp_path, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("prompt", ["fix the bug", "a  b", " lead", "x\ny z", "", "-"])
def test_prompt_words_join_back_exactly(prompt: str) -> None:
    words = prompt_words(prompt)
    assert " ".join(words) == prompt
    assert not any(" " in word for word in words)


def test_new_turn_argv(tmp_path: Path) -> None:
    launch = OpenCodeProvider().new_turn(request(tmp_path, model="mock/m1"))
    assert launch.argv == (
        "opencode", "run", "--format", "json", "--thinking", "--model=mock/m1",
        "--message=fix", "--message=the", "--message=bug",
    )  # fmt: skip
    assert launch.cwd == tmp_path and launch.native_id is None


def test_resume_argv(tmp_path: Path) -> None:
    options = {"thinking": False, "auto": True, "command": "/pinned/opencode"}
    launch = OpenCodeProvider().resume_turn(request(tmp_path, native_id=SES, options=options))
    assert launch.argv == (
        "/pinned/opencode", "run", "--format", "json", "--auto",
        f"--session={SES}", "--message=fix", "--message=the", "--message=bug",
    )  # fmt: skip
    assert launch.native_id == SES


def test_prompt_words_are_option_values(tmp_path: Path) -> None:
    argv = OpenCodeProvider().new_turn(request(tmp_path, prompt="--continue issue 42")).argv
    assert argv[-3:] == ("--message=--continue", "--message=issue", "--message=42")
    assert "--continue" not in argv


def test_resume_without_native_id_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ProviderError, match="exact id"):
        OpenCodeProvider().resume_turn(request(tmp_path))
    with pytest.raises(ProviderError):
        OpenCodeProvider().resume_turn(request(tmp_path, native_id="--continue"))
    with pytest.raises(ProviderError):
        OpenCodeProvider().interactive(request(tmp_path))


def test_interactive(tmp_path: Path) -> None:
    launch = OpenCodeProvider().interactive(request(tmp_path, native_id=SES))
    assert launch.argv == ("opencode", f"--session={SES}")


def test_bad_option_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ProviderError):
        OpenCodeProvider().new_turn(request(tmp_path, options={"auto": "yes"}))


def test_provider_shape() -> None:
    provider = OpenCodeProvider()
    assert provider.name == "opencode" and provider.resumable is True
    assert provider.parser() is not provider.parser()
