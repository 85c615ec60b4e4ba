"""Pure data and rules: ids, states, transitions and records. No I/O here."""
