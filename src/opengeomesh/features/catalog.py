"""The collection gestures and the access rule enforced on every request.

Access: operators and the owner manage a collection; local grants give read or write to a user
or a group; a public collection is readable by anyone. A collection the caller may not read is
reported as not found, so its existence does not leak; an anonymous caller is asked to sign in
instead (401), since they might be allowed once known.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import IO

from opengeomesh.accounts.directory import AccountDirectory, require_user
from opengeomesh.accounts.models import Caller
from opengeomesh.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthenticated
from opengeomesh.features.filtering import check_properties
from opengeomesh.features.importing import FeatureReader, SourceFormat, staged
from opengeomesh.features.models import (
    Access,
    Collection,
    Grant,
    ItemsPage,
    Permission,
    StoredFeature,
    SubjectKind,
    check_collection_id,
)
from opengeomesh.features.query import ItemsQuery
from opengeomesh.features.store import CollectionStore, DuplicateFeatureId, FeatureStore

MAX_TITLE = 200
MAX_DESCRIPTION = 4000


class Catalog:
    """Collections of this server as each caller may see and change them."""

    def __init__(
        self,
        collections: CollectionStore,
        features: FeatureStore,
        accounts: AccountDirectory,
        *,
        count_limit: int = 100_000,
    ) -> None:
        self._collections = collections
        self._features = features
        self._accounts = accounts
        self._count_limit = count_limit
        self._before_delete: list[Callable[[int], None]] = []
        self._after_access_change: list[Callable[[int], None]] = []
        self._after_import: list[Callable[[Collection], None]] = []
        self._elsewhere: Callable[[str], str | None] = lambda _: None

    def features_elsewhere(self, where: Callable[[str], str | None]) -> None:
        """``where(collection_id)`` names the server a collection's features live on (an
        upstream), or None: such a collection's features are not imported or exported here."""
        self._elsewhere = where

    def _local_features(self, collection: Collection) -> None:
        where = self._elsewhere(collection.id)
        if where is not None:
            raise Conflict(f"the features of {collection.id!r} live on {where}, not here")

    def after_access_change(self, listener: Callable[[int], None]) -> None:
        """Call ``listener`` with a collection's key after who may read or change it changed
        (grants, public reading), so shares stay within what their senders still hold."""
        self._after_access_change.append(listener)

    def _access_changed(self, key: int) -> None:
        for listener in self._after_access_change:
            listener(key)

    def after_import(self, listener: Callable[[Collection], None]) -> None:
        """Call ``listener`` with a collection after features were imported into it."""
        self._after_import.append(listener)

    def before_delete(self, listener: Callable[[int], None]) -> None:
        """Call ``listener`` with a collection's key before the collection is deleted (so
        that shares of it are revoked and their recipients told)."""
        self._before_delete.append(listener)

    # --- access -----------------------------------------------------------------------------

    def access(self, caller: Caller, collection: Collection) -> Access:
        """What ``caller`` may do with ``collection``."""
        return _access(caller, collection, self._granted(caller))

    def visible(self, caller: Caller) -> list[tuple[Collection, Access]]:
        """Every collection the caller may read, with their access, in id order."""
        given = self._granted(caller)
        entries = ((c, _access(caller, c, given)) for c in self._collections.all())
        return [(c, access) for c, access in entries if access >= Access.READ]

    def _granted(self, caller: Caller) -> dict[int, Access]:
        """The access local grants give the caller, per collection key (operators need none)."""
        if caller.user is None or caller.is_admin:
            return {}
        return self._collections.granted_access(caller.user.id, caller.group_ids)

    def require(self, caller: Caller, collection_id: str, needed: Access) -> Collection:
        """The collection, if the caller has ``needed`` access; else the right refusal."""
        collection = self._collections.get(collection_id)
        access = Access.NONE if collection is None else self.access(caller, collection)
        if caller.is_anonymous and (collection is None or access < needed):
            raise Unauthenticated("this needs a bearer token")
        if collection is None or access < Access.READ:
            raise NotFound(f"no collection {collection_id!r}")
        if access < needed:
            if needed is Access.WRITE:
                raise Forbidden(f"you may read but not change collection {collection_id!r}")
            raise Forbidden(f"only the owner or an operator may manage {collection_id!r}")
        return collection

    # --- collection gestures ------------------------------------------------------------------

    def create(
        self,
        caller: Caller,
        collection_id: str,
        *,
        title: str = "",
        description: str = "",
        public: bool = False,
        temporal_property: str | None = None,
    ) -> Collection:
        owner = require_user(caller)
        check_collection_id(collection_id)
        _check_text("title", title, MAX_TITLE)
        _check_text("description", description, MAX_DESCRIPTION)
        if temporal_property is not None and not 0 < len(temporal_property) <= 100:
            raise InvalidInput("temporal_property", "must be 1-100 characters")
        if self._collections.get(collection_id) is not None:
            raise Conflict(f"collection {collection_id!r} exists already")
        return self._collections.create(
            collection_id,
            title=title or collection_id,
            description=description,
            owner_id=owner.id,
            public=public,
            temporal_property=temporal_property,
        )

    def update(
        self,
        caller: Caller,
        collection_id: str,
        *,
        title: str | None = None,
        description: str | None = None,
        public: bool | None = None,
    ) -> Collection:
        collection = self.require(caller, collection_id, Access.MANAGE)
        if title is not None:
            _check_text("title", title, MAX_TITLE)
        if description is not None:
            _check_text("description", description, MAX_DESCRIPTION)
        self._collections.update(
            collection.key, title=title or None, description=description, public=public
        )
        if public is not None and public != collection.public:
            self._access_changed(collection.key)
        return self._reload(collection_id)

    def delete(self, caller: Caller, collection_id: str) -> None:
        collection = self.require(caller, collection_id, Access.MANAGE)
        for listener in self._before_delete:
            listener(collection.key)
        self._collections.delete(collection.key)

    def get(self, caller: Caller, collection_id: str) -> tuple[Collection, Access]:
        collection = self.require(caller, collection_id, Access.READ)
        return collection, self.access(caller, collection)

    # --- grants -------------------------------------------------------------------------------

    def grants(self, caller: Caller, collection_id: str) -> list[Grant]:
        collection = self.require(caller, collection_id, Access.MANAGE)
        return self._collections.grants(collection.key)

    def grant(
        self, caller: Caller, collection_id: str, subject: str, permission: str
    ) -> list[Grant]:
        """Give a user or group (``user:NAME`` or ``group:NAME``) read or write access."""
        collection = self.require(caller, collection_id, Access.MANAGE)
        try:
            chosen = Permission(permission)
        except ValueError:
            raise InvalidInput("permission", "must be 'read' or 'write'") from None
        kind, subject_id = self._subject(subject)
        self._collections.set_grant(collection.key, kind, subject_id, chosen)
        self._access_changed(collection.key)
        return self._collections.grants(collection.key)

    def ungrant(self, caller: Caller, collection_id: str, subject: str) -> list[Grant]:
        collection = self.require(caller, collection_id, Access.MANAGE)
        kind, subject_id = self._subject(subject)
        if not self._collections.remove_grant(collection.key, kind, subject_id):
            raise NotFound(f"{subject} holds no grant on {collection_id!r}")
        self._access_changed(collection.key)
        return self._collections.grants(collection.key)

    def _subject(self, subject: str) -> tuple[SubjectKind, int]:
        kind_text, sep, name = subject.partition(":")
        if not sep or kind_text not in ("user", "group"):
            raise InvalidInput("subject", "must be 'user:NAME' or 'group:NAME'")
        if kind_text == "user":
            return SubjectKind.USER, self._accounts.user(name).id
        return SubjectKind.GROUP, self._accounts.group(name).id

    # --- features -----------------------------------------------------------------------------

    def items(
        self, caller: Caller, collection_id: str, query: ItemsQuery
    ) -> tuple[Collection, ItemsPage]:
        collection = self.require(caller, collection_id, Access.READ)
        if query.filter is not None:
            check_properties(query.filter, lambda name: self._queryable(collection, name))
        page = self._features.page(collection, query, count_limit=self._count_limit)
        return collection, page

    def queryables(
        self, caller: Caller, collection_id: str
    ) -> tuple[Collection, dict[str, frozenset[str]]]:
        """The collection and its properties' JSON types, for its queryables (Part 3)."""
        collection = self.require(caller, collection_id, Access.READ)
        return collection, self._features.property_types(collection)

    def _queryable(self, collection: Collection, name: str) -> bool:
        if name == collection.temporal_property:
            return True
        return self._features.has_property(collection, name)

    def item(
        self, caller: Caller, collection_id: str, feature_id: str
    ) -> tuple[Collection, StoredFeature]:
        collection = self.require(caller, collection_id, Access.READ)
        feature = self._features.get(collection, feature_id)
        if feature is None:
            raise NotFound(f"collection {collection_id!r} has no feature {feature_id!r}")
        return collection, feature

    def import_features(
        self,
        caller: Caller,
        collection_id: str,
        stream: IO[bytes],
        source_format: SourceFormat | None = None,
        progress: Callable[[int], None] | None = None,
        stored: Callable[[int, int], None] | None = None,
    ) -> int:
        """Add every feature of a GeoJSON or newline-delimited source, all or nothing.
        ``progress`` is told how many bytes were read as the source is read and checked;
        ``stored`` how many features of how many were written, as they are written."""
        collection = self.require(caller, collection_id, Access.WRITE)
        self._local_features(collection)
        reader = FeatureReader(
            stream,
            source_format,
            temporal_property=collection.temporal_property,
            progress=progress,
        )
        try:
            with staged(reader) as checked:
                written = None if stored is None else _written(stored, checked.count)
                added = self._features.add_many(collection, checked, written)
        except DuplicateFeatureId as exc:
            raise InvalidInput(
                f"features[{exc.position}].id",
                f"{exc.feature_id!r} is used by another feature of the collection",
            ) from None
        for listener in self._after_import:
            listener(collection)
        return added

    def export(
        self, caller: Caller, collection_id: str
    ) -> tuple[Collection, Iterator[StoredFeature]]:
        collection = self.require(caller, collection_id, Access.READ)
        self._local_features(collection)
        return collection, self._features.scan(collection)

    def collection_by_key(self, key: int) -> Collection | None:
        """A collection as stored, without access checks (for messages about it)."""
        return next((c for c in self._collections.all() if c.key == key), None)

    def _reload(self, collection_id: str) -> Collection:
        collection = self._collections.get(collection_id)
        if collection is None:
            raise NotFound(f"no collection {collection_id!r}")
        return collection


def _access(caller: Caller, collection: Collection, given: dict[int, Access]) -> Access:
    """The access rule: a share's token opens its one collection and nothing else; operators
    and the owner manage; grants (``given``, by collection key) give read or write; a public
    collection is readable by anyone."""
    if caller.share is not None:
        if caller.share.collection_key != collection.key:
            return Access.NONE
        return Access.WRITE if caller.share.permission == "write" else Access.READ
    if caller.user is not None and (caller.is_admin or caller.user.id == collection.owner_id):
        return Access.MANAGE
    public = Access.READ if collection.public else Access.NONE
    return max(public, given.get(collection.key, Access.NONE))


def _written(stored: Callable[[int, int], None], total: int) -> Callable[[int], None]:
    """Tell ``stored`` that writing starts, and then how far it got."""
    stored(0, total)
    return lambda count: stored(count, total)


def _check_text(field: str, value: str, limit: int) -> None:
    if len(value) > limit:
        raise InvalidInput(field, f"at most {limit} characters")
    if any(ord(ch) < 32 and ch not in "\n\t" for ch in value):
        raise InvalidInput(field, "must not hold control characters")
