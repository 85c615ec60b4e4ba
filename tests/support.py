"""Helpers shared by tests that start tether as a subprocess."""

import os
from pathlib import Path


def daemon_env(home: Path, **extra: str) -> dict[str, str]:
    """The caller's environment for a tether process on ``home``.

    Other TETHER_* settings are dropped, and the history indexer is pointed at
    empty directories under ``home`` so a test never reads the machine's own
    agent logs.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("TETHER_")}
    native = home / "native-logs"
    env.update(
        TETHER_HOME=str(home),
        TETHER_HISTORY_CODEX_HOME=str(native / "codex"),
        TETHER_HISTORY_CLAUDE_CONFIG_DIR=str(native / "claude"),
        TETHER_HISTORY_GEMINI_CLI_HOME=str(native / "gemini"),
        TETHER_HISTORY_XDG_DATA_HOME=str(native / "xdg"),
        **extra,
    )
    return env
