"""The one exception tree of tether.

Every error a user can meet is a ``TetherError`` whose message says what went
wrong and what to do. Third-party errors (sqlite3, psycopg, OS, subprocess)
are translated into these at the boundary where they occur.
"""


class TetherError(Exception):
    """Something went wrong in tether."""

    exit_code = 1


class InvalidInput(TetherError):
    """Input from outside (argv, URL, request body) is malformed."""

    exit_code = 2


class InvalidId(InvalidInput):
    """An id from outside does not have the shape of a tether id."""


class NotFound(TetherError):
    """A well-formed id names nothing in the ledger."""

    exit_code = 2


class Conflict(TetherError):
    """The request contradicts what the ledger already holds."""


class IllegalTransition(TetherError):
    """A state change the state machine forbids (e.g. leaving a terminal state)."""


class ConfigError(TetherError):
    """The configuration file is unreadable or holds an invalid value."""

    exit_code = 2


class LedgerError(TetherError):
    """The ledger database cannot be reached, migrated or written."""


class BlobError(TetherError):
    """The blob store cannot be written or a blob is missing or corrupt."""


class DaemonError(TetherError):
    """The daemon cannot be started, found or reached."""


class ProviderError(TetherError):
    """An agent provider is unknown, misconfigured or cannot run this operation."""


class WorkspaceError(TetherError):
    """A git operation on a project or a session's worktree failed or was refused."""


class DeliveryError(TetherError):
    """A notice could not be delivered to a webhook or a command (it is retried)."""


class AgentNotInstalled(ProviderError):
    """The agent's executable is not on the PATH it runs with: permanent, never retried."""
