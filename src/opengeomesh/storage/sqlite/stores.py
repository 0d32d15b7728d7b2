"""Open the embedded SQLite database and the stores built on it."""

from __future__ import annotations

from pathlib import Path

from opengeomesh.storage.sqlite.accounts import SqliteAccountStore
from opengeomesh.storage.sqlite.collections import SqliteCollectionStore
from opengeomesh.storage.sqlite.database import Database
from opengeomesh.storage.sqlite.feature_writes import SqliteFeatureWriter
from opengeomesh.storage.sqlite.features import SqliteFeatureStore
from opengeomesh.storage.sqlite.federation import SqliteFederationStore
from opengeomesh.storage.sqlite.rate_limits import SqliteRateLimitStore
from opengeomesh.storage.sqlite.shares import SqliteShareStore
from opengeomesh.storage.sqlite.upstreams import SqliteUpstreamStore
from opengeomesh.storage.sqlite.webhooks import SqliteWebhookStore
from opengeomesh.storage.stores import Stores


def open_sqlite(path: Path, *, migrate: bool = True) -> Stores:
    """Open (creating if needed) and migrate the database at ``path``; without ``migrate``,
    only check that it is migrated already."""
    database = Database(path)
    if migrate:
        database.migrate()
    else:
        database.check_schema()
    return Stores(
        database=database,
        accounts=SqliteAccountStore(database),
        collections=SqliteCollectionStore(database),
        features=SqliteFeatureStore(database),
        feature_writes=SqliteFeatureWriter(database),
        federation=SqliteFederationStore(database),
        shares=SqliteShareStore(database),
        upstreams=SqliteUpstreamStore(database),
        webhooks=SqliteWebhookStore(database),
        rate_limits=SqliteRateLimitStore(database),
    )
