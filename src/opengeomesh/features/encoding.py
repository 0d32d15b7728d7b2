"""GeoJSON text of stored features, assembled from their stored JSON fragments (RFC 7946 §3.2)."""

from __future__ import annotations

from collections.abc import Iterator

import orjson

from opengeomesh.features.models import StoredFeature


def feature_bytes(feature: StoredFeature, extra: bytes = b"") -> bytes:
    """One feature as GeoJSON; ``extra`` is inserted as further members (``,"links":[…]``)."""
    fid = feature.id.encode() if feature.id_is_number else orjson.dumps(feature.id)
    geometry = feature.geometry_json.encode() if feature.geometry_json is not None else b"null"
    properties = (
        feature.properties_json.encode() if feature.properties_json is not None else b"null"
    )
    return b"".join(
        (
            b'{"type":"Feature","id":',
            fid,
            b',"geometry":',
            geometry,
            b',"properties":',
            properties,
            extra,
            b"}",
        )
    )


def geojson_chunks(features: Iterator[StoredFeature], batch: int = 1000) -> Iterator[bytes]:
    """A FeatureCollection as chunks of bytes, a batch of features each."""
    yield b'{"type":"FeatureCollection","features":['
    chunk: list[bytes] = []
    first = True
    for feature in features:
        chunk.append(feature_bytes(feature))
        if len(chunk) >= batch:
            yield (b"" if first else b",") + b",".join(chunk)
            first, chunk = False, []
    if chunk:
        yield (b"" if first else b",") + b",".join(chunk)
    yield b"]}\n"
