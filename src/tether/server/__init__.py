"""The daemon's HTTP face: JSON API and pages, answered from the ledger alone."""
