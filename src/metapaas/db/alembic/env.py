"""Alembic environment shared by every migration stream.

The runtime calls Alembic with a live connection and the stream's own version
table in ``config.attributes``; there is no ``alembic.ini``.
"""

from alembic import context

config = context.config
connection = config.attributes["connection"]

context.configure(
    connection=connection,
    version_table=config.attributes["version_table"],
    target_metadata=config.attributes.get("target_metadata"),
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
