"""An agent's executable, found on the PATH of the person who sent the turn.

The CLI sends its own PATH with spawn and send; the turn keeps it and the
agent is found and started on it, so what ``tether doctor`` sees in a shell
is what the daemon runs, whatever PATH the daemon itself was started with.
Without one (the web page, an API client) the daemon's own PATH is used. A
missing executable is refused at spawn and send with the fix, and fails a
turn at dispatch at once, never retried. On a team ledger a turn may run on
another host, where the sender's PATH means nothing: that host runs the
agent on its own PATH, and the check is against the agents it reports.
"""

import os
import shutil
from dataclasses import replace
from pathlib import Path

from sqlalchemy import Connection

from tether.agents.provider import Launch, TurnRequest
from tether.agents.registry import provider_for
from tether.config import Config
from tether.errors import AgentNotInstalled, InvalidInput, NotFound
from tether.ledger import hosts

MAX_PATH_CHARS = 32 * 1024
INSTALL = {
    "claude": "npm i -g @anthropic-ai/claude-code",
    "codex": "npm i -g @openai/codex",
    "gemini": "npm i -g @google/gemini-cli",
    "opencode": "npm i -g opencode-ai",
    "goose": "see https://block.github.io/goose/docs/getting-started/installation",
}


def check_path(path_env: str | None) -> str | None:
    if path_env is not None and (not isinstance(path_env, str) or len(path_env) > MAX_PATH_CHARS):
        raise InvalidInput(f"path must be a PATH string of at most {MAX_PATH_CHARS} characters")
    return path_env or None


def resolve(launch: Launch, agent: str, path_env: str | None) -> Launch:
    """The launch with its executable found; the agent runs with the sender's PATH."""
    search = path_env or os.environ.get("PATH", os.defpath)
    command = launch.argv[0]
    found = shutil.which(command, path=search)
    if found is None:
        hint = INSTALL.get(agent, "install it, or fix its command in config.toml")
        raise AgentNotInstalled(
            f"{agent} is not installed: {command!r} is not on PATH ({hint}), "
            "or choose another agent with --agent"
        )
    env = {**launch.env, "PATH": path_env} if path_env else launch.env
    return replace(launch, argv=(found, *launch.argv[1:]), env=env)


def check_installed(
    config: Config, agent: str, project: str | None, workspace: Path, path_env: str | None
) -> None:
    """Refuse up front, with the fix, a turn whose agent could not start."""
    request = TurnRequest(
        session_id="check",
        prompt="check",
        workspace=workspace,
        options=config.options_for(agent, project),
    )
    resolve(provider_for(config, agent).new_turn(request), agent, path_env)


def checked_path(
    config: Config,
    conn: Connection,
    placed: str | None,
    agent: str,
    project: str | None,
    workspace: Path,
    path_env: str | None,
) -> str | None:
    """Refuse up front a turn whose agent cannot start where it will run; the PATH to keep.

    ``placed`` is the host the turn runs on (None: this one, or any). Here the
    sender's PATH finds the agent. On another host it runs on that host's own
    PATH, so none is kept, and the turn is refused only when the agents that
    host last reported (empty until its first probe) lack this one.
    """
    if placed is None or placed == config.host_name:
        check_installed(config, agent, project, workspace, path_env)
        return path_env
    try:
        reported = hosts.get(conn, placed).agents
    except NotFound:
        return None  # not joined yet: its claim will find out, and fail the turn visibly
    if reported and agent not in reported:
        raise AgentNotInstalled(
            f"{agent} is not installed on host {placed}, where these turns run (it has "
            f"{', '.join(sorted(reported))}): install it there, or choose another agent "
            "with --agent"
        )
    return None
