"""Several daemons on one PostgreSQL ledger: separate TETHER_HOMEs and ports, real processes.

Each host runs the fake codex-speaking agent and logs every run to its own
file, so "ran once, on the right host" is read from what actually ran.
"""

import itertools
import json
import random
import signal
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from tests.engine.conftest import FAKE_AGENT, write_config
from tests.integration.test_stream import Channel, Sse
from tests.support import CliHome

from tether.config import load
from tether.domain.records import Turn
from tether.domain.states import TurnState
from tether.history.synthetic import Expected, codex_session, write_codex
from tether.ledger import projects, sessions, turns
from tether.ledger.schema import history_files
from tether.ledger.store import Ledger, open_ledger

TERMINAL = {s.value for s in TurnState if s.terminal}
pytestmark = pytest.mark.postgres


class Host(CliHome):
    """One daemon: its own home, port, work directory and agent log."""

    def __init__(self, root: Path, name: str, url: str, timeout_s: float) -> None:
        self.name = name
        home, work = root / f"home-{name}", root / f"work-{name}"
        home.mkdir()
        work.mkdir()
        write_config(home, max_parallel=4, start_timeout_s=60)
        self.agent_log = home / "agent.log"
        super().__init__(
            home,
            work,
            TETHER_DATABASE_URL=url,
            TETHER_SERVER_HOST_NAME=name,
            TETHER_TEAM_HEARTBEAT_S="0.2",
            TETHER_TEAM_HOST_TIMEOUT_S=str(timeout_s),
            FAKE_AGENT_LOG=str(self.agent_log),
        )

    @property
    def url(self) -> str:
        info = json.loads((self.path / "daemon.json").read_text())
        return f"http://127.0.0.1:{info['port']}"

    def api(self, method: str, path: str, body: dict[str, object] | None = None) -> Any:
        response = httpx.request(method, f"{self.url}{path}", json=body, timeout=120)
        assert response.status_code < 400, response.text
        return response.json()

    def turn(self, turn_id: str) -> dict[str, Any]:
        return self.api("GET", f"/api/turns/{turn_id}")  # type: ignore[no-any-return]

    def wait(self, turn_id: str, done: Callable[[dict[str, Any]], bool] | None = None) -> Any:
        """Poll this host's API until the turn is done (terminal by default)."""
        check = done or (lambda t: t["state"] in TERMINAL)
        deadline = time.monotonic() + 240
        while not check(turn := self.turn(turn_id)):
            assert time.monotonic() < deadline, f"{turn_id} still {turn['state']}"
            time.sleep(0.2)
        return turn

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)
        self.proc = None

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=60)
            self.proc = None

    def runs(self) -> list[str]:
        return self.agent_log.read_text().splitlines() if self.agent_log.exists() else []


@pytest.fixture
def team_host(tmp_path: Path, pg_url: str) -> Iterator[Callable[..., Host]]:
    """Make hosts on one PostgreSQL schema; all are stopped at the end."""
    made: list[Host] = []

    def make(name: str, timeout_s: float = 60.0) -> Host:
        made.append(Host(tmp_path, name, pg_url, timeout_s))
        return made[-1]

    yield make
    for host in made:
        host.stop()


def _ledger(pg_url: str, home: Path) -> Ledger:
    return open_ledger(load({"TETHER_HOME": str(home), "TETHER_DATABASE_URL": pg_url}))


def _web_on(a: Host, b: Host) -> None:
    """From host a, a project whose checkout lives on host b."""
    added = a.json(
        "project", "add", str(b.work), "--name", "web", "--agent", "fake", "--host", b.name
    )
    assert added["host"] == b.name


def _spawn(host: Host, prompt: str) -> tuple[str, str]:
    made = host.api("POST", "/api/sessions", {"prompt": prompt, "project": "web"})
    return made["session"]["id"], made["turn"]["id"]


def _send(host: Host, session: str, message: str) -> str:
    return str(
        host.api("POST", f"/api/sessions/{session}/messages", {"message": message})["turn"]["id"]
    )


