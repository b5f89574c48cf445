"""Alembic environment: runs on the connection arbots hands over, or on sqlalchemy.url for the plain CLI."""

from alembic import context
from sqlalchemy import engine_from_config, pool

from robots.store.schema import metadata  # the catalogue: every aggregate's tables

config = context.config


def run_on(connection) -> None:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    run_on(connection)
else:
    engine = engine_from_config(config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.",
                                poolclass=pool.NullPool)
    with engine.begin() as conn:
        run_on(conn)
