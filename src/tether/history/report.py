"""What one indexing pass did, as ``tether index`` prints it (``--json``: these fields)."""

from dataclasses import dataclass, field


@dataclass
class IndexReport:
    files: int = 0
    files_read: int = 0
    bytes_read: int = 0
    entries: int = 0
    sessions_created: int = 0
    threads_measured: int = 0
    events: int = 0
    bad_lines: int = 0
    oversize_lines: int = 0
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0
