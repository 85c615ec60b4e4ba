"""Reading a turn's stream file from its saved byte offset into ledger rows.

Only complete lines are consumed while the agent runs; the offset saved with
the rows is the end of the last complete line, so a restarted daemon goes on
exactly where the last commit left off. Each stored event's dedup key is its
line's byte offset, so even a replayed range is stored once.
"""

from dataclasses import dataclass, field

from tether.domain.records import EventKind, Usage
from tether.domain.stream import ContextSignal, Outcome, StreamEvent, StreamParser
from tether.engine.rundir import RunDir
from tether.ledger.blobs import BlobStore
from tether.ledger.events import NewEvent, row_for
from tether.lines import LineStats, blocks, split_lines

MAX_LINE_BYTES = 256 * 1024 * 1024
MAX_BATCH_BYTES = 32 * 1024 * 1024


@dataclass
class Batch:
    end: int
    rows: list[dict[str, object]] = field(default_factory=list)
    events: int = 0
    outputs: int = 0
    native_ids: list[str] = field(default_factory=list)
    model: str | None = None
    usage: Usage = field(default_factory=Usage)
    cumulative: Usage | None = None
    outcome: Outcome | None = None
    error: str | None = None
    oversize_lines: int = 0
    retries: int = 0  # retry errors ("Reconnecting…") after the batch's last progress
    progressed: bool = False  # an event other than a retry error: the agent is working
    context_tokens: int | None = None  # the last fill the stream reported
    context_window: int | None = None
    compactions: int = 0
    context_full: str | None = None  # the agent's words when the thread could not go on
    overflow_seen: str | None = None  # an overflow the agent meant to recover from itself
    compacting: bool | None = None  # True: compacting at the batch's end; False: done

    def absorb(self, event: StreamEvent) -> None:
        if event.data.get("retry"):
            self.retries += 1  # a sign of life, not progress: the turn says it is reconnecting
            return
        self.events += 1
        self.progressed, self.retries = True, 0
        self.outputs += event.is_output
        if event.native_id and event.native_id not in self.native_ids:
            self.native_ids.append(event.native_id)
        self.model = event.model or self.model
        if event.usage is not None:
            if event.usage_is_cumulative:
                self.cumulative = event.usage
            else:
                self.usage = self.usage + event.usage
        if event.kind is EventKind.ERROR and event.data.get("fatal", True) and not self.error:
            self.error = event.text
        self._context(event)
        if event.outcome is not None:
            self.outcome = event.outcome
            if event.outcome is Outcome.FAILED and event.text:
                self.error = event.text

    def _context(self, event: StreamEvent) -> None:
        if event.fill is not None:
            self.context_tokens = event.fill.tokens or self.context_tokens
            self.context_window = event.fill.window or self.context_window
        # The agent says nothing while it compacts: any later event means it is done.
        self.compacting = event.context is ContextSignal.COMPACTING
        if event.context is ContextSignal.COMPACTED:
            self.compactions += 1
        elif event.context is not None and event.context.fatal:
            if event.outcome is not None:
                self.context_full = event.text  # the signal that ended the turn
            else:
                self.overflow_seen = event.text


@dataclass(frozen=True)
class StreamSource:
    session_id: str
    turn_id: str
    attempt: int
    run: RunDir


def read(
    source: StreamSource,
    offset: int,
    parser: StreamParser,
    blobs: BlobStore,
    preview_bytes: int,
    final: bool = False,
) -> Batch:
    """Parse the complete lines after ``offset``; with ``final``, the unterminated tail too."""
    batch = Batch(end=offset)
    try:
        handle = source.run.stream.open("rb")
    except FileNotFoundError:
        return batch
    with handle:
        handle.seek(offset)
        stats = LineStats()
        for start, block in blocks(handle, offset, stats, max_line=MAX_LINE_BYTES):
            position = start
            for line in split_lines(block):
                _parse(source, position, line, parser, blobs, preview_bytes, batch)
                position += len(line) + 1
            if stats.bytes_read > MAX_BATCH_BYTES:
                break
        batch.end = stats.end
        batch.oversize_lines = stats.oversize_lines
        if final:
            handle.seek(batch.end)
            tail = handle.read(MAX_LINE_BYTES)
            if tail.strip():
                _parse(source, batch.end, tail, parser, blobs, preview_bytes, batch)
            batch.end += len(tail)
    return batch


def _parse(
    source: StreamSource,
    offset: int,
    line: bytes,
    parser: StreamParser,
    blobs: BlobStore,
    preview_bytes: int,
    batch: Batch,
) -> None:
    for index, event in enumerate(parser.feed(line)):
        batch.absorb(event)
        if event.kind is EventKind.USAGE and not event.text:
            continue
        new = NewEvent(
            session_id=source.session_id,
            turn_id=source.turn_id,
            kind=event.kind,
            text=event.text or event.native_id or "",
            data=event.data,
            dedup_key=f"s:{source.turn_id}:{source.attempt}:{offset}:{index}",
        )
        batch.rows.append(row_for(new, blobs, preview_bytes))
