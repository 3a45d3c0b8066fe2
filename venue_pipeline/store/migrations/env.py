"""Alembic environment: runs migrations on the engine the caller passes in."""

from __future__ import annotations

from alembic import context

from venue_pipeline.store.schema import Base

config = context.config
engine = config.attributes.get("engine")
if engine is None:  # invoked by the alembic CLI: fall back to the configured URL
    from venue_pipeline.config import default_db_url
    from venue_pipeline.store.db import get_engine

    engine = get_engine(config.get_main_option("sqlalchemy.url") or default_db_url())

with engine.begin() as connection:
    if connection.dialect.name == "postgresql":
        # One upgrade at a time per database: a second process waits here, then finds the schema at head.
        # Transaction-scoped, so it is released at commit (or rollback, or when the process dies).
        from sqlalchemy import text

        from venue_pipeline.store.db import MIGRATION_LOCK_KEY

        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    context.run_migrations()
