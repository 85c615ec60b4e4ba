"""The detached runner: owns one agent process for one turn attempt.

Started by the daemon in its own session, it outlives a daemon crash or
upgrade. It starts the agent in a process group of its own (stdin from
/dev/null, argv never through a shell), sends the agent's stdout straight to
the ``stream`` file, keeps a bounded stderr tail and, when the agent ends,
writes ``exit.json``. SIGTERM asks it to stop the agent's whole group, with
SIGKILL after a grace period; the runner itself always lives to record how
the agent ended. It inherits the attempt's locked ``owner.lock`` from the
daemon and holds it until it exits (the agent does not inherit it): that lock,
not a pid in the ledger, says the attempt has an owner (engine/ownership.py).
Standard library only, so it starts fast.

Usage: python -m tether.engine.runner RUN_DIR
"""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

from tether.engine.procs import signal_group, start_ticks
from tether.engine.rundir import STDERR_TAIL_BYTES, RunDir, read_json, write_json
from tether.engine.wakeup import notify

KILL_GRACE_S = 5.0


def _drain_stderr(pipe: IO[bytes], tail: bytearray) -> None:
    for chunk in iter(lambda: pipe.read(8192), b""):
        tail.extend(chunk)
        if len(tail) > STDERR_TAIL_BYTES:
            del tail[: len(tail) - STDERR_TAIL_BYTES]


def _spawn(run: RunDir, launch: dict[str, object]) -> subprocess.Popen[bytes]:
    env = {**os.environ, **dict(launch.get("env") or {})}  # type: ignore[call-overload]
    env["PWD"] = str(launch["cwd"])  # some agents (OpenCode) take their directory from $PWD
    with run.stream.open("ab") as stream:
        return subprocess.Popen(
            [str(a) for a in launch["argv"]],  # type: ignore[attr-defined]
            cwd=str(launch["cwd"]),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=stream,
            stderr=subprocess.PIPE,
            process_group=0,
        )


def run(run_dir: Path) -> int:
    run = RunDir(run_dir)
    me = {"pid": os.getpid(), "ticks": start_ticks(os.getpid()), "started_at": time.time()}
    write_json(run.runner, me, durable=False)  # about live processes: a reboot ends them anyway
    stopper = Stopper()
    signal.signal(signal.SIGTERM, lambda *_: stopper.request())
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    launch = read_json(run.launch)
    if launch is None:
        write_json(run.exit, {"spawn_error": f"{run.launch} is missing or unreadable"})
        return 1
    try:
        agent = _spawn(run, launch)
    except OSError as exc:
        write_json(run.exit, {"spawn_error": f"cannot start {launch['argv']!r}: {exc.strerror}"})
        return 1
    stopper.attach(agent.pid)
    agent_info = {"agent_pid": agent.pid, "agent_ticks": start_ticks(agent.pid)}
    write_json(run.runner, {**me, **agent_info, "spawned_at": time.time()}, durable=False)
    notify(run_dir.parent)
    tail = bytearray()
    assert agent.stderr is not None
    reader = threading.Thread(target=_drain_stderr, args=(agent.stderr, tail), daemon=True)
    reader.start()
    code = agent.wait()  # a SIGTERM runs the handler and the wait goes on (PEP 475)
    reader.join(timeout=5)
    run.stderr_tail.write_bytes(bytes(tail))
    write_json(
        run.exit,
        {
            "code": code if code >= 0 else None,
            "signal": -code if code < 0 else None,
            "stopped": stopper.requested,
            "finished_at": time.time(),
        },
    )
    notify(run_dir.parent)
    return 0


class Stopper:
    """A stop request TERMs the agent's group at once and KILLs it after the grace.

    Works from the signal handler whether or not the agent has started yet.
    """

    def __init__(self) -> None:
        self.requested = False
        self.pgid: int | None = None

    def request(self) -> None:
        self.requested = True
        self._stop()

    def attach(self, pgid: int) -> None:
        self.pgid = pgid
        if self.requested:
            self._stop()

    def _stop(self) -> None:
        if self.pgid is None:
            return
        signal_group(self.pgid, signal.SIGTERM)
        pgid = self.pgid
        killer = threading.Timer(KILL_GRACE_S, signal_group, args=(pgid, signal.SIGKILL))
        killer.daemon = True
        killer.start()


if __name__ == "__main__":
    sys.exit(run(Path(sys.argv[1])))
