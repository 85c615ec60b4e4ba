"""The ``tether`` command: a thin shell over the ledger and the daemon's API."""
