"""Reading import sources: both formats, sniffed or announced, and errors that name the place."""

import io

import orjson
import pytest

from opengeomesh.errors import InvalidInput
from opengeomesh.features.geojson import parse_feature
from opengeomesh.features.importing import FeatureReader, SourceFormat, format_for, staged

FEATURES = [
    {
        "type": "Feature",
        "id": n,
        "geometry": {"type": "Point", "coordinates": [n, n]},
        "properties": {"n": n},
    }
    for n in range(5)
]


def ids(data: bytes, source_format: SourceFormat | None = None) -> list[str | None]:
    return [f.id for f in FeatureReader(io.BytesIO(data), source_format)]


def test_feature_collection_pretty_or_compact() -> None:
    collection = {"type": "FeatureCollection", "features": FEATURES}
    assert ids(orjson.dumps(collection)) == ["0", "1", "2", "3", "4"]
    assert ids(orjson.dumps(collection, option=orjson.OPT_INDENT_2)) == ["0", "1", "2", "3", "4"]


def test_newline_delimited_and_sequences() -> None:
    lines = b"\n".join(orjson.dumps(f) for f in FEATURES)
    assert ids(lines) == ["0", "1", "2", "3", "4"]
    sequence = b"".join(b"\x1e" + orjson.dumps(f) + b"\n" for f in FEATURES)
    assert ids(sequence, SourceFormat.NEWLINE_DELIMITED) == ["0", "1", "2", "3", "4"]
    assert ids(b"\n\n" + lines + b"\n\n") == ["0", "1", "2", "3", "4"]


def test_announced_formats() -> None:
    assert format_for(name="sectors.geojsonl") is SourceFormat.NEWLINE_DELIMITED
    assert format_for(media_type="application/x-ndjson; charset=utf-8") is (
        SourceFormat.NEWLINE_DELIMITED
    )
    assert format_for(name="sectors.geojson", media_type="application/geo+json") is None


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (b"", "file"),
        (b"[1, 2, 3]", "file"),
        (
            b'{"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": nul',
            "features[0]",
        ),
        (orjson.dumps(FEATURES[0]) + b"\n{not json}\n", "features[1]"),
        (
            orjson.dumps({"type": "FeatureCollection", "features": [FEATURES[0], 42]}),
            "features[1].feature",
        ),
    ],
)
def test_errors_name_the_place(data: bytes, field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        ids(data)
    assert caught.value.field == field


def test_progress_counts_every_byte() -> None:
    data = orjson.dumps({"type": "FeatureCollection", "features": FEATURES * 2000})
    seen: list[int] = []
    reader = FeatureReader(io.BytesIO(data), progress=seen.append)
    assert len(list(reader)) == 10_000
    assert sum(seen) == len(data)


def test_staged_features_come_back_whole() -> None:
    features = [
        parse_feature(f, temporal_property="t")
        for f in [
            {**FEATURES[0], "properties": {"t": "2026-11-28"}},
            {"type": "Feature", "geometry": None, "properties": None},
            {
                "type": "Feature",
                "id": "l",
                "geometry": {"type": "LineString", "coordinates": [[0, 0, 1], [1, 2, 3]]},
                "properties": {},
            },
        ]
        * 3
    ]
    with staged(iter(features), batch=2) as checked:
        assert checked.count == 9
        assert list(checked) == features
        assert list(checked) == features  # and again
