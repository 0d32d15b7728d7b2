"""Imports on both databases: all features or none (also when the fault is found after several
batches were written), the feature at fault named, progress reported while writing, and an
import into a layer that has features already."""

from __future__ import annotations

import io
from typing import Any

import orjson
import pytest

from opengeomesh.errors import InvalidInput
from opengeomesh.features.geojson import parse_feature
from tests.storage.layers import Layers, execute, point

MANY = 25_000  # more than one batch on either database (SQLite 5,000, PostgreSQL 20,000)


def lines(features: list[dict[str, Any]]) -> io.BytesIO:
    return io.BytesIO(b"\n".join(orjson.dumps(f) for f in features))


def many(count: int, prefix: str = "p") -> list[dict[str, Any]]:
    return [point(f"{prefix}{n}", (n % 360) - 180, (n % 170) - 85, n=n) for n in range(count)]


def test_a_reused_id_after_several_batches_keeps_nothing(stores_layers: Layers) -> None:
    layers = stores_layers
    before = layers.create("layer", [point("old", 1, 1)])
    features = [*many(MANY), point("p3", 0, 0)]  # the id of the fourth feature, again
    with pytest.raises(InvalidInput) as caught:
        layers.catalog.import_features(layers.owner, "layer", lines(features))
    assert caught.value.field == f"features[{MANY}].id"
    features = [*many(MANY), point("old", 0, 0)]  # an id the layer holds
    with pytest.raises(InvalidInput) as caught:
        layers.catalog.import_features(layers.owner, "layer", lines(features))
    assert caught.value.field == f"features[{MANY}].id"
    after = layers.collection("layer")
    assert (after.feature_count, after.bbox) == (before.feature_count, before.bbox)
    assert layers.ids("layer", {}) == ["old"]
    added = layers.stores.feature_writes.insert(after, parse_feature(point("x", 2, 2)), "alice")
    assert added.version == 2  # the failed imports took no change number


def test_a_bad_feature_keeps_nothing(stores_layers: Layers) -> None:
    layers = stores_layers
    layers.create("layer", [point("old", 1, 1)])
    bad = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [9]}, "properties": {}}
    with pytest.raises(InvalidInput) as caught:
        layers.catalog.import_features(layers.owner, "layer", lines([*many(6000), bad]))
    assert caught.value.field == "features[6000].geometry.coordinates"
    assert layers.ids("layer", {}) == ["old"]
    assert layers.collection("layer").feature_count == 1


def test_progress_and_an_import_into_features(stores_layers: Layers) -> None:
    layers = stores_layers
    layers.create("layer", [point("a", 10, 10), point("b", 20, -5)])
    told: list[tuple[int, int]] = []
    count = layers.catalog.import_features(
        layers.owner,
        "layer",
        lines(many(MANY, "q")),
        stored=lambda n, total: told.append((n, total)),
    )
    assert count == MANY
    assert told[0] == (0, MANY) and told[-1] == (MANY, MANY)
    assert [n for n, _ in told] == sorted(n for n, _ in told) and len(told) >= 3
    after = layers.collection("layer")
    assert after.feature_count == MANY + 2
    assert after.bbox == (-180, -85, 179, 84)
    ids = layers.ids("layer", {})
    assert ids[:3] == ["a", "b", "q0"] and ids[-1] == f"q{MANY - 1}" and len(ids) == MANY + 2
    q0 = layers.stores.features.get(after, "q0")
    assert q0 is not None and q0.version == 2  # one change number per import
    if layers.kind == "postgresql":  # a large import leaves the planner its statistics
        analysed = execute(
            layers.stores,
            "SELECT count(*) FROM pg_stats WHERE schemaname = current_schema()"
            f" AND tablename = 'features_{after.key}' AND attname = 'geom'",
        )
        assert analysed == (1,)
    empty = io.BytesIO(b'{"type": "FeatureCollection", "features": []}')
    assert layers.catalog.import_features(layers.owner, "layer", empty) == 0
    assert layers.collection("layer").feature_count == MANY + 2


@pytest.mark.parametrize("open_stores", ["postgresql"], indirect=True)
def test_postgres_layers_with_features_have_their_spatial_index(stores_layers: Layers) -> None:
    """A new layer's GIST index is made by its first write (after the rows, for an import)."""
    layers = stores_layers
    assert layers.kind == "postgresql"

    def indexed(collection_id: str) -> bool:
        key = layers.collection(collection_id).key
        return execute(layers.stores, f"SELECT to_regclass('features_{key}_geom')") != (None,)

    layers.create("empty", [])
    assert not indexed("empty")
    bad = [point("a", 1, 1), point("a", 2, 2)]
    with pytest.raises(InvalidInput):
        layers.catalog.import_features(layers.owner, "empty", lines(bad))
    assert not indexed("empty")
    layers.create("imported", [point("a", 1, 1)])
    assert indexed("imported")
    written = layers.create("written", [])
    layers.stores.feature_writes.insert(written, parse_feature(point("a", 1, 1)), "alice")
    assert indexed("written")
    assert layers.ids("written", {"bbox": "0,0,2,2"}) == ["a"]
