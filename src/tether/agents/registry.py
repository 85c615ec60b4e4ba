"""Which agents tether knows: the built-in providers plus those declared in config."""

from tether.config import Config
from tether.errors import ProviderError

BUILTIN_AGENTS = ("claude", "codex", "gemini", "goose", "opencode")
EXECUTABLES = {
    "claude": "claude",
    "codex": "codex",
    "gemini": "gemini",
    "goose": "goose",
    "opencode": "opencode",
}


def known_agents(config: Config) -> list[str]:
    return sorted({*BUILTIN_AGENTS, *config.providers})


def check_agent(config: Config, agent: str) -> str:
    if agent not in known_agents(config):
        raise ProviderError(
            f"unknown agent {agent!r}; known: {', '.join(known_agents(config))} "
            "(declare others under [providers.NAME] in config.toml)"
        )
    return agent
