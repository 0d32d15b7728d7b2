"""Which properties a collection's features have, and their JSON types: the raw material of the
queryables (OGC API – Features Part 3 §6) and of the check that a filter names real properties.

Reading every feature's JSON takes seconds at a million features, so the types come from a
sample: the first and the last ``SAMPLE`` features by key (all of them in a smaller collection).
A name missing from the sample is looked up in the whole table before a filter using it is
refused. Both answers are kept until the collection changes (its ``change_seq``). Each database
supplies the three queries.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod

from opengeomesh.features.cql2_json import filterable_name
from opengeomesh.features.models import Collection

SAMPLE = 5_000  # features from each end of the table
MAX_LOOKUPS = 256  # names remembered per collection beyond the sample
ORDERS = ("ASC", "DESC")  # the only orders a sample is taken in (written into SQL)


class _Known:
    """What is known of one collection at one ``change_seq``."""

    def __init__(self, seq: int, types: dict[str, frozenset[str]]) -> None:
        self.seq = seq
        self.types = types
        self.looked_up: dict[str, bool] = {}


class PropertySampler(ABC):
    """Property names and JSON types of each collection (as SQLite's ``json_each`` names
    them: ``integer``, ``real``, ``text``, ``true``, ``false``, ``array``, ``object``;
    ``null`` values are left out)."""

    def __init__(self) -> None:
        self._known: dict[int, _Known] = {}
        self._lock = threading.Lock()

    @abstractmethod
    def change_seq(self, collection: Collection) -> int:
        """The collection's change number now (-1 when it is gone)."""

    @abstractmethod
    def sample(self, collection: Collection, order: str, limit: int | None) -> set[tuple[str, str]]:
        """(name, type) of the properties of the first (``ASC``) or last (``DESC``) ``limit``
        features by key (all features for None)."""

    @abstractmethod
    def any_has(self, collection: Collection, name: str) -> bool:
        """Whether any feature has the property (null values count)."""

    def types(self, collection: Collection) -> dict[str, frozenset[str]]:
        return self._current(collection).types

    def has(self, collection: Collection, name: str) -> bool:
        """Whether any feature has the property (null values count)."""
        if not filterable_name(name):
            return False
        known = self._current(collection)
        if name in known.types:
            return True
        with self._lock:
            cached = known.looked_up.get(name)
        if cached is not None:
            return cached
        found = self.any_has(collection, name)
        with self._lock:
            if len(known.looked_up) < MAX_LOOKUPS:
                known.looked_up[name] = found
        return found

    def _current(self, collection: Collection) -> _Known:
        seq = self.change_seq(collection)
        with self._lock:
            known = self._known.get(collection.key)
        if known is not None and known.seq == seq:
            return known
        known = _Known(seq, self._sample(collection))
        with self._lock:
            self._known[collection.key] = known
        return known

    def _sample(self, collection: Collection) -> dict[str, frozenset[str]]:
        found: dict[str, set[str]] = {}
        whole = collection.feature_count <= 2 * SAMPLE
        for order in ORDERS[:1] if whole else ORDERS:
            for name, kind in self.sample(collection, order, None if whole else SAMPLE):
                found.setdefault(name, set()).add(kind)
        return {name: frozenset(kinds - {"null"}) for name, kinds in found.items()}
