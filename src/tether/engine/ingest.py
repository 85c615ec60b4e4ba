"""Reading a turn's stream file from its saved byte offset into ledger rows.

Only complete lines are consumed while the agent runs; the offset saved with
the rows is the end of the last complete line, so a restarted daemon goes on
exactly where the last commit left off. Each stored event's dedup key is its
line's byte offset, so even a replayed range is stored once.
"""

from dataclasses import dataclass, field

from tether.domain.records import EventKind, Usage
from tether.domain.stream import Outcome, StreamEvent, StreamParser
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
        if event.outcome is not None:
            self.outcome = event.outcome
            if event.outcome is Outcome.FAILED and event.text:
                self.error = event.text


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