def test_a_message_sent_to_a_runs_on_b_and_a_sees_it(team_host: Callable[..., Host]) -> None:
    a, b = team_host("a"), team_host("b")
    a.serve()
    b.serve()
    _web_on(a, b)
    listed = {h["name"]: h for h in a.api("GET", "/api/hosts")["items"]}
    assert set(listed) == {"a", "b"}

    spawned = a.json("spawn", "--project", "web", "hello from a")  # a's CLI, a's daemon
    session, first = spawned["session"]["id"], spawned["turn"]["id"]  # type: ignore[index]
    assert a.wait(first)["state"] == "completed"
    second = _send(a, session, "and again")
    assert a.wait(second)["state"] == "completed"
    shown = a.api("GET", f"/api/sessions/{session}")["turns"]
    assert [(t["host"], t["state"]) for t in shown] == [("b", "completed"), ("b", "completed")]
    assert len(b.runs()) == 2 and a.runs() == [], "the turns did not run (only) on b"
    assert b.runs()[1].startswith(b.runs()[0].split(" ")[0]), "the second turn did not resume"

    page = a.api("GET", f"/api/sessions/{session}/events")
    messages = [e["preview"] for e in page["items"] if e["kind"] == "message"]
    assert messages == ["echo: and again", "echo: hello from a"]

    slow = _send(a, session, "@sleep=60")
    b.wait(slow, lambda t: t["state"] == "running")
    cancelled = a.api("POST", f"/api/turns/{slow}/cancel", {})
    assert cancelled["outcome"] == "cancelled", cancelled
    assert a.turn(slow)["state"] == "cancelled"


def _payloads(messages: list[Sse]) -> list[dict[str, Any]]:
    return [json.loads(m.data) for m in messages if m.event == "message"]


def _answered_on(session: str, host: str) -> Callable[[list[Sse]], bool]:
    """A's stream has carried B's reply event and the turn completed on B."""

    def done(messages: list[Sse]) -> bool:
        seen = _payloads(messages)
        replied = any(
            p["type"] == "event"
            and p["event"]["session_id"] == session
            and p["event"]["preview"] == "echo: live from a"
            for p in seen
        )
        completed = any(
            p["type"] == "turn"
            and p["turn"]["session_id"] == session
            and (p["turn"]["state"], p["turn"]["host"]) == ("completed", host)
            for p in seen
        )
        return replied and completed

    return done


def test_a_turn_run_on_b_streams_live_to_a_s_channel(team_host: Callable[..., Host]) -> None:
    a, b = team_host("a"), team_host("b")
    a.serve()
    b.serve()
    _web_on(a, b)
    with httpx.Client(timeout=120) as http:
        channel = Channel(http, a.url, None)  # opened before anything runs: only live messages
        try:
            session, turn_id = _spawn(a, "live from a")
            got = channel.until(_answered_on(session, "b"))
            resumed_from = got[0].id  # a browser that reconnects resumes after what it saw
        finally:
            channel.close()
        assert len(b.runs()) == 1 and a.runs() == [], "the turn did not run (only) on b"
        states = [p["turn"]["state"] for p in _payloads(got) if p["type"] == "turn"]
        assert states[-1] == "completed"
        replay = Channel(http, a.url, resumed_from)
        try:
            again = replay.until(_answered_on(session, "b"))
        finally:
            replay.close()
    first_ids = [m.id for m in got]
    assert [m.id for m in again] == first_ids[1 : len(again) + 1]  # each once, in order
    assert a.turn(turn_id)["host"] == "b"


def _all_turns(ledger: Ledger) -> dict[str, tuple[str, list[Turn]]]:
    with ledger.db.read() as conn:
        return {
            s.id: (s.project, turns.for_session(conn, s.id))
            for s in sessions.list_page(conn, limit=50).items
        }


@pytest.mark.timeout(900)
def test_200_turns_over_20_sessions_on_three_hosts_run_once_in_lane_order(
    team_host: Callable[..., Host], pg_url: str
) -> None:
    hosts = [team_host(name) for name in ("a", "b", "c")]
    ledger = _ledger(pg_url, hosts[0].path)
    try:
        with ledger.db.write() as conn:
            made = [
                projects.add(conn, h.work, name=f"p-{h.name}", default_agent="fake", host=h.name)
                for h in hosts
            ]
            for i in range(20):
                session = sessions.create(conn, made[i % 3], "fake", made[i % 3].path)
                for n in range(10):
                    turns.add(conn, session, f"{session.id} turn {n}")
        for host in hosts:
            host.serve()
        deadline = time.monotonic() + 800
        while not all(
            t.state.terminal for _, listed in _all_turns(ledger).values() for t in listed
        ):
            assert time.monotonic() < deadline, "the 200 turns did not all end"
            time.sleep(1)
        everything = _all_turns(ledger)
    finally:
        ledger.close()
    assert len(everything) == 20
    for session_id, (project, session_turns) in everything.items():
        assert [t.state for t in session_turns] == [TurnState.COMPLETED] * 10, session_id
        assert {t.host for t in session_turns} == {project.removeprefix("p-")}
        for earlier, later in itertools.pairwise(session_turns):
            assert earlier.phases.finished is not None and later.phases.dispatched is not None
            assert earlier.phases.finished <= later.phases.dispatched, f"{later.id} overlapped"
    for host in hosts:
        prompts = [line.split(" ", 1)[1] for line in host.runs()]
        assert len(prompts) == len(set(prompts)), f"a turn ran twice on {host.name}"
        assert all(p.startswith(f"p-{host.name}-") for p in prompts), f"{host.name} ran another's"
    assert sum(len(h.runs()) for h in hosts) == 200


