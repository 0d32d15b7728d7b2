"""Collections (map layers), their access grants, and features as they are stored and served."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import datetime

from opengeomesh.errors import InvalidInput

COLLECTION_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MOUNT_ID_PATTERN = re.compile(r"^ocm-[0-9]+$")  # reserved for shares mounted from other servers

BBox = tuple[float, float, float, float]


def check_collection_id(value: str) -> str:
    """Collection ids appear in URLs and OCM shares: letters, digits, ``.``, ``_``, ``-``."""
    if not COLLECTION_ID_PATTERN.match(value):
        raise InvalidInput(
            "id",
            f"{value!r} is not a valid collection id: use 1-64 letters, digits, '.', '_' or '-',"
            " starting with a letter or digit",
        )
    if MOUNT_ID_PATTERN.match(value):
        raise InvalidInput(
            "id", f"{value!r} looks like a mounted share's id (ocm-N): choose another"
        )
    return value


class Access(enum.IntEnum):
    """What a caller may do with a collection, each level including the ones below."""

    NONE = 0
    READ = 1
    WRITE = 2
    MANAGE = 3  # the owner and operators: grants, settings, delete


class Permission(enum.StrEnum):
    """A grant's permission."""

    READ = "read"
    WRITE = "write"


class SubjectKind(enum.StrEnum):
    """Who a local grant is for."""

    USER = "user"
    GROUP = "group"


@dataclass(frozen=True, slots=True)
class Grant:
    """A local grant of read or write on one collection to a user or a group."""

    kind: SubjectKind
    subject_id: int
    subject_name: str
    permission: Permission

    @property
    def subject(self) -> str:
        return f"{self.kind}:{self.subject_name}"


@dataclass(frozen=True, slots=True)
class Collection:
    """A map layer: a named set of features with an owner, grants and an extent."""

    key: int
    id: str
    title: str
    description: str
    owner_id: int
    owner_name: str
    public: bool
    temporal_property: str | None
    bbox: BBox | None
    interval: tuple[datetime | None, datetime | None] | None
    feature_count: int
    created: datetime
    updated: datetime
    change_seq: int = 0  # the number of the collection's last change (write or import)


@dataclass(frozen=True, slots=True)
class NewFeature:
    """A validated feature ready to store; geometry and properties are compact JSON text."""

    id: str | None
    id_is_number: bool
    geometry_json: str | None
    wkb: bytes | None
    bbox: BBox | None
    properties_json: str | None
    t0: float | None
    t1: float | None


@dataclass(frozen=True, slots=True)
class StoredFeature:
    """A feature as read back: JSON text fragments, so pages are assembled without re-parsing."""

    id: str
    id_is_number: bool
    geometry_json: str | None
    properties_json: str | None
    version: int
    key: int


class ChangeAction(enum.StrEnum):
    """What a write did to a feature (OGC API – Features Part 4)."""

    CREATE = "create"
    REPLACE = "replace"
    UPDATE = "update"
    DELETE = "delete"


@dataclass(frozen=True, slots=True)
class FeatureChange:
    """One recorded change: who changed which feature how, when, giving which version.

    ``version`` is the collection's change number of this write: unique in the collection,
    and the order of the change feed. ``feature`` is the feature as written (GeoJSON text:
    ``type``, ``id``, ``geometry``, ``properties``), None for a delete or where not read."""

    feature_id: str
    action: ChangeAction
    actor: str
    at: datetime
    version: int
    feature: str | None = None


def feature_etag(collection: Collection, feature: StoredFeature, *, variant: str = "") -> str:
    """A strong ETag (RFC 9110 §8.8.3) for one representation (``variant``: format, CRS) of
    one version of a feature; collection keys are never reused, so a re-created feature gets
    a new tag."""
    suffix = f"-{variant}" if variant else ""
    return f'"{collection.key}-{feature.key}-{feature.version}{suffix}"'


def etag_is_of(tag: str, collection: Collection, feature: StoredFeature) -> bool:
    """Whether ``tag`` is the ETag of any representation of this version of the feature (an
    editor may have read it in another CRS)."""
    core = f'"{collection.key}-{feature.key}-{feature.version}'
    return tag == f'{core}"' or (tag.startswith(f"{core}-") and tag.endswith('"'))


@dataclass(frozen=True, slots=True)
class ItemsPage:
    """One page of an items query, with what is needed to link to its neighbours."""

    features: list[StoredFeature]
    number_matched: int | None
    next_cursor: str | None
    prev_cursor: str | None
    prev_offset: int | None
