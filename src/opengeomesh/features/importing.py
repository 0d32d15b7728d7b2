"""Reading GeoJSON FeatureCollections and newline-delimited GeoJSON as a stream of features.

Large files are never held in memory: a FeatureCollection is parsed incrementally (ijson) and a
newline-delimited file line by line. Each feature is checked; the first bad one stops the import,
named by its index (0-based, in file order).
"""

from __future__ import annotations

import enum
import pickle
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import IO, Any

import ijson
import orjson

from opengeomesh.errors import InvalidInput
from opengeomesh.features.geojson import parse_feature
from opengeomesh.features.models import NewFeature

SNIFF_BYTES = 65536
BOM = b"\xef\xbb\xbf"


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
        if head.startswith(BOM):
            self._stream.read(len(BOM))
            head = head[len(BOM) :]
        if not head.strip():
            raise InvalidInput("file", "is empty: expected GeoJSON features")
        source_format = self._format or _inspect(head)
        objects = (
            self._lines() if source_format is SourceFormat.NEWLINE_DELIMITED else self._members()
        )
        for obj in objects:
            self.index += 1
            try:
                yield parse_feature(obj, temporal_property=self._temporal)
            except InvalidInput as exc:
                raise InvalidInput(f"features[{self.index}].{exc.field}", exc.reason) from None

    def _members(self) -> Iterator[Any]:
        try:
            yield from ijson.items(self._stream, "features.item", use_float=True)
        except ijson.JSONError as exc:
            raise InvalidInput(f"features[{self.index + 1}]", _json_problem(exc)) from None

    def _lines(self) -> Iterator[Any]:
        for line in self._stream:
            text = line.strip().lstrip(b"\x1e")
            if not text:
                continue
            try:
                yield orjson.loads(text)
            except orjson.JSONDecodeError as exc:
                raise InvalidInput(f"features[{self.index + 1}]", _json_problem(exc)) from None


def _json_problem(exc: Exception) -> str:
    """A one-line reason for a JSON parser's error."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if "overflow" in text.lower():
        return "numbers beyond 64 bits are not supported"
    return f"not valid JSON: {text[:200]}"


def _inspect(head: bytes) -> SourceFormat:
    """Tell newline-delimited features from one FeatureCollection by the first JSON value's
    top-level members, and refuse what is neither."""
    seen: dict[str, str] = {}
    try:
        for prefix, event, value in ijson.parse(head, multiple_values=True):
            if prefix == "" and event == "start_map":
                continue
            if prefix == "" and event != "map_key":
                if event != "end_map":
                    raise InvalidInput("file", "expected a GeoJSON FeatureCollection or features")
                break
            if prefix == "" or "." in prefix:
                continue
            if prefix not in seen:
                seen[prefix] = value if event == "string" else event
            if "type" in seen and ("features" in seen or seen["type"] != "FeatureCollection"):
                break
    except ijson.IncompleteJSONError:
        pass  # the head ends mid-file: judge by what was seen
    except ijson.JSONError as exc:
        raise InvalidInput("file", _json_problem(exc)) from None
    kind = seen.get("type")
    if kind == "Feature" or (kind is None and ("geometry" in seen or "properties" in seen)):
        return SourceFormat.NEWLINE_DELIMITED
    if kind not in (None, "FeatureCollection"):
        raise InvalidInput("type", f"must be FeatureCollection or Feature, not {kind!r}")
    if "features" not in seen:
        raise InvalidInput("features", "no features found: expected a GeoJSON FeatureCollection")
    if seen["features"] != "start_array":
        raise InvalidInput("features", "must be an array of features")
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
        """Lines, split as chunks arrive (a long line costs linear time, not quadratic)."""
        pending = bytearray()
        while chunk := self.read(SNIFF_BYTES):
            start = 0
            while (end := chunk.find(b"\n", start)) >= 0:
                pending += chunk[start:end]
                yield bytes(pending)
                pending.clear()
                start = end + 1
            pending += chunk[start:]
        if pending:
            yield bytes(pending)


class Staged:
    """Checked features spooled to a temporary file: how many, and the features again. The
    spool holds plain tuples: pickling a slotted dataclass calls ``dataclasses.fields`` for
    every object (about a second per 100,000 features each way)."""

    def __init__(self, spool: IO[bytes], count: int) -> None:
        self._spool = spool
        self.count = count

    def __iter__(self) -> Iterator[NewFeature]:
        self._spool.seek(0)
        while True:
            try:
                loaded: list[tuple[Any, ...]] = pickle.load(self._spool)
            except EOFError:
                return
            for values in loaded:
                yield NewFeature(*values)


@contextmanager
def staged(features: Iterable[NewFeature], batch: int = 5000) -> Iterator[Staged]:
    """Read and check every feature first, into a temporary file of our own, so that the
    database is locked only while checked features are written, not while a file is parsed."""
    with tempfile.TemporaryFile() as spool:
        chunk: list[tuple[Any, ...]] = []
        count = 0
        for feature in features:
            chunk.append(_values(feature))
            count += 1
            if len(chunk) >= batch:
                pickle.dump(chunk, spool, protocol=pickle.HIGHEST_PROTOCOL)
                chunk = []
        if chunk:
            pickle.dump(chunk, spool, protocol=pickle.HIGHEST_PROTOCOL)
        yield Staged(spool, count)


def _values(f: NewFeature) -> tuple[Any, ...]:
    """A feature's fields in their order: ``NewFeature(*values)`` makes it again."""
    return (f.id, f.id_is_number, f.geometry_json, f.wkb, f.bbox, f.properties_json, f.t0, f.t1)
