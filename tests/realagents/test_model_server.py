"""The loopback model server itself: protocols, script, faults (no agent CLI needed)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from tests.fakes.model_server import ModelServer

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(60)

BASH_SCHEMA = {
    "type": "object",
    "required": ["command", "description"],
    "properties": {"command": {"type": "string"}, "description": {"type": "string"}},
}

# (path, request body with one user message "hi" and a shell tool offered)
REQUESTS = {
    "responses": (
        "/v1/responses",
        {
            "model": "m",
            "stream": True,
            "input": [
                {
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_text", "text": "hi"}],
                }
            ],
            "tools": [{"type": "function", "name": "exec_command", "parameters": {}}],
        },
    ),
    "anthropic": (
        "/v1/messages?beta=true",
        {
            "model": "m",
            "stream": True,
            "max_tokens": 10,
            "messages": [{"role": "user", "content": "hi"}],
            "tools": [{"name": "Bash", "input_schema": BASH_SCHEMA}],
        },
    ),
    "chat": (
        "/v1/chat/completions",
        {
            "model": "m",
            "stream": True,
            "messages": [{"role": "user", "content": "hi"}],
            "tools": [
                {"type": "function", "function": {"name": "bash", "parameters": BASH_SCHEMA}}
            ],
        },
    ),
    "gemini": (
        "/v1beta/models/g:streamGenerateContent?alt=sse",
        {
            "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
            "tools": [
                {"functionDeclarations": [{"name": "run_shell_command", "parameters": BASH_SCHEMA}]}
            ],
        },
    ),
}


def _text(proto: str, sse: str) -> str:
    """The answer text a client would assemble from the stream."""
    out = []
    for e in _events(sse):
        if proto == "responses" and e.get("type") == "response.output_item.done":
            out += [c.get("text", "") for c in e["item"].get("content", [])]
        elif proto == "anthropic" and e.get("type") == "content_block_delta":
            out.append(e["delta"].get("text", ""))
        elif proto == "chat" and e.get("choices"):
            out.append(e["choices"][0]["delta"].get("content") or "")
        elif proto == "gemini":
            out += [
                p.get("text", "") for c in e.get("candidates", []) for p in c["content"]["parts"]
            ]
    return "".join(out)


def _events(text: str) -> list:
    out = []
    for line in text.splitlines():
        if line.startswith("data: ") and line != "data: [DONE]":
            out.append(json.loads(line[6:]))
    return out


@pytest.fixture
def server():
    with ModelServer() as srv:
        yield srv


@pytest.mark.parametrize("proto", sorted(REQUESTS))
def test_default_echo_counts_user_messages_and_reports_usage(server, proto) -> None:
    path, body = REQUESTS[proto]
    r = httpx.post(server.url + path, json=body, timeout=10)
    assert r.status_code == 200
    assert _text(proto, r.text) == "ECHO[users=1 msgs=1] hi"
    assert (
        ":10" in r.text and ":20" in r.text
    )  # usage: output 10, cached 20 (input is 100 or 80 uncached)
    req = server.requests[-1]
    assert (req["protocol"], req["last_user"], req["n_user"], req["main"]) == (proto, "hi", 1, True)


@pytest.mark.parametrize("proto", sorted(REQUESTS))
def test_shell_reply_uses_the_protocols_tool_call_then_text(server, proto) -> None:
    server.set_script([{"shell": "touch x", "then": "done it"}])
    path, body = REQUESTS[proto]
    first = httpx.post(server.url + path, json=body, timeout=10).text
    assert "touch x" in first
    marker = {
        "responses": '"function_call"',
        "anthropic": '"tool_use"',
        "chat": '"tool_calls"',
        "gemini": '"functionCall"',
    }[proto]
    assert marker in first
    second = httpx.post(server.url + path, json=body, timeout=10).text
    assert _text(proto, second) == "done it"
    assert server.pending == 0


def test_side_requests_do_not_consume_the_script(server) -> None:
    server.set_script(["scripted"])
    r = httpx.post(
        server.url + "/v1/chat/completions",
        timeout=10,
        json={"model": "m", "stream": True, "messages": [{"role": "user", "content": "title?"}]},
    )
    assert _text("chat", r.text).startswith("ECHO[users=1 ")
    assert server.pending == 1 and server.requests[-1]["main"] is False


def test_usage_is_configurable(server) -> None:
    server.configure(usage={"input": 7, "cached": 0, "output": 3})
    path, body = REQUESTS["chat"]
    usage = [
        e["usage"] for e in _events(httpx.post(server.url + path, json=body).text) if e.get("usage")
    ]
    assert usage == [
        {
            "prompt_tokens": 7,
            "completion_tokens": 3,
            "total_tokens": 10,
            "prompt_tokens_details": {"cached_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0},
        }
    ]


def test_http_500(server) -> None:
    server.set_script([{"fault": "http_500"}])
    path, body = REQUESTS["anthropic"]
    r = httpx.post(server.url + path, json=body)
    assert r.status_code == 500 and r.json()["type"] == "error"


def test_close_mid_stream_breaks_the_body(server) -> None:
    server.configure(fault="close_mid_stream")
    path, body = REQUESTS["responses"]
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.post(server.url + path, json=body, timeout=10)
    # non-streaming requests (Claude's fallback) are cut too
    _, abody = REQUESTS["anthropic"]
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.post(server.url + "/v1/messages", json=dict(abody, stream=False), timeout=10)


@pytest.mark.parametrize("fault", ["hang_after_headers", "hang_mid_stream"])
def test_hangs_send_headers_then_nothing(server, fault) -> None:
    server.set_script([{"fault": fault}])
    path, body = REQUESTS["gemini"]
    got = b""
    with httpx.stream(
        "POST", server.url + path, json=body, timeout=httpx.Timeout(10, read=1.0)
    ) as r:
        assert r.status_code == 200
        with pytest.raises(httpx.ReadTimeout):
            for chunk in r.iter_raw():
                got += chunk
    assert (got == b"") == (fault == "hang_after_headers")


def test_slow_first_byte(server) -> None:
    server.set_script([{"delay": 1.0, "text": "late"}])
    path, body = REQUESTS["chat"]
    t = time.monotonic()
    httpx.post(server.url + path, json=body, timeout=10)
    assert time.monotonic() - t >= 1.0


def test_probes_and_unknown_routes_are_logged(server) -> None:
    assert httpx.head(server.url + "/").status_code == 200
    assert httpx.get(server.url + "/v1/models").json()["data"]
    assert httpx.get(server.url + "/_npm/@opencode-ai/plugin").status_code == 404
    assert server.requests[-1]["unknown"] is True


def test_runs_as_a_program_with_a_script_file(tmp_path) -> None:
    script = tmp_path / "script.json"
    script.write_text(json.dumps({"replies": ["from file"], "usage": {"input": 5}}))
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.model_server", "--port", "0", "--script", str(script)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        assert line.startswith("URL http://127.0.0.1:")
        url = line.split()[1]
        path, body = REQUESTS["chat"]
        assert _text("chat", httpx.post(url + path, json=body, timeout=10).text) == "from file"
        assert httpx.get(url + "/_control/requests").json()[-1]["scripted"] is True
        httpx.post(url + "/_control/script", json=["next"]).raise_for_status()
        assert _text("chat", httpx.post(url + path, json=body, timeout=10).text) == "next"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
