"""Gemini CLI chats: ``<home>/.gemini/tmp/<project>/chats/session-*.jsonl``.

The first line (and one after every resume) is the session's metadata; a
``gemini`` message carries ``tokens{input, output, cached, thoughts, tool}``.
``$set`` records rewrite fields, including the whole message list, so they
are skipped: every message also has its own line, and its id is the entry
key, so a record written again counts once.

The logs do not record the session's directory, and Gemini resumes a session
only from it. Its metadata holds ``projectHash``, the SHA-256 of that
directory's path; 0.61 names ``<project>`` by a slug of the directory's base
name and writes the path itself twice: ``<project>/.project_root`` and
``~/.gemini/projects.json`` (``{"projects": {path: slug}}``). A path read
there is the session's cwd only when its hash is the session's.
"""

import hashlib
import json
from functools import lru_cache
from pathlib import Path

import msgspec

from tether.domain.records import EventKind
from tether.history.facts import SessionFacts, TranscriptItem, UsageEntry
from tether.history.timestamps import parse_iso

AGENT = "gemini"
NEEDLES = (b'"tokens"',)
TRANSCRIPT_NEEDLES = (b'"type":"user"', b'"type":"gemini"')
HEAD_LINES = 20
PROJECT_ROOT_FILE = ".project_root"
REGISTRY_FILE = "projects.json"
MAX_REGISTRY_BYTES = 4 * 1024 * 1024
MAX_MARKER_BYTES = 64 * 1024  # .project_root: one path
HEAD_BYTES = 64 * 1024  # the metadata line is about 200 bytes


class _Tokens(msgspec.Struct):
    input: int = 0
    output: int = 0
    cached: int = 0
    thoughts: int = 0
    tool: int = 0


class _Part(msgspec.Struct):
    text: str | None = None


class _Record(msgspec.Struct):
    id: str | None = None
    sessionId: str | None = None
    projectHash: str | None = None
    startTime: str | None = None
    timestamp: str | None = None
    type: str | None = None
    model: str | None = None
    tokens: _Tokens | None = None
    content: str | list[_Part] | None = None


_decoder = msgspec.json.Decoder(_Record)


def skip(data: bytes, start: int, stop: int) -> bool:
    return data.startswith(b'{"$set"', start, stop)


def native_id_for(path: Path) -> str | None:
    """Unknown from the name alone (it holds 8 characters of the id); the first line says."""
    del path
    return None


def usage_entry(line: bytes, native_id: str, offset: int) -> UsageEntry | None:
    record = _decoder.decode(line)
    tokens = record.tokens
    timestamp = parse_iso(record.timestamp)
    if record.type != "gemini" or tokens is None or timestamp is None or not native_id:
        return None
    return UsageEntry(
        key=f"{native_id}:{record.id or offset}",
        native_id=native_id,
        timestamp=timestamp,
        model=record.model or "unknown",
        input_tokens=max(tokens.input - tokens.cached, 0) + tokens.tool,
        cached_input_tokens=tokens.cached,
        cache_write_tokens=0,
        output_tokens=tokens.output + tokens.thoughts,
        reasoning_tokens=tokens.thoughts,
    )


def _text(content: str | list[_Part] | None) -> str | None:
    if isinstance(content, str):
        return content or None
    parts = [p.text for p in content or () if p.text]
    return "\n".join(parts) if parts else None


def path_hash(path: str) -> str:
    """Gemini's ``projectHash`` of a directory: the SHA-256 of its path as written."""
    return hashlib.sha256(path.encode("utf-8")).hexdigest()


def _marker(project_dir: Path) -> list[str]:
    try:
        with (project_dir / PROJECT_ROOT_FILE).open("rb") as handle:
            return [handle.read(MAX_MARKER_BYTES).decode("utf-8").strip()]
    except (OSError, UnicodeDecodeError):
        return []


def _registered(project_dir: Path) -> list[str]:
    """The paths ``projects.json`` gives this directory's slug."""
    registry = project_dir.parent.parent / REGISTRY_FILE
    try:
        found = registry.stat()
    except OSError:
        return []
    return list(_slugs(str(registry), found.st_mtime_ns, found.st_size).get(project_dir.name, ()))


@lru_cache(maxsize=8)
def _slugs(registry: str, mtime_ns: int, size: int) -> dict[str, tuple[str, ...]]:
    """``projects.json`` as slug -> paths, read once per version of the file (every new
    chat log of a pass asks)."""
    del mtime_ns, size  # the cache key: a changed file is read again
    try:
        with open(registry, "rb") as handle:
            data = json.loads(handle.read(MAX_REGISTRY_BYTES))
    except (OSError, ValueError):
        return {}
    mapping = data.get("projects") if isinstance(data, dict) else None
    slugs: dict[str, tuple[str, ...]] = {}
    for path, slug in mapping.items() if isinstance(mapping, dict) else ():
        if isinstance(slug, str):
            slugs[slug] = (*slugs.get(slug, ()), path)
    return slugs


def project_hash(log: Path) -> str | None:
    """The ``projectHash`` of a chat log's metadata line (its first); None if unreadable."""
    try:
        with log.open("rb") as handle:
            line = handle.readline(HEAD_BYTES)
        return _decoder.decode(line).projectHash
    except (OSError, msgspec.DecodeError):
        return None


def project_root(log: Path, project_hash: str | None) -> str | None:
    """The directory a chat log's session ran in, as Gemini recorded it, or None."""
    if not project_hash:
        return None
    project_dir = log.parent.parent  # <tmp>/<project>/chats/session-*.jsonl
    for path in _marker(project_dir) + _registered(project_dir):
        if path_hash(path) == project_hash:
            return path
    return None


def head(block: bytes, native_id: str | None, log: Path) -> SessionFacts | None:
    """Session id, start and directory from the metadata line; the first real prompt as
    title."""
    facts: SessionFacts | None = None
    for line in block.split(b"\n", HEAD_LINES)[:HEAD_LINES]:
        if skip(line, 0, len(line)):
            continue
        try:
            record = _decoder.decode(line)
        except msgspec.DecodeError:
            continue
        if facts is None and record.sessionId:
            facts = SessionFacts(
                record.sessionId,
                started_at=parse_iso(record.startTime),
                cwd=project_root(log, record.projectHash),
            )
        text = _text(record.content) if record.type == "user" else None
        if facts is not None and text and not text.startswith("<"):
            facts.title = text
            break
    del native_id
    return facts


def transcript_item(line: bytes, native_id: str, offset: int) -> list[TranscriptItem]:
    record = _decoder.decode(line)
    text = _text(record.content)
    if record.type not in ("user", "gemini") or not text:
        return []
    return [
        TranscriptItem(
            key=f"gemini:{record.id or offset}",
            native_id=native_id,
            timestamp=parse_iso(record.timestamp) or 0.0,
            kind=EventKind.MESSAGE.value,
            text=text,
            role="user" if record.type == "user" else "assistant",
        )
    ]
