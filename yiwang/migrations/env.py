"""Alembic environment: migrations run on the connection the caller passes.

The project never reads alembic.ini; :mod:`yiwang.migrate` builds the
configuration and hands over a live connection in ``config.attributes``.
"""

from typing import Any, Literal

from alembic import context

from yiwang.database import UTCDateTime
from yiwang.models import metadata


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | Literal[False]:
    """Write UTC datetimes as the plain type they are stored as."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
    render_item=render_item,
)
with context.begin_transaction():
    context.run_migrations()