def test_a_killed_host_s_turns_end_interrupted_on_a_peer(team_host: Callable[..., Host]) -> None:
    a, b = team_host("a", timeout_s=3), team_host("b", timeout_s=3)
    a.serve()
    b.serve()
    _web_on(a, b)
    session, turn_id = _spawn(a, "@sleep=600")
    queued = _send(a, session, "after b died")
    a.wait(turn_id, lambda t: t["state"] == "running")
    killed_at = time.time()
    b.kill()
    ended = a.wait(turn_id)
    assert ended["state"] == "interrupted"
    assert "host b stopped answering" in ended["reason"]
    assert "interrupted by host a" in ended["reason"]
    assert time.time() - killed_at >= 3
    assert a.turn(queued)["state"] == "queued"  # it waits for b, where the checkout is
    assert len(b.runs()) == 1 and a.runs() == [], "a turn of b ran elsewhere or twice"
    assert not (b.path / "runs" / turn_id / "exit.json").exists()  # its agent still runs on b
    b.serve()  # back: it stops that agent; the queued message runs on b, the other never again
    deadline = time.monotonic() + 120
    while not (b.path / "runs" / turn_id / "exit.json").exists():
        assert time.monotonic() < deadline, "b did not stop the agent of its interrupted turn"
        time.sleep(0.2)
    assert a.wait(queued)["host"] == "b"
    assert len(b.runs()) == 2 and a.runs() == []
    assert a.turn(turn_id)["state"] == "interrupted"


def test_a_host_restarted_before_the_timeout_reattaches(team_host: Callable[..., Host]) -> None:
    a, b = team_host("a", timeout_s=120), team_host("b", timeout_s=120)
    a.serve()
    b.serve()
    _web_on(a, b)
    _, turn_id = _spawn(a, "@sleep=3 @slow")
    a.wait(turn_id, lambda t: t["phases"]["first_event"] is not None)
    b.kill()
    b.serve()
    done = a.wait(turn_id)
    assert (done["state"], done["host"]) == ("completed", "b")
    assert len(b.runs()) == 1 and a.runs() == []


def test_each_host_indexes_its_own_agent_logs_under_its_name(
    team_host: Callable[..., Host], pg_url: str
) -> None:
    a, b = team_host("a"), team_host("b")
    native: dict[str, tuple[str, Path]] = {}
    for seed, host in enumerate((a, b)):
        rollout = codex_session(random.Random(seed), Expected(), 1767225600.0, 2)
        path = write_codex(host.path / "native-logs" / "codex", rollout)  # same day, same layout
        native[host.name] = (rollout.native_id, path)
    a.serve()
    b.serve()
    ledger = _ledger(pg_url, a.path)
    try:
        deadline = time.monotonic() + 240
        while True:
            with ledger.db.read() as conn:
                rows = conn.execute(
                    select(history_files.c.host, history_files.c.native_id, history_files.c.path)
                ).all()
            found = {host: (native_id, Path(path)) for host, native_id, path in rows}
            if found == native:
                break
            assert time.monotonic() < deadline, f"indexed: {rows}"
            time.sleep(0.2)
    finally:
        ledger.close()
    listed = a.api("GET", "/api/sessions?agent=codex")["items"]  # one view: both machines
    assert {s["native_id"] for s in listed} == {n for n, _ in native.values()}


def _codex_is_the_fake(host: Host) -> None:
    """The built-in codex provider replaced by the fake agent, which logs where it ran."""
    python, agent = sys.executable, str(FAKE_AGENT)
    with (host.path / "config.toml").open("a") as config:
        config.write(
            f"""
[providers.codex]
new = ["{python}", "{agent}", "{{prompt}}"]
resume = ["{python}", "{agent}", "resume", "{{native_id}}", "{{prompt}}"]
stream = "codex"
"""
        )


def test_a_message_to_an_external_session_runs_on_the_host_with_its_log(
    team_host: Callable[..., Host],
) -> None:
    a, b = team_host("a"), team_host("b")
    for host in (a, b):
        _codex_is_the_fake(host)
    rollout = codex_session(random.Random(3), Expected(), 1767225600.0, 2, cwd=str(a.work))
    write_codex(a.path / "native-logs" / "codex", rollout)  # a thread started on a, outside tether
    b.serve()
    added = b.json("project", "add", str(a.work), "--name", "web", "--agent", "fake")
    assert added["host"] == "b"  # the session's cwd is a project checked out on b
    a.serve()
    deadline = time.monotonic() + 240
    while not (found := b.api("GET", "/api/sessions?agent=codex")["items"]):
        assert time.monotonic() < deadline, "a did not import its codex log"
        time.sleep(0.2)
    (session,) = found
    assert (session["native_id"], session["project"]) == (rollout.native_id, "web")
    assert (session["origin"], session["host"]) == ("external", "a")
    turn_id = _send(b, session["id"], "from b")  # b's API; only a holds the thread's log
    done = b.wait(turn_id)
    assert (done["state"], done["host"]) == ("completed", "a"), done["reason"]
    assert b.runs() == [] and a.runs() == [f"{rollout.native_id} from b"]


