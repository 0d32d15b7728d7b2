"""The JSON management API: every operator and user gesture of the CLI, over HTTP.

Request and response bodies are pydantic models, so the OpenAPI document describes them.
"""

from __future__ import annotations

import tempfile
from datetime import datetime
from typing import Annotated, Literal

from fastapi import Path, Query, Request
from pydantic import BaseModel, Field
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool
from starlette.responses import Response, StreamingResponse

from opengeomesh.accounts.directory import require_admin, require_self_or_admin, require_user
from opengeomesh.accounts.models import NAME_PATTERN, ApiToken, Group, User
from opengeomesh.api.auth import CurrentCaller, services_of
from opengeomesh.api.bodies import Body
from opengeomesh.errors import PayloadTooLarge
from opengeomesh.features.encoding import geojson_chunks
from opengeomesh.features.importing import format_for
from opengeomesh.features.models import COLLECTION_ID_PATTERN, Access, Collection, Grant

# --- bodies --------------------------------------------------------------------------------


class UserIn(Body):
    name: str = Field(
        pattern=NAME_PATTERN.pattern, description="Login name: lower case letters, digits, . _ -"
    )
    display_name: str = Field("", max_length=200)
    email: str = Field(
        "",
        max_length=254,
        pattern=r"^$|^[^@\s]+@[^@\s]+$",
        description="Sent to contacts met through invites",
    )
    admin: bool = Field(False, description="Operator (admin) role")


class UserOut(BaseModel):
    name: str
    display_name: str
    email: str
    admin: bool
    created: datetime


class MeOut(UserOut):
    groups: list[str]


class TokenIn(Body):
    label: str = Field("", max_length=100, description="What the token is for")


class TokenOut(BaseModel):
    id: int
    user: str
    label: str
    created: datetime


class NewTokenOut(TokenOut):
    token: str = Field(description="The token itself: shown this once, stored only as a hash")


class GroupIn(Body):
    name: str = Field(pattern=NAME_PATTERN.pattern)


class GroupOut(BaseModel):
    name: str
    members: list[str]


class MemberIn(Body):
    user: str = Field(pattern=NAME_PATTERN.pattern)


class CollectionIn(Body):
    id: str = Field(pattern=COLLECTION_ID_PATTERN.pattern, description="Collection id, in URLs")
    title: str = Field("", max_length=200)
    description: str = Field("", max_length=4000)
    public: bool = Field(False, description="Anyone may read it, without a token")
    temporal_property: str | None = Field(
        None,
        min_length=1,
        max_length=100,
        description="Feature property holding the time used by the datetime parameter",
    )


class CollectionPatch(Body):
    title: str | None = Field(None, max_length=200)
    description: str | None = Field(None, max_length=4000)
    public: bool | None = None


class CollectionOut(BaseModel):
    id: str
    title: str
    description: str
    owner: str
    public: bool
    temporal_property: str | None
    features: int
    access: str = Field(description="Your access: read, write or manage")
    created: datetime
    updated: datetime


class GrantIn(Body):
    subject: str = Field(pattern=r"^(user|group):[a-z0-9][a-z0-9._-]{0,63}$")
    permission: Literal["read", "write"]


class GrantOut(BaseModel):
    subject: str
    permission: str


class ChangeOut(BaseModel):
    seq: int = Field(description="Its number; pass it as before= for older changes")
    feature_id: str
    action: Literal["create", "replace", "update", "delete"]
    actor: str = Field(description="A local user, or the OCM address behind a share")
    at: datetime
    version: int


class ImportOut(BaseModel):
    collection: str
    imported: int


def _user(user: User) -> UserOut:
    return UserOut(
        name=user.name,
        display_name=user.display_name,
        email=user.email,
        admin=user.is_admin,
        created=user.created,
    )


def _token(token: ApiToken) -> TokenOut:
    return TokenOut(id=token.id, user=token.user_name, label=token.label, created=token.created)


def _group(group: Group) -> GroupOut:
    return GroupOut(name=group.name, members=list(group.members))


def _collection(found: Collection, access: Access) -> CollectionOut:
    return CollectionOut(
        id=found.id,
        title=found.title,
        description=found.description,
        owner=found.owner_name,
        public=found.public,
        temporal_property=found.temporal_property,
        features=found.feature_count,
        access=access.name.lower(),
        created=found.created,
        updated=found.updated,
    )


def _grants(grants: list[Grant]) -> list[GrantOut]:
    return [GrantOut(subject=g.subject, permission=g.permission.value) for g in grants]


# --- accounts ------------------------------------------------------------------------------


def me(request: Request, caller: CurrentCaller) -> MeOut:
    """The signed-in user."""
    user = require_user(caller)
    groups = [g.name for g in services_of(request).accounts.groups() if user.name in g.members]
    return MeOut(**_user(user).model_dump(), groups=groups)


def list_users(request: Request, caller: CurrentCaller) -> list[UserOut]:
    """Every user (operators only)."""
    require_admin(caller)
    return [_user(u) for u in services_of(request).accounts.users()]


def add_user(body: UserIn, request: Request, caller: CurrentCaller) -> UserOut:
    """Add a user (operators only)."""
    require_admin(caller)
    accounts = services_of(request).accounts
    added = accounts.add_user(body.name, body.display_name, admin=body.admin, email=body.email)
    return _user(added)


def list_tokens(name: str, request: Request, caller: CurrentCaller) -> list[TokenOut]:
    """A user's personal tokens (never the tokens themselves)."""
    require_self_or_admin(caller, name)
    return [_token(t) for t in services_of(request).accounts.tokens(name)]


