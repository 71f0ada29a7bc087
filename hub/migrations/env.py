"""Alembic environment: migrates the engine that ``hub.core.db.migrate`` hands over.

There is no ``alembic.ini``: the hub builds the configuration in code from its settings, so the
database URL (which may hold a password) never sits in a file.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine
from sqlmodel import SQLModel

import hub.tables  # noqa: F401  (registers every table on SQLModel.metadata)

engine = context.config.attributes.get("engine")
if not isinstance(engine, Engine):
    raise TypeError("run migrations through `ketenhub init` (hub.core.db.migrate), not alembic")

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=SQLModel.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
