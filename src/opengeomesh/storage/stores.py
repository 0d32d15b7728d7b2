"""The stores of one server, on the database its settings name (SQLite or PostgreSQL)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from opengeomesh.accounts.store import AccountStore
from opengeomesh.config import Settings
from opengeomesh.features.store import CollectionStore, FeatureStore, FeatureWriter
from opengeomesh.features.upstreams import UpstreamStore
from opengeomesh.limits.rates import RateLimitStore
from opengeomesh.ocm.store import OcmStore, ShareStore
from opengeomesh.webhooks.store import WebhookStore


class Database(Protocol):
    """What the services need of the database itself."""

    def migrate(self) -> str:
        """Apply the migrations not applied yet; returns the schema revision."""
        ...

    def check_schema(self) -> str:
        """The schema revision if it is the newest, else :class:`InvalidInput`."""
        ...

    def listen_for_changes(self, wake: Callable[[int], None], wake_all: Callable[[], None]) -> None:
        """Call ``wake(collection_key)`` when another process commits a feature write, and
        ``wake_all()`` when such calls may have been missed (a no-op where the database cannot
        tell: followers then find those writes at their next poll)."""
        ...

    def data_version(self) -> int | None:
        """A number that changes whenever any connection of any process commits, cheap to read
        (for the page cache); None where the database has no such number."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Stores:
    """Every store of one database."""

    database: Database
    accounts: AccountStore
    collections: CollectionStore
    features: FeatureStore
    feature_writes: FeatureWriter
    federation: OcmStore
    shares: ShareStore
    upstreams: UpstreamStore
    webhooks: WebhookStore
    rate_limits: RateLimitStore


def open_stores(settings: Settings, *, migrate: bool = True) -> Stores:
    """Open (creating if needed) and migrate the database the settings name; without
    ``migrate``, only check that it is migrated already."""
    if settings.database_kind == "postgresql":
        from opengeomesh.storage.postgres.stores import open_postgres

        return open_postgres(
            settings.postgres_url, max_connections=settings.database_pool_size, migrate=migrate
        )
    from opengeomesh.storage.sqlite.stores import open_sqlite

    return open_sqlite(settings.sqlite_path, migrate=migrate)
