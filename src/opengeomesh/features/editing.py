"""Editing features through the standard interface (OGC API – Features Part 4, draft 20-002r1):
create, replace, update (JSON Merge Patch, RFC 7396) and delete, with optimistic locking by
ETag (``If-Match``, RFC 9110 §13.1.1). Each write is atomic and recorded with its actor: a local
user, or the OCM address behind a share."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from opengeomesh.accounts.models import Caller
from opengeomesh.errors import Conflict, InvalidInput, NotFound, PreconditionFailed
from opengeomesh.features.catalog import Catalog
from opengeomesh.features.changes import ChangeHub
from opengeomesh.features.geojson import parse_feature
from opengeomesh.features.models import (
    Access,
    ChangeAction,
    Collection,
    FeatureChange,
    NewFeature,
    StoredFeature,
    etag_is_of,
    feature_etag,
)
from opengeomesh.features.store import (
    DuplicateFeatureId,
    FeatureStore,
    FeatureWriter,
    VersionMismatch,
)


def actor_of(caller: Caller) -> str:
    """Who a change is recorded for: the local user, or the OCM address behind a share."""
    if caller.share is not None:
        return f"{caller.share.recipient} (share {caller.share.share_id})"
    return caller.user.name if caller.user is not None else "anonymous"


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 JSON Merge Patch: objects merge member by member, ``null`` removes."""
    if not isinstance(patch, dict):
        return patch
    merged = dict(target) if isinstance(target, dict) else {}
    for name, value in patch.items():
        if value is None:
            merged.pop(name, None)
        else:
            merged[name] = merge_patch(merged.get(name), value)
    return merged


def as_geojson(feature: StoredFeature) -> dict[str, Any]:
    """A stored feature as a GeoJSON object."""
    return {
        "type": "Feature",
        "id": orjson.loads(feature.id) if feature.id_is_number else feature.id,
        "geometry": orjson.loads(feature.geometry_json) if feature.geometry_json else None,
        "properties": orjson.loads(feature.properties_json) if feature.properties_json else None,
    }


