"""Which agents tether knows, and the provider for a session's agent.

Built-in providers are modules; config.toml may declare more. Every lookup
takes the agent *of the session* (invariant 1): a project's default agent
only chooses the agent of new sessions.
"""

from collections.abc import Callable

from tether.agents.claude import ClaudeParser, ClaudeProvider
from tether.agents.codex import CodexParser, CodexProvider
from tether.agents.declared import Declared, TextParser
from tether.agents.gemini import GeminiParser, GeminiProvider
from tether.agents.goose import GooseParser, GooseProvider
from tether.agents.opencode import OpenCodeParser, OpenCodeProvider
from tether.agents.provider import Provider
from tether.config import Config
from tether.domain.stream import StreamParser
from tether.errors import ProviderError

BUILTIN: dict[str, Callable[[], Provider]] = {
    "claude": ClaudeProvider,
    "codex": CodexProvider,
    "gemini": GeminiProvider,
    "goose": GooseProvider,
    "opencode": OpenCodeProvider,
}
BUILTIN_AGENTS = tuple(sorted(BUILTIN))
STREAM_PARSERS: dict[str, Callable[[], StreamParser]] = {
    "claude": ClaudeParser,
    "codex": CodexParser,
    "gemini": GeminiParser,
    "goose": GooseParser,
    "opencode": OpenCodeParser,
    "text": TextParser,
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


def provider_for(config: Config, agent: str) -> Provider:
    """A declared provider of the same name overrides the built-in one."""
    declared = config.providers.get(agent)
    if declared is not None:
        parser = STREAM_PARSERS.get(declared.stream)
        if parser is None:
            raise ProviderError(
                f"stream format {declared.stream!r} of agent {agent} is not built yet"
            )
        return Declared(declared, parser)
    factory = BUILTIN.get(agent)
    if factory is None:
        raise ProviderError(
            f"agent {agent!r} has no provider; known: {', '.join(known_agents(config))}"
        )
    return factory()
