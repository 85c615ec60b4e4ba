"""What readers extract from native logs: plain picklable records.

Readers run in worker processes and hand these back; the indexer folds them
into the ledger. Token kinds follow one convention for every agent:
``input_tokens`` excludes cached input, ``output_tokens`` includes reasoning
(``reasoning_tokens`` says how much of it was reasoning).
"""

from dataclasses import dataclass, field


@dataclass(slots=True)
class UsageEntry:
    """One API response's usage, identified by a key stable across files.

    ``copied`` marks an entry found in a copy of another session's history
    (a fork); the entry is credited to the session where it is not a copy,
    else to the earliest-started session holding it.
    """

    key: str
    native_id: str
    timestamp: float
    model: str
    input_tokens: int
    cached_input_tokens: int
    cache_write_tokens: int
    output_tokens: int
    reasoning_tokens: int
    turn_key: str | None = None
    copied: bool = False

    @property
    def total(self) -> int:
        return (
            self.input_tokens
            + self.cached_input_tokens
            + self.cache_write_tokens
            + self.output_tokens
        )


@dataclass(slots=True)
class SessionFacts:
    """A native session's metadata, merged over the reads of its files."""

    native_id: str
    started_at: float | None = None
    ended_at: float | None = None
    cwd: str | None = None
    title: str | None = None
    model: str | None = None
    parent_native_id: str | None = None

    def merge(self, other: "SessionFacts") -> None:
        if other.started_at is not None and (
            self.started_at is None or other.started_at < self.started_at
        ):
            self.started_at = other.started_at
        if other.ended_at is not None and (self.ended_at is None or other.ended_at > self.ended_at):
            self.ended_at = other.ended_at
        self.cwd = self.cwd or other.cwd
        self.title = self.title or other.title
        self.model = other.model or self.model
        self.parent_native_id = self.parent_native_id or other.parent_native_id


@dataclass(slots=True)
class TranscriptItem:
    """A native record worth showing: a prompt, a reply, a tool call or its result."""

    key: str  # stable native record key: the event's dedup key
    native_id: str
    timestamp: float
    kind: str  # an EventKind value
    text: str
    role: str | None = None


@dataclass(slots=True)
class ReadResult:
    """Everything one read of one byte range produced."""

    entries: list[UsageEntry] = field(default_factory=list)
    sessions: list[SessionFacts] = field(default_factory=list)
    transcript: list[TranscriptItem] = field(default_factory=list)
    bad_lines: int = 0
    oversize_lines: int = 0
    bytes_read: int = 0
    end: int = 0
    state: dict[str, object] = field(default_factory=dict)
