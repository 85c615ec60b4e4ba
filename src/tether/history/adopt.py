"""``tether adopt``: an external session becomes a regular, resumable tether session.

It keeps its native id, so resume goes to the exact native thread
(invariant 3), and its host, so its turns run on the machine holding that
thread's logs. It needs the directory the thread ran in (agents resume
there): from its logs, else found exactly (``directory.py``), else refused.
Moving it to another project gives it that project's next id; its events
and native threads move with it.
"""

from tether.domain.ids import parse_session_id
from tether.domain.records import Origin, Session
from tether.errors import Conflict
from tether.history.directory import directory_of
from tether.ledger import history as ledger_history
from tether.ledger import projects, sessions, turns
from tether.ledger.store import Ledger


def adopt(ledger: Ledger, session_id: str, project: str | None = None) -> Session:
    session_id = str(parse_session_id(session_id))
    with ledger.db.write() as conn:
        session = sessions.get(conn, session_id)
        if session.origin is not Origin.EXTERNAL:
            raise Conflict(f"{session_id} is a tether session already; nothing to adopt")
        if not session.workspace:
            session = sessions.set_workspace(conn, session_id, directory_of(conn, session))
        if project is None or project == session.project:
            ledger_history.adopt_in_place(conn, session_id)
            return sessions.get(conn, session_id)
        target = projects.get(conn, project)
        if turns.for_session(conn, session_id):
            raise Conflict(
                f"{session_id} has turns of its own, whose ids name it: they cannot move to "
                f"{target.name}; adopt it where it is with `tether adopt {session_id}`"
            )
        moved = sessions.create(
            conn,
            target,
            session.agent,
            session.workspace,
            origin=Origin.TETHER,
            model=session.model,
            title=session.title,
        )
        ledger_history.move_session(conn, session_id, moved.id, session.native_id, session.host)
        return sessions.get(conn, moved.id)
