"""What the features domain needs from storage; implemented in ``storage/``."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Protocol

from opengeomesh.features.models import (
    Access,
    Collection,
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
    def add_many(self, collection: Collection, features: Iterable[NewFeature]) -> int:
        """Add all features in one transaction: on any error nothing is added.

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


class DuplicateFeatureId(Exception):
    """A feature id is already used in the collection (or twice in one import)."""

    def __init__(self, feature_id: str, position: int) -> None:
        super().__init__(feature_id)
        self.feature_id = feature_id
        self.position = position
