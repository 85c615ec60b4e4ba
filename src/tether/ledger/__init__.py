"""The ledger: tether's durable store and single source of truth."""
