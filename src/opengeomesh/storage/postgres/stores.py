"""Open a PostgreSQL/PostGIS database and the stores built on it."""

from __future__ import annotations

from opengeomesh.storage.postgres.accounts import PgAccountStore
from opengeomesh.storage.postgres.collections import PgCollectionStore
from opengeomesh.storage.postgres.database import PgDatabase
from opengeomesh.storage.postgres.feature_writes import PgFeatureWriter
from opengeomesh.storage.postgres.features import PgFeatureStore
from opengeomesh.storage.postgres.federation import PgFederationStore
from opengeomesh.storage.postgres.rate_limits import PgRateLimitStore
from opengeomesh.storage.postgres.shares import PgShareStore
from opengeomesh.storage.postgres.upstreams import PgUpstreamStore
from opengeomesh.storage.postgres.webhooks import PgWebhookStore
from opengeomesh.storage.stores import Stores


def open_postgres(url: str, *, max_connections: int, migrate: bool = True) -> Stores:
    """Open and migrate the database at ``url``; without ``migrate``, only check that it is
    migrated already."""
    database = PgDatabase(url, max_connections=max_connections)
    if migrate:
        database.migrate()
    else:
        database.check_schema()
    return Stores(
        database=database,
        accounts=PgAccountStore(database),
        collections=PgCollectionStore(database),
        features=PgFeatureStore(database),
        feature_writes=PgFeatureWriter(database),
        federation=PgFederationStore(database),
        shares=PgShareStore(database),
        upstreams=PgUpstreamStore(database),
        webhooks=PgWebhookStore(database),
        rate_limits=PgRateLimitStore(database),
    )
