"""The real agent CLIs driven *through tether's engine* (issue 4, "Done when").

For each of Codex, Claude Code, OpenCode and Gemini CLI: an in-process Engine
runs real runner processes that start the pinned CLI (``[agents.NAME]
command``) in ``AgentHome.work`` against the loopback model server, and the
tests check, against the agent's OWN native store and the model server's log:

1. ``spawn`` completes; the captured native id is the agent's own (stream and
   native log agree, and it is the only thread the agent has);
2. ``send`` resumes that thread: same id, the log grows, no new thread, and
   the model saw the earlier history;
3. a scripted shell tool call writes a file in the session's workspace;
4. the model server dying mid-turn ends the turn ``failed`` or ``timed_out``
   with a readable reason within the configured timeouts;
5. two sessions of the same agent in one directory each resume their own thread.

A CLI that is not installed FAILS these tests (never skips).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tests.fakes.model_server import ModelServer
from tests.realagents.harness import AGENTS, AgentHome, run_turn
from tests.realagents.tether_harness import (
    Rig,
    isolate_env,
    native_log_text,
    native_store_listing,
    native_thread_ids,
    open_rig,
    recorded_id,
)

from tether.domain.records import EventKind, Origin
from tether.domain.states import TurnState
from tether.engine import accept
from tether.errors import Conflict
from tether.history.adopt import adopt
from tether.history.indexer import Indexer
from tether.ledger import projects, sessions

pytestmark = pytest.mark.realagent

ALL = sorted(AGENTS)

MakeRig = Callable[..., Rig]
DAEMON_CWD = "daemon-cwd"


@pytest.fixture
def make_rig(
    home: Path,  # TETHER_HOME (tests/conftest.py)
    make_home: Callable[[str], AgentHome],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[MakeRig]:
    """Factory: (agent, **engine settings) -> a started Rig; closed afterwards."""
    made: list[Rig] = []
    # The "daemon" runs from a directory of its own, as `tether serve` would: no
    # agent may work there (and a stray write never lands in the repository).
    daemon_cwd = home.parent / DAEMON_CWD
    daemon_cwd.mkdir()
    monkeypatch.chdir(daemon_cwd)
    monkeypatch.setenv("PWD", str(daemon_cwd))

    def make(agent: str, **engine: float) -> Rig:
        agent_home = make_home(agent)  # fails (never skips) when the CLI is missing
        isolate_env(agent_home, monkeypatch.setenv, lambda k: monkeypatch.delenv(k, raising=False))
        rig = open_rig(home, agent_home, **engine)
        made.append(rig)
        return rig

    yield make
    for rig in made:
        rig.close()


def _completed(rig: Rig, turn_id: str, timeout: float = 120) -> None:
    turn = rig.wait(turn_id, timeout)
    assert turn.state is TurnState.COMPLETED, rig.dump(turn_id)


# --------------------------------------------------------------------------
# 1. spawn completes and the native id is the agent's own
# --------------------------------------------------------------------------


@pytest.mark.timeout(600)
@pytest.mark.parametrize("agent", ALL)
def test_spawn_captures_the_agents_own_native_id(agent: str, make_rig: MakeRig) -> None:
    rig = make_rig(agent)
    accepted = rig.spawn("hello through tether")
    _completed(rig, accepted.turn.id)

    session = rig.session(accepted.session.id)
    native = session.native_id
    assert native, f"no native id captured\n{rig.dump(accepted.turn.id)}"
    assert session.agent == agent and session.workspace == str(rig.home.work)
    # The id the agent printed on its own stdout, read without tether's parser.
    assert rig.stream_native_id(accepted.turn.id) == native, rig.dump(accepted.turn.id)
    # The agent's own native log for that id exists and records that id inside.
    assert rig.home.native_logs(native), f"{agent}: no native log for {native}"
    assert recorded_id(rig.home, native) == native
    assert "hello through tether" in native_log_text(rig.home, native)
    # ...and it is the only thread the agent has: nothing else could be "matched".
    assert native_thread_ids(rig.home) == {native}
    ids = [e.preview for e in rig.events(session.id) if e.kind is EventKind.NATIVE_ID]
    assert ids == [native], ids
    assert "hello through tether" in rig.text(session.id, accepted.turn.id)


#: What people type: a number, a leading dash, a flag-like word, double spaces.
ODD_PROMPT = "-v 3  fix issue 42 --help"


@pytest.mark.timeout(600)
@pytest.mark.parametrize("agent", ALL)
def test_prompt_reaches_the_model_verbatim(
    agent: str, make_rig: MakeRig, model_server: ModelServer
) -> None:
    """The prompt is one argument to the agent, never flags, never reshaped."""
    rig = make_rig(agent)
    accepted = rig.spawn(ODD_PROMPT)
    _completed(rig, accepted.turn.id)
    assert model_server.main_requests()[-1]["last_user"] == ODD_PROMPT


# --------------------------------------------------------------------------
# 2. send resumes the same thread
# --------------------------------------------------------------------------


@pytest.mark.timeout(600)
@pytest.mark.parametrize("agent", ALL)
def test_send_resumes_the_same_thread(
    agent: str, make_rig: MakeRig, model_server: ModelServer
) -> None:
    rig = make_rig(agent)
    first = rig.spawn("first message alpha")
    _completed(rig, first.turn.id)
    native = rig.session(first.session.id).native_id
    assert native
    size_before = rig.home.native_log_size(native)
    assert size_before > 0

    second = rig.send(first.session.id, "second message beta")
    _completed(rig, second.turn.id)

    assert rig.session(first.session.id).native_id == native
    assert rig.stream_native_id(second.turn.id) == native, rig.dump(second.turn.id)
    assert rig.home.native_log_size(native) > size_before, "the native log did not grow"
    assert "second message beta" in native_log_text(rig.home, native)
    assert native_thread_ids(rig.home) == {native}, "the resume started a new thread"
    last = model_server.main_requests()[-1]
    assert last["user_texts"] == ["first message alpha", "second message beta"], last
    assert "ECHO[users=2 " in rig.text(first.session.id, second.turn.id), rig.dump(second.turn.id)


@pytest.mark.timeout(600)
@pytest.mark.parametrize("agent", ALL)
def test_a_session_started_outside_tether_is_resumed_by_its_id(
    agent: str, make_rig: MakeRig, model_server: ModelServer
) -> None:
    """Found in the agent's own logs, an adopted external session resumes its own thread,
    in the directory it ran in (Gemini's logs name it by hash; its `.project_root` says it)."""
    rig = make_rig(agent)
    outside = run_turn(rig.home, "started outside tether gamma")
    assert outside.returncode == 0 and outside.native_id, outside.dump()
    Indexer(rig.config, rig.ledger).run_once()
    with rig.ledger.db.read() as conn:
        found = sessions.find_by_native_id(conn, agent, outside.native_id)
    assert found is not None and found.origin is Origin.EXTERNAL, found
    assert found.project == "work" and found.workspace == str(rig.home.work), found
    adopted = adopt(rig.ledger, found.id)
    assert adopted.id == found.id and adopted.origin is Origin.TETHER, adopted

    sent = rig.send(found.id, "sent through tether delta")
    _completed(rig, sent.turn.id)
    assert rig.stream_native_id(sent.turn.id) == outside.native_id, rig.dump(sent.turn.id)
    assert native_thread_ids(rig.home) == {outside.native_id}, "a new thread was started"
    last = model_server.main_requests()[-1]
    assert last["user_texts"] == ["started outside tether gamma", "sent through tether delta"]


def _as_older_gemini_left_it(home: AgentHome, cwd: Path) -> None:
    """The layout of Gemini CLI before 0.61's project registry: `tmp/<sha256 of the path>/`,
    no `.project_root`, no `projects.json` entry. 0.61 copies it to its slug directory when
    it next runs in that directory. Made from a real 0.61 run, not recorded from an older CLI
    (not pinned here); the layout is the one 0.61's own migration code reads (ProjectRegistry,
    Storage in its bundle)."""
    gemini_dir = home.path("gemini") / ".gemini"
    slug = gemini_dir / "tmp" / cwd.name
    (slug / ".project_root").unlink()
    slug.rename(gemini_dir / "tmp" / hashlib.sha256(str(cwd).encode()).hexdigest())
    shutil.rmtree(gemini_dir / "history" / cwd.name)
    registry = gemini_dir / "projects.json"
    data = json.loads(registry.read_text())
    del data["projects"][str(cwd)]
    registry.write_text(json.dumps(data))


@pytest.mark.timeout(600)
def test_a_gemini_session_in_an_unregistered_hash_directory_is_refused_until_registered(
    make_rig: MakeRig, model_server: ModelServer
) -> None:
    """Its directory is known by hash only: refused (send and adopt say what to do) until a
    registered project has that hash; then adopt finds it and send resumes the same thread
    there."""
    rig = make_rig("gemini")
    elsewhere = rig.home.work / "elsewhere"
    elsewhere.mkdir()
    argv = rig.home.argv("started in elsewhere epsilon", native_id=str(uuid.uuid4()))
    outside = subprocess.run(
        argv, cwd=elsewhere, env=rig.home.env(), capture_output=True, text=True, timeout=300
    )
    assert outside.returncode == 0, outside.stderr
    native = argv[argv.index("--session-id") + 1]
    _as_older_gemini_left_it(rig.home, elsewhere)
    Indexer(rig.config, rig.ledger).run_once()
    with rig.ledger.db.read() as conn:
        found = sessions.find_by_native_id(conn, "gemini", native)
    assert found is not None and found.workspace == "", found

    with pytest.raises(Conflict, match=r"no known directory.*tether adopt"):
        rig.send(found.id, "refused zeta")
    with pytest.raises(Conflict, match=r"no known directory.*tether adopt"):
        accept.attach(rig.config, rig.ledger, found.id, os.getpid(), None)
    with pytest.raises(Conflict, match=r"by hash only.*tether project add PATH"):
        adopt(rig.ledger, found.id)
    assert model_server.main_requests()[-1]["last_user"] == "started in elsewhere epsilon"

    with rig.ledger.db.write() as conn:
        projects.add(conn, elsewhere, name="elsewhere")
    adopted = adopt(rig.ledger, found.id)
    assert adopted.workspace == str(elsewhere) and adopted.native_id == native, adopted
    sent = rig.send(found.id, "sent after registering eta")
    _completed(rig, sent.turn.id)
    assert rig.stream_native_id(sent.turn.id) == native, rig.dump(sent.turn.id)
    assert native_thread_ids(rig.home) == {native}, "a new thread was started"
    last = model_server.main_requests()[-1]
    assert last["user_texts"] == ["started in elsewhere epsilon", "sent after registering eta"]


# --------------------------------------------------------------------------
# 3. a scripted shell tool call writes a file in the workspace
# --------------------------------------------------------------------------


@pytest.mark.timeout(600)
@pytest.mark.parametrize("agent", ALL)
def test_scripted_tool_call_writes_in_the_workspace(
    agent: str, make_rig: MakeRig, model_server: ModelServer, home: Path
) -> None:
    rig = make_rig(agent)
    model_server.set_script(
        [{"shell": "echo made-by-tool > tool_made.txt", "then": "tool step finished"}]
    )
    accepted = rig.spawn("please create the file")
    _completed(rig, accepted.turn.id)

    made = Path(rig.session(accepted.session.id).workspace) / "tool_made.txt"
    assert made.parent == rig.home.work
    leaked = home.parent / DAEMON_CWD / "tool_made.txt"
    assert not leaked.exists(), (
        f"{agent}'s tool ran in the daemon's directory {leaked.parent}, not the session's "
        f"workspace: the runner passed the daemon's $PWD to the agent with cwd={made.parent}"
    )
    assert made.exists(), f"the shell tool did not run\n{rig.dump(accepted.turn.id)}"
    assert made.read_text().strip() == "made-by-tool"
    assert model_server.pending == 0
    kinds = [e.kind for e in rig.events(accepted.session.id, accepted.turn.id)]
    assert EventKind.TOOL_CALL in kinds and EventKind.TOOL_RESULT in kinds, kinds
    assert "tool step finished" in rig.text(accepted.session.id, accepted.turn.id)


# --------------------------------------------------------------------------
# 4. the model server dying mid-turn ends the turn visibly, by the watchdog
# --------------------------------------------------------------------------

#: Small watchdog settings for the fault test (the CLIs' own retries, e.g.
#: OpenCode's ~63 s, must not decide how long a broken turn takes).
FAULT_ENGINE = {"start_timeout_s": 120, "idle_timeout_s": 5, "abort_after_s": 5, "start_retries": 0}


def _readable(reason: str | None) -> bool:
    """A sentence a person can read: words, no raw JSON, no traceback, no control bytes."""
    if not reason or not reason.strip():
        return False
    if "Traceback (most recent call last)" in reason or "\n    at " in reason:
        return False  # a stack trace, not a reason
    try:
        json.loads(reason)
        return False  # a raw JSON document
    except ValueError:
        pass
    if any(not (ch.isprintable() or ch in "\n\t") for ch in reason):
        return False
    return len(re.findall(r"[A-Za-z]{3,}", reason)) >= 2


@pytest.mark.timeout(300)
@pytest.mark.parametrize("fault", ["close_mid_stream", "hang_mid_stream"])
@pytest.mark.parametrize("agent", ALL)
def test_model_server_dying_mid_turn_ends_the_turn(
    agent: str, fault: str, make_rig: MakeRig, model_server: ModelServer
) -> None:
    rig = make_rig(agent, **FAULT_ENGINE)
    model_server.configure(fault=fault)  # every POST, main or side, retries included
    started = time.monotonic()
    accepted = rig.spawn("this turn will break")
    # Without the watchdog (start, idle, abort) the turn would never end: the
    # deadline is only how long a loaded machine may take to get there.
    turn = rig.wait(accepted.turn.id, timeout=240)
    took = time.monotonic() - started
    print(f"\n{agent}/{fault}: {turn.state} after {took:.1f}s: {turn.reason!r}")

    assert turn.state in (TurnState.FAILED, TurnState.TIMED_OUT), rig.dump(accepted.turn.id)
    assert _readable(turn.reason), f"unreadable reason {turn.reason!r}\n{rig.dump(turn.id)}"
    assert turn.phases.finished is not None
    assert model_server.main_requests(), "the turn never reached the model server"
    # The agent process is gone and its runner recorded how it ended.
    assert rig.run_dir(turn.id).exit.exists(), rig.dump(turn.id)


# --------------------------------------------------------------------------
# 5. two sessions of one agent in one directory each resume their own thread
# --------------------------------------------------------------------------


@pytest.mark.timeout(300)
@pytest.mark.parametrize("agent", ALL)
def test_two_sessions_in_one_directory_resume_their_own_threads(
    agent: str, make_rig: MakeRig, model_server: ModelServer
) -> None:
    rig = make_rig(agent)
    prompts = {
        "a": ("alpha opens thread one", "alpha continues thread one"),
        "b": ("bravo opens thread two", "bravo continues thread two"),
    }
    # Both sessions run at once, in the same directory.
    firsts = {k: rig.spawn(p[0]) for k, p in prompts.items()}
    for acc in firsts.values():
        _completed(rig, acc.turn.id)
    natives = {k: rig.session(acc.session.id).native_id for k, acc in firsts.items()}
    assert all(natives.values()) and natives["a"] != natives["b"], natives
    assert {a.session.workspace for a in firsts.values()} == {str(rig.home.work)}
    sizes = {k: rig.home.native_log_size(n) for k, n in natives.items() if n}

    seconds = {k: rig.send(firsts[k].session.id, p[1]) for k, p in prompts.items()}
    for acc in seconds.values():
        _completed(rig, acc.turn.id)
    accepted = [*firsts.values(), *seconds.values()]
    attempts = {a.turn.id: rig.turn(a.turn.id).attempts for a in accepted}
    print(f"\n{agent}: attempts per turn {attempts}")

    threads = native_thread_ids(rig.home)
    assert threads == set(natives.values()), (
        f"threads in the agent's store {threads} != tether's {natives}\n"
        + native_store_listing(rig.home)
    )
    main = model_server.main_requests()
    for k, (one, two) in prompts.items():
        native = natives[k]
        assert native
        acc = seconds[k]
        assert rig.session(acc.session.id).native_id == native
        assert rig.stream_native_id(acc.turn.id) == native, rig.dump(acc.turn.id)
        logs = rig.home.native_logs(native)
        grown = rig.home.native_log_size(native)
        assert grown > sizes[k], f"{k}: native log did not grow ({sizes[k]} -> {grown}): {logs}"
        log = native_log_text(rig.home, native)
        other = prompts["b" if k == "a" else "a"]
        assert one in log and two in log, f"{k}: {logs} lack its own prompts\n{log[-3000:]}"
        assert not any(p in log for p in other), f"{k}'s native log {logs} holds the other thread"
        # The model saw this session's own history, and only it.
        resumed = [r for r in main if r["last_user"] == two]
        assert resumed, f"no main request ended with {two!r}"
        assert all(r["user_texts"] == [one, two] for r in resumed), (resumed, main)
        assert "ECHO[users=2 " in rig.text(acc.session.id, acc.turn.id), rig.dump(acc.turn.id)
