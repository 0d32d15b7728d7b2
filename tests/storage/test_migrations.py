"""Migrations run on both databases, twice without change."""

from opengeomesh.storage.stores import Stores


def test_migrating_again_changes_nothing(stores: Stores) -> None:
    first = stores.database.migrate()
    assert stores.database.migrate() == first
