"""Alembic environment: migrations run on the connection the caller passes.

The project never reads alembic.ini; :mod:`yiwang.migrate` builds the
configuration and hands over a live connection in ``config.attributes``.
"""

from alembic import context

from yiwang.models import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
