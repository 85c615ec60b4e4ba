"""Which agent CLIs this machine has, and their versions (for doctor and the hosts list)."""

import shutil
import subprocess
from dataclasses import dataclass

from tether.agents.registry import known_agents
from tether.config import Config

VERSION_TIMEOUT_S = 20


@dataclass(frozen=True)
class Installed:
    agent: str
    command: str
    path: str | None  # None: not on PATH
    version: str | None  # first line of ``--version``; None when it failed
    problem: str | None = None


def probe(config: Config, agent: str) -> Installed:
    """Run the agent's ``--version`` (a subprocess: call it from a background worker)."""
    command = str(config.options_for(agent, None).get("command", agent))
    if agent in config.providers:
        command = config.providers[agent].new[0]
    path = shutil.which(command)
    if path is None:
        return Installed(agent, command, None, None, f"{command} not found on PATH")
    try:
        done = subprocess.run(
            [path, "--version"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=VERSION_TIMEOUT_S,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Installed(agent, command, path, None, f"{path}: --version failed: {exc}")
    lines = (done.stdout or done.stderr).strip().splitlines()
    first = lines[0].strip() if lines else ""
    if done.returncode != 0:
        return Installed(agent, command, path, None, f"{path} --version: status {done.returncode}")
    return Installed(agent, command, path, first)


def available(config: Config) -> dict[str, str]:
    """Every agent this machine can run, with its version ('' if it prints none)."""
    found = (probe(config, agent) for agent in known_agents(config))
    return {i.agent: i.version or "" for i in found if i.path is not None and i.problem is None}