def test_a_remote_cli_adds_a_project_through_the_team_daemon(
    team_host: Callable[..., Host], tmp_path: Path
) -> None:
    a, b = team_host("a"), team_host("b")
    a.serve()
    b.serve()
    laptop = CliHome(  # no ledger here: only host a's URL
        tmp_path / "laptop",
        tmp_path / "laptop-work",
        TETHER_SERVER_REMOTE=a.url,
        TETHER_SERVER_HOST_NAME="laptop",
    )
    laptop.path.mkdir()
    laptop.work.mkdir()
    write_config(laptop.path)
    refused = laptop.run("project", "add", str(laptop.work), "--name", "mine")
    assert refused.returncode == 2, refused.stderr  # the default host is this machine's
    assert "no host named 'laptop' has joined this ledger" in refused.stderr
    missing = laptop.run("project", "add", str(tmp_path / "nowhere"), "--name", "gone")
    assert missing.returncode == 2 and "is not a directory" in missing.stderr
    added = laptop.json(
        "project", "add", str(b.work), "--name", "web", "--agent", "fake", "--host", "b"
    )
    assert (added["name"], added["host"], added["path"]) == ("web", "b", str(b.work))
    again = laptop.run("project", "add", str(b.work), "--name", "web", "--host", "b")
    assert again.returncode == 1 and "exists already" in again.stderr
    listed = {p["name"]: p["host"] for p in b.api("GET", "/api/projects")["items"]}
    assert listed == {"web": "b"}
    spawned = laptop.json("spawn", "--project", "web", "from the laptop")
    turn_id = spawned["turn"]["id"]  # type: ignore[index]
    assert a.wait(turn_id)["host"] == "b" and len(b.runs()) == 1 and a.runs() == []
    session_id = spawned["session"]["id"]  # type: ignore[index]
    remote = laptop.run("attach", session_id)  # the agent's UI here, its lane held from here
    assert remote.returncode == 2 and "run it on the session's host" in remote.stderr
    on_a = a.run("attach", session_id)  # a is a host, but the checkout is on b
    assert on_a.returncode == 1, on_a.stderr
    assert "runs on host b, where its fake thread can be resumed" in on_a.stderr
    assert not (laptop.path / "tether.db").exists()  # all of it went through host a


def test_tokens_and_roles_hold_on_every_host(team_host: Callable[..., Host]) -> None:
    """People are in the shared ledger: made on a, checked on b; revoked on a, refused by b."""
    a, b = team_host("a"), team_host("b")
    for host in (a, b):  # a token required even on loopback; this one is the owner's
        host.env["TETHER_SERVER_TOKEN"] = "owner-secret-of-the-team"
        host.serve()
    _web_on(a, b)
    tokens = {}
    for name, role in (("vera", "viewer"), ("mia", "member")):
        assert a.run("user", "add", name, "--role", role).returncode == 0
        made = a.json("token", "create", name)
        tokens[name] = (str(made["token"]), made["id"])

    def spawn_on_b(name: str) -> httpx.Response:
        bearer = {"Authorization": f"Bearer {tokens[name][0]}"}
        body = {"prompt": f"from {name}", "project": "web"}
        return httpx.post(f"{b.url}/api/sessions", json=body, headers=bearer, timeout=120)

    refused = spawn_on_b("vera")
    assert refused.status_code == 403 and "vera is a viewer" in refused.text
    accepted = spawn_on_b("mia")
    assert accepted.status_code == 201, accepted.text
    turn_id = accepted.json()["turn"]["id"]
    owner = {"Authorization": "Bearer owner-secret-of-the-team"}
    revoked = httpx.post(
        f"{a.url}/api/tokens/{tokens['mia'][1]}/revoke", json={}, headers=owner, timeout=120
    )
    assert revoked.status_code == 200, revoked.text
    gone = spawn_on_b("mia")
    assert gone.status_code == 401 and "unknown or revoked token" in gone.text
    deadline = time.monotonic() + 240
    read = f"{a.url}/api/turns/{turn_id}"
    while (done := httpx.get(read, headers=owner, timeout=120).json())["state"] not in TERMINAL:
        assert time.monotonic() < deadline, f"{turn_id} still {done['state']}"
        time.sleep(0.2)
    assert (done["state"], done["host"], done["accepted_by"]) == ("completed", "b", "mia")
    assert len(b.runs()) == 1 and a.runs() == []  # the viewer's and the revoked sends never ran
