"""Starting a detached runner for one attempt of a turn."""

import os
import subprocess
import sys

from tether.agents.provider import Launch
from tether.engine.procs import start_ticks
from tether.engine.rundir import RunDir, write_json
from tether.errors import TetherError


class SpawnError(TetherError):
    """The runner process itself could not be started."""


def start_runner(
    run: RunDir, launch: Launch, owner_fd: int
) -> tuple[subprocess.Popen[bytes], int | None]:
    """Write the launch file and start the runner in a session of its own.

    The runner inherits ``owner_fd``, the attempt's locked ownership file, and
    holds it until it exits. Returns the runner process (the daemon reaps it
    while it lives) and its kernel start ticks.
    """
    try:
        run.path.mkdir(parents=True, exist_ok=True)
        write_json(
            run.launch,
            {"argv": list(launch.argv), "cwd": str(launch.cwd), "env": dict(launch.env)},
        )
        with (run.path / "runner.log").open("ab") as log:
            proc = subprocess.Popen(
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
    return proc, start_ticks(proc.pid)
