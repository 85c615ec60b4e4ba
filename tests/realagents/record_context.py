"""Record what each pinned agent CLI does when its thread fills up.

    .venv/bin/python -m tests.realagents.record_context [--agents codex,claude] [--out DIR]

Per agent, in a fresh isolated home under /tmp/tether-record-context/<agent>,
against tests.fakes.model_server, into tests/data/recorded/<agent>/context/:

    overflow.jsonl      resume of a live thread; the model answers with the
                        provider's own context-length error (OVERFLOW_ERRORS)
    huge.jsonl          a new thread whose reply reports usage at 97% of the
                        model's window
    after_huge.jsonl    the next turn of that thread (auto-compaction, or a drop)
    drop.jsonl          a new thread whose first reply is a tool call reporting usage
                        a few tokens short of the window: the tool result no longer fits
    native/...          the native logs of both threads (OpenCode: the first only)
    meta.json           versions, exit codes, the requests the model server saw

tether's parsers and fill readers are tested on these files.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.fakes.model_server import ModelServer  # noqa: E402
from tests.realagents.harness import AGENTS, LOCK_FILE, AgentHome, TurnResult, run_turn  # noqa: E402
from tests.realagents.record import _requests, _save_native, _summary, _write  # noqa: E402

OUT = REPO / "tests" / "data" / "recorded"
WORK_ROOT = Path("/tmp/tether-record-context")

#: The window each CLI believes its test model has (Codex: the bundled catalog
#: entry the harness copies; Claude Sonnet 4.5 and Gemini 2.5 Flash: their
#: published windows; OpenCode: the limit this recorder writes into its config).
KEEP_BYTES = 150_000
MAX_REQUESTS = 40
WINDOWS = {"codex": 272_000, "claude": 200_000, "gemini": 1_048_576, "opencode": 100_000}


def _head(stdout: str) -> str:
    """At most KEEP_BYTES of a stream, cut at a line end (a compaction loop runs for MBs)."""
    data = stdout.encode()
    if len(data) <= KEEP_BYTES:
        return stdout
    return data[: data.rfind(b"\n", 0, KEEP_BYTES) + 1].decode()


def _short(request: dict) -> dict:
    """A request log entry with its texts cut (compaction prompts run to many KB)."""
    return {k: v[:200] if isinstance(v, str) else v for k, v in request.items()}


def _limit_opencode(home: AgentHome) -> None:
    """OpenCode compacts only for models with a known limit: give the mock one."""
    path = home.path("xdg_config") / "opencode" / "opencode.json"
    config = json.loads(path.read_text())
    for model in config["provider"]["mock"]["models"].values():
        model["limit"] = {"context": WINDOWS["opencode"], "output": 8_000}
    path.write_text(json.dumps(config, indent=2))


def record_agent(agent: str, out: Path) -> dict:
    spec = AGENTS[agent]
    root = WORK_ROOT / agent
    shutil.rmtree(root, ignore_errors=True)
    dest = out / agent / "context"
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    lock = json.loads(LOCK_FILE.read_text())
    package = lock["bins"][spec.bin]
    meta: dict = {
        "agent": agent,
        "version": {package: lock["packages"][package]},
        "window": WINDOWS[agent],
        "turns": {},
    }
    huge = {"input": WINDOWS[agent] * 97 // 100, "cached": 0, "output": 50}

    with ModelServer() as server:
        home = AgentHome(spec, root, server.url)
        if agent == "opencode":
            _limit_opencode(home)

        def turn(name: str, prompt: str, **kw: object) -> TurnResult:
            since = len(server.requests)
            res = run_turn(home, prompt, timeout=150, **kw)  # type: ignore[arg-type]
            _write(dest / f"{name}.jsonl", _head(res.stdout))
            if res.stderr.strip():
                _write(dest / f"{name}.stderr.txt", res.stderr[-4000:].replace(str(root), "$ROOT"))
            meta["turns"][name] = dict(
                _summary(res, home),
                stdout_bytes=len(res.stdout.encode()),
                requests=[_short(r) for r in _requests(server, since)[:MAX_REQUESTS]],
            )
            print(f"  {agent} {name}: rc={res.returncode} {res.duration:.1f}s", flush=True)
            return res

        first = turn("first", "hello before the overflow")
        server.set_script([{"overflow": True}])
        turn("overflow", "this message overflows", resume_id=first.native_id)
        server.set_script([{"text": "a big answer", "usage": huge}])
        big = turn("huge", "fill the context")
        server.configure(usage=huge)
        turn("after_huge", "one more message", resume_id=big.native_id)
        server.configure(usage={"input": 100, "cached": 20, "output": 10})
        nearly = {"input": WINDOWS[agent] - 20, "cached": 0, "output": 10}
        tool = {"shell": "echo tool-output", "usage": nearly, "then": "after the tool"}
        server.set_script([tool])
        turn("drop", "run the tool")
        # OpenCode's near-full thread loops on compaction (MBs of rows): its fill
        # comes from the stream, so only its overflow thread's rows are kept.
        kept = (
            (("overflow", first),) if agent == "opencode" else (("overflow", first), ("huge", big))
        )
        meta["native_logs"] = {
            label: _save_native(home, res.native_id, dest / "native", label) for label, res in kept
        }
    _write(dest / "meta.json", json.dumps(meta, indent=1) + "\n")
    return meta


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--agents", default=",".join(sorted(AGENTS)))
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    start = time.monotonic()
    for agent in args.agents.split(","):
        print(f"recording {agent}", flush=True)
        record_agent(agent, args.out)
    print(f"done in {time.monotonic() - start:.0f}s -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
