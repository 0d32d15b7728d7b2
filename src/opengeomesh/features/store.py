"""What the features domain needs from storage; implemented in ``storage/``."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Protocol

from opengeomesh.features.models import (
    Access,
    ChangeAction,
    Collection,
    FeatureChange,
    Grant,
    ItemsPage,
    NewFeature,
    Permission,
    StoredFeature,
    SubjectKind,
)
from opengeomesh.features.query import ItemsQuery


class CollectionStore(Protocol):
    """Persistence of collections and their local grants."""

    def create(
        self,
        collection_id: str,
        *,
        title: str,
        description: str,
        owner_id: int,
        public: bool,
        temporal_property: str | None,
    ) -> Collection: ...
    def get(self, collection_id: str) -> Collection | None: ...
    def all(self) -> list[Collection]: ...
    def update(
        self, key: int, *, title: str | None, description: str | None, public: bool | None
    ) -> None: ...
    def delete(self, key: int) -> None: ...
    def grants(self, key: int) -> list[Grant]: ...
    def granted_access(self, user_id: int, group_ids: frozenset[int]) -> dict[int, Access]:
        """The best access that grants give these subjects, per collection key."""
        ...

    def set_grant(
        self, key: int, kind: SubjectKind, subject_id: int, permission: Permission
    ) -> None: ...
    def remove_grant(self, key: int, kind: SubjectKind, subject_id: int) -> bool: ...


class FeatureStore(Protocol):
    """Persistence and querying of the features of each collection."""

    def page(self, collection: Collection, query: ItemsQuery, *, count_limit: int) -> ItemsPage: ...
    def get(self, collection: Collection, feature_id: str) -> StoredFeature | None: ...
    def add_many(
        self,
        collection: Collection,
        features: Iterable[NewFeature],
        progress: Callable[[int], None] | None = None,
    ) -> int:
        """Add all features in one transaction: on any error nothing is added. ``progress``
        is told how many features were written so far, after each batch. An import takes
        one change number for all its features and records no changes: it is not in the
        change feed (its readers see the collection's ``change_seq`` move on without events).

        Raises :class:`DuplicateFeatureId` when an id is taken.
        """
        ...

    def scan(self, collection: Collection) -> Iterator[StoredFeature]: ...
    def property_types(self, collection: Collection) -> dict[str, frozenset[str]]:
        """Property names and the JSON types of their values (``integer``, ``real``, ``text``,
        ``true``, ``false``, ``array``, ``object``), from all features or a large sample."""
        ...

    def has_property(self, collection: Collection, name: str) -> bool:
        """Whether any feature has this property (asked for names missing from the sample)."""
        ...


class FeatureWriter(Protocol):
    """Single-feature writes (OGC API – Features Part 4), each atomic and recorded with its
    actor. ``expected`` is the version the caller saw; a different current version fails.

    Each write takes the collection's next change number (``change_seq`` + 1) as the feature's
    version and records a :class:`FeatureChange` with it and the feature as written, in the
    write's transaction. Change numbers must become visible to readers in ascending order (take
    the number under a lock on the collection held until the commit, as a row lock on
    ``collections`` does), since the change feed resumes after the highest number it saw."""

    def insert(self, collection: Collection, feature: NewFeature, actor: str) -> StoredFeature:
        """Add a feature (``DuplicateFeatureId`` if its id is taken)."""
        ...

    def replace(
        self,
        collection: Collection,
        feature_id: str,
        feature: NewFeature,
        *,
        expected: int | None,
        actor: str,
        action: ChangeAction,
    ) -> StoredFeature | None:
        """The new feature; None if it does not exist (``VersionMismatch`` if it changed)."""
        ...

    def update(
        self,
        collection: Collection,
        feature_id: str,
        change: Callable[[StoredFeature], NewFeature],
        *,
        expected: int | None,
        actor: str,
        action: ChangeAction = ChangeAction.UPDATE,
    ) -> StoredFeature | None:
        """Write ``change(current)`` in the transaction that reads ``current``."""
        ...

    def delete(
        self, collection: Collection, feature_id: str, *, expected: int | None, actor: str
    ) -> bool:
        """False if there was no such feature (``VersionMismatch`` if it changed)."""
        ...

    def changes(
        self, collection: Collection, *, limit: int, before: int | None
    ) -> list[tuple[int, FeatureChange]]:
        """Recorded changes, newest first, each with its sequence number."""
        ...

    def changes_since(self, collection: Collection, since: int, limit: int) -> list[FeatureChange]:
        """The change feed: at most ``limit`` recorded changes of the collection whose change
        number (``version``) is above ``since``, in ascending change number, each with the
        feature as written (``feature``; None for a delete). Imports are not included."""
        ...


class VersionMismatch(Exception):
    """The feature's version is not the one the writer expected."""


class DuplicateFeatureId(Exception):
    """A feature id is already used in the collection (or twice in one import)."""

    def __init__(self, feature_id: str, position: int) -> None:
        super().__init__(feature_id)
        self.feature_id = feature_id
        self.position = position
