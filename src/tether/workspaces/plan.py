"""At spawn: check the project can have a worktree and write the session's plan for one.

The session's ``workspace`` becomes the worktree (its project subdirectory,
when the project is not the repository's top level), so the agent runs
there, and ``tether attach`` too; the worker checks it out before the first
turn is dispatched.
"""

from sqlalchemy import Connection

from tether.config import Config
from tether.domain.records import Session
from tether.ledger import sessions, workspaces
from tether.workspaces import worktree


def attach_plan(config: Config, conn: Connection, session: Session, plan: worktree.Plan) -> Session:
    root = worktree.worktree_path(config, session.project, session.id)
    workspaces.add(
        conn,
        session.id,
        repo=str(plan.repo),
        path=str(root),
        branch=worktree.branch_for(session.id),
        base_ref=plan.base_ref,
        base_commit=plan.base_commit,
    )
    return sessions.set_workspace(conn, session.id, str(root / plan.subdir))
