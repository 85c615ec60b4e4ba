"""The turn engine: lanes, detached runners, ingestion, watchdog, recovery."""
