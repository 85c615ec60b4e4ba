"""Starting a detached runner for one attempt of a turn: forked by the zygote, or a new process.

Either way the runner holds the attempt's locked ``owner.lock`` from before
it exists until it exits, and writes ``runner.json`` with its own pid.
"""

import os
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from tether.agents.provider import Launch
from tether.engine.procs import start_ticks
from tether.engine.rundir import RunDir, write_json
from tether.errors import TetherError

ZYGOTE_ANSWER_S = 30.0  # generous: a loaded machine; past it, runners start as new processes


class SpawnError(TetherError):
    """The runner process itself could not be started."""


@dataclass(frozen=True)
class Started:
    pid: int | None  # None: the zygote was asked but never answered; the owner lock tells
    ticks: int | None
    proc: subprocess.Popen[bytes] | None  # set when the daemon is the runner's parent


class Spawner:
    """Starts runners through the zygote while it answers, else as new processes."""

    def __init__(self, runs_dir: Path) -> None:
        self.runs_dir = runs_dir
        self._lock = threading.Lock()
        self._conn: socket.socket | None = None
        self._zygote: subprocess.Popen[bytes] | None = None
        self._env: dict[str, str] = {}

    def start_runner(self, run: RunDir, launch: Launch, owner_fd: int) -> Started:
        """Write the launch file and start the attempt's runner, handing it ``owner_fd``."""
        try:
            run.path.mkdir(parents=True, exist_ok=True)
            write_json(
                run.launch,
                {"argv": list(launch.argv), "cwd": str(launch.cwd), "env": dict(launch.env)},
                durable=False,  # only this runner reads it, while the machine is up
            )
        except OSError as exc:
            raise SpawnError(f"cannot write {run.launch}: {exc.strerror}") from exc
        with self._lock:
            sent, pid = self._fork(run, owner_fd)
        if sent:
            return Started(pid, None if pid is None else start_ticks(pid), None)
        proc = _new_process(run, owner_fd)
        return Started(proc.pid, start_ticks(proc.pid), proc)

    def close(self) -> None:
        with self._lock:
            self._stop_zygote()

    def _fork(self, run: RunDir, owner_fd: int) -> tuple[bool, int | None]:
        """Ask the zygote: (whether it was asked, the forked runner's pid if it answered).

        Once asked, a runner may exist even without an answer: then it must not
        be started again another way; its owner lock and runner.json tell.
        """
        if self._conn is None or dict(os.environ) != self._env:
            self._start_zygote()  # none yet, it died, or the environment changed
            if self._conn is None:
                return False, None
        try:
            socket.send_fds(self._conn, [os.fsencode(run.path)], [owner_fd])
        except OSError:
            self._stop_zygote()
            return False, None
        try:
            return True, int(self._conn.recv(64))
        except (OSError, ValueError):
            self._stop_zygote()
            return True, None

    def _start_zygote(self) -> None:
        self._stop_zygote()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._env = dict(os.environ)
        try:
            self.runs_dir.mkdir(parents=True, exist_ok=True)
            with (self.runs_dir / "zygote.log").open("ab") as log:
                self._zygote = subprocess.Popen(
                    [sys.executable, "-m", "tether.engine.zygote", str(theirs.fileno())],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                    start_new_session=True,
                    pass_fds=(theirs.fileno(),),
                    env=self._env,
                )
        except OSError:
            ours.close()
            return
        finally:
            theirs.close()
        ours.settimeout(ZYGOTE_ANSWER_S)
        self._conn = ours

    def _stop_zygote(self) -> None:
        if self._conn is not None:
            self._conn.close()  # the zygote reads end-of-file and exits
            self._conn = None
        if self._zygote is not None:
            try:
                self._zygote.wait(timeout=ZYGOTE_ANSWER_S)
            except subprocess.TimeoutExpired:
                self._zygote.kill()
                self._zygote.wait()
            self._zygote = None


def _new_process(run: RunDir, owner_fd: int) -> subprocess.Popen[bytes]:
    try:
        with (run.path / "runner.log").open("ab") as log:
            return subprocess.Popen(
                [sys.executable, "-m", "tether.engine.runner", str(run.path)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
                close_fds=True,
                pass_fds=(owner_fd,),
                env=os.environ.copy(),
            )
    except OSError as exc:
        raise SpawnError(f"cannot start the runner for {run.path.name}: {exc.strerror}") from exc
