"""Open a PostgreSQL/PostGIS database and the stores built on it."""

from __future__ import annotations

from opengeomesh.storage.postgres.database import PgDatabase
from opengeomesh.storage.stores import Stores


def open_postgres(url: str, *, max_connections: int) -> Stores:
    """Open and migrate the database at ``url``."""
    database = PgDatabase(url, max_connections=max_connections)
    database.migrate()
    raise NotImplementedError("the PostgreSQL stores are being written")