def create_token(name: str, body: TokenIn, request: Request, caller: CurrentCaller) -> NewTokenOut:
    """Issue a personal token; the answer is the only time it is shown."""
    require_self_or_admin(caller, name)
    issued = services_of(request).accounts.create_token(name, body.label)
    return NewTokenOut(**_token(issued.record).model_dump(), token=issued.secret)


def delete_token(
    name: str,
    token_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    request: Request,
    caller: CurrentCaller,
) -> Response:
    """Withdraw a personal token; it stops working at once."""
    require_self_or_admin(caller, name)
    services_of(request).accounts.delete_token(name, token_id)
    return Response(status_code=204)


def list_groups(request: Request, caller: CurrentCaller) -> list[GroupOut]:
    """Every group with its members (operators only)."""
    require_admin(caller)
    return [_group(g) for g in services_of(request).accounts.groups()]


def add_group(body: GroupIn, request: Request, caller: CurrentCaller) -> GroupOut:
    """Add a group (operators only)."""
    require_admin(caller)
    return _group(services_of(request).accounts.add_group(body.name))


def add_member(name: str, body: MemberIn, request: Request, caller: CurrentCaller) -> GroupOut:
    """Add a user to a group (operators only)."""
    require_admin(caller)
    return _group(services_of(request).accounts.add_member(name, body.user))


# --- collections ---------------------------------------------------------------------------


def list_collections(request: Request, caller: CurrentCaller) -> list[CollectionOut]:
    """The collections you may read, with your access to each."""
    require_user(caller)
    return [_collection(c, a) for c, a in services_of(request).catalog.visible(caller)]


def create_collection(body: CollectionIn, request: Request, caller: CurrentCaller) -> CollectionOut:
    """Create an empty collection owned by you."""
    created = services_of(request).catalog.create(
        caller,
        body.id,
        title=body.title,
        description=body.description,
        public=body.public,
        temporal_property=body.temporal_property,
    )
    return _collection(created, Access.MANAGE)


def get_collection(collection_id: str, request: Request, caller: CurrentCaller) -> CollectionOut:
    """One collection's settings."""
    require_user(caller)
    return _collection(*services_of(request).catalog.get(caller, collection_id))


def update_collection(
    collection_id: str,
    body: CollectionPatch,
    request: Request,
    caller: CurrentCaller,
) -> CollectionOut:
    """Change title, description or public reading (owner or operator)."""
    catalog = services_of(request).catalog
    updated = catalog.update(
        caller, collection_id, title=body.title, description=body.description, public=body.public
    )
    return _collection(updated, Access.MANAGE)


def delete_collection(collection_id: str, request: Request, caller: CurrentCaller) -> Response:
    """Delete a collection and all its features (owner or operator)."""
    services_of(request).catalog.delete(caller, collection_id)
    return Response(status_code=204)


async def import_features(collection_id: str, request: Request, caller: CurrentCaller) -> ImportOut:
    """Add the features of a GeoJSON FeatureCollection or newline-delimited GeoJSON body.

    All or nothing: a bad feature is named by its index and nothing is added.
    """
    services = services_of(request)
    services.catalog.require(caller, collection_id, Access.WRITE)
    limit = services.settings.max_import_bytes
    with tempfile.TemporaryFile() as spool:
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"the body is over the import limit of {limit} bytes")
            spool.write(chunk)
        spool.seek(0)
        source_format = format_for(media_type=request.headers.get("content-type"))
        count = await run_in_threadpool(
            services.catalog.import_features, caller, collection_id, spool, source_format
        )
    return ImportOut(collection=collection_id, imported=count)


def export_features(
    collection_id: str, request: Request, caller: CurrentCaller
) -> StreamingResponse:
    """All features of a collection as one GeoJSON FeatureCollection, streamed."""
    require_user(caller)
    _, features = services_of(request).catalog.export(caller, collection_id)
    return StreamingResponse(
        iterate_in_threadpool(geojson_chunks(features)),
        media_type="application/geo+json",
        headers={"Content-Disposition": f'attachment; filename="{collection_id}.geojson"'},
    )


def list_changes(
    collection_id: str,
    request: Request,
    caller: CurrentCaller,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
) -> list[ChangeOut]:
    """Who changed which feature of a collection, newest first (owner or operator)."""
    changes = services_of(request).editing.changes(
        caller, collection_id, limit=limit, before=before
    )
    return [
        ChangeOut(
            seq=seq,
            feature_id=c.feature_id,
            action=c.action.value,
            actor=c.actor,
            at=c.at,
            version=c.version,
        )
        for seq, c in changes
    ]


def list_grants(collection_id: str, request: Request, caller: CurrentCaller) -> list[GrantOut]:
    """Local grants of a collection (owner or operator)."""
    return _grants(services_of(request).catalog.grants(caller, collection_id))


def put_grant(
    collection_id: str, body: GrantIn, request: Request, caller: CurrentCaller
) -> list[GrantOut]:
    """Give a local user or group read or write access (owner or operator)."""
    catalog = services_of(request).catalog
    return _grants(catalog.grant(caller, collection_id, body.subject, body.permission))


def delete_grant(
    collection_id: str, subject: str, request: Request, caller: CurrentCaller
) -> Response:
    """Take a local grant back (owner or operator)."""
    services_of(request).catalog.ungrant(caller, collection_id, subject)
    return Response(status_code=204)
