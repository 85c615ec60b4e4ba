"""Workspace and diff rows on both backends: the dispatch gate, checkpoints due, file pages."""

from pathlib import Path

from tether.domain.states import TurnState
from tether.domain.workspace import DiffFile, DiffScope, WorkspaceState
from tether.ledger import diffs, projects, sessions, turns, workspaces
from tether.ledger.store import Ledger


def _file(position: int) -> DiffFile:
    return DiffFile(position, f"f{position}.txt", None, "M", 2, 1, False, False, position * 10, 10)


def test_the_gate_holds_a_session_until_its_worktree_is_ready_and_recorded(
    ledger: Ledger, tmp_path: Path
) -> None:
    with ledger.db.write() as conn:
        project = projects.add(conn, tmp_path, name="web")
        plain = sessions.create(conn, project, "codex", str(tmp_path))
        tree = sessions.create(conn, project, "codex", str(tmp_path / "wt"))
        workspaces.add(
            conn, tree.id, str(tmp_path), str(tmp_path / "wt"), "tether/web-2", "main", "a" * 40
        )
        first, _ = turns.add(conn, tree, "one")
        turns.add(conn, plain, "hello")
    with ledger.db.read() as conn:
        assert [t.session_id for t in turns.next_dispatchable(conn, 10)] == [plain.id]
        assert [w.session_id for w in workspaces.needing_preparation(conn, "here")] == [tree.id]
        assert workspaces.busy(conn, tree.id) and not workspaces.busy(conn, plain.id)
    with ledger.db.write() as conn:
        workspaces.update_fields(conn, tree.id, {"state": WorkspaceState.READY.value})
    with ledger.db.read() as conn:
        assert {t.id for t in turns.next_dispatchable(conn, 10)} == {first.id, "web-1.1"}
        assert not workspaces.busy(conn, tree.id)
    with ledger.db.write() as conn:
        turns.transition(conn, first.id, TurnState.DISPATCHED)
        turns.transition(conn, first.id, TurnState.RUNNING)
        turns.transition(conn, first.id, TurnState.COMPLETED, reason="done")
        turns.add(conn, sessions.get(conn, tree.id), "two")
    with ledger.db.read() as conn:
        assert tree.id not in {t.session_id for t in turns.next_dispatchable(conn, 10)}
        due = workspaces.needing_checkpoint(conn, "here")
        assert [(w.session_id, upto) for w, upto in due] == [(tree.id, 1)]
        assert workspaces.busy(conn, tree.id)  # attach waits for the checkpoint too
    with ledger.db.write() as conn:
        workspaces.update_fields(conn, tree.id, {"checkpointed": 1})
    with ledger.db.read() as conn:
        assert tree.id in {t.session_id for t in turns.next_dispatchable(conn, 10)}
        assert workspaces.needing_checkpoint(conn, "here") == []


def test_project_on_another_host_is_left_to_that_host(ledger: Ledger, tmp_path: Path) -> None:
    with ledger.db.write() as conn:
        project = projects.add(conn, tmp_path, name="web", host="elsewhere")
        session = sessions.create(conn, project, "codex", str(tmp_path))
        workspaces.add(conn, session.id, str(tmp_path), str(tmp_path / "wt"), "b", "main", "a" * 40)
        turns.add(conn, session, "one")
    with ledger.db.read() as conn:
        assert workspaces.needing_preparation(conn, "here") == []
        assert len(workspaces.needing_preparation(conn, "elsewhere")) == 1


def test_diffs_are_stored_replaced_and_paged(ledger: Ledger, tmp_path: Path) -> None:
    with ledger.db.write() as conn:
        project = projects.add(conn, tmp_path, name="web")
        session = sessions.create(conn, project, "codex", str(tmp_path))
        files = [_file(i) for i in range(2500)]
        diffs.store(conn, session.id, DiffScope.SESSION, 1, ("a", "b"), files, "c" * 64)
        diffs.store(conn, session.id, DiffScope.SESSION, 2, ("a", "d"), files[:3], None)
        diffs.drop_older_session_diffs(conn, session.id, keep=2)
        turn = diffs.store(conn, session.id, DiffScope.TURN, 1, ("a", "b"), files, "c" * 64)
        again = diffs.store(conn, session.id, DiffScope.TURN, 1, ("a", "b"), files[:10], "c" * 64)
    with ledger.db.read() as conn:
        whole = diffs.latest_session(conn, session.id)
        assert whole is not None and (whole.turn_number, whole.files) == (2, 3)
        assert diffs.for_turn(conn, session.id, 1).files == 10 and turn.files == 2500
        assert len(diffs.files_page(conn, again.id, 0, 500)) == 10  # the old files went too
        page = diffs.files_page(conn, again.id, 5, 3)
        assert [f.position for f in page] == [5, 6, 7]
        assert (again.added, again.removed) == (20, 10)
