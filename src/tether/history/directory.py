"""Where an external session ran, when its native logs do not say.

Gemini CLI resumes a session only from the directory it ran in, and its logs
record that directory by hash alone (``projectHash`` in the metadata line,
whatever the name of the log's directory: a slug in 0.61, the hash itself
before). Gemini's own records of the path are read again (``gemini.py``; a
session indexed before tether looked for them has none); when they are gone,
the directory is the registered project or session worktree whose path has
that hash: an exact match, never a guess from names or times. Nothing
matching is refused with what to do.
"""

from pathlib import Path

from sqlalchemy import Connection

from tether.domain.records import Session
from tether.errors import Conflict
from tether.history import gemini
from tether.ledger import history as ledger_history
from tether.ledger import projects, workspaces


def directory_of(conn: Connection, session: Session) -> str:
    """The directory to resume ``session`` (which has none recorded) in; raises Conflict
    when none is known exactly."""
    if session.agent != "gemini":
        raise Conflict(
            f"{session.id}: its {session.agent} logs do not name the directory it ran in, and "
            "tether does not guess one: start a new session with `tether spawn`"
        )
    logs = ledger_history.paths_of(conn, "gemini", session.native_id or "", session.host)
    hashes = {log: gemini.project_hash(Path(log)) for log in logs}
    if logs and not any(Path(log).is_file() for log in logs):
        host = f" ({session.host})" if session.host else ""
        raise Conflict(
            f"{session.id}: its gemini logs ({logs[0]}) are not on this machine; adopt it on the "
            f"machine that ran it{host}"
        )
    for log, project_hash in hashes.items():
        recorded = gemini.project_root(Path(log), project_hash)
        if recorded is not None:  # indexed before the reader looked for it
            return recorded
    known = {p.path for p in projects.list_all(conn)} | workspaces.all_paths(conn)
    for path in sorted(known):
        if gemini.path_hash(path) in hashes.values():
            return path
    where = f" ({logs[0]})" if logs else ""
    raise Conflict(
        f"{session.id}: its gemini logs{where} name the directory it ran in by hash only, "
        "Gemini resumes it from there only, and no registered project has that hash: register "
        f"that directory with `tether project add PATH`, then `tether adopt {session.id}` again"
    )
