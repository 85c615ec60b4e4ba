"""tether: run, track, resume and account for AI coding-agent sessions."""

__version__ = "0.1.0"
