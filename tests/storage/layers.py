"""Layers on the contract suite's stores: the domain's catalog and editing over the stores of
one database, an owner, and helpers to fill a collection and read what a query selects.

Users and groups are written with plain SQL (the same text on both databases), so the features'
contract does not depend on the account store.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from opengeomesh.accounts.directory import AccountDirectory
from opengeomesh.accounts.models import Caller, User
from opengeomesh.features.catalog import Catalog
from opengeomesh.features.editing import Editing
from opengeomesh.features.models import Collection
from opengeomesh.features.query import Cursor, ItemsQuery, parse_items_query
from opengeomesh.storage.postgres.database import PgDatabase
from opengeomesh.storage.postgres.stores import open_postgres
from opengeomesh.storage.sqlite.stores import open_sqlite
from opengeomesh.storage.stores import Stores
from tests.postgres import fresh_database_url

DATABASES = ["sqlite", "postgresql"]


@contextmanager
def opened(kind: str, directory: Path) -> Iterator[Stores]:
    """Freshly migrated, empty stores on one database (for fixtures of any scope)."""
    if kind == "sqlite":
        stores = open_sqlite(directory / "contract.sqlite")
        try:
            yield stores
        finally:
            stores.database.close()
        return
    with fresh_database_url() as url:
        # tests need no durability: commits do not wait for the disk
        stores = open_postgres(url + "%20-csynchronous_commit%3Doff", max_connections=8)
        try:
            yield stores
        finally:
            stores.database.close()


def kind_of(stores: Stores) -> str:
    return "postgresql" if isinstance(stores.database, PgDatabase) else "sqlite"


def execute(stores: Stores, statement: str) -> Any:
    """Run one statement without parameters on either database; its first row."""
    database = stores.database
    if isinstance(database, PgDatabase):
        with database.connection() as conn:
            return conn.execute(statement).fetchone()
    return database.connection().execute(statement).fetchone()  # type: ignore[attr-defined]


def add_user(stores: Stores, name: str) -> Caller:
    """A user row (``name`` is the test's own constant) and the caller they are."""
    row = execute(
        stores,
        "INSERT INTO users(name, display_name, is_admin, created)"
        f" VALUES ('{name}', '{name}', false, '2026-01-01T00:00:00Z') RETURNING id",
    )
    created = datetime(2026, 1, 1, tzinfo=UTC)
    return Caller(
        user=User(id=int(row[0]), name=name, display_name=name, is_admin=False, created=created)
    )


def add_group(stores: Stores, name: str, *members: Caller) -> int:
    row = execute(
        stores,
        f"INSERT INTO user_groups(name, created) VALUES ('{name}', '2026-01-01T00:00:00Z')"
        " RETURNING id",
    )
    for member in members:
        assert member.user is not None
        execute(
            stores,
            f"INSERT INTO group_members(group_id, user_id) VALUES ({int(row[0])},"
            f" {member.user.id}) RETURNING group_id",
        )
    return int(row[0])


@dataclass
class Layers:
    """The catalog and editing over one database's stores, and the owner of the layers."""

    stores: Stores
    catalog: Catalog
    editing: Editing
    owner: Caller

    @property
    def kind(self) -> str:
        return kind_of(self.stores)

    def create(
        self,
        collection_id: str,
        features: list[dict[str, Any]],
        *,
        temporal_property: str | None = None,
    ) -> Collection:
        """A new collection holding ``features`` (imported as one FeatureCollection)."""
        self.catalog.create(self.owner, collection_id, temporal_property=temporal_property)
        if features:
            body = orjson.dumps({"type": "FeatureCollection", "features": features})
            self.catalog.import_features(self.owner, collection_id, io.BytesIO(body))
        return self.collection(collection_id)

    def collection(self, collection_id: str) -> Collection:
        return self.catalog.get(self.owner, collection_id)[0]

    def ids(self, collection_id: str, params: dict[str, str]) -> list[str]:
        """Ids a query selects, all pages followed (``params`` as the HTTP query has them)."""
        query = parse_items_query({"limit": "1000", **params}, default_limit=1000, max_limit=1000)
        found: list[str] = []
        while True:
            _, page = self.catalog.items(self.owner, collection_id, query)
            found += [feature.id for feature in page.features]
            if page.next_cursor is None:
                return found
            query = ItemsQuery(
                limit=query.limit,
                bboxes=query.bboxes,
                interval=query.interval,
                filter=query.filter,
                cursor=Cursor.decode(page.next_cursor),
            )


def layers_on(stores: Stores, owner: str = "alice") -> Layers:
    catalog = Catalog(stores.collections, stores.features, AccountDirectory(stores.accounts))
    return Layers(
        stores=stores,
        catalog=catalog,
        editing=Editing(catalog, stores.features, stores.feature_writes),
        owner=add_user(stores, owner),
    )


def point(feature_id: str | int | None, x: float, y: float, **properties: Any) -> dict[str, Any]:
    feature: dict[str, Any] = {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [x, y]},
        "properties": properties,
    }
    if feature_id is not None:
        feature["id"] = feature_id
    return feature
