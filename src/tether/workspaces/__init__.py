"""A git worktree and branch per session, checkpoints after turns, diffs, merge and PR."""
