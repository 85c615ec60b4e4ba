"""Tables of the ledger. Migrations under ``migrations/`` must build exactly this.

Integrity lives in constraints, not Python loops: session numbers unique per
project, ``(agent, native_id)`` unique when set, spawn keys unique, idempotency keys
unique per session, event dedup keys unique per session.
"""

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL wants BIGINT.
BigId = BigInteger().with_variant(Integer(), "sqlite")

projects = Table(
    "projects",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("prefix", String(24), nullable=False, unique=True),
    Column("path", Text, nullable=False, unique=True),
    Column("default_agent", String(64)),
    Column("next_session", Integer, nullable=False, server_default="0"),
    Column("created_at", Float, nullable=False),
    Column("host", String(255)),  # where its checkout lives: its turns run there
)

sessions = Table(
    "sessions",
    metadata,
    Column("pk", BigId, primary_key=True),
    Column("id", String(64), nullable=False, unique=True),
    Column("project_id", Integer, ForeignKey("projects.id"), nullable=False),
    Column("number", Integer, nullable=False),
    Column("agent", String(64), nullable=False),
    Column("origin", String(16), nullable=False),
    Column("state", String(16), nullable=False),
    Column("workspace", Text, nullable=False),
    Column("native_id", String(255)),
    Column("model", String(255)),
    Column("title", Text),
    Column("next_turn", Integer, nullable=False, server_default="0"),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("spawn_key", String(255)),  # idempotency key of the spawn that created it
    # an external session's turns run where its native thread's logs are, whatever the
    # project's host; NULL: its project's host (tether's own sessions, SQLite)
    Column("host", String(255)),
    UniqueConstraint("project_id", "number"),
    UniqueConstraint("agent", "native_id"),
    UniqueConstraint("spawn_key"),
    Index(None, "project_id", "pk"),
    Index(None, "state", "pk"),
)

# A session's native threads, in order; the last is current. (agent, native_id)
# is unique here too, so a native thread, current or rotated away, belongs to
# one session and its usage is attributed to it by exact id.
threads = Table(
    "threads",
    metadata,
    Column("pk", BigId, primary_key=True),
    Column("session_id", String(64), ForeignKey("sessions.id"), nullable=False),
    Column("ordinal", Integer, nullable=False),
    Column("agent", String(64), nullable=False),
    Column("native_id", String(255)),
    Column("first_turn", Integer, nullable=False, server_default="0"),
    Column("started_at", Float, nullable=False),
    Column("ended_at", Float),
    Column("end_reason", Text),
    Column("handoff_blob", String(64)),
    Column("context_tokens", BigInteger),
    Column("context_window", BigInteger),
    Column("compactions", Integer, nullable=False, server_default="0"),
    Column("log_bytes", BigInteger),
    Column("overflows", Integer, nullable=False, server_default="0"),
    Column("rotate_reason", Text),
    Column("measured_at", Float),
    Column("log_path", Text),
    Column("log_offset", BigInteger, nullable=False, server_default="0"),
    Column("log_compactions", Integer, nullable=False, server_default="0"),
    UniqueConstraint("session_id", "ordinal"),
    UniqueConstraint("agent", "native_id"),
)

