"""A fake coding agent that speaks the ``codex exec --json`` stream.

Usage: fake_agent.py [FLAGS...] [resume [--] THREAD_ID] PROMPT | --version
(flags such as codex's ``exec --json -s ...`` are ignored, so the fake can stand in
for the ``codex`` command itself)

Words of the prompt's last line starting with ``@`` choose a behaviour (a hand-off
quotes earlier prompts above the message it ends with):
  @slow         stream five messages 0.3 s apart
  @sleep=S      sleep S seconds after starting, then answer
  @never-start  print nothing but keepalive blank lines, forever
  @hang         start, say one thing, then only keepalive blank lines, forever
  @crash        start, then exit 3 with a message on stderr
  @exit-early   exit 7 before printing anything
  @fail         start, then report turn.failed
  @overflow     start, then fail as Codex 0.169 does when the thread is full
                (tests/data/recorded/codex/context/overflow.jsonl)
  @big          a 50 MB command output in one line
  @other-id     on resume, report a thread id other than the one asked for
  @garbage      mix non-JSON lines into the stream
  @events=N     stream N short messages as fast as possible
  @ignore-term  ignore SIGTERM (only SIGKILL stops it)
  @write=PATH   write the prompt to PATH (relative to the working directory), like an edit
  @reconnect=N  after starting, N of Codex's retry errors ("Reconnecting... k/N",
                AGENT_CLIS.md and tests/unit/agents/test_codex.py), then keepalives
$FAKE_AGENT_DELAY seconds are slept before anything else (an interactive user).
With $FAKE_AGENT_UNTIL set, a run waits after its first events until that file
exists: a test holds the agent for exactly as long as it needs, never a guess.
Every run appends "<thread> <prompt, newlines escaped>" to $FAKE_AGENT_LOG when it is set, and
the thread's cumulative usage is kept in $FAKE_AGENT_HOME (default: cwd).
"""

import json
import os
import signal
import sys
import time
import uuid
from pathlib import Path

OVERFLOW = (
    "Codex ran out of room in the model's context window. Start a new thread or clear "
    "earlier history before retrying."
)


def emit(record: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()


def keepalive_forever() -> None:
    while True:
        sys.stdout.write("\n")
        sys.stdout.flush()
        time.sleep(0.2)


def cumulative_usage(thread: str) -> dict[str, int]:
    state = Path(os.environ.get("FAKE_AGENT_HOME", ".")) / f".fake-{thread}.json"
    turns = json.loads(state.read_text())["turns"] + 1 if state.exists() else 1
    state.write_text(json.dumps({"turns": turns}))
    return {
        "input_tokens": 100 * turns,
        "cached_input_tokens": 40 * turns,
        "output_tokens": 10 * turns,
        "reasoning_output_tokens": 2 * turns,
    }


def item(kind: str, **fields: object) -> dict[str, object]:
    return {"type": "item.completed", "item": {"id": uuid.uuid4().hex[:8], "type": kind, **fields}}


def resumed_thread(argv: list[str]) -> str | None:
    if "resume" not in argv:
        return None
    rest = argv[argv.index("resume") + 1 :]
    if "--" in rest:  # codex's own form: options (-m MODEL) first, then -- THREAD_ID
        rest = rest[rest.index("--") + 1 :]
    rest = [a for a in rest if not a.startswith("-")]
    return rest[0] if rest else None


def main(argv: list[str]) -> int:
    if argv == ["--version"]:  # like a real CLI, and not a run: tether probes it per host
        print("fake-agent 0.0.0")
        return 0
    time.sleep(float(os.environ.get("FAKE_AGENT_DELAY") or 0))
    resumed = resumed_thread(argv)
    resume = resumed is not None
    thread = resumed or str(uuid.uuid4())
    prompt = argv[-1] if argv else ""
    last = prompt.splitlines()[-1] if prompt.strip() else ""
    modes = {w.split("=")[0]: w.partition("=")[2] for w in last.split() if w.startswith("@")}
    if "@exit-early" in modes:
        sys.stderr.write("fake agent: refusing to start\n")
        return 7
    if "@ignore-term" in modes:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if "@never-start" in modes:
        keepalive_forever()
    if resume and "@other-id" in modes:
        thread = str(uuid.uuid4())
    if log := os.environ.get("FAKE_AGENT_LOG"):
        with open(log, "a") as handle:
            handle.write(f"{thread} {json.dumps(prompt)[1:-1]}\n")  # one line per run
    emit({"type": "thread.started", "thread_id": thread})
    emit({"type": "turn.started"})
    if until := os.environ.get("FAKE_AGENT_UNTIL"):
        while not os.path.exists(until):
            time.sleep(0.05)
    if "@reconnect" in modes:
        total = int(modes["@reconnect"] or 5)
        for k in range(1, total + 1):
            message = f"Reconnecting... {k}/{total} (stream disconnected before completion)"
            emit({"type": "error", "message": message})
        keepalive_forever()
    if "@garbage" in modes:
        sys.stdout.write("this is not json\n[1, 2]\n")
    if "@write" in modes:
        target = Path(modes["@write"])
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(prompt + "\n")
        emit(
            item("file_change", changes=[{"path": str(target), "kind": "add"}], status="completed")
        )
    if "@sleep" in modes:
        time.sleep(float(modes["@sleep"] or 1))
    if "@crash" in modes:
        sys.stderr.write("fake agent: segfault in the flux capacitor\n")
        return 3
    if "@hang" in modes:
        emit(item("agent_message", text="thinking about it"))
        keepalive_forever()
    if "@fail" in modes:
        emit({"type": "turn.failed", "error": {"message": "model refused: quota exceeded"}})
        return 1
    if "@overflow" in modes:
        emit({"type": "error", "message": OVERFLOW})
        emit({"type": "turn.failed", "error": {"message": OVERFLOW}})
        return 1
    if "@slow" in modes:
        for i in range(5):
            emit(item("agent_message", text=f"part {i}"))
            time.sleep(0.3)
    for i in range(int(modes.get("@events") or 0)):
        emit(item("agent_message", text=f"event {i}"))
    if "@big" in modes:
        output = "BIG-START " + "x" * (50 * 1024 * 1024) + " BIG-END"
        emit(item("command_execution", command="cat big", aggregated_output=output, exit_code=0))
    emit(item("agent_message", text=f"echo: {prompt}"))
    emit({"type": "turn.completed", "usage": cumulative_usage(thread)})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
