"""Open a PostgreSQL/PostGIS database and the stores built on it."""

from __future__ import annotations

from typing import Any, cast

from opengeomesh.accounts.store import AccountStore
from opengeomesh.ocm.store import OcmStore, ShareStore
from opengeomesh.storage.postgres.collections import PgCollectionStore
from opengeomesh.storage.postgres.database import PgDatabase
from opengeomesh.storage.postgres.feature_writes import PgFeatureWriter
from opengeomesh.storage.postgres.features import PgFeatureStore
from opengeomesh.storage.stores import Stores


class _Pending:
    """TEMPORARY, not for merge: stands for a store written on another branch
    (``PgAccountStore``, ``PgFederationStore``, ``PgShareStore``); any use raises."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attribute: str) -> Any:
        raise NotImplementedError(f"the PostgreSQL {self._name} store is on another branch")


def open_postgres(url: str, *, max_connections: int) -> Stores:
    """Open and migrate the database at ``url``."""
    database = PgDatabase(url, max_connections=max_connections)
    database.migrate()
    return Stores(
        database=database,
        accounts=cast(AccountStore, _Pending("account")),
        collections=PgCollectionStore(database),
        features=PgFeatureStore(database),
        feature_writes=PgFeatureWriter(database),
        federation=cast(OcmStore, _Pending("federation")),
        shares=cast(ShareStore, _Pending("share")),
    )