class Editing:
    """Writes to a collection's features by callers with write access. After each committed
    write the change hub wakes the collection's followers (the change feed)."""

    def __init__(
        self,
        catalog: Catalog,
        features: FeatureStore,
        writer: FeatureWriter,
        hub: ChangeHub | None = None,
    ) -> None:
        self._catalog = catalog
        self._features = features
        self._writer = writer
        self._hub = hub
        self.after_write: list[Callable[[Collection], None]] = []  # webhooks' layer.changed

    def _changed(self, collection: Collection) -> None:
        if self._hub is not None:
            self._hub.wake(collection.key)
        for listener in self.after_write:
            listener(collection)

    def allowed(self, caller: Caller, collection_id: str, *, item: bool) -> list[str]:
        """The methods the caller may use now on the items (or one item) of a collection,
        for ``OPTIONS`` and its ``Allow`` header (clients decide on editing from it)."""
        _, access = self._catalog.get(caller, collection_id)
        methods = ["GET", "HEAD", "OPTIONS"]
        if access >= Access.WRITE:
            methods += ["PUT", "PATCH", "DELETE"] if item else ["POST"]
        return methods

    def create(
        self, caller: Caller, collection_id: str, body: Any
    ) -> tuple[Collection, StoredFeature]:
        """Add a feature; it keeps the id it brings if that is free, else gets a new one."""
        collection = self._catalog.require(caller, collection_id, Access.WRITE)
        feature = parse_feature(body, temporal_property=collection.temporal_property)
        try:
            written = self._writer.insert(collection, feature, actor_of(caller))
        except DuplicateFeatureId as exc:
            raise Conflict(
                f"collection {collection_id!r} has a feature {exc.feature_id!r}"
            ) from None
        self._changed(collection)
        return collection, written

    def replace(
        self, caller: Caller, collection_id: str, feature_id: str, body: Any, if_match: str | None
    ) -> tuple[Collection, StoredFeature]:
        """Replace a feature whole (PUT); its id cannot change."""
        collection = self._catalog.require(caller, collection_id, Access.WRITE)
        current = self._current(collection, feature_id, if_match)
        feature = parse_feature(body, temporal_property=collection.temporal_property)
        if feature.id is not None and feature.id != feature_id:
            raise InvalidInput("id", f"the id cannot change ({feature_id!r} in the path)")
        return collection, self._write(
            caller, collection, current, feature, ChangeAction.REPLACE, check=if_match is not None
        )

    def update(
        self, caller: Caller, collection_id: str, feature_id: str, patch: Any, if_match: str | None
    ) -> tuple[Collection, StoredFeature]:
        """Change parts of a feature with a JSON Merge Patch (PATCH); the merge happens in the
        write's own transaction, so it never undoes a write that came in between."""
        collection = self._catalog.require(caller, collection_id, Access.WRITE)
        if not isinstance(patch, dict):
            raise InvalidInput("body", "a JSON Merge Patch is a JSON object")
        seen = self._current(collection, feature_id, if_match)

        def merged(current: StoredFeature) -> NewFeature:
            result = merge_patch(as_geojson(current), patch)
            if "geometry" in patch:  # a geometry is replaced whole, never member by member
                result["geometry"] = patch["geometry"]
            if str(result.get("id")) != current.id:
                raise InvalidInput("id", f"the id cannot change ({feature_id!r})")
            result["type"] = "Feature"
            result.setdefault("geometry", None)
            return parse_feature(result, temporal_property=collection.temporal_property)

        try:
            written = self._writer.update(
                collection,
                feature_id,
                merged,
                expected=seen.version if if_match is not None else None,
                actor=actor_of(caller),
            )
        except VersionMismatch:
            raise PreconditionFailed(f"feature {feature_id!r} was changed meanwhile") from None
        if written is not None:
            self._changed(collection)
        return collection, self._found(collection, feature_id, written, if_match)

    def delete(
        self, caller: Caller, collection_id: str, feature_id: str, if_match: str | None
    ) -> None:
        collection = self._catalog.require(caller, collection_id, Access.WRITE)
        current = self._current(collection, feature_id, if_match)
        expected = current.version if if_match is not None else None
        try:
            deleted = self._writer.delete(
                collection, feature_id, expected=expected, actor=actor_of(caller)
            )
        except VersionMismatch:
            raise PreconditionFailed(f"feature {feature_id!r} was changed meanwhile") from None
        if not deleted:
            self._found(collection, feature_id, None, if_match)
        self._changed(collection)

    def changes(
        self, caller: Caller, collection_id: str, *, limit: int = 100, before: int | None = None
    ) -> list[tuple[int, FeatureChange]]:
        """The record of changes, newest first (the collection's owner and operators)."""
        collection = self._catalog.require(caller, collection_id, Access.MANAGE)
        if not 1 <= limit <= 1000:
            raise InvalidInput("limit", "1 to 1000")
        return self._writer.changes(collection, limit=limit, before=before)

    def _current(
        self, collection: Collection, feature_id: str, if_match: str | None
    ) -> StoredFeature:
        """The feature now; refused if it is missing, or ``If-Match`` names another version
        (a missing feature with ``If-Match`` is a failed precondition, never a creation)."""
        current = self._features.get(collection, feature_id)
        if current is None:
            if if_match is not None:
                raise PreconditionFailed(f"there is no feature {feature_id!r} to match")
            raise NotFound(f"collection {collection.id!r} has no feature {feature_id!r}")
        if if_match is not None and not _matches(if_match, collection, current):
            raise PreconditionFailed(
                f"feature {feature_id!r} has changed since: its ETag is"
                f" {feature_etag(collection, current)}"
            )
        return current

    def _write(
        self,
        caller: Caller,
        collection: Collection,
        current: StoredFeature,
        feature: NewFeature,
        action: ChangeAction,
        *,
        check: bool,
    ) -> StoredFeature:
        """Store the new state; with ``check``, only over the version ``current`` has."""
        try:
            written = self._writer.replace(
                collection,
                current.id,
                feature,
                expected=current.version if check else None,
                actor=actor_of(caller),
                action=action,
            )
        except VersionMismatch:
            raise PreconditionFailed(f"feature {current.id!r} was changed meanwhile") from None
        if written is not None:
            self._changed(collection)
        return self._found(collection, current.id, written, "*" if check else None)

    @staticmethod
    def _found(
        collection: Collection,
        feature_id: str,
        written: StoredFeature | None,
        if_match: str | None,
    ) -> StoredFeature:
        """The written feature; if it vanished meanwhile, a failed precondition for a
        conditional write (RFC 9110 §13.1.1), else not found."""
        if written is not None:
            return written
        if if_match is not None:
            raise PreconditionFailed(f"feature {feature_id!r} was deleted meanwhile")
        raise NotFound(f"collection {collection.id!r} has no feature {feature_id!r}")


def _matches(header: str, collection: Collection, feature: StoredFeature) -> bool:
    """Whether an ``If-Match`` header is ``*`` or lists an ETag of the feature's current
    version (strong comparison, RFC 9110 §13.1.1)."""
    tags = {tag.strip() for tag in header.split(",") if tag.strip()}
    return "*" in tags or any(etag_is_of(tag, collection, feature) for tag in tags)
