"""Which properties a collection's features have, and their JSON types: the raw material of the
queryables (OGC API – Features Part 3 §6) and of the check that a filter names real properties.

Reading every feature's JSON takes seconds at a million features, so the types come from a
sample: the first and the last ``SAMPLE`` features by key (all of them in a smaller collection).
A name missing from the sample is looked up in the whole table before a filter using it is
refused. Both answers are kept until the collection changes (its ``change_seq``).
"""

from __future__ import annotations

import threading

from opengeomesh.features.cql2_json import filterable_name
from opengeomesh.features.models import Collection
from opengeomesh.storage.sqlite.database import Database

SAMPLE = 5_000  # features from each end of the table
MAX_LOOKUPS = 256  # names remembered per collection beyond the sample

_TYPES = (
    "SELECT j.key, j.type FROM (SELECT properties FROM {table} ORDER BY fid {order} LIMIT ?) s,"
    " json_each(s.properties) j WHERE json_type(s.properties) = 'object' GROUP BY 1, 2"
)


class _Known:
    """What is known of one collection at one ``change_seq``."""

    def __init__(self, seq: int, types: dict[str, frozenset[str]]) -> None:
        self.seq = seq
        self.types = types
        self.looked_up: dict[str, bool] = {}


class PropertySampler:
    """Property names and JSON types of each collection (SQLite ``json_each`` types:
    ``integer``, ``real``, ``text``, ``true``, ``false``, ``array``, ``object``; ``null``
    values are left out)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._known: dict[int, _Known] = {}
        self._lock = threading.Lock()

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
        table = f"features_{int(collection.key)}"
        row = (
            self._db.connection()
            .execute(
                f"SELECT 1 FROM {table} WHERE json_type(properties, ?) IS NOT NULL LIMIT 1",
                (f'$."{name}"',),
            )
            .fetchone()
        )
        with self._lock:
            if len(known.looked_up) < MAX_LOOKUPS:
                known.looked_up[name] = row is not None
        return row is not None

    def _current(self, collection: Collection) -> _Known:
        conn = self._db.connection()
        row = conn.execute(
            "SELECT change_seq FROM collections WHERE key = ?", (collection.key,)
        ).fetchone()
        seq = -1 if row is None else int(row[0])
        with self._lock:
            known = self._known.get(collection.key)
        if known is not None and known.seq == seq:
            return known
        known = _Known(seq, self._sample(collection))
        with self._lock:
            self._known[collection.key] = known
        return known

    def _sample(self, collection: Collection) -> dict[str, frozenset[str]]:
        table = f"features_{int(collection.key)}"
        found: dict[str, set[str]] = {}
        conn = self._db.connection()
        whole = collection.feature_count <= 2 * SAMPLE
        for order in ("ASC",) if whole else ("ASC", "DESC"):
            sql = _TYPES.format(table=table, order=order)
            for name, kind in conn.execute(sql, (-1 if whole else SAMPLE,)):
                found.setdefault(name, set()).add(kind)
        return {name: frozenset(kinds - {"null"}) for name, kinds in found.items()}
