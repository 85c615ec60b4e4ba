"""Regenerate tests/data/recorded/<agent>/: real stdout streams and native logs
of the pinned agent CLIs, produced offline against tests.fakes.model_server.

    .venv/bin/python -m tests.realagents.record [--agents codex,claude] [--out DIR]

Per agent it runs, in a fresh isolated home under /tmp/tether-record/<agent>
(a fixed path, so re-recordings differ only where the CLIs do):

    new.jsonl              new turn, plain text answer
    resume.jsonl           resume of that session by id (history is sent again)
    tool.jsonl             new session whose first model reply is a shell tool call
    failed.jsonl           new session; the model server drops every connection mid-stream
    failed.stderr.txt      what the CLI printed on stderr for that failure (tail)
    unreachable.jsonl      new session with nothing listening on the model server's port
    resume_unknown.jsonl   resume of an id that does not exist (+ .stderr.txt)
    native/...             copies of the native logs of those sessions
                           (OpenCode: JSON dumps of its SQLite rows per session)
    meta.json              versions, argv, exit codes, durations, native ids, the
                           requests the model server saw, and the environment used

With ``--forks`` it records forks and sub-agents instead, into forks/<agent>/
(see ``record_forks``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.fakes.model_server import ModelServer  # noqa: E402
from tests.realagents.harness import (  # noqa: E402
    AGENTS,
    LOCK_FILE,
    AgentHome,
    TurnResult,
    opencode_rows,
    run_argv,
    run_turn,
)

OUT = REPO / "tests" / "data" / "recorded"
WORK_ROOT = Path("/tmp/tether-record")
MAX_BYTES = 200_000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write(path: Path, data: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if len(data.encode()) > MAX_BYTES:
        raise SystemExit(f"{path}: {len(data.encode())} bytes, over the {MAX_BYTES} limit")
    path.write_text(data)


def _save_native(home: AgentHome, native_id: str | None, dest: Path, label: str) -> list[str]:
    if not native_id:
        return []
    saved = []
    for log in home.native_logs(native_id):
        if log.suffix == ".db":
            rows = opencode_rows(log, native_id)
            target = dest / f"{label}.opencode-rows.json"
            _write(target, json.dumps(rows, indent=1, sort_keys=True) + "\n")
        else:
            rel = log.relative_to(home.path("home"))
            target = dest / label / rel
            _write(target, log.read_text())
            if home.spec.name == "gemini":
                saved.extend(_save_gemini_project(home, log, dest / label))
        saved.append(str(target.relative_to(dest.parent)))
    return saved


def _save_gemini_project(home: AgentHome, log: Path, dest: Path) -> list[str]:
    """Where Gemini wrote the session's directory: ``tmp/<slug>/.project_root`` and
    ``projects.json`` (its logs hold only the directory's hash)."""
    saved = []
    for path in (log.parents[1] / ".project_root", home.path("gemini") / ".gemini/projects.json"):
        target = dest / path.relative_to(home.path("home"))
        _write(target, path.read_text())
        saved.append(str(target.relative_to(dest.parent.parent)))
    return saved


def _summary(res: TurnResult, home: AgentHome) -> dict:
    return {
        "argv": [a.replace(str(home.root), "$ROOT") for a in res.argv],
        "returncode": res.returncode,
        "duration_s": round(res.duration, 1),
        "timed_out": res.timed_out,
        "native_id": res.native_id,
        "event_types": sorted({str(e.get("type")) for e in res.events}),
    }


def _requests(server: ModelServer, since: int) -> list[dict]:
    keep = (
        "method",
        "path",
        "protocol",
        "model",
        "main",
        "stream",
        "last_user",
        "n_user",
        "n_messages",
        "tool_result",
        "reply",
        "reply_text",
        "scripted",
        "fault",
    )
    return [{k: r.get(k) for k in keep if k in r} for r in server.requests[since:]]


def record_agent(agent: str, out: Path) -> dict:
    spec = AGENTS[agent]
    root = WORK_ROOT / agent
    shutil.rmtree(root, ignore_errors=True)
    dest = out / agent
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    meta: dict = {"agent": agent, "version": None, "model": spec.model, "turns": {}}
    bound = 150 if agent == "opencode" else 90

    with ModelServer() as server:
        home = AgentHome(spec, root, server.url)
        meta["env"] = {
            k: v.replace(str(home.root), "$ROOT").replace(server.url, "$MODEL_URL")
            for k, v in home.env().items()
            if k != "PATH"
        }
        lock = json.loads(LOCK_FILE.read_text())
        package = lock["bins"][spec.bin]
        meta["version"] = {package: lock["packages"][package]}

        def turn(name: str, prompt: str, **kw: object) -> TurnResult:
            since = len(server.requests)
            res = run_turn(home, prompt, **kw)  # type: ignore[arg-type]
            _write(dest / f"{name}.jsonl", res.stdout)
            if res.returncode != 0 and res.stderr.strip():
                _write(
                    dest / f"{name}.stderr.txt", res.stderr[-4000:].replace(str(home.root), "$ROOT")
                )
            meta["turns"][name] = dict(_summary(res, home), requests=_requests(server, since))
            print(
                f"  {agent} {name}: rc={res.returncode} {res.duration:.1f}s id={res.native_id}",
                flush=True,
            )
            return res

        new = turn("new", "hello from the recorder")
        turn("resume", "and a second message", resume_id=new.native_id)
        server.set_script(
            [{"shell": "echo recorded > tool_made.txt", "then": "I created tool_made.txt"}]
        )
        tool = turn("tool", "please create tool_made.txt")
        server.configure(fault="close_mid_stream")
        failed = turn("failed", "this turn will break", timeout=bound)
        server.configure(fault=None)
        turn("resume_unknown", "resume nothing", resume_id=_unknown_id(agent))

        natives = {}
        for label, res in (("main", new), ("tool", tool), ("failed", failed)):
            natives[label] = _save_native(home, res.native_id, dest / "native", label)
        meta["native_logs"] = natives

    # Nothing listening: a port we just closed.
    home.rewire(f"http://127.0.0.1:{_free_port()}")
    res = run_turn(home, "is anyone there", timeout=bound)
    _write(dest / "unreachable.jsonl", res.stdout)
    if res.stderr.strip():
        _write(dest / "unreachable.stderr.txt", res.stderr[-4000:].replace(str(home.root), "$ROOT"))
    meta["turns"]["unreachable"] = _summary(res, home)
    print(f"  {agent} unreachable: rc={res.returncode} {res.duration:.1f}s", flush=True)

    _write(dest / "meta.json", json.dumps(meta, indent=1) + "\n")
    return meta


def _fork_argv(home: AgentHome, parent: str, prompt: str) -> list[str]:
    """``codex exec fork <id> PROMPT``; ``claude --resume <id> --fork-session PROMPT``."""
    if home.spec.name == "codex":
        argv = home.argv(prompt, resume_id=parent)
        at = argv.index("resume")
        return [*argv[:at], "fork", *argv[at + 1 :]]
    return [*home.argv(prompt, resume_id=parent), "--fork-session"]


def record_forks(agent: str, out: Path) -> dict:
    """A parent thread, a fork of it resumed once, the parent resumed after the fork,
    and (Claude) a session that runs a sub-agent through its Agent tool.

    Every model response reports the server's fixed usage, so each thread's
    true usage is its number of responses times that usage.
    """
    spec = AGENTS[agent]
    root = WORK_ROOT / f"forks-{agent}"
    shutil.rmtree(root, ignore_errors=True)
    dest = out / "forks" / agent
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    lock = json.loads(LOCK_FILE.read_text())
    package = lock["bins"][spec.bin]
    meta: dict = {"agent": agent, "version": {package: lock["packages"][package]}, "turns": {}}
    with ModelServer() as server:
        home = AgentHome(spec, root, server.url)

        def turn(name: str, res: TurnResult, since: int) -> TurnResult:
            if res.returncode != 0 or not res.native_id:
                raise SystemExit(f"{agent} {name} failed:\n{res.dump()}")
            meta["turns"][name] = dict(_summary(res, home), requests=_requests(server, since))
            print(f"  {agent} {name}: {res.duration:.1f}s id={res.native_id}", flush=True)
            return res

        def run(name: str, prompt: str, resume_id: str | None = None) -> TurnResult:
            since = len(server.requests)
            return turn(name, run_turn(home, prompt, resume_id=resume_id), since)

        parent = run("parent", "parent first").native_id
        assert parent is not None
        run("parent_resume", "parent second", parent)
        since = len(server.requests)
        fork = turn("fork", run_argv(home, _fork_argv(home, parent, "fork first")), since)
        run("fork_resume", "fork second", fork.native_id)
        run("parent_after_fork", "parent after the fork", parent)
        threads = {"parent": parent, "fork": fork.native_id}
        if agent == "claude":
            server.set_script(
                [
                    {
                        "tool": "Agent",
                        "input": {
                            "description": "count files",
                            "prompt": "count the files in this directory",
                            "subagent_type": "general-purpose",
                        },
                        "then": "the sub-agent's answer",
                    },
                    "the main agent's answer",
                ]
            )
            threads["with_subagent"] = run("with_subagent", "use a sub-agent").native_id
        meta["threads"] = threads
        meta["native_logs"] = {
            label: _save_native(home, native_id, dest / "native", label)
            for label, native_id in threads.items()
            if native_id
        }
    _write(dest / "meta.json", json.dumps(meta, indent=1) + "\n")
    return meta


def _unknown_id(agent: str) -> str:
    return {"opencode": "ses_0000000000000000000000000000"}.get(
        agent, "00000000-0000-4000-8000-000000000000"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--agents", default=",".join(sorted(AGENTS)))
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--forks", action="store_true", help="record forks and sub-agents only")
    args = ap.parse_args(argv)
    start = time.monotonic()
    for agent in args.agents.split(","):
        print(f"recording {agent}", flush=True)
        (record_forks if args.forks else record_agent)(agent, args.out)
    print(f"done in {time.monotonic() - start:.0f}s -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
