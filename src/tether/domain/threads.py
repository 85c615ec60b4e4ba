"""A session's native threads and the rules for rotating one (invariant 6).

A session owns a list of threads, numbered from 1; the last one is current.
Each keeps what tether last measured of its context: the size of the prompt
at the agent's last model request against the model's window, the
compactions seen, the size of its native log. A thread that overflowed, or
whose fill passed ``rotate_at``, or whose log passed the byte cap, is due
for rotation before its next turn.
"""

from dataclasses import dataclass

#: Context windows of model families, for agents whose records do not say
#: (the agent's own figure always wins). Sources: Anthropic's model overview
#: (Claude models: 200k), Codex 0.169's bundled model catalog
#: (``codex debug models --bundled``: context_window 272000 for gpt-5*),
#: Google's Gemini 2.5 model pages (1,048,576 input tokens).
KNOWN_WINDOWS: tuple[tuple[str, int], ...] = (
    ("claude-", 200_000),
    ("gpt-5", 272_000),
    ("gemini-2.5-", 1_048_576),
    ("gemini-3", 1_048_576),
)


def known_window(model: str | None) -> int | None:
    if not model:
        return None
    name = model.rsplit("/", 1)[-1]
    return next((window for prefix, window in KNOWN_WINDOWS if name.startswith(prefix)), None)


@dataclass(frozen=True, slots=True)
class Thread:
    session_id: str
    ordinal: int  # 1 for the session's first thread
    agent: str
    native_id: str | None  # None until the agent reveals it
    first_turn: int  # number of the turn that started it (0: before any turn)
    started_at: float
    ended_at: float | None = None
    end_reason: str | None = None
    handoff_blob: str | None = None  # the hand-off prompt that opened it, in the blob store
    context_tokens: int | None = None
    context_window: int | None = None
    compactions: int = 0
    log_bytes: int | None = None
    overflows: int = 0  # context failures in a row; reset by a turn that completes
    rotate_reason: str | None = None  # set: rotate before the next turn
    measured_at: float | None = None
    log_path: str | None = None  # the native log the history reader measures
    log_offset: int = 0  # read up to here
    log_compactions: int = 0  # compactions the native log recorded (the stream may not)

    @property
    def fill(self) -> float | None:
        if not self.context_tokens or not self.context_window:
            return None
        return self.context_tokens / self.context_window


@dataclass(frozen=True, slots=True)
class Budget:
    rotate_at: float  # fill ratio; 0 turns the check off
    max_log_bytes: int  # 0 turns the check off
    on_overflow: str = "rotate"  # "rotate" or "fail"


@dataclass(frozen=True, slots=True)
class Decision:
    rotate: bool  # False: the turn fails at once with ``reason``
    reason: str


def decide(thread: Thread | None, budget: Budget) -> Decision | None:
    """What to do with the current thread before a turn: nothing, rotate, or fail.

    A rotation asked for by a person always happens. An overflow rotates, or
    with ``on_overflow = "fail"`` fails the next turn without spending it on a
    thread known to be full. The fill and log-size budgets rotate only under
    ``"rotate"``.
    """
    if thread is None or thread.native_id is None:
        return None  # no thread yet, or one not started: nothing to rotate
    if thread.rotate_reason and not thread.overflows:
        return Decision(True, thread.rotate_reason)
    automatic = budget.on_overflow == "rotate"
    if thread.rotate_reason:
        if automatic:
            return Decision(True, thread.rotate_reason)
        return Decision(
            False,
            f'{thread.rotate_reason}; on_overflow = "fail": run `tether rotate '
            f"{thread.session_id}` to go on in a new thread",
        )
    due = over_budget(thread, budget)
    return Decision(True, due) if due and automatic else None


def over_budget(thread: Thread, budget: Budget) -> str | None:
    """Why the thread's fill or log size is over budget, or None."""
    fill = thread.fill
    if budget.rotate_at and fill is not None and fill >= budget.rotate_at:
        return (
            f"context at {fill:.0%} of the {thread.context_window:,}-token window "
            f"(rotate_at = {budget.rotate_at:g})"
        )
    if budget.max_log_bytes and thread.log_bytes and thread.log_bytes > budget.max_log_bytes:
        return (
            f"native log is {thread.log_bytes:,} bytes "
            f"(over rotate_log_bytes = {budget.max_log_bytes:,})"
        )
    return None
