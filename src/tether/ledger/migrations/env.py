"""Alembic environment: tether always hands in an open connection."""

from alembic import context

from tether.ledger.migrate import include_object
from tether.ledger.schema import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=True,
    include_object=include_object,
)
context.run_migrations()
