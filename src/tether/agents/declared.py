"""Providers declared in config.toml: argv templates plus a known stream format.

``{prompt}``, ``{native_id}``, ``{model}``, ``{workspace}`` and ``{session}``
are replaced inside each argv word; nothing is ever joined into a shell
string. The ``text`` format treats each stdout line as output and has no
native id, so such a session is not resumable and says so.
"""

import re
from collections.abc import Callable

from tether.agents.provider import Launch, TurnRequest
from tether.config import DeclaredProvider
from tether.domain.records import EventKind
from tether.domain.stream import StreamEvent, StreamParser
from tether.errors import ProviderError


class TextParser:
    """Each non-empty stdout line is a message; there is no native id."""

    def feed(self, line: bytes) -> list[StreamEvent]:
        text = line.decode("utf-8", "replace").rstrip("\r")
        return [StreamEvent(EventKind.MESSAGE, text=text)] if text.strip() else []


class Declared:
    def __init__(self, spec: DeclaredProvider, parser: Callable[[], StreamParser]) -> None:
        self.spec = spec
        self.name = spec.name
        self.resumable = spec.resume is not None and spec.stream != "text"
        self._parser = parser

    def new_turn(self, request: TurnRequest) -> Launch:
        return Launch(_fill(self.spec.new, request), cwd=request.workspace)

    def resume_turn(self, request: TurnRequest) -> Launch:
        if not self.resumable or self.spec.resume is None:
            raise ProviderError(
                f"agent {self.name} cannot resume (no resume command, or a text stream without "
                "a native id); start a new session instead"
            )
        if request.native_id is None:
            raise ProviderError(
                f"session {request.session_id} has no captured {self.name} native id to resume"
            )
        return Launch(_fill(self.spec.resume, request), cwd=request.workspace)

    def interactive(self, request: TurnRequest) -> Launch:
        raise ProviderError(f"agent {self.name} is declared in config and has no interactive UI")

    def parser(self) -> StreamParser:
        return self._parser()


_PLACEHOLDER = re.compile(r"\{(prompt|native_id|model|workspace|session)\}")


def _fill(template: tuple[str, ...], request: TurnRequest) -> tuple[str, ...]:
    """Substitute in one pass, so a prompt containing ``{model}`` stays as typed."""
    values = {
        "prompt": request.prompt,
        "native_id": request.native_id or "",
        "model": request.model or "",
        "workspace": str(request.workspace),
        "session": request.session_id,
    }
    return tuple(_PLACEHOLDER.sub(lambda m: values[m.group(1)], word) for word in template)