turns = Table(
    "turns",
    metadata,
    Column("id", String(80), primary_key=True),
    Column("session_id", String(64), ForeignKey("sessions.id"), nullable=False),
    Column("number", Integer, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("prompt", Text, nullable=False),
    Column("idempotency_key", String(255)),
    Column("state", String(16), nullable=False),
    Column("reason", Text),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("accepted_at", Float, nullable=False),
    Column("dispatched_at", Float),
    Column("spawned_at", Float),
    Column("first_event_at", Float),
    Column("first_output_at", Float),
    Column("last_progress_at", Float),
    Column("finished_at", Float),
    Column("input_tokens", BigInteger, nullable=False, server_default="0"),
    Column("cached_input_tokens", BigInteger, nullable=False, server_default="0"),
    Column("cache_write_tokens", BigInteger, nullable=False, server_default="0"),
    Column("output_tokens", BigInteger, nullable=False, server_default="0"),
    Column("reasoning_tokens", BigInteger, nullable=False, server_default="0"),
    Column("model", String(255)),
    Column("exit_code", Integer),
    Column("runner_pid", Integer),
    Column("runner_ticks", BigInteger),  # kernel start time: tells the runner from a reused pid
    Column("stream_offset", BigInteger, nullable=False, server_default="0"),
    Column("stalled_at", Float),
    Column("outcome", String(16)),  # terminal state decided, applied when the process has exited
    Column("accepted_by", String(64)),  # the person who sent it
    Column("cancelled_by", String(64)),  # the person who asked to cancel it
    Column("host", String(255)),  # the host that claimed it; only that host touches its run dir
    Column("path_env", Text),  # the sender's PATH: the agent is found and run on it
    Column("retry_errors", Integer, nullable=False, server_default="0"),  # since last progress
    Column("retrying_since", Float),  # the first of those retry errors (agent reconnecting)
    Column("compacting_since", Float),  # the agent said it is compacting its thread
    UniqueConstraint("session_id", "number"),
    UniqueConstraint("session_id", "idempotency_key"),
    Index(None, "state", "accepted_at"),
    Index(None, "host", "state"),
)

# One lane per session, enforced by the database: at most one live turn each.
_LIVE = text("state IN ('dispatched', 'running')")
Index(
    "uq_turns_one_live_per_session",
    turns.c.session_id,
    unique=True,
    sqlite_where=_LIVE,
    postgresql_where=_LIVE,
)

events = Table(
    "events",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("session_id", String(64), ForeignKey("sessions.id"), nullable=False),
    Column("turn_id", String(80)),
    Column("kind", String(16), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("preview", Text, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("blob", String(64)),
    Column("data", Text),
    Column("dedup_key", String(255)),
    UniqueConstraint("session_id", "dedup_key"),
    Index(None, "session_id", "id"),
)

# History
# Native logs read by the history indexer: each file's identity and read
# offset, the native sessions found in them, and one usage entry per API
# response, keyed across files so that duplicates and fork copies count once.
# Full-text search (SQLite FTS5 table ``events_fts`` with its triggers, a
# PostgreSQL GIN index ``ix_events_fts``) is dialect-specific and created by
# migration 0003 outside this metadata.

history_files = Table(
    "history_files",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("host", String(255), nullable=False, server_default=""),  # '': the implicit host
    Column("agent", String(64), nullable=False),
    Column("path", Text, nullable=False),
    Column("native_id", String(255)),
    Column("device", BigInteger, nullable=False),
    Column("inode", BigInteger, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("mtime", Float, nullable=False),
    Column("head_size", Integer, nullable=False),
    Column("head_hash", String(64), nullable=False),
    Column("read_offset", BigInteger, nullable=False),
    Column("events_offset", BigInteger, nullable=False, server_default="0"),
    Column("state", Text),
    Column("bad_lines", BigInteger, nullable=False, server_default="0"),
    Column("oversize_lines", BigInteger, nullable=False, server_default="0"),
    Column("error", Text),
    Column("scanned_at", Float, nullable=False),
    UniqueConstraint("host", "path"),
)

native_sessions = Table(
    "native_sessions",
    metadata,
    Column("pk", BigId, primary_key=True),
    Column("agent", String(64), nullable=False),
    Column("native_id", String(255), nullable=False),
    Column("session_id", String(64), ForeignKey("sessions.id")),
    Column("parent_native_id", String(255)),
    Column("cwd", Text),
    Column("title", Text),
    Column("model", String(255)),
    Column("started_at", Float),
    Column("ended_at", Float),
    Column("host", String(255)),  # whose logs it was first found in (NULL on SQLite)
    UniqueConstraint("agent", "native_id"),
    Index(None, "session_id"),
)

usage_entries = Table(
    "usage_entries",
    metadata,
    Column("pk", BigId, primary_key=True),
    Column("agent", String(64), nullable=False),
    Column("entry_key", String(255), nullable=False),
    Column("native_id", String(255), nullable=False),
    Column("copied", Integer, nullable=False, server_default="0"),
    Column("origin_ts", Float, nullable=False),
    Column("ts", Float, nullable=False),
    Column("day", String(10), nullable=False),
    Column("turn_key", String(255)),
    Column("model", String(255), nullable=False),
    Column("input_tokens", BigInteger, nullable=False),
    Column("cached_input_tokens", BigInteger, nullable=False),
    Column("cache_write_tokens", BigInteger, nullable=False),
    Column("output_tokens", BigInteger, nullable=False),
    Column("reasoning_tokens", BigInteger, nullable=False),
    Column("cost", Float),  # NULL: no known price for the model (unpriced)
    UniqueConstraint("agent", "entry_key"),
    Index(None, "agent", "native_id"),
    Index(None, "day"),
)

# One row per native session, kept by triggers on usage_entries (migration 0013), so a
# page shows a session's tokens and cost without summing all its entries.
usage_totals = Table(
    "usage_totals",
    metadata,
    Column("agent", String(64), primary_key=True),
    Column("native_id", String(255), primary_key=True),
    Column("tokens", BigInteger, nullable=False),
    Column("cost", Float, nullable=False),  # of the priced entries
    Column("priced", BigInteger, nullable=False),  # entries with a price; 0: cost unknown
    Column("unpriced_tokens", BigInteger, nullable=False),
)

# One row per (day, agent, model), kept by triggers on usage_entries (migration 0015), so
# ``tether usage`` by day, model or agent reads a few rows instead of every entry.
usage_days = Table(
    "usage_days",
    metadata,
    Column("day", String(10), primary_key=True),
    Column("agent", String(64), primary_key=True),
    Column("model", String(255), primary_key=True),
    Column("input_tokens", BigInteger, nullable=False),
    Column("cached_input_tokens", BigInteger, nullable=False),
    Column("cache_write_tokens", BigInteger, nullable=False),
    Column("output_tokens", BigInteger, nullable=False),
    Column("reasoning_tokens", BigInteger, nullable=False),
    Column("cost", Float, nullable=False),  # of the priced entries
    Column("priced", BigInteger, nullable=False),  # entries with a price
    Column("unpriced_tokens", BigInteger, nullable=False),
    Column("entries", BigInteger, nullable=False),  # 0: every entry of the group was deleted
)

# Team
# People hold tokens (only a sha256 of each is stored) and a role; hosts are
# the daemons serving one PostgreSQL ledger, alive as long as they heartbeat.

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("role", String(16), nullable=False),
    Column("created_at", Float, nullable=False),
)

tokens = Table(
    "tokens",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False),
    Column("hash", String(64), nullable=False, unique=True),
    Column("label", String(64)),
    Column("created_at", Float, nullable=False),
    Column("revoked_at", Float),
)

hosts = Table(
    "hosts",
    metadata,
    Column("name", String(255), primary_key=True),
    Column("url", Text),
    Column("pid", Integer),
    Column("started_at", Float, nullable=False),
    Column("heartbeat_at", Float, nullable=False),
    Column("agents", Text, nullable=False, server_default="{}"),
    Column("load", Integer, nullable=False, server_default="0"),
)

# Workspaces
# A session's git worktree and branch, the checkpoints recorded after its
# turns, and the diffs between them: a summary row per diff, one row per
# changed file (paged), the patch text in the blob store at each file's offset.

workspaces = Table(
    "workspaces",
    metadata,
    Column("session_id", String(64), ForeignKey("sessions.id"), primary_key=True),
    Column("repo", Text, nullable=False),  # the project's main checkout
    Column("path", Text, nullable=False, unique=True),
    Column("branch", String(255), nullable=False),
    Column("base_ref", String(255), nullable=False),  # as given, or the branch HEAD was on
    Column("base_commit", String(64), nullable=False),
    Column("state", String(16), nullable=False),  # pending | created | ready | removed
    Column("checkpointed", Integer, nullable=False, server_default="0"),  # last turn recorded
    Column("head_commit", String(64)),  # the newest checkpoint
    Column("error", Text),
    Column("pr_url", Text),
    Column("merged_into", String(255)),
    Column("merged_commit", String(64)),
    Column("created_at", Float, nullable=False),
    Column("removed_at", Float),
    Index(None, "state"),
)

diffs = Table(
    "diffs",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("session_id", String(64), ForeignKey("sessions.id"), nullable=False),
    Column("scope", String(8), nullable=False),  # turn | session
    Column("turn_number", Integer, nullable=False),
    Column("from_commit", String(64), nullable=False),
    Column("to_commit", String(64), nullable=False),
    Column("files", Integer, nullable=False),
    Column("added", BigInteger, nullable=False),
    Column("removed", BigInteger, nullable=False),
    Column("binary_files", Integer, nullable=False),
    Column("huge_files", Integer, nullable=False),
    Column("patch_blob", String(64)),
    Column("created_at", Float, nullable=False),
    UniqueConstraint("session_id", "scope", "turn_number"),
)

diff_files = Table(
    "diff_files",
    metadata,
    Column("diff_id", BigInteger, ForeignKey("diffs.id"), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("path", Text, nullable=False),
    Column("old_path", Text),
    Column("status", String(2), nullable=False),
    Column("added", BigInteger),  # None for a binary file
    Column("removed", BigInteger),
    Column("binary", Integer, nullable=False),
    Column("huge", Integer, nullable=False),
    Column("patch_offset", BigInteger),  # None when the patch was not stored (huge)
    Column("patch_size", BigInteger),
)

# Dashboard
# ``changes`` is the ledger's own log of committed session and turn writes:
# database triggers (migration 0006, outside this metadata) append one row per
# insert, update or delete, whoever wrote it, so the live channel follows what
# was committed by any process and a reconnecting page resumes from an id.
# Events need no row here: their own increasing id is the cursor.

changes = Table(
    "changes",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("kind", String(16), nullable=False),  # session | turn | thread | finding | notice
    Column("subject", String(80), nullable=False),  # the session or turn id
    Column("session_id", String(64), nullable=False),
)

# The newest turn of a session a person has looked at: finished turns after it
# "need you" on the overview until the session page is opened.
session_views = Table(
    "session_views",
    metadata,
    Column("session_id", String(64), primary_key=True),
    Column("seen_turn", Integer, nullable=False),
    Column("seen_at", Float, nullable=False),
)

# The audit's findings, kept by the daemon's periodic check: one row per anomaly
# (its code and ids form ``key``; each host keeps what its own check finds),
# resolved when a check no longer finds it.
# Triggers (migration 0011) log an insert, a resolution and a reopening to
# ``changes``, so the overview's panel follows them on the live channel.
audit_findings = Table(
    "audit_findings",
    metadata,
    Column("pk", BigId, primary_key=True),
    Column("host", String(255), nullable=False),  # the daemon whose check found it
    Column("key", String(255), nullable=False),
    Column("code", String(32), nullable=False),
    Column("message", Text, nullable=False),
    Column("ids", Text, nullable=False, server_default="{}"),  # JSON object
    Column("session_id", String(64)),
    Column("since", Float),  # what its age counts from, when the check knows
    Column("first_seen", Float, nullable=False),
    Column("checked_at", Float, nullable=False),
    Column("resolved_at", Float),
    UniqueConstraint("host", "key"),
    Index("ix_audit_findings_resolved_at", "resolved_at"),
)

# Notices: a turn that needs a person (failed, timed out, interrupted, stalled)
# or finished, written once per ``tag`` by the notifier that read it from the
# change feed first (its host delivers it to the webhook and command of
# ``[notify]``; a column per sink says when it was delivered or given up).
# Inserting one logs a change, so pages get it on the live channel.
notices = Table(
    "notices",
    metadata,
    Column("pk", BigId, primary_key=True),
    Column("tag", String(160), nullable=False, unique=True),
    Column("kind", String(16), nullable=False),  # needs_you | finished
    Column("session_id", String(64), nullable=False),
    Column("turn_id", String(80), nullable=False),
    Column("payload", Text, nullable=False),  # the JSON every sink gets
    Column("host", String(255), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("webhook_at", Float),
    Column("webhook_attempts", Integer, nullable=False, server_default="0"),
    Column("webhook_error", Text),
    Column("command_at", Float),
    Column("command_attempts", Integer, nullable=False, server_default="0"),
    Column("command_error", Text),
)

# How far each host's notifier has read the change feed (survives a restart).
notify_cursors = Table(
    "notify_cursors",
    metadata,
    Column("host", String(255), primary_key=True),
    Column("change_id", BigInteger, nullable=False),
    Column("change_xid", BigInteger, nullable=False, server_default="0"),  # PostgreSQL's order
)
