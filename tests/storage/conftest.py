"""The storage contract suite: every test here runs on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from opengeomesh.storage.postgres.stores import open_postgres
from opengeomesh.storage.sqlite.stores import open_sqlite
from opengeomesh.storage.stores import Stores
from tests.postgres import fresh_database_url
from tests.storage.layers import Layers, layers_on


@pytest.fixture(params=["sqlite", "postgresql"])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stores]:
    """Freshly migrated, empty stores on each database."""
    if request.param == "sqlite":
        opened = open_sqlite(tmp_path / "contract.sqlite")
        yield opened
        opened.database.close()
        return
    with fresh_database_url() as url:
        opened = open_postgres(url, max_connections=4)
        yield opened
        opened.database.close()


@pytest.fixture
def stores_layers(stores: Stores) -> Layers:
    """The catalog and editing over fresh stores, with their owner 'alice'."""
    return layers_on(stores)
