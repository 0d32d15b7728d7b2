"""The storage contract suite: every test here runs on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from opengeomesh.storage.postgres.stores import open_postgres
from opengeomesh.storage.sqlite.stores import open_sqlite
from opengeomesh.storage.stores import Stores
from tests.postgres import fresh_database_url
from tests.storage.layers import Layers, layers_on

OpenStores = Callable[[], Stores]


@pytest.fixture(params=["sqlite", "postgresql"])
def open_stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OpenStores]:
    """Opens stores on one fresh database, as often as asked: each opening has its own
    connections, as one worker process has. All are closed afterwards."""
    opened: list[Stores] = []

    def keep(stores: Stores) -> Stores:
        opened.append(stores)
        return stores

    if request.param == "sqlite":
        path = tmp_path / "contract.sqlite"
        yield lambda: keep(open_sqlite(path))
        _close(opened)
        return
    with fresh_database_url() as url:
        yield lambda: keep(open_postgres(url, max_connections=4))
        _close(opened)


def _close(opened: list[Stores]) -> None:
    for stores in opened:
        stores.database.close()


@pytest.fixture
def stores(open_stores: OpenStores) -> Stores:
    """Freshly migrated, empty stores on each database."""
    return open_stores()


@pytest.fixture
def stores_layers(stores: Stores) -> Layers:
    """The catalog and editing over fresh stores, with their owner 'alice'."""
    return layers_on(stores)
