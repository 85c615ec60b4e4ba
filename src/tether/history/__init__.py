"""History: incremental readers of the agents' native logs, exact usage and cost.

Readers run in background workers (invariant 4) and write the ledger; every
report answers from the ledger. Attribution is by exact native id only
(invariant 2); native logs are read from a saved byte offset, line by line,
with a cap on line length (invariant 5).
"""
