"""Agent providers: how to start, resume and read each coding-agent CLI."""
