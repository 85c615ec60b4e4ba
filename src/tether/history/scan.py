"""Reading byte ranges of native logs.

A job is one byte range of one file. Big plain files are cut into ranges
at arbitrary offsets; a reader whose range does not start at a known line
start skips to the next line, and reads the line that crosses its end, so
every line is read exactly once. The indexer folds and writes each range's
result before reading the next, so memory holds one range's facts or text,
never a whole file's (transcript ranges are smaller: their results hold text).

Ranges are read in the indexing process itself. Worker processes were
slower on every tree measured (bench/history.py, 2 cores): results cross
back pickled, and unpickling a range's facts and text costs about what
reading it does, while folding and writing stay in one process anyway.
"""

import re
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import msgspec

from tether.history.facts import SessionFacts, TranscriptItem
from tether.history.readers import READERS, LineReader
from tether.history.sources import is_compressed, open_at
from tether.lines import (
    DEFAULT_MAX_LINE_BYTES,
    HEAD_WINDOW,
    LineStats,
    Skip,
    line_bounds,
    windows,
)

SPLIT_BYTES = 16 * 1024 * 1024  # usage: the facts of a range are small
TRANSCRIPT_SPLIT_BYTES = 4 * 1024 * 1024  # transcripts: a range's result holds its text
_ALIGN_PROBE = 64 * 1024
HEAD_BYTES = 1024 * 1024  # what a reader's head() sees of a file's first block


@dataclass(frozen=True, slots=True)
class Job:
    agent: str
    path: str
    native_id: str | None
    start: int
    end: int | None = None  # None: to the end of the file
    aligned: bool = True  # ``start`` is a line start
    head: bool = False  # take the session head from the first block
    title: bool = False  # also look for the first prompt (Codex)
    usage: bool = True  # usage facts
    transcript: bool = False  # transcript items (with usage facts: from the same lines)
    max_line: int = DEFAULT_MAX_LINE_BYTES


@dataclass(slots=True)
class JobResult:
    job: Job
    facts: list[Any] = field(default_factory=list)
    head: SessionFacts | None = None
    transcript: list[TranscriptItem] = field(default_factory=list)
    stats: LineStats = field(default_factory=LineStats)
    disk_bytes: int = 0
    error: str | None = None


def _aligned_start(path: Path, start: int) -> int:
    """The first line start at or after ``start`` in a plain file."""
    with path.open("rb") as handle:
        handle.seek(start - 1)
        position = start - 1
        while True:
            probe = handle.read(_ALIGN_PROBE)
            if not probe:
                return position
            index = probe.find(b"\n")
            if index >= 0:
                return position + index + 1
            position += len(probe)


def run_job(job: Job) -> JobResult:
    """Read one range; OS errors become the result's ``error``, never an exception."""
    result = JobResult(job)
    try:
        _read(job, result)
    except OSError as exc:
        result.error = f"{type(exc).__name__}: {exc.strerror or exc}"
    except Exception as exc:  # corrupt compressed data and the like: recorded, never fatal
        result.error = f"{type(exc).__name__}: {exc}"
    return result


def _read(job: Job, result: JobResult) -> None:
    reader = READERS[job.agent]
    path = Path(job.path)
    start = job.start if job.aligned else _aligned_start(path, job.start)
    result.stats.end = start
    if job.end is not None and start >= job.end:
        return
    needles = _pattern(reader.needles + (reader.title_needles if job.title else ()))
    talk = _pattern(reader.transcript_needles) if job.transcript else None
    with open_at(path, start) as (stream, counting):
        first = True
        for offset, data, length in windows(
            stream, start, result.stats, job.end, job.max_line, _line_skip(reader, job)
        ):
            if first and job.head:
                result.head = reader.head(data[: min(length, HEAD_BYTES)], job.native_id, path)
                if job.native_id is None and result.head is not None:  # named inside (Gemini)
                    job = replace(job, native_id=result.head.native_id)
            first = False
            _scan(reader, job, result, data, length, offset, needles, talk)
        result.disk_bytes = counting.count


def _scan(
    reader: LineReader,
    job: Job,
    result: JobResult,
    data: bytes,
    length: int,
    offset: int,
    needles: re.Pattern[bytes],
    talk: re.Pattern[bytes] | None,
) -> None:
    """Decode the lines of ``data[:length]`` that hold a needle: into usage facts unless
    skipped by their head, into transcript items when the job asks for them. One pass
    over the lines serves both (a second pass cost as much again as the first)."""
    native_id = job.native_id or ""
    usage, skip, talk_skip = job.usage, reader.skip, reader.transcript_skip
    for start, end in line_bounds(data, length):
        if end - start > job.max_line:  # a cap below the chunk size
            result.stats.oversize_lines += 1
            continue
        head = min(end, start + HEAD_WINDOW)
        if (  # the head first, in place: a skipped line is not searched through
            usage and not skip(data, start, head) and needles.search(data, start, end) is not None
        ):
            _fact(reader, result, data[start:end], native_id, offset + start)
        if (
            talk is not None
            and not talk_skip(data, start, head)
            and talk.search(data, start, end) is not None
        ):
            _talk(reader, result, data[start:end], native_id, offset + start)


def _line_skip(reader: LineReader, job: Job) -> Skip:
    """What may drop a line by its head before it is held whole: only a line that holds
    nothing the job reads (a user record holds no usage, but it is a transcript item)."""
    if not job.transcript:
        return reader.skip
    if not job.usage:
        return reader.transcript_skip
    return lambda data, start, stop: (
        reader.skip(data, start, stop) and reader.transcript_skip(data, start, stop)
    )


@lru_cache(maxsize=16)
def _pattern(needles: tuple[bytes, ...]) -> re.Pattern[bytes]:
    """The needles as one pattern: one search per line, 2 to 3 times faster than a find per
    needle on the generated trees."""
    return re.compile(b"|".join(re.escape(needle) for needle in needles))


def _fact(reader: LineReader, result: JobResult, line: bytes, native_id: str, at: int) -> None:
    try:
        item = reader.fact(line, native_id, at)
    except (msgspec.DecodeError, UnicodeDecodeError, ValueError):
        result.stats.bad_lines += 1
        return
    if item is not None:
        result.facts.append(item)


def _talk(reader: LineReader, result: JobResult, line: bytes, native_id: str, at: int) -> None:
    """A line's transcript items; a bad line is the usage reading's to count."""
    try:
        result.transcript.extend(reader.transcript(line, native_id, at))
    except (msgspec.DecodeError, UnicodeDecodeError, ValueError):
        return


def split(job: Job, size: int) -> list[Job]:
    """Cut a job on a plain file into ranges (smaller for transcripts than for usage).

    ``size`` is the file's size; a job with an ``end`` stops there. A file
    whose session is named only inside it is read in one piece.
    """
    piece = TRANSCRIPT_SPLIT_BYTES if job.transcript else SPLIT_BYTES
    end = job.end if job.end is not None else size
    if is_compressed(Path(job.path)) or end - job.start <= piece or not job.native_id:
        return [job]
    return [
        replace(
            job,
            start=start,
            end=job.end if start + piece >= end else start + piece,
            aligned=index == 0 and job.aligned,
            head=job.head and index == 0,
        )
        for index, start in enumerate(range(job.start, end, piece))
    ]
