"""Reading GeoJSON FeatureCollections and newline-delimited GeoJSON as a stream of features.

Large files are never held in memory: a FeatureCollection is parsed incrementally (ijson) and a
newline-delimited file line by line. Each feature is checked; the first bad one stops the import,
named by its index (0-based, in file order).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator
from typing import IO, Any

import ijson
import orjson

from opengeomesh.errors import InvalidInput
from opengeomesh.features.geojson import parse_feature
from opengeomesh.features.models import NewFeature

SNIFF_BYTES = 65536


class SourceFormat(enum.StrEnum):
    """The formats an import reads."""

    FEATURE_COLLECTION = "geojson"
    NEWLINE_DELIMITED = "ndjson"


NDJSON_SUFFIXES = (".ndjson", ".geojsonl", ".geojsons", ".jsonl", ".geojsonseq")
NDJSON_MEDIA_TYPES = ("application/x-ndjson", "application/geo+json-seq", "application/jsonl")


def format_for(name: str | None = None, media_type: str | None = None) -> SourceFormat | None:
    """Newline-delimited when a file name or media type says so; otherwise ``None`` (sniff)."""
    if media_type and media_type.split(";")[0].strip().lower() in NDJSON_MEDIA_TYPES:
        return SourceFormat.NEWLINE_DELIMITED
    if name and name.lower().endswith(NDJSON_SUFFIXES):
        return SourceFormat.NEWLINE_DELIMITED
    return None


class FeatureReader:
    """Iterates the checked features of a source; ``index`` is the one being read."""

    def __init__(
        self,
        stream: IO[bytes],
        source_format: SourceFormat | None = None,
        *,
        temporal_property: str | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        self._stream = _CountingReader(stream, progress)
        self._format = source_format
        self._temporal = temporal_property
        self.index = -1

    def __iter__(self) -> Iterator[NewFeature]:
        head = self._stream.peek(SNIFF_BYTES)
        if not head.strip():
            raise InvalidInput("file", "is empty: expected GeoJSON features")
        source_format = self._format or _sniff(head)
        objects = (
            self._lines() if source_format is SourceFormat.NEWLINE_DELIMITED else self._members()
        )
        found = False
        for obj in objects:
            self.index += 1
            found = True
            try:
                yield parse_feature(obj, temporal_property=self._temporal)
            except InvalidInput as exc:
                raise InvalidInput(f"features[{self.index}].{exc.field}", exc.reason) from None
        if (
            not found
            and source_format is SourceFormat.FEATURE_COLLECTION
            and b'"features"' not in head
        ):
            raise InvalidInput("file", "no features found: expected a GeoJSON FeatureCollection")

    def _members(self) -> Iterator[Any]:
        try:
            yield from ijson.items(self._stream, "features.item", use_float=True)
        except ijson.JSONError as exc:
            raise InvalidInput(f"features[{self.index + 1}]", f"not valid JSON: {exc}") from None

    def _lines(self) -> Iterator[Any]:
        for line in self._stream:
            text = line.strip().lstrip(b"\x1e")
            if not text:
                continue
            try:
                yield orjson.loads(text)
            except orjson.JSONDecodeError as exc:
                raise InvalidInput(
                    f"features[{self.index + 1}]", f"not valid JSON: {exc}"
                ) from None


def _sniff(head: bytes) -> SourceFormat:
    """Tell newline-delimited features from one FeatureCollection by the first line."""
    first = head.lstrip().lstrip(b"\x1e").split(b"\n", 1)[0]
    try:
        obj = orjson.loads(first)
    except orjson.JSONDecodeError:
        return SourceFormat.FEATURE_COLLECTION
    if isinstance(obj, dict) and obj.get("type") == "Feature":
        return SourceFormat.NEWLINE_DELIMITED
    return SourceFormat.FEATURE_COLLECTION


class _CountingReader:
    """A buffered byte stream that reports how much was read, for progress bars."""

    def __init__(self, stream: IO[bytes], progress: Callable[[int], None] | None) -> None:
        self._stream = stream
        self._progress = progress
        self._buffer = b""

    def peek(self, size: int) -> bytes:
        while len(self._buffer) < size:
            chunk = self._stream.read(size - len(self._buffer))
            if not chunk:
                break
            self._buffer += chunk
        return self._buffer[:size]

    def read(self, size: int = -1) -> bytes:
        if self._buffer:
            data = self._buffer if size < 0 else self._buffer[:size]
            self._buffer = self._buffer[len(data) :]
        else:
            data = self._stream.read(size)
        if self._progress and data:
            self._progress(len(data))
        return data

    def __iter__(self) -> Iterator[bytes]:
        pending = b""
        while True:
            chunk = self.read(SNIFF_BYTES)
            if not chunk:
                break
            pending += chunk
            *lines, pending = pending.split(b"\n")
            yield from lines
        if pending:
            yield pending
