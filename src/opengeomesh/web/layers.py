"""Workspace pages: sign-in and sign-out, "my layers" (local and mounted on one map) and the
page of one layer with its map, feature table and editing tools."""

from __future__ import annotations

from dataclasses import dataclass

import orjson
from starlette.requests import Request
from starlette.responses import Response

from opengeomesh.accounts.models import Caller
from opengeomesh.features.models import Access, Collection
from opengeomesh.features.remote import MountedLayer
from opengeomesh.services import Services
from opengeomesh.web.browser import (
    PREFIX,
    SECURITY_HEADERS,
    WebUser,
    call,
    form_of,
    guard,
    local_path,
    new_nonce,
    page,
    read_form,
    redirect,
    secure_cookies,
    services_of,
    sessions_of,
    signed_in,
)
from opengeomesh.web.session import COOKIE, CSRF_FIELD, SIGN_IN_COOKIE


@dataclass(frozen=True, slots=True)
class LayerView:
    """A layer as the workspace shows it, local or mounted."""

    id: str
    title: str
    description: str
    whose: str  # "you", a local user's name, or the sender at their organisation
    origin: str  # "this server" or the sending server
    editable: bool
    mounted: bool
    manage: bool  # owner or operator: sharing rules, change log
    features: int | None
    permission: str

    def as_json(self, base: str) -> dict[str, object]:
        collection = f"{base}/collections/{self.id}"
        return {
            "id": self.id,
            "title": self.title,
            "url": f"{collection}/items",
            "changes": f"{collection}/changes",
            "editable": self.editable,
        }


def _local(caller: Caller, collection: Collection, access: Access) -> LayerView:
    mine = caller.user is not None and caller.user.name == collection.owner_name
    return LayerView(
        id=collection.id,
        title=collection.title or collection.id,
        description=collection.description,
        whose="you" if mine else collection.owner_name,
        origin="this server",
        editable=access >= Access.WRITE,
        mounted=False,
        manage=access >= Access.MANAGE,
        features=collection.feature_count,
        permission="edit" if access >= Access.WRITE else "read",
    )


def organisation_of(services: Services, host: str) -> str:
    """The organisation a peer named in its discovery, else its host."""
    peer = services.federation.policy.peer(host)
    return peer.organisation if peer is not None and peer.organisation else host


def _mounted(services: Services, layer: MountedLayer) -> LayerView:
    share = layer.share
    owner = share.owner_name or share.owner
    return LayerView(
        id=layer.id,
        title=layer.title,
        description=layer.description,
        whose=f"{owner} ({organisation_of(services, share.sender_host)})",
        origin=share.sender_host,
        editable=share.permission == "write",
        mounted=True,
        manage=False,
        features=None,
        permission="edit" if share.permission == "write" else "read",
    )


def all_layers(services: Services, caller: Caller) -> list[LayerView]:
    local = [_local(caller, c, a) for c, a in services.catalog.visible(caller)]
    return local + [_mounted(services, m) for m in services.mounts.visible(caller)]


def one_layer(services: Services, caller: Caller, layer_id: str) -> LayerView:
    """The layer, mounted or local; NotFound when the caller may not see it."""
    mounted = services.mounts.find(caller, layer_id)
    if mounted is not None:
        return _mounted(services, mounted)
    collection, access = services.catalog.get(caller, layer_id)
    return _local(caller, collection, access)


def base_path(request: Request) -> str:
    return str(request.scope.get("root_path", ""))


def map_data(request: Request, layers: list[LayerView]) -> str:
    return orjson.dumps([layer.as_json(base_path(request)) for layer in layers]).decode()


# --- sign-in ----------------------------------------------------------------------------------


async def sign_in_page(request: Request) -> Response:
    if signed_in(request) is not None:
        return redirect(local_path(request.query_params.get("next")))
    return _sign_in_form(request, "")


def _sign_in_form(request: Request, error: str, status: int = 200) -> Response:
    nonce = new_nonce()
    response = page(
        request,
        "web/sign_in.html",
        None,
        status=status,
        error=error,
        sign_in_csrf=sessions_of(request).sign_in_csrf(nonce),
        next=local_path(request.query_params.get("next")),
    )
    response.set_cookie(
        SIGN_IN_COOKIE,
        nonce,
        max_age=3600,
        path=f"{PREFIX}/sign-in",
        httponly=True,
        samesite="strict",
        secure=secure_cookies(request),
    )
    return response


async def sign_in(request: Request) -> Response:
    form = await read_form(request)
    sessions = sessions_of(request)
    if not sessions.sign_in_csrf_ok(request.cookies.get(SIGN_IN_COOKIE), form.get(CSRF_FIELD)):
        return _sign_in_form(request, "The sign-in form was out of date. Please try again.", 403)
    token = form.get("token", "")
    made = await call(sessions.sign_in, token) if token.strip() else None
    if made is None:
        return _sign_in_form(
            request,
            "That token is not valid here. Use a personal token of this server"
            " (opengeomesh token create YOUR-NAME).",
            401,
        )
    _, cookie = made
    response = redirect(local_path(form.get("next")))
    response.set_cookie(
        COOKIE,
        cookie,
        max_age=sessions.lifetime,
        path="/",
        httponly=True,
        samesite="strict",
        secure=secure_cookies(request),
    )
    response.delete_cookie(SIGN_IN_COOKIE, path=f"{PREFIX}/sign-in")
    for name, value in SECURITY_HEADERS.items():
        response.headers[name] = value
    return response


async def sign_out(request: Request) -> Response:
    async def done(web: WebUser) -> Response:
        await form_of(request, web)
        response = redirect(f"{PREFIX}/sign-in", done="signed-out")
        response.delete_cookie(COOKIE, path="/")
        return response

    return await guard(request, done, form=True)


async def home(request: Request) -> Response:
    return redirect(f"{PREFIX}/layers")


# --- layers -----------------------------------------------------------------------------------


async def layers_page(request: Request) -> Response:
    async def build(web: WebUser) -> Response:
        layers = await call(all_layers, services_of(request), web.caller)
        return page(
            request,
            "web/layers.html",
            web,
            layers=layers,
            map_layers=map_data(request, layers),
        )

    return await guard(request, build)


async def layer_page(request: Request) -> Response:
    layer_id = request.path_params["layer_id"]

    async def build(web: WebUser) -> Response:
        layer = await call(one_layer, services_of(request), web.caller, layer_id)
        return page(
            request,
            "web/layer.html",
            web,
            layer=layer,
            map_layers=map_data(request, [layer]),
        )

    return await guard(request, build)
