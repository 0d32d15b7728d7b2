"""The management API of upstream OGC API – Features servers (operators only): register,
list, refresh and remove them, and expose their collections as local collections."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import Request
from pydantic import BaseModel, Field, SecretStr
from starlette.responses import Response

from opengeomesh.api.auth import CurrentCaller, services_of
from opengeomesh.api.bodies import Body
from opengeomesh.api.manage import CollectionOut, _collection
from opengeomesh.features.models import Access
from opengeomesh.features.upstreams import Upstream


class UpstreamIn(Body):
    name: str = Field(min_length=1, max_length=40, description="Local name of the upstream")
    url: str = Field(
        min_length=8, max_length=2000, description="Landing page URL of the OGC API server"
    )
    auth: Literal["none", "basic", "bearer", "header"] = "none"
    username: str = Field("", max_length=200, description="For basic auth")
    secret: SecretStr = Field(
        SecretStr(""),
        description="Password (basic), token (bearer) or header value (header); never shown",
    )
    header: str = Field("", max_length=100, description="Header name for auth 'header'")
    allow_private: bool = Field(
        False, description="The upstream may be on loopback or a private network"
    )


class UpstreamOut(BaseModel):
    name: str
    url: str
    auth: str
    username: str | None = None
    header: str | None = None
    secret: str | None = Field(None, description="A mask when a secret is kept")
    allow_private: bool
    filter: bool = Field(description="The upstream declares Part 3 filters")
    write: bool = Field(description="The upstream declares Part 4 create-replace-delete")
    collections: list[str] = Field(description="Local collections exposed from it")
    created: datetime


class ExposeIn(Body):
    collection: str = Field(min_length=1, max_length=200, description="The upstream's id")
    id: str | None = Field(None, description="The local collection id (default: the same)")
    owner: str = Field(min_length=1, max_length=100, description="The local owner (a user)")
    public: bool = False


def _out(upstream: Upstream, exposed: list[str]) -> UpstreamOut:
    described = upstream.described(exposed)
    return UpstreamOut(
        name=upstream.name,
        url=upstream.base_url,
        auth=upstream.auth,
        username=described.get("username"),
        header=described.get("header"),
        secret=described.get("secret"),
        allow_private=upstream.allow_private,
        filter=described["filter"],
        write=described["write"],
        collections=exposed,
        created=upstream.created,
    )


def list_upstreams(request: Request, caller: CurrentCaller) -> list[UpstreamOut]:
    """Registered upstream servers, secrets masked."""
    return [_out(u, e) for u, e in services_of(request).upstreams.registered(caller)]


def add_upstream(body: UpstreamIn, request: Request, caller: CurrentCaller) -> UpstreamOut:
    """Register an upstream server; its /conformance is read with the credentials given."""
    added = services_of(request).upstreams.add(
        caller,
        body.name,
        body.url,
        auth=body.auth,
        username=body.username,
        secret=body.secret.get_secret_value(),
        header_name=body.header,
        allow_private=body.allow_private,
    )
    return _out(added, [])


def refresh_upstream(name: str, request: Request, caller: CurrentCaller) -> UpstreamOut:
    """Read the upstream's /conformance again."""
    upstreams = services_of(request).upstreams
    refreshed = upstreams.refresh(caller, name)
    exposed = dict((u.name, e) for u, e in upstreams.registered(caller))
    return _out(refreshed, exposed.get(name, []))


def remove_upstream(name: str, request: Request, caller: CurrentCaller) -> Response:
    """Forget an upstream (refused while collections are exposed from it)."""
    services_of(request).upstreams.remove(caller, name)
    return Response(status_code=204)


def expose_collection(
    name: str, body: ExposeIn, request: Request, caller: CurrentCaller
) -> CollectionOut:
    """Expose one of the upstream's collections as a local collection."""
    services = services_of(request)
    created = services.upstreams.expose(
        caller,
        name,
        body.collection,
        owner=services.accounts.caller_for_user(body.owner),
        collection_id=body.id,
        public=body.public,
    )
    return _collection(created, Access.MANAGE)
